import Foundation
import Report

/// trainer_state.json of a checkpoint: where the run stands and how it was configured.
/// Written last, so a directory without it is not a complete checkpoint.
public struct CheckpointState: Codable {
    public static let fileName = RunFiles.checkpointState
    /// Optimizer steps completed.
    public var step: Int
    public var epoch: Int
    /// Examples of the current epoch already consumed.
    public var positionInEpoch: Int
    public var seed: Int
    /// Learning rate of the last step taken, and of the next one.
    public var lr: Double
    public var nextLR: Double
    public var worldSize: Int
    public var parameterChecksum: String
    public var options: TrainingOptions
    public var history: [StepRecord]
    public var savedAt: String
    /// The base an adapter checkpoint needs (nil for full fine-tuning: the weights are here).
    public var base: BaseModelRecord?
    /// ParameterChecksum of AdamW's first and second moments (exp_avg, then exp_avg_sq), so that
    /// resume refuses damaged moments as it refuses damaged weights (nil in older checkpoints).
    public var optimizerChecksum: String?
    /// The training examples' count and checksum (their tokens, prompt lengths and rows): a
    /// resume on other data — another --data, an edited train.csv — would silently change the
    /// batches and the schedule (nil in older checkpoints).
    public var trainingData: TrainingDataRecord?

    public static func read(directory: String) throws -> CheckpointState {
        let url = URL(fileURLWithPath: directory).appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir) else {
                throw MessageError("\(directory): no such checkpoint directory")
            }
            throw MessageError(isDir.boolValue ? "\(directory): not a complete checkpoint (no \(fileName))"
                                                : "\(directory) is a file, not a checkpoint directory")
        }
        do {
            return try JSONDecoder().decode(CheckpointState.self, from: data)
        } catch {
            throw MessageError("\(url.path): damaged (\(error))")
        }
    }
}

/// What identifies the training examples of a run.
public struct TrainingDataRecord: Codable, Equatable {
    public var examples: Int
    public var checksum: String

    public init(_ examples: [TokenizedExample]) {
        self.examples = examples.count
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix(_ v: UInt64) { h = (h ^ v) &* 0x100_0000_01B3 }
        for e in examples {
            mix(UInt64(e.row)); mix(UInt64(e.promptLength)); mix(UInt64(e.ids.count))
            for id in e.ids { mix(UInt64(UInt32(bitPattern: id))) }
        }
        checksum = String(format: "%016llx", h)
    }
}
