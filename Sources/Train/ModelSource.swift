import Foundation
import Model

/// Load a model for inference from a GGUF file or a checkpoint directory (config.json +
/// model.safetensors). The tokenizer always comes from a GGUF: the file itself, or for a
/// checkpoint the GGUF it was trained from (trainer_state.json), else the installed model.
public enum ModelSource {
    public static func load(_ path: String, tokenizerGGUF: String? = nil) throws -> (GemmaModel, Tokenizer) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ModelFileError(file: path, "no such file or directory")
        }
        if isDir.boolValue {
            let model = try GemmaModel(hfDirectory: path)
            let state = FileManager.default.fileExists(atPath: path + "/" + CheckpointState.fileName)
                ? try CheckpointState.read(directory: path) : nil
            // an ft-dist checkpoint carries the exact norms and a checksum: a damaged file is an error
            if let state {
                let optimizer = try Safetensors.File(path: path + "/optimizer.safetensors")
                try Checkpoint.restoreExactNorms(model, from: optimizer, expectedChecksum: state.parameterChecksum, directory: path)
            }
            let recorded = state?.options.modelPath
            let source = tokenizerGGUF ?? [recorded, DefaultPaths.model].compactMap { $0 }
                .first { FileManager.default.fileExists(atPath: $0) } ?? DefaultPaths.model
            let tokenizer = try Tokenizer(gguf: GGUFFile(path: source))
            guard tokenizer.vocabularySize == model.config.vocabSize else {
                throw ModelFileError(file: source, "its vocabulary (\(tokenizer.vocabularySize)) does not fit the checkpoint (\(model.config.vocabSize))")
            }
            return (model, tokenizer)
        }
        let gguf = try GGUFFile(path: path)
        return (try GemmaModel(gguf: gguf), try Tokenizer(gguf: gguf))
    }
}

/// `ft-dist generate`: greedy continuation of a prompt, streamed token by token.
public struct TextGenerator {
    public let model: GemmaModel
    public let tokenizer: Tokenizer

    /// Seconds spent loading the model and tokenizer.
    public let loadSeconds: Double

    public init(modelPath: String) throws {
        let start = Date()
        (model, tokenizer) = try ModelSource.load(modelPath)
        loadSeconds = Date().timeIntervalSince(start)
    }

    /// Timing of the last generate call: prompt tokens, prefill seconds, generated tokens, decode seconds.
    public struct Timing { public var promptTokens = 0, prefillSeconds = 0.0, generatedTokens = 0, decodeSeconds = 0.0 }

    @discardableResult
    public func generate(prompt: String, maxNewTokens: Int, onText: @escaping (String) -> Void) throws -> Timing {
        let ids = [tokenizer.bos] + tokenizer.encode(prompt)
        let inference = GemmaInference(model: model)
        var timing = Timing(promptTokens: ids.count)
        let start = Date()
        var firstToken: Date?
        // decode the growing output and print only what is new, so multi-token characters print whole
        var generated: [Int32] = []
        var printed = ""
        _ = try inference.generateGreedy([ids], maxNewTokens: maxNewTokens, stopToken: tokenizer.eos) { _, token in
            if firstToken == nil { firstToken = Date() }
            generated.append(token)
            let text = tokenizer.decode(generated)
            if text.hasPrefix(printed), !text.hasSuffix("\u{FFFD}") {
                onText(String(text.dropFirst(printed.count)))
                printed = text
            }
        }
        let text = tokenizer.decode(generated)
        if text.count > printed.count, text.hasPrefix(printed) { onText(String(text.dropFirst(printed.count))) }
        let end = Date()
        timing.prefillSeconds = (firstToken ?? end).timeIntervalSince(start)
        timing.generatedTokens = generated.count
        timing.decodeSeconds = end.timeIntervalSince(firstToken ?? end)
        return timing
    }
}

/// `ft-dist tokenize`.
public struct TokenizeTool {
    let tokenizer: Tokenizer
    let parseSpecial: Bool

    public init(modelPath: String, parseSpecial: Bool) throws {
        tokenizer = try Tokenizer(gguf: GGUFFile(path: modelPath))
        self.parseSpecial = parseSpecial
    }

    public func ids(_ text: String) -> [Int32] { tokenizer.encode(text, parseSpecial: parseSpecial) }

    /// {"text": …} per line in, {"text": …, "ids": […]} per line out; a bad line is an error naming its number.
    public func answerJSONLines(input: FileHandle, output: FileHandle) throws {
        struct Line: Codable { var text: String; var ids: [Int32]? }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        var lineNumber = 0
        var pending = Data()
        func handle(_ raw: Data) throws {
            lineNumber += 1
            guard !raw.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) else { return }
            guard var line = try? JSONDecoder().decode(Line.self, from: raw) else {
                throw InvalidArgument("stdin line \(lineNumber): expected a JSON object with a \"text\" string")
            }
            line.ids = ids(line.text)
            output.write(try encoder.encode(line) + Data("\n".utf8))
        }
        while true {
            let chunk = input.availableData
            if chunk.isEmpty { break }
            pending.append(chunk)
            while let nl = pending.firstIndex(of: 0x0A) {
                try handle(pending[pending.startIndex..<nl])
                pending.removeSubrange(pending.startIndex...nl)
            }
        }
        if !pending.isEmpty { try handle(pending) }
    }
}

/// `ft-dist info`.
public enum ModelInfo {
    public static func describe(path: String, fullArrays: Bool) throws -> String {
        let f = try GGUFFile(path: path)
        var out = "\(path)\nGGUF version \(f.version), \(f.metadata.count) metadata keys, \(f.tensors.count) tensors, alignment \(f.alignment)\n\nmetadata:\n"
        for key in f.metadataKeys {
            out += "  \(key) = \(render(f.metadata[key]!, full: fullArrays))\n"
        }
        out += "\ntensors (name, shape row-major, type, elements):\n"
        var total = 0
        for t in f.tensors {
            out += "  \(t.name.padding(toLength: 34, withPad: " ", startingAt: 0)) \(String(describing: t.shape).padding(toLength: 16, withPad: " ", startingAt: 0)) \(t.type.name.padding(toLength: 5, withPad: " ", startingAt: 0)) \(t.elementCount)\n"
            total += t.elementCount
        }
        out += "total parameters: \(total)"
        if let config = try? GemmaConfig(gguf: f) {
            out += "\ngemma3: \(config.layers) layers, hidden \(config.hidden), \(config.heads) heads / \(config.kvHeads) kv, head_dim \(config.headDim), vocab \(config.vocabSize)"
        }
        return out
    }

    static func render(_ v: GGUFValue, full: Bool) -> String {
        switch v {
        case .string(let s): return "\"\(s.replacingOccurrences(of: "\n", with: "\\n"))\""
        case .array(let a):
            let shown = full ? a : Array(a.prefix(8))
            let body = shown.map { render($0, full: full) }.joined(separator: ", ")
            return "[\(body)\(a.count > shown.count ? ", … (\(a.count) items)" : "")]"
        case .bool(let b): return String(b)
        default: return v.double.map { d in v.int != nil ? String(v.int!) : String(d) } ?? "?"
        }
    }
}
