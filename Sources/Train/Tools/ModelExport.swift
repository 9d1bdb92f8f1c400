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

    /// The temporary paths an export of `output` writes before renaming (removed when the
    /// command is interrupted).
    public static func temporaryPaths(for output: String) -> [String] {
        [GGUFWriter.temporaryPath(for: output), HFDirectoryOutput.temporaryPath(for: output)]
    }

    /// Run the export; `log` gets progress lines. Returns what was written, in one line.
    @discardableResult
    public static func run(_ r: Request, log: @escaping (String) -> Void) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: r.source, isDirectory: &isDir) else {
            throw MessageError("\(r.source): no such file or directory")
        }
        try HFDirectoryOutput.checkNewOutput(r.output, isDirectory: r.format == .hf)
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
            try HFDirectoryOutput.write(source.model, tokenizer: try HFTokenizerFiles(vocabulary: source.tokenizer.vocabulary()),
                                        mergedFrom: source.mergedFrom, to: r.output)
            return "wrote \(r.output): \(source.description) as an HF directory (fp32)"
        case .gguf:
            let baseTypes = Self.baseTypes(source.base, for: r.type)
            let writer = try GemmaGGUF.writer(model: source.model, name: r.name ?? source.name, fileType: r.type.fileType,
                                              tokenizer: source.tokenizer, sourcePath: r.source) { t in
                baseTypes?[t.ggufName] ?? r.type.tensorType(name: t.ggufName, shape: t.shape, layers: source.model.config.layers)
            }
            try write(writer, to: r.output, log: log)
            let mixture = baseTypes != nil ? "the types of \(source.base!.path)" : "llama.cpp's \(r.type.rawValue) mixture"
            return "wrote \(r.output): \(source.description) as GGUF \(r.type.rawValue) (\(mixture)), \(fileSize(r.output))"
        }
    }

    /// A model to export, with the model file its tokenizer comes from and (when known) the
    /// base GGUF the run started from.
    private struct Source {
        var model: GemmaModel
        var tokenizer: ModelFile
        var base: GGUFFile?
        var name: String
        var description: String
        var mergedFrom: MergedSource?
    }

    private static func loadModel(_ r: Request, isDirectory: Bool, log: (String) -> Void) throws -> Source {
        if !isDirectory {
            log("reading \(r.source)")
            let file = try ModelFile(path: r.source)
            return Source(model: try file.fp32(), tokenizer: file, base: file.gguf, name: file.name, description: "the GGUF \(r.source)")
        }
        if r.merge {
            let checkpoint = try AdapterCheckpoint(r.source)
            if let note = checkpoint.baseNote { log(note) }
            log("merging \(r.source) into \(checkpoint.basePath)")
            let base = try ModelFile(path: checkpoint.basePath)
            let model = try base.fp32()
            model.merge(try checkpoint.adapters(for: model.config))
            return Source(model: model, tokenizer: base, base: base.gguf, name: fineTuned(base.name),
                          description: "\(r.source) merged into \(checkpoint.basePath)",
                          mergedFrom: MergedSource(base: checkpoint.basePath, adapters: URL(fileURLWithPath: r.source).standardized.path))
        }
        guard GemmaModel.isHFDirectory(r.source) else {
            throw MessageError("\(r.source) is neither a model directory (config.json + model.safetensors) nor an adapter checkpoint (\(PeftAdapterFiles.configFile))")
        }
        log("reading \(r.source)")
        let loaded = try ModelSource.load(r.source)
        guard let model = loaded.base as? GemmaModel else { throw MessageError("\(r.source): not a full model") }
        let state = FileManager.default.fileExists(atPath: r.source + "/" + CheckpointState.fileName)
            ? try CheckpointState.read(directory: r.source) : nil
        if state != nil {
            // An ft-dist checkpoint: ModelSource restored the exact norms g, while the directory
            // stores w = g − 1, and transformers and llama.cpp's converter use w + 1. Export that
            // value (an ulp from g where g − 1 rounds): the GGUF the converter makes of the directory.
            for t in model.layout.tensors where t.isNorm {
                let p = model.parameters.pointer + t.offset
                for i in 0..<t.count { p[i] = (p[i] - 1) + 1 }
            }
        }
        // the tokenizer ModelSource chose: the directory's own, else the GGUF an older checkpoint came from
        let tokenizer = try ModelFile(path: loaded.tokenizerSource)
        let basePath = state?.options.modelPath ?? MergedSource.read(directory: r.source)?.base
        let base = basePath.flatMap { FileManager.default.fileExists(atPath: $0) ? (try? ModelFile(path: $0))?.gguf : nil }
        // a base is known only for a trained (checkpoint) or merged directory: mark the name once
        let name = base.map { fineTuned(ModelFile.name(of: $0)) } ?? URL(fileURLWithPath: r.source).lastPathComponent
        return Source(model: model, tokenizer: tokenizer, base: base, name: name,
                      description: state == nil ? "the model directory \(r.source)" : "the checkpoint \(r.source)")
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
        if let note = checkpoint.baseNote { log(note) }
        let base = try ModelFile(path: checkpoint.basePath)
        let adapters = try checkpoint.adapters(for: base.config)
        let writer = LoRAAdapterGGUF.writer(adapters: adapters, name: r.name ?? fineTuned(base.name) + " LoRA",
                                            type: r.type, sourcePath: r.source)
        try write(writer, to: r.output, log: log)
        let lora = checkpoint.lora
        return "wrote \(r.output): llama.cpp LoRA adapter (rank \(lora.rank), scale \(lora.scale), adapter.lora.alpha "
            + "\(LoRAAdapterGGUF.llamaAlpha(lora))) for the base \(checkpoint.basePath), \(fileSize(r.output))"
    }

    private static func write(_ writer: GGUFWriter, to output: String, log: @escaping (String) -> Void) throws {
        var reported = 0
        try writer.write(to: output, replace: false) { done, total in
            // a line every ~10% of the tensors
            if done * 10 / total > reported || done == total {
                reported = done * 10 / total
                log("writing \(output): \(done)/\(total) tensors")
            }
        }
    }

    private static func fineTuned(_ base: String) -> String { base + " Banking77 (ft-dist)" }

    private static func fileSize(_ path: String) -> String {
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        return String(format: "%.1f MB", Double(bytes) / 1e6)
    }
}
