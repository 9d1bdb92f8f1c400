import Foundation

/// A model as a user names it with `--model`: a GGUF file, or an HF model directory as
/// transformers' save_pretrained writes it (config.json, model.safetensors or shards in
/// F32/BF16/F16, tokenizer.model or tokenizer.json). Opening reads only headers and the config;
/// the weights are read by `fp32()`.
public struct ModelFile {
    public let path: String
    /// The open GGUF (nil for an HF directory).
    public let gguf: GGUFFile?
    public let config: GemmaConfig

    public init(path: String) throws {
        self.path = path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ModelFileError(file: path, "no such file or directory")
        }
        if isDir.boolValue {
            guard GemmaModel.isHFDirectory(path) else {
                throw ModelFileError(file: path, "a model directory needs config.json (and model.safetensors), as transformers' save_pretrained writes")
            }
            gguf = nil
            config = try GemmaConfig(hfConfig: URL(fileURLWithPath: path).appendingPathComponent(GemmaModel.hfConfigFile))
        } else {
            let file = try GGUFFile(path: path)
            gguf = file
            config = try GemmaConfig(gguf: file)
        }
    }

    public var isHFDirectory: Bool { gguf == nil }

    /// Every weight in fp32 (a GGUF dequantized, an HF directory converted from its dtype).
    public func fp32() throws -> GemmaModel {
        if let gguf { return try GemmaModel(gguf: gguf) }
        return try GemmaModel(hfDirectory: path)
    }

    public func vocabulary() throws -> TokenizerVocabulary {
        if let gguf { return try TokenizerVocabulary(gguf: gguf) }
        return try TokenizerVocabulary(hfDirectory: path, vocabularySize: config.vocabSize)
    }

    public func tokenizer() throws -> Tokenizer { try tokenizerAndVocabulary().tokenizer }

    /// The tokenizer and the vocabulary it holds, from one reading of the files and one build.
    public func tokenizerAndVocabulary() throws -> (tokenizer: Tokenizer, vocabulary: TokenizerVocabulary) {
        if let gguf {
            let tokenizer = try Tokenizer(gguf: gguf)
            return (tokenizer, TokenizerVocabulary(tokenizer: tokenizer, of: gguf))
        }
        let vocabulary = try vocabulary()
        let tokenizer = try vocabulary.tokenizer()
        guard tokenizer.vocabularySize == config.vocabSize else {
            throw ModelFileError(file: path, "the tokenizer has \(tokenizer.vocabularySize) pieces, config.json's vocab_size is \(config.vocabSize)")
        }
        return (tokenizer, vocabulary)
    }

    /// The `tokenizer.*` keys a GGUF export carries: a GGUF's own, verbatim; for an HF
    /// directory, the ones llama.cpp's converter would write.
    public func tokenizerMetadata() throws -> [(String, GGUFValue)] {
        if let gguf { return gguf.metadataKeys.filter { $0.hasPrefix("tokenizer.") }.map { ($0, gguf.metadata[$0]!) } }
        return try vocabulary().ggufMetadata
    }

    /// The SHA-256 that identifies the weights (a GGUF: the file; a directory: its weight files).
    public func sha256() throws -> String {
        if let gguf { return gguf.sha256() }
        return try HFWeightFiles(directory: path).sha256()
    }

    /// A descriptive name (general.name, else the file or directory name).
    public var name: String { gguf.map(Self.name(of:)) ?? URL(fileURLWithPath: path).lastPathComponent }

    public static func name(of gguf: GGUFFile) -> String {
        gguf.metadata["general.name"]?.string ?? URL(fileURLWithPath: gguf.path).lastPathComponent
    }
}
