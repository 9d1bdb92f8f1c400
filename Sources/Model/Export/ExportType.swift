/// What `ft-dist export --type` writes, and the GGML type each tensor gets — llama.cpp's
/// choices, so that an export is the file llama.cpp's own tools would make:
/// - f32, f16, bf16, q8_0: every matrix in that type, every norm vector in F32
///   (convert_hf_to_gguf.py's rule: 1-D tensors and `*_norm.weight` stay F32);
/// - q4_k_m: llama-quantize's Q4_K_M mixture (llama-quant.cpp, llama_tensor_get_type) for a
///   dense model with a tied embedding; or, when the run started from a Q4_K_M GGUF, the
///   type each tensor had there (`ModelExportPlan`).
public enum ExportType: String, CaseIterable, Sendable {
    case f32, f16, bf16, q8_0, q4_k_m

    /// general.file_type (llama.cpp's LLAMA_FTYPE_*).
    public var fileType: UInt32 {
        switch self {
        case .f32: return 0
        case .f16: return 1
        case .q8_0: return 7
        case .q4_k_m: return 15
        case .bf16: return 32
        }
    }

    /// The type of one model tensor (`name` a GGUF name, `shape` row-major) in a model of
    /// `layers` layers.
    public func tensorType(name: String, shape: [Int], layers: Int) -> GGMLType {
        if shape.count <= 1 || name.hasSuffix("_norm.weight") { return .f32 }
        let columns = shape.last!
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .q8_0: return columns % 32 == 0 ? .q8_0 : .f16
        case .q4_k_m: return Self.q4KM(name: name, columns: columns, layers: layers)
        }
    }

    /// llama-quantize's Q4_K_M for a dense model: Q4_K everywhere, but Q6_K for attn_v and
    /// ffn_down in the layers use_more_bits picks, the tied token embedding as the output
    /// (Q6_K, or Q8_0 when its rows are not whole 256-blocks); then the shape fallback of
    /// tensor_type_fallback: a row that is not whole 256-blocks takes Q5_0 for Q4_K and Q8_0
    /// for Q6_K.
    static func q4KM(name: String, columns: Int, layers: Int) -> GGMLType {
        if name == "token_embd.weight" { return columns % 256 == 0 ? .q6_K : columns % 32 == 0 ? .q8_0 : .f16 }
        var wanted = GGMLType.q4_K
        if let layer = layerIndex(name), name.hasSuffix(".attn_v.weight") || name.hasSuffix(".ffn_down.weight") {
            if useMoreBits(layer, layers) { wanted = .q6_K }
        }
        guard columns % 256 != 0 else { return wanted }
        // and when even a 32-block does not fit a row, F16 (the fallback's own fallback)
        return columns % 32 != 0 ? .f16 : wanted == .q6_K ? .q8_0 : .q5_0
    }

    /// llama-quant.cpp's use_more_bits: the first and last eighth of the layers and every
    /// third one between.
    static func useMoreBits(_ layer: Int, _ layers: Int) -> Bool {
        layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2
    }

    /// N of `blk.N.…`.
    static func layerIndex(_ name: String) -> Int? {
        guard name.hasPrefix("blk.") else { return nil }
        return Int(name.dropFirst(4).prefix { $0 != "." })
    }
}
