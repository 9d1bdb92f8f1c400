import Foundation
import Model
import Report

/// A directory of LoRA adapters in peft's format — an ft-dist checkpoint (with its
/// trainer_state.json) or what peft saved — and the base model it goes with.
public struct AdapterCheckpoint {
    public let path: String
    public let lora: LoRAConfig
    /// The base file: the one ft-dist recorded (its sha256 checked), else adapter_config.json's
    /// base_model_name_or_path when that is a file, else the installed model.
    public let basePath: String
    public let state: CheckpointState?
    /// For a directory peft saved (no trainer_state.json): which base is used and why, for the
    /// loader to say on stderr — nothing verifies it (peft records no checksum), and its
    /// base_model_name_or_path is often a hub name such as google/gemma-3-270m.
    public let baseNote: String?

    public static func isAdapterDirectory(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: URL(fileURLWithPath: path).appendingPathComponent(PeftAdapterFiles.configFile).path)
    }

    public init(_ path: String, state: CheckpointState? = nil) throws {
        self.path = path
        let state = try state ?? (FileManager.default.fileExists(atPath: path + "/" + CheckpointState.fileName)
            ? CheckpointState.read(directory: path) : nil)
        self.state = state
        let (lora, named) = try PeftAdapterFiles.readConfig(directory: path)
        self.lora = lora
        basePath = state?.base?.path ?? named.flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil } ?? DefaultPaths.model
        guard FileManager.default.fileExists(atPath: basePath) else {
            throw ModelFileError(file: basePath, "the base of the adapters in \(path) is missing")
        }
        if let record = state?.base { try record.verify(basePath, for: path) }
        if state == nil {
            let why = named.map { FileManager.default.fileExists(atPath: $0) ? "its base_model_name_or_path"
                : "base_model_name_or_path \($0) is no file here: the installed model" } ?? "no base named: the installed model"
            baseNote = "ft-dist: adapters \(path) over \(basePath) (\(why); not verified: peft records no checksum)"
        } else {
            baseNote = nil
        }
    }

    /// Writes `baseNote`, if any, to stderr.
    public func announceBase() {
        if let baseNote { FileHandle.standardError.write(Data((baseNote + "\n").utf8)) }
    }

    /// The adapters, read and (for an ft-dist checkpoint) checked against the recorded checksum.
    public func adapters(for config: GemmaConfig) throws -> TrainableParameters {
        // dropout acts in training only: a loaded adapter never applies it
        var lora = self.lora
        lora.dropout = 0
        if let problem = lora.problem(for: config) { throw ModelFileError(file: path + "/" + PeftAdapterFiles.configFile, problem) }
        let adapters = TrainableParameters(lora: lora, config: config, seed: 0)
        try PeftAdapterFiles.readWeights(directory: path, into: adapters)
        if let state, ParameterChecksum.hex(ParameterChecksum.of(adapters.values)) != state.parameterChecksum {
            throw MessageError("\(path): the adapters do not match the checksum in \(RunFiles.checkpointState) (damaged checkpoint)")
        }
        return adapters
    }
}
