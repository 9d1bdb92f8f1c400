import Foundation
import Model
import Report

/// `ft-dist export`: a model or adapters in the form another tool runs.
/// - A GGUF, a full checkpoint or a merged one → a GGUF model for llama.cpp and Ollama
///   (GemmaGGUF, in the --type mixture), or an HF directory for transformers.
/// - An adapter checkpoint → a llama.cpp LoRA adapter GGUF (LoRAAdapterGGUF); with --merge,
///   base + s·BA as one model, to GGUF or HF.
/// The output must be new; it appears only when complete.
public enum ModelExport {
    public enum Format: String, CaseIterable, Sendable { case gguf, hf }

    public struct Request {
        public var source: String
        public var format: Format
        public var type: ExportType
        public var merge: Bool
        public var output: String
        public var name: String?

        public init(source: String, format: Format, type: ExportType, merge: Bool, output: String, name: String?) {
            self.source = source
            self.format = format
            self.type = type
            self.merge = merge
            self.output = output
            self.name = name
        }
    }

    /// Run the export; `log` gets progress lines. Returns what was written, in one line.
    @discardableResult
    public static func run(_ r: Request, log: @escaping (String) -> Void) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: r.source, isDirectory: &isDir) else {
            throw MessageError("\(r.source): no such file or directory")
        }
        try HFDirectoryOutput.checkNewOutput(r.output)
        if r.format == .hf && r.type != .f32 {
            throw MessageError("--to hf writes fp32 safetensors; --type \(r.type.rawValue) applies to GGUF output")
        }
        let adapters = isDir.boolValue && AdapterCheckpoint.isAdapterDirectory(r.source)
        if r.merge && !adapters {
            throw MessageError("--merge folds adapters into their base, and \(r.source) holds no adapters (no \(PeftAdapterFiles.configFile))")
        }
        if adapters && !r.merge { return try exportAdapters(r, log: log) }

        let source = try loadModel(r, isDirectory: isDir.boolValue, log: log)
        switch r.format {
        case .hf:
            log("writing \(r.output) (model.safetensors, config.json, tokenizer)")
            try HFDirectoryOutput.write(source.model, tokenizer: try HFTokenizerFiles(gguf: source.tokenizer),
                                        mergedFrom: source.mergedFrom, to: r.output)
            return "wrote \(r.output): \(source.description) as an HF directory (fp32)"
        case .gguf:
            let baseTypes = Self.baseTypes(source.base, for: r.type)
            let writer = GemmaGGUF.writer(model: source.model, name: r.name ?? source.name, fileType: r.type.fileType,
                                          tokenizer: source.tokenizer, sourcePath: r.source) { t in
                baseTypes?[t.ggufName] ?? r.type.tensorType(name: t.ggufName, shape: t.shape, layers: source.model.config.layers)
            }
            try write(writer, to: r.output, log: log)
            let mixture = baseTypes != nil ? "the types of \(source.base!.path)" : "llama.cpp's \(r.type.rawValue) mixture"
            return "wrote \(r.output): \(source.description) as GGUF \(r.type.rawValue) (\(mixture)), \(fileSize(r.output))"
        }
    }

    /// A model to export, with the GGUF its tokenizer comes from and (when known) the base
    /// GGUF the run started from.
    private struct Source {
        var model: GemmaModel
        var tokenizer: GGUFFile
        var base: GGUFFile?
        var name: String
        var description: String
        var mergedFrom: MergedSource?
    }

    private static func loadModel(_ r: Request, isDirectory: Bool, log: (String) -> Void) throws -> Source {
        if !isDirectory {
            log("reading \(r.source)")
            let gguf = try GGUFFile(path: r.source)
            return Source(model: try GemmaModel(gguf: gguf), tokenizer: gguf, base: gguf, name: modelName(gguf, fineTuned: false),
                          description: "the GGUF \(r.source)")
        }
        if r.merge {
            let checkpoint = try AdapterCheckpoint(r.source)
            log("merging \(r.source) into \(checkpoint.basePath)")
            let gguf = try GGUFFile(path: checkpoint.basePath)
            let model = try GemmaModel(gguf: gguf)
            model.merge(try checkpoint.adapters(for: model.config))
            return Source(model: model, tokenizer: gguf, base: gguf, name: modelName(gguf, fineTuned: true),
                          description: "\(r.source) merged into \(checkpoint.basePath)",
                          mergedFrom: MergedSource(base: checkpoint.basePath, adapters: URL(fileURLWithPath: r.source).standardized.path))
        }
        guard FileManager.default.fileExists(atPath: r.source + "/" + GemmaModel.hfConfigFile) else {
            throw MessageError("\(r.source) is neither a checkpoint (config.json + model.safetensors) nor an adapter checkpoint (\(PeftAdapterFiles.configFile))")
        }
        log("reading \(r.source)")
        let loaded = try ModelSource.load(r.source)
        guard let model = loaded.base as? GemmaModel else { throw MessageError("\(r.source): not a full model") }
        // The directory stores norms as HF keeps them, w = g − 1; transformers and llama.cpp's
        // converter use w + 1. Export that value (it differs from ft-dist's exact g by an ulp
        // where g − 1 rounds), so the GGUF is the file the converter makes of the directory.
        for t in model.layout.tensors where t.isNorm {
            let p = model.parameters.pointer + t.offset
            for i in 0..<t.count { p[i] = (p[i] - 1) + 1 }
        }
        let state = FileManager.default.fileExists(atPath: r.source + "/" + CheckpointState.fileName)
            ? try CheckpointState.read(directory: r.source) : nil
        let tokenizer = try GGUFFile(path: ModelSource.tokenizerSource(checkpoint: r.source, state: state))
        let basePath = state?.options.modelPath ?? MergedSource.read(directory: r.source)?.base
        let base = basePath.flatMap { FileManager.default.fileExists(atPath: $0) ? try? GGUFFile(path: $0) : nil }
        return Source(model: model, tokenizer: tokenizer, base: base, name: modelName(tokenizer, fineTuned: true),
                      description: "the checkpoint \(r.source)")
    }

    /// q4_k_m of a run that started from a Q4_K_M GGUF keeps each tensor's type from there.
    private static func baseTypes(_ base: GGUFFile?, for type: ExportType) -> [String: GGMLType]? {
        guard type == .q4_k_m, let base, base.metadata["general.file_type"]?.int == Int(ExportType.q4_k_m.fileType) else { return nil }
        return Dictionary(uniqueKeysWithValues: base.tensors.map { ($0.name, $0.type) })
    }

    private static func exportAdapters(_ r: Request, log: @escaping (String) -> Void) throws -> String {
        guard r.format == .gguf else {
            throw MessageError("\(r.source) is already an HF (peft) adapter directory; --merge writes base + adapters as one HF model")
        }
        guard LoRAAdapterGGUF.types.contains(r.type) else {
            throw MessageError("adapters are written as f32, f16, bf16 or q8_0 (\(r.type.rawValue) is a mixture for whole models)")
        }
        let checkpoint = try AdapterCheckpoint(r.source)
        let base = try GGUFFile(path: checkpoint.basePath)
        let adapters = try checkpoint.adapters(for: try GemmaConfig(gguf: base))
        let writer = LoRAAdapterGGUF.writer(adapters: adapters, name: r.name ?? modelName(base, fineTuned: true) + " LoRA",
                                            type: r.type, sourcePath: r.source)
        try write(writer, to: r.output, log: log)
        let lora = checkpoint.lora
        return "wrote \(r.output): llama.cpp LoRA adapter (rank \(lora.rank), scale \(lora.scale), adapter.lora.alpha "
            + "\(LoRAAdapterGGUF.llamaAlpha(lora))) for the base \(checkpoint.basePath), \(fileSize(r.output))"
    }

    private static func write(_ writer: GGUFWriter, to output: String, log: @escaping (String) -> Void) throws {
        var reported = 0
        try writer.write(to: output) { done, total in
            // a line every ~10% of the tensors
            if done * 10 / total > reported || done == total {
                reported = done * 10 / total
                log("writing \(output): \(done)/\(total) tensors")
            }
        }
    }

    private static func modelName(_ gguf: GGUFFile, fineTuned: Bool) -> String {
        let base = gguf.metadata["general.name"]?.string ?? "Gemma 3"
        return fineTuned ? base + " Banking77 (ft-dist)" : base
    }

    private static func fileSize(_ path: String) -> String {
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        return String(format: "%.1f MB", Double(bytes) / 1e6)
    }
}
