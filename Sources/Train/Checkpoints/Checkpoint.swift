import Foundation
import Model
import Report

/// Checkpoints of a run directory, `checkpoint-NNNNNN/` (named by RunFiles). What goes into
/// which file follows from what is trained (TrainableParameters). Full fine-tuning:
///   model.safetensors      fp32 weights with HF names (norms as HF stores them: g − 1)
///   config.json            so transformers' Gemma3ForCausalLM loads the directory
///   tokenizer.model, tokenizer_config.json, special_tokens_map.json
///                          the base's tokenizer (HFTokenizerFiles), for transformers and
///                          llama.cpp's convert_hf_to_gguf.py
/// LoRA and QLoRA (peft's format, see PeftAdapterFiles; the base is not copied):
///   adapter_config.json, adapter_model.safetensors
/// Both:
///   optimizer.safetensors  AdamW moments (exp_avg, exp_avg_sq) of the trainable values and the
///                          exact norm weights (g − 1 + 1 is not always g in fp32; resume must be exact)
///   trainer_state.json     step, epoch, position, seed, lr, loss history, the values' checksum,
///                          and for adapters the base's path and sha256 — written last
/// It is written under `.tmp-checkpoint-…`, synced, and renamed when complete, so a
/// half-written checkpoint is never mistaken for one.
public enum Checkpoint {
    public static let weightsFile = GemmaModel.hfWeightsFile
    public static let configFile = GemmaModel.hfConfigFile
    public static let optimizerFile = "optimizer.safetensors"

