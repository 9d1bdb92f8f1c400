import Foundation

/// The layout of a run directory — the one place that names its files. `ft-dist train`
/// (rank 0) writes them through RunDirectory and Checkpoint; `ft-dist report`, `eval` and
/// `predict` find them through here:
///   run_config.json              every flag, world size, transport, threads, hosts (at start)
///   run_config.resume-N.json     the same for the invocation that resumed after step N
///   metrics.jsonl                one StepRecord per line
///   validation.jsonl             one ValidationRecord per validation
///   checkpoint-NNNNNN/           a complete checkpoint (see Checkpoint)
///   .tmp-checkpoint-NNNNNN/      a checkpoint being written (never read)
///   eval-test/                   the final test evaluation (see EvaluationReport)
public struct RunFiles {
    public static let runConfig = "run_config.json"
    public static let metrics = "metrics.jsonl"
    public static let validation = "validation.jsonl"
    public static let testEvaluation = "eval-test"
    /// Inside a checkpoint: written last, so a checkpoint directory without it is incomplete.
    public static let checkpointState = "trainer_state.json"
    static let resumeConfigPrefix = "run_config.resume-"
    public static let checkpointPrefix = "checkpoint-"
    static let temporaryCheckpointPrefix = ".tmp-checkpoint-"

    public let directory: String

    public init(_ directory: String) { self.directory = directory }

    public func path(_ name: String) -> String { URL(fileURLWithPath: directory).appendingPathComponent(name).path }

    public static func resumeConfig(afterStep step: Int) -> String { resumeConfigPrefix + "\(step).json" }
    public static func checkpoint(step: Int) -> String { checkpointPrefix + String(format: "%06d", step) }
    public static func temporaryCheckpoint(step: Int) -> String { temporaryCheckpointPrefix + String(format: "%06d", step) }

    public var metricsPath: String { path(Self.metrics) }
    public var validationPath: String { path(Self.validation) }
    public var runConfigPath: String { path(Self.runConfig) }
    public var testEvaluationDirectory: String { path(Self.testEvaluation) }
    public var testMetricsPath: String { path(Self.testEvaluation + "/" + EvaluationReport.metricsFile) }

    private var names: [String] { (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] }

    /// Complete checkpoints (those with their trainer_state.json, written last), oldest first.
    public var checkpoints: [(step: Int, path: String)] {
        names.compactMap { name -> (Int, String)? in
            guard name.hasPrefix(Self.checkpointPrefix), let step = Int(name.dropFirst(Self.checkpointPrefix.count)) else { return nil }
            let p = path(name)
            guard FileManager.default.fileExists(atPath: p + "/" + Self.checkpointState) else { return nil }
            return (step, p)
        }.sorted { $0.0 < $1.0 }
    }

    /// Checkpoint directories left half-written by a crash.
    public var temporaryCheckpoints: [String] { names.filter { $0.hasPrefix(Self.temporaryCheckpointPrefix) }.map(path) }

    /// The run_config.resume-N.json files with their N, by step.
    public var resumeConfigs: [(step: Int, path: String)] {
        names.compactMap { name -> (Int, String)? in
            guard name.hasPrefix(Self.resumeConfigPrefix), name.hasSuffix(".json"),
                  let step = Int(name.dropFirst(Self.resumeConfigPrefix.count).dropLast(".json".count)) else { return nil }
            return (step, path(name))
        }.sorted { $0.0 < $1.0 }
    }

    /// A directory that already holds a run (metrics or checkpoints).
    public var holdsRun: Bool { FileManager.default.fileExists(atPath: metricsPath) || !checkpoints.isEmpty }
}
