import Distributed
import Foundation
import Model
import Report

/// `ft-dist eval`: generate a label for every example of a split with a GGUF model or a
/// checkpoint, then rank 0 writes the report (metrics.json, predictions.jsonl, confusion.csv,
/// confusion.svg, report.md). Under mpirun the ranks share the examples.
public struct EvaluationRun {
    public var modelPath: String
    public var dataDir: String
    /// test, train, or a CSV file with the Banking77 columns.
    public var split: String
    public var output: String
    public var maxNewTokens = Evaluator.defaultMaxNewTokens
    public var batchSize = Evaluator.defaultBatchSize
    public var limit: Int?
    /// Keep generating invalid outputs to <eos> or the limit (slower; same metrics).
    public var fullGenerations = false
    public var weights = InferenceWeights.fp32
    /// Compute the prompts' common prefix once (Evaluator.sharePromptPrefix).
    public var sharePromptPrefix = true

    public init(modelPath: String, dataDir: String, split: String, output: String) {
        self.modelPath = modelPath
        self.dataDir = dataDir
        self.split = split
        self.output = output
    }

    public func examples() throws -> (IntentList, [LabeledText]) {
        let files = TrainingData.files(in: dataDir)
        let intents = try IntentList.load(files.intents)
        let csv: URL
        switch split {
        case "test": csv = files.test
        case "train": csv = files.train
        default:
            guard split.hasSuffix(".csv") else {
                throw MessageError.invalidArgument("--split must be test, train or a .csv file with text,category columns (got \(split))")
            }
            csv = URL(fileURLWithPath: split)
        }
        var rows = try Banking77.load(csv: csv, intents: intents)
        if let limit { rows = Array(rows.prefix(limit)) }
        return (intents, rows)
    }

    /// Returns the report on rank 0 (nil elsewhere).
    @discardableResult
    public func run(comm: Communicator, log: @escaping (String) -> Void) throws -> EvaluationReport? {
        let (intents, rows) = try examples()
        guard !rows.isEmpty else { throw MessageError.invalidArgument("\(split): no examples to evaluate") }
        let loadStart = Date()
        let loaded = try ModelSource.load(modelPath, weights: weights, announce: comm.isRoot)
        if comm.isRoot { log(String(format: "model loaded in %.1f s; evaluating %d examples of %@ on %d rank(s)", Date().timeIntervalSince(loadStart), rows.count, split, comm.size)) }
        // the checkpoint's own prompt template (the default for a GGUF)
        var evaluator = Evaluator(weights: loaded.weights, tokenizer: loaded.tokenizer, template: loaded.template, comm: comm)
        evaluator.maxNewTokens = maxNewTokens
        evaluator.batchSize = batchSize
        evaluator.intentNames = intents.names
        evaluator.stopWhenNoIntentCanFollow = !fullGenerations
        evaluator.sharePromptPrefix = sharePromptPrefix
        let start = Date()
        let predictions = try evaluator.predict(rows) { done, total in
            guard comm.isRoot else { return }
            let rate = Double(done) / Date().timeIntervalSince(start)
            log(String(format: "  %d/%d on rank 0 (%.2f examples/s per rank)", done, total, rate))
        }
        guard let predictions else { return nil }
        let seconds = Date().timeIntervalSince(start)
        let report = try EvaluationReport(intents: intents.names, predictions: predictions,
                                          title: "Banking77 \(split) — \(URL(fileURLWithPath: modelPath).lastPathComponent)")
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        try report.write(to: URL(fileURLWithPath: output))
        log(String(format: "accuracy %.2f%%, macro-F1 %.4f, invalid outputs %.2f%%; %d examples in %.0f s (%.2f examples/s); report in %@",
                   100 * report.metrics.accuracy, report.metrics.macroF1, 100 * report.metrics.invalidRate,
                   predictions.count, seconds, Double(predictions.count) / seconds, output))
        return report
    }
}
