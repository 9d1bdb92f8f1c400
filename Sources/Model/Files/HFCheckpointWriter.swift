import Foundation

// Writing weights as transformers stores Gemma3ForCausalLM: HF tensor names (the tied lm_head
// is not stored, as HF does), norm weights as HF keeps them (w = g − 1), and the
// `config.json` of model_type gemma3_text.

extension Safetensors {
    /// Entries that store `tensors` of `values` under their HF names, norms as HF keeps them.
    public static func hfEntries(_ tensors: [ParameterTensor], values: FloatBuffer) -> [Entry] {
        tensors.map { Entry(name: $0.hfName, shape: $0.shape, source: values.pointer + $0.offset, offset: $0.isNorm ? -1 : 0) }
    }
}

extension GemmaModel {
    /// Entries for model.safetensors: every tensor of the model under its HF name.
    public func hfSafetensorsEntries() -> [Safetensors.Entry] { Safetensors.hfEntries(layout.tensors, values: parameters) }
}

extension GemmaConfig {
    /// config.json as transformers writes it for Gemma3ForCausalLM (text only), with the
    /// special ids of the tokenizer the model was trained with.
    public func hfConfigJSON(special: SpecialTokens) throws -> Data {
        let layerTypes = (0..<layers).map { isGlobal(layer: $0) ? "full_attention" : "sliding_attention" }
        let dict: [String: Any] = [
            "architectures": ["Gemma3ForCausalLM"],
            "model_type": "gemma3_text",
            "vocab_size": vocabSize,
            "hidden_size": hidden,
            "intermediate_size": intermediate,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "num_key_value_heads": kvHeads,
            "head_dim": headDim,
            "rms_norm_eps": Double(rmsEps),
            // transformers ≥ 5 reads rope_parameters per layer type; older versions the two flat keys
            "rope_parameters": [
                "full_attention": ["rope_theta": Double(ropeBaseGlobal), "rope_type": "default"],
                "sliding_attention": ["rope_theta": Double(ropeBaseLocal), "rope_type": "default"],
            ],
            "rope_theta": Double(ropeBaseGlobal),
            "rope_local_base_freq": Double(ropeBaseLocal),
            "sliding_window": slidingWindow,
            "_sliding_window_pattern": slidingPattern,
            "layer_types": layerTypes,
            "query_pre_attn_scalar": headDim,
            "max_position_embeddings": contextLength,
            "hidden_activation": "gelu_pytorch_tanh",
            "final_logit_softcapping": NSNull(),
            "attn_logit_softcapping": NSNull(),
            "rope_scaling": NSNull(),
            "attention_bias": false,
            "attention_dropout": 0.0,
            "tie_word_embeddings": true,
            "bos_token_id": Int(special.bos),
            "eos_token_id": Int(special.eos),
            "pad_token_id": Int(special.pad),
            "dtype": "float32",
            "unk_token_id": Int(special.unk),
            "use_bidirectional_attention": false,
            "use_cache": true,
        ]
        return try JSONSerialization.data(withJSONObject: dict, options: [.prettyPrinted, .sortedKeys])
    }
}
