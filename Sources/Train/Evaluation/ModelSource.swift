import Foundation
import Model
import Report

/// A model ready for generation, with the tokenizer and prompt template that go with it.
public struct LoadedModel {
    /// The base weights (the whole model for a GGUF or a full checkpoint).
    public let base: GemmaBase
    /// What generation runs on: the base, with the adapters of an adapter checkpoint.
    public let weights: GemmaWeights
    public let tokenizer: Tokenizer
    /// The model file (GGUF or HF directory) the tokenizer was read from.
    public let tokenizerSource: String
    /// The template the model was trained with (a checkpoint's run), else the default.
    public let template: PromptTemplate
    /// Where it came from.
    public let path: String
}

/// Load a model for inference from a GGUF file, an HF model directory or full checkpoint
/// (config.json + model.safetensors or shards) or an adapter checkpoint (peft's
/// adapter_config.json + adapter_model.safetensors over the base it names). The tokenizer is
/// the model's own (the GGUF's, the directory's tokenizer.model or tokenizer.json), else for an
/// older checkpoint the GGUF it was trained from (trainer_state.json) or merged from
/// (merged_from.json), else the installed model.
public enum ModelSource {
    /// `weights`: fp32 (the default) or kept in quantized blocks (InferenceWeights); an
    /// adapter checkpoint trained with --method qlora always keeps its base quantized.
    /// `announce`: say on stderr which base a peft adapter directory goes with, or that a full
    /// checkpoint lacks its optimizer file (false on every MPI rank but the first, so a note
    /// appears once).
    public static func load(_ path: String, tokenizerGGUF: String? = nil, weights kind: InferenceWeights = .fp32,
                            announce: Bool = true) throws -> LoadedModel {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ModelFileError(file: path, "no such file or directory")
        }
        guard isDir.boolValue else {
            let file = try ModelFile(path: path)
            let base = try kind.base(file)
            return LoadedModel(base: base, weights: base.weights(trainable: nil, seed: 0), tokenizer: try file.tokenizer(), tokenizerSource: path,
                               template: try PromptTemplate(), path: path)
        }
        let state = FileManager.default.fileExists(atPath: path + "/" + CheckpointState.fileName)
            ? try CheckpointState.read(directory: path) : nil
        // the run's own prompt: a model answers in the template it was trained on
        let template = try PromptTemplate(state?.options.promptTemplate ?? PromptTemplate.defaultTemplate)
        if FileManager.default.fileExists(atPath: path + "/" + PeftAdapterFiles.configFile) {
            return try loadAdapters(path, state: state, template: template, tokenizerGGUF: tokenizerGGUF, kind: kind, announce: announce)
        }
        let model = try GemmaModel(hfDirectory: path)
        // an ft-dist checkpoint carries the exact norms and a checksum: a damaged file is an
        // error. Without its optimizer file (deleted to save 2 GB: only resuming needs the
        // moments) the norms are model.safetensors' g − 1 + 1, as transformers reads them
        // (exact for g ≥ 0.5, otherwise off by the rounding of g − 1: ≤ 2⁻²⁴ for |g| ≤ 1), and
        // the checksum cannot be checked.
        if let state {
            let optimizerPath = path + "/" + Checkpoint.optimizerFile
            if FileManager.default.fileExists(atPath: optimizerPath) {
                try Checkpoint.restoreExactNorms(model.layout.tensors, of: model.parameters, from: try Safetensors.File(path: optimizerPath),
                                                 expectedChecksum: state.parameterChecksum, directory: path)
            } else if announce {
                FileHandle.standardError.write(Data(("note: \(optimizerPath) is missing: the norm weights come from model.safetensors "
                    + "(g − 1 + 1: exact for g ≥ 0.5, else off by the rounding of g − 1) and the checkpoint's checksum is not checked\n").utf8))
            }
        }
        // the directory's own tokenizer (an HF model, a recent checkpoint), else the GGUF it came from
        let source = tokenizerGGUF ?? (TokenizerVocabulary.isPresent(inHFDirectory: path) ? path : tokenizerSource(checkpoint: path, state: state))
        if source != path && tokenizerGGUF == nil && announce {
            FileHandle.standardError.write(Data("note: \(path) holds no tokenizer files; the tokenizer comes from \(source)\n".utf8))
        }
        let tokenizer = try ModelFile(path: source).tokenizer()
        guard tokenizer.vocabularySize == model.config.vocabSize else {
            throw ModelFileError(file: source, "its vocabulary (\(tokenizer.vocabularySize)) does not fit the model (\(model.config.vocabSize))")
        }
        let base = kind.base(model)
        return LoadedModel(base: base, weights: base.weights(trainable: nil, seed: 0), tokenizer: tokenizer, tokenizerSource: source,
                           template: template, path: path)
    }

    /// The GGUF whose tokenizer goes with a full or merged checkpoint: the one it was trained
    /// from (trainer_state.json) or merged from (merged_from.json), else the installed model.
    private static func tokenizerSource(checkpoint path: String, state: CheckpointState?) -> String {
        [state?.options.modelPath, MergedSource.read(directory: path)?.base, DefaultPaths.model].compactMap { $0 }
            .first { FileManager.default.fileExists(atPath: $0) } ?? DefaultPaths.model
    }

    /// An adapter checkpoint over its base: the base ft-dist recorded (checked by sha256), else
    /// the base_model_name_or_path of adapter_config.json when it is a file, else the installed
    /// model.
    private static func loadAdapters(_ path: String, state: CheckpointState?, template: PromptTemplate,
                                     tokenizerGGUF: String?, kind: InferenceWeights, announce: Bool) throws -> LoadedModel {
        let checkpoint = try AdapterCheckpoint(path, state: state)
        if announce { checkpoint.announceBase() }
        let file = try ModelFile(path: checkpoint.basePath)
        // the base the adapters were trained on: QLoRA's stays quantized, LoRA's is fp32
        let base = try (state?.options.method == .qlora ? InferenceWeights.quantized : kind).base(file)
        let tokenizerSource = tokenizerGGUF ?? checkpoint.basePath
        let tokenizer = try tokenizerGGUF.map { try ModelFile(path: $0).tokenizer() } ?? file.tokenizer()
        let adapters = try checkpoint.adapters(for: base.config)
        return LoadedModel(base: base, weights: base.weights(trainable: adapters, seed: 0), tokenizer: tokenizer, tokenizerSource: tokenizerSource,
                           template: template, path: path)
    }

    /// The model `eval` and `predict` use without --model: the newest complete checkpoint of
    /// the default run directory (what the README's main command trained), else the installed
    /// model. Returns the path and, for the user, why that one.
    public static func defaultModel() -> (path: String, reason: String) {
        let run = DefaultPaths.run
        if let newest = RunFiles(run).checkpoints.last {
            return (newest.path, "the newest checkpoint of \(run); --model chooses another")
        }
        return (DefaultPaths.model, "the installed pretrained model (no checkpoint in \(run) yet); --model chooses another")
    }
}
