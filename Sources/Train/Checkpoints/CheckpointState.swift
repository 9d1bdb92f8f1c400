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

    public static func read(directory: String) throws -> CheckpointState {
        let url = URL(fileURLWithPath: directory).appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw MessageError("\(directory): not a complete checkpoint (no \(fileName))")
        }
        do {
            return try JSONDecoder().decode(CheckpointState.self, from: data)
        } catch {
            throw MessageError("\(url.path): damaged (\(error))")
        }
    }
}
