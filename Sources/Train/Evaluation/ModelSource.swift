import Foundation
import Model
import Report

/// A model ready for generation, with the tokenizer and prompt template that go with it.
public struct LoadedModel {
    public let model: GemmaModel
    public let tokenizer: Tokenizer
    /// The template the model was trained with (a checkpoint's run), else the default.
    public let template: PromptTemplate
    /// Where it came from.
    public let path: String
}

/// Load a model for inference from a GGUF file or a checkpoint directory (config.json +
/// model.safetensors). The tokenizer always comes from a GGUF: the file itself, or for a
/// checkpoint the GGUF it was trained from (trainer_state.json), else the installed model.
public enum ModelSource {
    public static func load(_ path: String, tokenizerGGUF: String? = nil) throws -> LoadedModel {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ModelFileError(file: path, "no such file or directory")
        }
        guard isDir.boolValue else {
            let gguf = try GGUFFile(path: path)
            return LoadedModel(model: try GemmaModel(gguf: gguf), tokenizer: try Tokenizer(gguf: gguf),
                               template: try PromptTemplate(), path: path)
        }
        let model = try GemmaModel(hfDirectory: path)
        let state = FileManager.default.fileExists(atPath: path + "/" + CheckpointState.fileName)
            ? try CheckpointState.read(directory: path) : nil
        // an ft-dist checkpoint carries the exact norms and a checksum: a damaged file is an error
        if let state {
            let optimizer = try Safetensors.File(path: path + "/" + Checkpoint.optimizerFile)
            try Checkpoint.restoreExactNorms(model.layout.tensors, of: model.parameters, from: optimizer,
                                             expectedChecksum: state.parameterChecksum, directory: path)
        }
        let recorded = state?.options.modelPath
        let source = tokenizerGGUF ?? [recorded, DefaultPaths.model].compactMap { $0 }
            .first { FileManager.default.fileExists(atPath: $0) } ?? DefaultPaths.model
        let tokenizer = try Tokenizer(gguf: GGUFFile(path: source))
        guard tokenizer.vocabularySize == model.config.vocabSize else {
            throw ModelFileError(file: source, "its vocabulary (\(tokenizer.vocabularySize)) does not fit the checkpoint (\(model.config.vocabSize))")
        }
        // the run's own prompt: a model answers in the template it was trained on
        let template = try PromptTemplate(state?.options.promptTemplate ?? PromptTemplate.defaultTemplate)
        return LoadedModel(model: model, tokenizer: tokenizer, template: template, path: path)
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
