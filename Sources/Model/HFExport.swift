import Foundation

/// The HF transformers view of a model: tensor names of Gemma3ForCausalLM, norm weights as
/// HF stores them (w = g − 1), and the `config.json` of model_type gemma3_text.
extension GemmaModel {
    /// Entries for model.safetensors (the tied lm_head is not stored, as HF does).
    public func hfSafetensorsEntries() -> [Safetensors.Entry] {
        layout.tensors.map {
            Safetensors.Entry(name: $0.hfName, shape: $0.shape, source: parameters.pointer + $0.offset, offset: $0.isNorm ? -1 : 0)
        }
    }

    /// Load weights from an HF-named safetensors file (norms converted back to g = 1 + w).
    public func loadHFSafetensors(_ file: Safetensors.File) throws {
        for t in layout.tensors {
            try file.read(t.hfName, shape: t.shape, into: parameters.pointer + t.offset, offset: t.isNorm ? 1 : 0)
        }
    }

    /// Construct from a checkpoint directory: config.json + model.safetensors.
    public convenience init(hfDirectory dir: String) throws {
        let configURL = URL(fileURLWithPath: dir).appendingPathComponent("config.json")
        let config = try GemmaConfig(hfConfig: configURL)
        self.init(config: config)
        let weights = URL(fileURLWithPath: dir).appendingPathComponent("model.safetensors").path
        guard FileManager.default.fileExists(atPath: weights) else {
            throw ModelFileError(file: weights, "missing: a checkpoint directory needs model.safetensors")
        }
        try loadHFSafetensors(try Safetensors.File(path: weights))
    }
}

extension GemmaConfig {
    /// config.json as transformers writes it for Gemma3ForCausalLM (text only).
    public func hfConfigJSON() throws -> Data {
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
            "bos_token_id": 2,
            "eos_token_id": 1,
            "pad_token_id": 0,
            "dtype": "float32",
            "unk_token_id": 3,
            "use_bidirectional_attention": false,
            "use_cache": true,
        ]
        return try JSONSerialization.data(withJSONObject: dict, options: [.prettyPrinted, .sortedKeys])
    }

    /// Parse an HF config.json; only gemma3_text / Gemma3ForCausalLM is accepted.
    public init(hfConfig url: URL) throws {
        let path = url.path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelFileError(file: path, "missing: a checkpoint directory needs config.json")
        }
        guard let d = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelFileError(file: path, "not a JSON object")
        }
        let type = d["model_type"] as? String ?? "?"
        guard type == "gemma3_text" || type == "gemma3" else {
            throw ModelFileError(file: path, "model_type is \(type), expected gemma3_text")
        }
        func int(_ k: String) throws -> Int {
            guard let v = d[k] as? Int else { throw ModelFileError(file: path, "missing integer \(k)") }
            return v
        }
        func ropeTheta(_ layerType: String) -> Double? {
            ((d["rope_parameters"] as? [String: Any])?[layerType] as? [String: Any])?["rope_theta"] as? Double
        }
        func num(_ k: String, _ fallback: Double) -> Double { (d[k] as? Double) ?? (d[k] as? Int).map(Double.init) ?? fallback }
        var pattern = (d["_sliding_window_pattern"] as? Int) ?? (d["sliding_window_pattern"] as? Int) ?? 6
        if let types = d["layer_types"] as? [String], let first = types.firstIndex(of: "full_attention") { pattern = first + 1 }
        self.init(vocabSize: try int("vocab_size"), hidden: try int("hidden_size"), intermediate: try int("intermediate_size"),
                  layers: try int("num_hidden_layers"), heads: try int("num_attention_heads"),
                  kvHeads: try int("num_key_value_heads"), headDim: try int("head_dim"),
                  rmsEps: Float(num("rms_norm_eps", 1e-6)), slidingWindow: (d["sliding_window"] as? Int) ?? 512,
                  ropeBaseGlobal: Float(ropeTheta("full_attention") ?? num("rope_theta", 1_000_000)),
                  ropeBaseLocal: Float(ropeTheta("sliding_attention") ?? num("rope_local_base_freq", 10_000)),
                  slidingPattern: pattern, contextLength: (d["max_position_embeddings"] as? Int) ?? 32768)
        let dims = [hidden, intermediate, layers, heads, kvHeads, headDim, vocabSize]
        guard dims.allSatisfy({ $0 > 0 && $0 < 1 << 20 }), heads % kvHeads == 0, headDim % 2 == 0, slidingPattern > 0 else {
            throw ModelFileError(file: path, "implausible gemma3 dimensions \(dims)")
        }
    }
}
