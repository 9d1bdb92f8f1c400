import ArgumentParser
import Distributed
import Foundation
import Train

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a model on a Banking77 split by generating each intent (greedy, KV cache).",
        discussion: "A prediction is correct when the generated text, without its leading space, is the intent name. Rank 0 writes metrics.json, predictions.jsonl, confusion.csv, confusion.svg and report.md into --output. Under mpirun the ranks share the examples.")

    @Option(help: "A GGUF file or a checkpoint directory (default: the installed model).") var model: String?
    @Option(help: "test, train, or a CSV file with text,category columns.") var split = "test"
    @Option(help: "Banking77 directory (categories.json, and the splits).") var data: String?
    @Option(help: "Report directory (default: eval-<split> inside a checkpoint directory, else runs/eval-<split>).") var output: String?
    @Option(help: "Most tokens generated per example.") var maxNewTokens = 24
    @Option(help: "Examples generated together on a rank.") var batchSize = 32
    @Flag(help: "Keep generating outputs that can no longer be an intent, to <eos> or the limit (slower; the metrics are the same).") var fullGenerations = false
    @Option(help: "Evaluate only the first N examples.") var limit: Int?

    func validate() throws {
        if maxNewTokens < 1 || batchSize < 1 { throw ValidationError("--max-new-tokens and --batch-size must be at least 1") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        try runReportingErrors {
            let modelPath = model ?? DefaultPaths.model
            var isDir: ObjCBool = false
            let inCheckpoint = FileManager.default.fileExists(atPath: modelPath, isDirectory: &isDir) && isDir.boolValue
            let name = split.hasSuffix(".csv") ? URL(fileURLWithPath: split).deletingPathExtension().lastPathComponent : split
            let out = output ?? (inCheckpoint ? modelPath + "/eval-\(name)" : "runs/eval-\(name)")
            var job = EvaluationRun(modelPath: modelPath, dataDir: data ?? DefaultPaths.data, split: split, output: out)
            job.maxNewTokens = maxNewTokens
            job.batchSize = batchSize
            job.limit = limit
            job.fullGenerations = fullGenerations
            let comm = try makeCommunicator()
            try withAbortOnError(comm) {
                _ = try job.run(comm: comm) { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
            }
            (comm as? MPICommunicator)?.finalize()
        }
    }
}

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Print the intent of customer messages (arguments, or one message per line on stdin).",
        discussion: "Without --top-k the model generates the intent (greedy). With --top-k K the 77 intents are ranked by the model's log-probability of each intent's tokens after the prompt, and the best K are printed with their log-probabilities.")

    @Argument(help: "Messages (none: read one per line from stdin).") var texts: [String] = []
    @Option(help: "A GGUF file or a checkpoint directory (default: the installed model).") var model: String?
    @Option(help: "Banking77 directory (for categories.json).") var data: String?
    @Option(help: "Rank the intents and print the best K.") var topK: Int?
    @Flag(help: "Print one JSON object per message.") var json = false

    func validate() throws {
        if let topK, !(1...77).contains(topK) { throw ValidationError("--top-k must be between 1 and 77") }
    }

    func run() throws {
        try runReportingErrors {
            let intents = try IntentList.load(TrainingData.files(in: data ?? DefaultPaths.data).intents)
            let predictor = try IntentPredictor(modelPath: model ?? DefaultPaths.model, intents: intents)
            let messages = texts.isEmpty ? readStdinLines() : texts
            for text in messages where !text.trimmingCharacters(in: .whitespaces).isEmpty {
                if let k = topK {
                    let ranked = try predictor.rank(text, k: k)
                    if json {
                        printJSON(["text": text, "ranking": ranked.map { ["intent": $0.intent, "log_probability": $0.logProbability] }] as [String: Any])
                    } else {
                        print(text)
                        for r in ranked { print(String(format: "  %8.3f  %@", r.logProbability, r.intent)) }
                    }
                } else {
                    let intent = try predictor.generate(text)
                    let valid = intents.index(of: intent) != nil
                    if json {
                        printJSON(["text": text, "intent": intent, "valid": valid] as [String: Any])
                    } else {
                        print(valid ? intent : "\(intent)\t(not an intent)")
                    }
                }
                fflushStdout()
            }
        }
    }

    private func readStdinLines() -> [String] {
        var lines: [String] = []
        while let line = readLine() { lines.append(line) }
        return lines
    }

    private func printJSON(_ object: [String: Any]) {
        if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
            print(String(decoding: data, as: UTF8.self))
        }
    }
}
