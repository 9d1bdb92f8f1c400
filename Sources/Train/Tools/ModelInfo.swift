import Foundation
import Model
import Report

/// `ft-dist info`.
public enum ModelInfo {
    public static func describe(path: String, fullArrays: Bool) throws -> String {
        if GemmaModel.isHFDirectory(path) { return try describeHF(path) }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            if AdapterCheckpoint.isAdapterDirectory(path) { return try describeAdapters(path) }
            if let newest = RunFiles(path).checkpoints.last {
                throw MessageError("\(path) is a training run: describe one of its checkpoints, e.g. ft-dist info \(newest.path)")
            }
            throw MessageError("\(path) is a directory with neither \(GemmaModel.hfConfigFile) (an HF model) nor \(PeftAdapterFiles.configFile) (LoRA adapters)")
        }
        if path.hasSuffix(".safetensors") || path.hasSuffix(".json") {
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
            throw MessageError("\(path): info reads a GGUF file or a model directory; for an HF model or a checkpoint give its directory (\(directory))")
        }
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

    /// An HF model directory: the config as ft-dist reads it, the tokenizer, and the tensors
    /// with their dtypes.
    static func describeHF(_ path: String) throws -> String {
        let file = try ModelFile(path: path)
        let c = file.config
        let weights = try HFWeightFiles(directory: path)
        let tokenizer = try file.tokenizer()
        try weights.checkLayout(of: c)
        var out = "\(path)\nHF model directory (gemma3_text): \(c.layers) layers, hidden \(c.hidden), intermediate \(c.intermediate), "
            + "\(c.heads) heads / \(c.kvHeads) kv, head_dim \(c.headDim), vocab \(c.vocabSize), sliding window \(c.slidingWindow) "
            + "(every \(c.slidingPattern)th layer global), RoPE \(c.ropeBaseGlobal) / \(c.ropeBaseLocal), rms eps \(c.rmsEps)\n"
        out += "tokenizer: \(tokenizer.vocabularySize) pieces, <bos> \(tokenizer.bos), <eos> \(tokenizer.eos)\n\ntensors (name, shape, dtype, file):\n"
        var total = 0
        for name in weights.tensorNames.sorted() {
            let (shape, dtype) = try weights.describe(name)
            out += "  \(name.padding(toLength: 52, withPad: " ", startingAt: 0)) \(String(describing: shape).padding(toLength: 16, withPad: " ", startingAt: 0)) \(dtype)  \(URL(fileURLWithPath: weights.path(of: name)).lastPathComponent)\n"
            total += shape.reduce(1, *)
        }
        return out + "total parameters: \(total)"
    }

    /// An adapter checkpoint (peft's files): its LoRA, its base and its tensors.
    static func describeAdapters(_ path: String) throws -> String {
        // the files alone: the base they name need not be here (nor be hashed) to describe them
        let (lora, base) = try PeftAdapterFiles.readConfig(directory: path)
        let file = try Safetensors.File(path: path + "/" + PeftAdapterFiles.weightsFile)
        var out = "\(path)\nLoRA adapters (peft): rank \(lora.rank), alpha \(lora.alpha)\(lora.rsLoRA ? " (rsLoRA)" : ""), scale \(lora.scale), "
            + "dropout \(lora.dropout), targets \(lora.targets.map(\.rawValue).joined(separator: ","))\nbase: \(base ?? "not named")\n\n"
            + "tensors (name, shape, dtype):\n"
        var total = 0
        for name in file.tensors.keys.sorted() {
            let shape = file.tensors[name]!.shape
            out += "  \(name.padding(toLength: 72, withPad: " ", startingAt: 0)) \(String(describing: shape).padding(toLength: 12, withPad: " ", startingAt: 0)) \(file.dtypes[name]!.rawValue)\n"
            total += shape.reduce(1, *)
        }
        return out + "trained parameters: \(total)"
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
