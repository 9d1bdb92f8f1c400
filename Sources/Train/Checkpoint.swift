import Foundation
import Model

/// Checkpoints of a run directory (DESIGN.md §6). A checkpoint `checkpoint-000200/` holds
///   model.safetensors      fp32 weights with HF names (norms as HF stores them: g − 1)
///   config.json            so transformers' Gemma3ForCausalLM loads the directory
///   optimizer.safetensors  AdamW moments (exp_avg, exp_avg_sq) and the exact norm weights
///                          (g − 1 + 1 is not always g in fp32; resume must be exact)
///   trainer_state.json     step, epoch, position, seed, lr, loss history — written last
/// It is written under `.tmp-checkpoint-…`, synced, and renamed when complete, so a
/// half-written checkpoint is never mistaken for one.
public enum Checkpoint {
    public static let prefix = "checkpoint-"
    static let tmpPrefix = ".tmp-checkpoint-"

    public static func name(step: Int) -> String { prefix + String(format: "%06d", step) }

    /// Write a checkpoint of the trainer's current state (rank 0 only). Returns its path.
    @discardableResult
    public static func save(_ trainer: Trainer, runDirectory: String) throws -> String {
        let fm = FileManager.default
        let final = URL(fileURLWithPath: runDirectory).appendingPathComponent(name(step: trainer.completedSteps))
        let tmp = URL(fileURLWithPath: runDirectory).appendingPathComponent(tmpPrefix + String(format: "%06d", trainer.completedSteps))
        try? fm.removeItem(at: tmp)
        do {
            try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
            let model = trainer.model
            try Safetensors.write(model.hfSafetensorsEntries(), metadata: ["format": "pt"],
                                  to: tmp.appendingPathComponent("model.safetensors").path)
            try model.config.hfConfigJSON().write(to: tmp.appendingPathComponent("config.json"))
            let norms = normWeights(model)
            try norms.withUnsafeBufferPointer { n in
                try Safetensors.write([
                    Safetensors.Entry(name: "exp_avg", shape: [model.layout.count], source: trainer.optimizer.m.pointer),
                    Safetensors.Entry(name: "exp_avg_sq", shape: [model.layout.count], source: trainer.optimizer.v.pointer),
                    Safetensors.Entry(name: "norm_weights", shape: [n.count], source: n.baseAddress!),
                ], metadata: ["step": String(trainer.optimizer.step)], to: tmp.appendingPathComponent("optimizer.safetensors").path)
            }
            let state = trainer.checkpointState()
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let stateURL = tmp.appendingPathComponent(CheckpointState.fileName)
            try encoder.encode(state).write(to: stateURL)
            try syncFile(stateURL.path)
            if fm.fileExists(atPath: final.path) { try fm.removeItem(at: final) }
            guard rename(tmp.path, final.path) == 0 else {
                throw CheckpointError("cannot rename \(tmp.path) to \(final.path): \(String(cString: strerror(errno)))")
            }
            try syncFile(runDirectory)
        } catch {
            try? fm.removeItem(at: tmp)
            throw error
        }
        return final.path
    }

    /// Complete checkpoints of a run directory, oldest first.
    public static func list(runDirectory: String) -> [(step: Int, path: String)] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: runDirectory)) ?? []
        return entries.compactMap { name -> (Int, String)? in
            guard name.hasPrefix(prefix), let step = Int(name.dropFirst(prefix.count)) else { return nil }
            let path = URL(fileURLWithPath: runDirectory).appendingPathComponent(name).path
            guard FileManager.default.fileExists(atPath: path + "/" + CheckpointState.fileName) else { return nil }
            return (step, path)
        }.sorted { $0.0 < $1.0 }
    }

    /// `latest` → newest complete checkpoint of the run directory; otherwise a directory path.
    public static func resolve(_ spec: String, runDirectory: String) throws -> String {
        if spec == "latest" {
            guard let last = list(runDirectory: runDirectory).last else {
                throw CheckpointError("--resume latest: no complete checkpoint in \(runDirectory)")
            }
            return last.path
        }
        return spec
    }

    /// Remove all but the newest `keep` complete checkpoints and any leftover temporary ones.
    public static func prune(runDirectory: String, keep: Int) {
        let fm = FileManager.default
        for old in list(runDirectory: runDirectory).dropLast(keep) { try? fm.removeItem(atPath: old.path) }
        for name in (try? fm.contentsOfDirectory(atPath: runDirectory)) ?? [] where name.hasPrefix(tmpPrefix) {
            try? fm.removeItem(atPath: URL(fileURLWithPath: runDirectory).appendingPathComponent(name).path)
        }
    }

    /// Read a checkpoint into the trainer's model and optimizer (every file validated first).
    public static func load(_ directory: String, into trainer: Trainer) throws -> CheckpointState {
        let state = try CheckpointState.read(directory: directory)
        let model = trainer.model
        let config = try GemmaConfig(hfConfig: URL(fileURLWithPath: directory).appendingPathComponent("config.json"))
        guard config == model.config else {
            throw CheckpointError("\(directory): its config.json does not describe the model being trained")
        }
        let weights = try Safetensors.File(path: directory + "/model.safetensors")
        let optimizer = try Safetensors.File(path: directory + "/optimizer.safetensors")
        try model.loadHFSafetensors(weights)
        try optimizer.read("exp_avg", shape: [model.layout.count], into: trainer.optimizer.m.pointer)
        try optimizer.read("exp_avg_sq", shape: [model.layout.count], into: trainer.optimizer.v.pointer)
        try restoreExactNorms(model, from: optimizer, expectedChecksum: state.parameterChecksum, directory: directory)
        return state
    }

    /// Put back the exact fp32 norm weights (model.safetensors holds g − 1) and prove the
    /// weights are the ones that were saved.
    public static func restoreExactNorms(_ model: GemmaModel, from optimizer: Safetensors.File, expectedChecksum: String,
                                         directory: String) throws {
        var norms = normWeights(model)
        try norms.withUnsafeMutableBufferPointer { n in
            try optimizer.read("norm_weights", shape: [n.count], into: n.baseAddress!)
        }
        setNormWeights(model, norms)
        let checksum = ParameterChecksum.hex(ParameterChecksum.of(model.parameters))
        guard checksum == expectedChecksum else {
            throw CheckpointError("\(directory): the weights do not match the checksum in \(CheckpointState.fileName) (damaged checkpoint)")
        }
    }

    private static func normWeights(_ model: GemmaModel) -> [Float] {
        model.layout.tensors.filter(\.isNorm).flatMap { Array(UnsafeBufferPointer(start: model.pointer($0.offset), count: $0.count)) }
    }

    private static func setNormWeights(_ model: GemmaModel, _ values: [Float]) {
        var i = 0
        for t in model.layout.tensors where t.isNorm {
            for j in 0..<t.count { model.pointer(t.offset)[j] = values[i + j] }
            i += t.count
        }
    }

    private static func syncFile(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}

extension Trainer {
    func checkpointState() -> CheckpointState {
        let epoch = completedSteps / plan.stepsPerEpoch
        let position = min((completedSteps % plan.stepsPerEpoch) * options.batchSize, plan.exampleCount)
        let formatter = ISO8601DateFormatter()
        return CheckpointState(step: completedSteps, epoch: epoch, positionInEpoch: position, seed: options.seed,
                               lr: history.last?.lr ?? schedule.lr(step: 0), nextLR: schedule.lr(step: completedSteps),
                               worldSize: comm.size, parameterChecksum: ParameterChecksum.hex(ParameterChecksum.of(model.parameters)),
                               options: options, history: history, savedAt: formatter.string(from: Date()))
    }
}