    /// Write a checkpoint of the trainer's current state (rank 0 only). Returns its path.
    @discardableResult
    public static func save(_ trainer: Trainer, runDirectory: String) throws -> String {
        let fm = FileManager.default
        let files = RunFiles(runDirectory)
        let final = URL(fileURLWithPath: files.path(RunFiles.checkpoint(step: trainer.completedSteps)))
        let tmp = URL(fileURLWithPath: files.path(RunFiles.temporaryCheckpoint(step: trainer.completedSteps)))
        // a non-finite weight or moment (a damaged resume, an arithmetic fault) must not become a
        // checkpoint that verifies: the run stops here and the earlier checkpoints stay
        for (what, buffer) in [("trained parameters", trainer.trainable.values), ("AdamW first moments (exp_avg)", trainer.optimizer.m),
                               ("AdamW second moments (exp_avg_sq)", trainer.optimizer.v)] {
            if let i = firstNonFinite(buffer) {
                throw MessageError("step \(trainer.completedSteps): the \(what) hold a non-finite value (\(buffer[i]) at element \(i)); no checkpoint is written")
            }
        }
        try? fm.removeItem(at: tmp)
        do {
            try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
            let trainable = trainer.trainable
            switch trainable.method {
            case .full:
                try Safetensors.write(Safetensors.hfEntries(trainable.tensors, values: trainable.values), metadata: ["format": "pt"],
                                      to: tmp.appendingPathComponent(weightsFile).path)
                try trainer.config.hfConfigJSON(special: trainer.data.specialTokens)
                    .write(to: tmp.appendingPathComponent(configFile))
                try trainer.hfTokenizerFiles()?.write(to: tmp)
            case .lora:
                try PeftAdapterFiles.writeWeights(trainable, directory: tmp.path)
                try PeftAdapterFiles.configJSON(trainable.lora!, baseModel: try trainer.baseRecord().path)
                    .write(to: tmp.appendingPathComponent(PeftAdapterFiles.configFile))
            }
            let norms = normWeights(trainable.tensors, of: trainable.values)
            try norms.withUnsafeBufferPointer { n in
                var entries = [Safetensors.Entry(name: "exp_avg", shape: [trainable.count], source: trainer.optimizer.m.pointer),
                               Safetensors.Entry(name: "exp_avg_sq", shape: [trainable.count], source: trainer.optimizer.v.pointer)]
                if let base = n.baseAddress { entries.append(Safetensors.Entry(name: "norm_weights", shape: [n.count], source: base)) }
                try Safetensors.write(entries, metadata: ["step": String(trainer.optimizer.step)],
                                      to: tmp.appendingPathComponent(optimizerFile).path)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let stateURL = tmp.appendingPathComponent(RunFiles.checkpointState)
            try encoder.encode(try trainer.checkpointState()).write(to: stateURL)
            try syncFile(stateURL.path)
            if fm.fileExists(atPath: final.path) { try fm.removeItem(at: final) }
            guard rename(tmp.path, final.path) == 0 else {
                throw MessageError("cannot rename \(tmp.path) to \(final.path): \(String(cString: strerror(errno)))")
            }
            try syncFile(runDirectory)
        } catch {
            try? fm.removeItem(at: tmp)
            throw error
        }
        return final.path
    }

    /// `latest` → newest complete checkpoint of the run directory; otherwise a directory path.
    public static func resolve(_ spec: String, runDirectory: String) throws -> String {
        if spec == "latest" {
            guard let last = RunFiles(runDirectory).checkpoints.last else {
                let started = RunFiles(runDirectory).holdsRun ? " (the run stopped before its first checkpoint: remove the directory and start again)" : ""
                throw MessageError("--resume latest: no complete checkpoint in \(runDirectory)\(started)")
            }
            return last.path
        }
        return spec
    }

    /// The checkpoints of steps after `step`, removed: an abandoned continuation, left when a
    /// run resumes from an earlier checkpoint (its metrics are cut there; `--resume latest`
    /// must not jump back to them). Returns their paths.
    @discardableResult
    public static func removeCheckpoints(after step: Int, runDirectory: String) -> [String] {
        let later = RunFiles(runDirectory).checkpoints.filter { $0.step > step }.map(\.path)
        for path in later { try? FileManager.default.removeItem(atPath: path) }
        return later
    }

    /// After the checkpoint of step `newest` was written: the later ones (should a resume's
    /// removal have failed), all but the newest `keep` of the rest — never the one just
    /// written — and leftover temporary ones.
    public static func prune(runDirectory: String, keep: Int, newest: Int) {
        removeCheckpoints(after: newest, runDirectory: runDirectory)
        let files = RunFiles(runDirectory)
        for old in files.checkpoints.dropLast(keep) { try? FileManager.default.removeItem(atPath: old.path) }
        for tmp in files.temporaryCheckpoints { try? FileManager.default.removeItem(atPath: tmp) }
    }

    /// Read a checkpoint into the trainer's trainable values and optimizer (every file
    /// validated first).
    public static func load(_ directory: String, into trainer: Trainer) throws -> CheckpointState {
        let state = try CheckpointState.read(directory: directory)
        // the flags first: other epochs, a seed or a template explain a different step count or
        // other examples better than the checks below would
        guard state.options.trajectoryKey() == trainer.options.trajectoryKey() else {
            let differences = trainer.options.trajectoryDifferences(from: state.options)
            throw MessageError("\(directory) was made with different training flags"
                + (differences.isEmpty ? "" : " (\(differences.joined(separator: ", ")))")
                + "; resume with the flags of the run (see its trainer_state.json)")
        }
        let stateFile = directory + "/" + RunFiles.checkpointState
        guard (0...trainer.totalSteps).contains(state.step) else {
            throw MessageError("\(stateFile): step \(state.step) is outside the run's 0…\(trainer.totalSteps) steps")
        }
        let name = URL(fileURLWithPath: directory).standardized.lastPathComponent
        if name.hasPrefix(RunFiles.checkpointPrefix), let step = Int(name.dropFirst(RunFiles.checkpointPrefix.count)), step != state.step {
            throw MessageError("\(stateFile): step \(state.step) is not the step \(step) of its directory's name (damaged or moved checkpoint?)")
        }
        if let recorded = state.trainingData, recorded != trainer.data.fingerprint {
            throw MessageError("\(directory) was trained on other training examples (\(recorded.examples), checksum \(recorded.checksum)) "
                + "than this run's --data \(trainer.options.dataDir) gives (\(trainer.data.train.count)); resume with the data of the run")
        }
        let trainable = trainer.trainable
        let optimizer = try Safetensors.File(path: directory + "/" + optimizerFile)
        switch trainable.method {
        case .full:
            let config = try GemmaConfig(hfConfig: URL(fileURLWithPath: directory).appendingPathComponent(configFile))
            guard config == trainer.config else {
                throw MessageError("\(directory): its config.json does not describe the model being trained")
            }
            try Safetensors.File(path: directory + "/" + weightsFile).readHF(trainable.tensors, into: trainable.values)
        case .lora:
            guard let base = state.base else { throw MessageError("\(directory): \(RunFiles.checkpointState) names no base model") }
            guard base.sha256 == (try trainer.baseRecord()).sha256 else {
                throw MessageError("\(directory) holds adapters for the base \(base.path) (sha256 \(base.sha256.prefix(12))…), "
                    + "but this run's --model \(trainer.options.modelPath) is another model; resume with the base it was trained on")
            }
            // eval and export read adapter_config.json, resume the run's options: they must agree
            let written = try PeftAdapterFiles.readConfig(directory: directory).lora
            let trained = state.options.lora
            // the fields that differ, under peft's names
            let differences = [("r", "\(written.rank)", "\(trained.rank)"), ("lora_alpha", "\(written.alpha)", "\(trained.alpha)"),
                               ("use_rslora", "\(written.rsLoRA)", "\(trained.rsLoRA)"),
                               ("target_modules", written.targets.map(\.rawValue).joined(separator: ","),
                                trained.targets.map(\.rawValue).joined(separator: ","))]
                .filter { $0.1 != $0.2 }.map { "\($0.0) \($0.1) there, \($0.2) in training" }
            guard differences.isEmpty else {
                throw MessageError("\(directory)/\(PeftAdapterFiles.configFile) disagrees with \(RunFiles.checkpointState) "
                    + "(\(differences.joined(separator: "; "))): edited or damaged checkpoint")
            }
            try PeftAdapterFiles.readWeights(directory: directory, into: trainable)
        }
        try optimizer.read("exp_avg", shape: [trainable.count], into: trainer.optimizer.m.pointer)
        try optimizer.read("exp_avg_sq", shape: [trainable.count], into: trainer.optimizer.v.pointer)
        try checkMoments(trainer.optimizer, expectedChecksum: state.optimizerChecksum, file: directory + "/" + optimizerFile)
        try restoreExactNorms(trainable.tensors, of: trainable.values, from: optimizer, expectedChecksum: state.parameterChecksum,
                              directory: directory)
        return state
    }

    /// Put back the exact fp32 norm weights (model.safetensors holds g − 1) and prove the
    /// values are the ones that were saved.
    public static func restoreExactNorms(_ tensors: [ParameterTensor], of values: FloatBuffer, from optimizer: Safetensors.File,
                                         expectedChecksum: String, directory: String) throws {
        var norms = normWeights(tensors, of: values)
        try norms.withUnsafeMutableBufferPointer { n in
            if let base = n.baseAddress { try optimizer.read("norm_weights", shape: [n.count], into: base) }
        }
        var i = 0
        for t in tensors where t.isNorm {
            for j in 0..<t.count { values[t.offset + j] = norms[i + j] }
            i += t.count
        }
        guard ParameterChecksum.hex(ParameterChecksum.of(values)) == expectedChecksum else {
            throw MessageError("\(directory): the weights do not match the checksum in \(RunFiles.checkpointState) (damaged checkpoint)")
        }
    }

    /// ParameterChecksum of both moments: what trainer_state.json records.
    static func momentsChecksum(_ optimizer: AdamW) -> String {
        ParameterChecksum.hex(ParameterChecksum.of(optimizer.m)) + ParameterChecksum.hex(ParameterChecksum.of(optimizer.v))
    }

    /// Moments read from a checkpoint: finite, second moments not negative, and equal to the
    /// recorded checksum when there is one.
    private static func checkMoments(_ optimizer: AdamW, expectedChecksum: String?, file: String) throws {
        for (name, buffer) in [("exp_avg", optimizer.m), ("exp_avg_sq", optimizer.v)] {
            if let i = firstNonFinite(buffer, orNegative: name == "exp_avg_sq") {
                throw MessageError("\(file): \(name) holds \(buffer[i]) at element \(i) (damaged checkpoint)")
            }
        }
        if let expectedChecksum, momentsChecksum(optimizer) != expectedChecksum {
            throw MessageError("\(file): the moments do not match the checksum in \(RunFiles.checkpointState) (damaged checkpoint)")
        }
    }

    /// The first element that is NaN or infinite (or, with `orNegative`, below zero), scanned
    /// on every core: the full model's moments are 268M floats each.
    private static func firstNonFinite(_ buffer: FloatBuffer, orNegative: Bool = false) -> Int? {
        let p = buffer.pointer
        return parallelChunkResults(buffer.count, chunk: 1 << 22, initial: Int?.none) { _, lo, hi in
            (lo..<hi).first { !p[$0].isFinite || (orNegative && p[$0] < 0) }
        }.lazy.compactMap { $0 }.first
    }

    /// The norm weights among `tensors`, concatenated in order.
    private static func normWeights(_ tensors: [ParameterTensor], of values: FloatBuffer) -> [Float] {
        tensors.filter(\.isNorm).flatMap { Array(UnsafeBufferPointer(start: values.pointer + $0.offset, count: $0.count)) }
    }

    private static func syncFile(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}

extension Trainer {
    func checkpointState() throws -> CheckpointState {
        let epoch = completedSteps / plan.stepsPerEpoch
        let position = min((completedSteps % plan.stepsPerEpoch) * options.batchSize, plan.exampleCount)
        let formatter = ISO8601DateFormatter()
        return CheckpointState(step: completedSteps, epoch: epoch, positionInEpoch: position, seed: options.seed,
                               lr: history.last?.lr ?? schedule.lr(step: 0), nextLR: schedule.lr(step: completedSteps),
                               worldSize: comm.size, parameterChecksum: ParameterChecksum.hex(ParameterChecksum.of(trainable.values)),
                               options: options, history: history, savedAt: formatter.string(from: Date()),
                               base: trainable.method == .lora ? try baseRecord() : nil,
                               optimizerChecksum: Checkpoint.momentsChecksum(optimizer),
                               trainingData: data.fingerprint)
    }
}
