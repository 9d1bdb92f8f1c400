/// A Gemma 3 model as llama.cpp's converter writes it for `gemma3` (convert_hf_to_gguf.py,
/// Gemma3Model): the architecture's hyperparameters under `gemma3.*`, the tokenizer's
/// `tokenizer.ggml.*` keys, GGUF tensor names, norm weights as GGUF stores them (g = 1 + w,
/// which is what ft-dist holds), each tensor in the type `tensorType` gives it.
public enum GemmaGGUF {
    /// The general.* keys describing a model, copied from the source file when it has them.
    static let descriptiveKeys = ["general.basename", "general.size_label", "general.license", "general.tags"]

    /// A writer for `model`; the tensors are encoded while the file is written. `tokenizer`
    /// is the model file whose tokenizer (and, for a GGUF, descriptive `general.*` keys) the
    /// model uses. Every tensor is checked for NaN and infinity before it is encoded (a
    /// ModelFileError naming `sourcePath` stops the write).
    public static func writer(model: GemmaModel, name: String, fileType: UInt32, tokenizer: ModelFile, sourcePath: String,
                              tensorType: (ParameterTensor) -> GGMLType) throws -> GGUFWriter {
        var w = GGUFWriter()
        let descriptive = descriptiveKeys.compactMap { key in tokenizer.gguf?.metadata[key].map { (key, $0) } }
        for (key, value) in metadata(model.config, name: name, fileType: fileType, descriptive: descriptive,
                                     tokenizer: try tokenizer.tokenizerMetadata()) { w.set(key, value) }
        for t in model.layout.tensors {
            let type = tensorType(t)
            let source = UnsafePointer(model.parameters.pointer + t.offset)
            w.addTensor(t.ggufName, shape: t.shape, type: type) {
                try ModelFileError.requireFinite(source, count: t.count, tensor: t.hfName, file: sourcePath)
                return try withExtendedLifetime(model) { try Quantize.checkedBytes(type, source, count: t.count, tensor: t.hfName, file: sourcePath) }
            }
        }
        return w
    }

    /// The metadata, in the converter's order: general, architecture, tokenizer.
    public static func metadata(_ c: GemmaConfig, name: String, fileType: UInt32, descriptive: [(String, GGUFValue)],
                                tokenizer: [(String, GGUFValue)]) -> [(String, GGUFValue)] {
        var m: [(String, GGUFValue)] = [
            ("general.architecture", .string("gemma3")),
            ("general.type", .string("model")),
            ("general.name", .string(name)),
        ]
        m += descriptive
        m += [
            ("gemma3.context_length", .uint32(UInt32(clamping: c.contextLength))),
            ("gemma3.embedding_length", .uint32(UInt32(c.hidden))),
            ("gemma3.block_count", .uint32(UInt32(c.layers))),
            ("gemma3.feed_forward_length", .uint32(UInt32(c.intermediate))),
            ("gemma3.attention.head_count", .uint32(UInt32(c.heads))),
            ("gemma3.attention.layer_norm_rms_epsilon", .float32(c.rmsEps)),
            ("gemma3.attention.key_length", .uint32(UInt32(c.headDim))),
            ("gemma3.attention.value_length", .uint32(UInt32(c.headDim))),
            ("gemma3.rope.freq_base", .float32(c.ropeBaseGlobal)),
            ("gemma3.rope.freq_base_swa", .float32(c.ropeBaseLocal)),
            ("gemma3.attention.sliding_window", .uint32(UInt32(clamping: c.slidingWindow))),
            ("gemma3.attention.head_count_kv", .uint32(UInt32(c.kvHeads))),
        ]
        // llama.cpp assumes Gemma 3's every-6th-layer pattern; only other models store theirs
        if c.slidingPattern != 6 { m.append(("gemma3.attention.sliding_window_pattern", .uint32(UInt32(c.slidingPattern)))) }
        m += [("general.file_type", .uint32(fileType)), ("general.quantization_version", .uint32(2))]
        return m + tokenizer
    }
}
