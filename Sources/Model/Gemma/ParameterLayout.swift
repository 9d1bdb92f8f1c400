/// Where each weight lives inside the one flat parameter buffer (and, at the same offsets,
/// inside the gradient and AdamW moment buffers).
public struct LayerOffsets {
    public var inputNorm = 0, q = 0, k = 0, v = 0, o = 0, qNorm = 0, kNorm = 0
    public var postAttentionNorm = 0, preFeedforwardNorm = 0, gate = 0, up = 0, down = 0, postFeedforwardNorm = 0

    /// The offset of one of the seven projections.
    public func offset(of projection: LoRAConfig.Target) -> Int {
        switch projection {
        case .q: return q
        case .k: return k
        case .v: return v
        case .o: return o
        case .gate: return gate
        case .up: return up
        case .down: return down
        }
    }
}

/// One named tensor of the model: its HF and GGUF names, row-major shape and offset.
public struct ParameterTensor {
    public var hfName: String
    public var ggufName: String
    public var shape: [Int]
    public var offset: Int
    /// Norm weights are stored as g = 1 + w (HF keeps w) and take no weight decay.
    public var isNorm: Bool
    /// The block it belongs to (nil: the embedding and the final norm): its gradient is final
    /// when that block's backward ends.
    public var layer: Int? = nil
    public var count: Int { shape.reduce(1, *) }
}

public struct ParameterLayout {
    public let config: GemmaConfig
    public let embedding: Int
    public let layers: [LayerOffsets]
    public let finalNorm: Int
    public let count: Int
    public let tensors: [ParameterTensor]

    public init(config c: GemmaConfig) {
        self.config = c
        var tensors: [ParameterTensor] = []
        var next = 0
        var layer: Int?
        func add(_ hf: String, _ gguf: String, _ shape: [Int], norm: Bool = false) -> Int {
            let offset = next
            tensors.append(ParameterTensor(hfName: hf, ggufName: gguf, shape: shape, offset: offset, isNorm: norm, layer: layer))
            next += shape.reduce(1, *)
            return offset
        }
        embedding = add("model.embed_tokens.weight", "token_embd.weight", [c.vocabSize, c.hidden])
        var layers: [LayerOffsets] = []
        for l in 0..<c.layers {
            layer = l
            let hf = "model.layers.\(l).", gg = "blk.\(l)."
            var o = LayerOffsets()
            o.inputNorm = add(hf + "input_layernorm.weight", gg + "attn_norm.weight", [c.hidden], norm: true)
            o.q = add(hf + "self_attn.q_proj.weight", gg + "attn_q.weight", [c.qDim, c.hidden])
            o.k = add(hf + "self_attn.k_proj.weight", gg + "attn_k.weight", [c.kvDim, c.hidden])
            o.v = add(hf + "self_attn.v_proj.weight", gg + "attn_v.weight", [c.kvDim, c.hidden])
            o.o = add(hf + "self_attn.o_proj.weight", gg + "attn_output.weight", [c.hidden, c.qDim])
            o.qNorm = add(hf + "self_attn.q_norm.weight", gg + "attn_q_norm.weight", [c.headDim], norm: true)
            o.kNorm = add(hf + "self_attn.k_norm.weight", gg + "attn_k_norm.weight", [c.headDim], norm: true)
            o.postAttentionNorm = add(hf + "post_attention_layernorm.weight", gg + "post_attention_norm.weight", [c.hidden], norm: true)
            o.preFeedforwardNorm = add(hf + "pre_feedforward_layernorm.weight", gg + "ffn_norm.weight", [c.hidden], norm: true)
            o.gate = add(hf + "mlp.gate_proj.weight", gg + "ffn_gate.weight", [c.intermediate, c.hidden])
            o.up = add(hf + "mlp.up_proj.weight", gg + "ffn_up.weight", [c.intermediate, c.hidden])
            o.down = add(hf + "mlp.down_proj.weight", gg + "ffn_down.weight", [c.hidden, c.intermediate])
            o.postFeedforwardNorm = add(hf + "post_feedforward_layernorm.weight", gg + "post_ffw_norm.weight", [c.hidden], norm: true)
            layers.append(o)
        }
        self.layers = layers
        layer = nil
        finalNorm = add("model.norm.weight", "output_norm.weight", [c.hidden], norm: true)
        count = next
        self.tensors = tensors
    }
}
