import Foundation

/// Reading a model that transformers' save_pretrained (or an ft-dist checkpoint) wrote:
/// `config.json` and `model.safetensors` with HF names, norms converted back to g = 1 + w.
extension GemmaModel {
    /// Load weights from an HF-named safetensors file (norms converted back to g = 1 + w).
    public func loadHFSafetensors(_ file: Safetensors.File) throws { try file.readHF(layout.tensors, into: parameters) }

    /// The two files of an HF model directory (as transformers' save_pretrained names them).
    public static let hfConfigFile = "config.json"
    public static let hfWeightsFile = "model.safetensors"

    /// Construct from a checkpoint directory: config.json + model.safetensors.
    public convenience init(hfDirectory dir: String) throws {
        let configURL = URL(fileURLWithPath: dir).appendingPathComponent(Self.hfConfigFile)
        let config = try GemmaConfig(hfConfig: configURL)
        self.init(config: config)
        let weights = URL(fileURLWithPath: dir).appendingPathComponent(Self.hfWeightsFile).path
        guard FileManager.default.fileExists(atPath: weights) else {
            throw ModelFileError(file: weights, "missing: a checkpoint directory needs model.safetensors")
        }
        try loadHFSafetensors(try Safetensors.File(path: weights))
    }
}

extension GemmaConfig {
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

extension Safetensors.File {
    /// Read `tensors` stored under their HF names into `values` (norms converted back to g = 1 + w).
    public func readHF(_ tensors: [ParameterTensor], into values: FloatBuffer) throws {
        for t in tensors {
            try read(t.hfName, shape: t.shape, into: values.pointer + t.offset, offset: t.isNorm ? 1 : 0)
        }
    }
}
