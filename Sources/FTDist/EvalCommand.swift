import ArgumentParser
import Distributed
import Foundation
import Train

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a model on a Banking77 split by generating each intent (greedy, KV cache).",
        discussion: "A prediction is correct when the generated text, without its leading space, is the intent name. A checkpoint is prompted with its run's --prompt-template. Rank 0 writes metrics.json, predictions.jsonl, confusion.csv, confusion.svg and report.md into --output. Under mpirun the ranks share the examples.")

    @Option(help: "A GGUF file, an HF model or checkpoint directory, or an adapter checkpoint (default: the newest checkpoint of runs/banking77, else the installed model; stderr names the one used).") var model: String?
    @Option(help: "test, train, or a CSV file with text,category columns.") var split = "test"
    @Option(help: "Banking77 directory (categories.json, and the splits).") var data: String?
    @Option(help: "Report directory (default: eval-<split> inside a checkpoint directory, else runs/eval-<split>).") var output: String?
    @Option(help: "Most tokens generated per example.") var maxNewTokens = Evaluator.defaultMaxNewTokens
    @Option(help: "Examples generated together on a rank.") var batchSize = Evaluator.defaultBatchSize
    @Flag(help: "Keep generating outputs that can no longer be an intent, to <eos> or the limit (slower; the metrics are the same).") var fullGenerations = false
    @Option(help: "Evaluate only the first N examples.") var limit: Int?
    @OptionGroup var weights: WeightsOption
    @Flag(help: "Read every prompt whole instead of computing the prompts' common prefix (the template's) once per rank: the same predictions up to fp32 rounding, slower (for comparisons).") var noSharedPrefix = false

    func validate() throws {
        if maxNewTokens < 1 { throw ValidationError("--max-new-tokens must be at least 1") }
        try validateGenerationBatchSize(batchSize)
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        try runReportingErrors {
            let comm = try makeCommunicator()
            let modelPath = chosenModel(model, announce: comm.isRoot)
            var isDir: ObjCBool = false
            let inCheckpoint = FileManager.default.fileExists(atPath: modelPath, isDirectory: &isDir) && isDir.boolValue
            let name = split.hasSuffix(".csv") ? URL(fileURLWithPath: split).deletingPathExtension().lastPathComponent : split
            let out = output ?? (inCheckpoint ? modelPath + "/eval-\(name)" : "runs/eval-\(name)")
            var job = EvaluationRun(modelPath: modelPath, dataDir: data ?? DefaultPaths.data, split: split, output: out)
            job.maxNewTokens = maxNewTokens
            job.batchSize = batchSize
            job.limit = limit
            job.fullGenerations = fullGenerations
            job.weights = weights.weights
            job.sharePromptPrefix = !noSharedPrefix
            try withAbortOnError(comm) {
                // rank 0 writes the report: its path is checked there, before the evaluation
                if comm.isRoot { try checkReportDirectory(out, option: "--output") }
                _ = try job.run(comm: comm) { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
            }
            comm.finalize()
        }
    }
}
