import Foundation
import Model

/// `ft-dist train` on the tiny model under mpirun, and what the tests compare between runs:
/// the per-step losses of metrics.jsonl and the weights of the last checkpoint.
public enum TinyRun {
    /// One line of metrics.jsonl, as far as the comparisons need it.
    public struct Record: Decodable {
        public var step: Int
        public var loss: Double
        public var grad_norm: Double
    }

    /// Train the tiny model at `model` with Banking77 into `output` on `ranks` ranks: no
    /// checkpoints but the last, no final evaluation, replicas compared every 5 steps, lr 1e-3.
    /// `exported`: environment variables of every rank.
    public static func train(ranks: Int, output: URL, model: String, extra: [String] = [],
                             exported: [String: String] = [:]) throws -> Launch.Result {
        try Launch.mpirun(ranks: ranks, ["train", "--model", model, "--data", TestPaths.dataDir.path,
                                         "--output", output.path, "--save-steps", "0", "--no-final-eval",
                                         "--check-replicas-steps", "5", "--lr", "1e-3"] + extra, timeout: 600,
                          exported: exported)
    }

    /// Train `steps` steps of the model at `model` on one rank into `output` and return the path
    /// of the checkpoint at that step; a failed run throws with its stderr.
    public static func checkpoint(model: String, output: URL, steps: Int, extra: [String] = []) throws -> String {
        let r = try train(ranks: 1, output: output, model: model, extra: ["--max-steps", String(steps)] + extra)
        guard r.status == 0 else { throw LaunchFailure(status: r.status, stderr: r.stderr) }
        return output.appendingPathComponent("checkpoint-" + String(format: "%06d", steps)).path
    }

    /// A launched ft-dist that exited with an error.
    public struct LaunchFailure: Error, CustomStringConvertible {
        public var status: Int32
        public var stderr: String
        public var description: String { "ft-dist exited with status \(status): \(stderr)" }
    }

    /// The tiny model written into `directory` (tiny.gguf); returns its path.
    public static func model(in directory: URL) throws -> String {
        try TinyGemma.write(to: directory.appendingPathComponent("tiny.gguf").path)
    }

    public static func losses(_ run: URL) throws -> [Record] {
        let text = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Record.self, from: Data($0.utf8)) }
    }

    /// The weights of the run's checkpoint after `steps` steps.
    public static func finalWeights(_ run: URL, steps: Int) throws -> GemmaModel {
        try GemmaModel(hfDirectory: run.appendingPathComponent("checkpoint-" + String(format: "%06d", steps)).path)
    }

    /// max |a[i] − b[i]| over two runs' final weights.
    public static func worstWeightDifference(_ a: GemmaModel, _ b: GemmaModel) -> Float {
        var worst: Float = 0
        for i in 0..<a.parameters.count { worst = max(worst, abs(a.parameters[i] - b.parameters[i])) }
        return worst
    }

    /// max over steps of |a.loss − b.loss| / a.loss.
    public static func worstRelativeLossDifference(_ a: [Record], _ b: [Record]) -> Double {
        zip(a, b).map { abs($0.loss - $1.loss) / $0.loss }.max() ?? 0
    }
}
