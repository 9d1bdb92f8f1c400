import Model

/// What generation multiplies with (`--weights` of generate, predict and eval).
///   fp32:      every weight dequantized to fp32 at load — exactly the numbers training used
///              (the default: an evaluation measures what was trained).
///   quantized: the projections and the tied embedding stay in ggml blocks and are
///              dequantized row by row inside the products (QuantizedProjection): a quantized
///              GGUF's own blocks; any other model (an F32/F16 GGUF, an HF directory, a
///              checkpoint) quantized at load in llama-quantize's Q4_K_M mixture, the blocks
///              `export --type q4_k_m` writes. About a quarter of the memory. Q5_0
///              tensors are re-encoded as Q8_0 blocks with the same values, which decode
///              faster (Q5_0AsQ8_0.swift); the logits are bit for bit the same.
public enum InferenceWeights: String, CaseIterable, Sendable {
    case fp32, quantized

    /// The base in this form, from a model file.
    func base(_ file: ModelFile) throws -> GemmaBase {
        switch self {
        case .fp32: return try file.fp32()
        case .quantized:
            if let gguf = file.gguf, QuantizedGemma.keepsBlocks(of: gguf) { return try QuantizedGemma(gguf: gguf, decoding: true) }
            return QuantizedGemma(quantizing: try file.fp32(), decoding: true)
        }
    }

    /// A model already in fp32 (a full checkpoint) in this form.
    func base(_ model: GemmaModel) -> GemmaBase {
        self == .fp32 ? model : QuantizedGemma(quantizing: model, decoding: true)
    }
}
