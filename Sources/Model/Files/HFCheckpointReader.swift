import Foundation

/// Reading a model that transformers' save_pretrained (or ft-dist) wrote: `config.json` and
/// `model.safetensors` — or its shards, named by `model.safetensors.index.json` — in F32, BF16
/// or F16, with HF names; norms are converted back to g = 1 + w (in fp32, as Gemma3RMSNorm
/// computes it). The tied `lm_head.weight`, when a file stores it, must equal the embedding.
extension GemmaModel {
    /// The two files of an HF model directory (as transformers' save_pretrained names them).
    public static let hfConfigFile = "config.json"
    public static let hfWeightsFile = "model.safetensors"
    public static let hfWeightsIndexFile = "model.safetensors.index.json"

    /// Whether `path` is a directory holding an HF model (config.json).
    public static func isHFDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
            && FileManager.default.fileExists(atPath: path + "/" + hfConfigFile)
    }

    /// Construct from an HF model directory: config.json + model.safetensors (or shards).
    public convenience init(hfDirectory dir: String) throws {
        let config = try GemmaConfig(hfConfig: URL(fileURLWithPath: dir).appendingPathComponent(Self.hfConfigFile))
        let weights = try HFWeightFiles(directory: dir)
        let layout = ParameterLayout(config: config)
        // every tensor is checked before the parameter buffer is allocated
        let expected = Dictionary(uniqueKeysWithValues: layout.tensors.map { ($0.hfName, $0) })
        for name in weights.tensorNames.sorted() where expected[name] == nil && name != "lm_head.weight" {
            let hint = name.hasPrefix("model.language_model.") || name.hasPrefix("vision_tower.")
                ? " (a Gemma3ForConditionalGeneration checkpoint; ft-dist trains the text model, Gemma3ForCausalLM)" : ""
            throw ModelFileError(file: weights.path(of: name), "unexpected tensor \(name) for Gemma3ForCausalLM\(hint)")
        }
        try weights.checkLayout(of: config)
        self.init(config: config)
        for t in layout.tensors {
            try weights.read(t.hfName, shape: t.shape, into: parameters.pointer + t.offset, offset: t.isNorm ? 1 : 0)
            try ModelFileError.requireFinite(parameters.pointer + t.offset, count: t.count, tensor: t.hfName, file: weights.path(of: t.hfName))
        }
        if weights.tensorNames.contains("lm_head.weight") {
            let e = layout.tensors[0]
            try weights.check("lm_head.weight", shape: e.shape)
            let head = FloatBuffer(count: e.count)
            try weights.read("lm_head.weight", shape: e.shape, into: head.pointer)
            guard memcmp(head.pointer, parameters.pointer + e.offset, e.count * 4) == 0 else {
                throw ModelFileError(file: weights.path(of: "lm_head.weight"),
                                     "lm_head.weight differs from model.embed_tokens.weight: ft-dist's Gemma ties the output head to the embedding")
            }
        }
    }
}

/// The safetensors files of an HF model directory: `model.safetensors`, or the shards that
/// `model.safetensors.index.json`'s weight_map assigns each tensor to.
public final class HFWeightFiles {
    public let directory: String
    private let files: [String: Safetensors.File]
    private let fileOfTensor: [String: String]

    public init(directory: String) throws {
        self.directory = directory
        let fm = FileManager.default
        let single = directory + "/" + GemmaModel.hfWeightsFile, index = directory + "/" + GemmaModel.hfWeightsIndexFile
        var files: [String: Safetensors.File] = [:], owner: [String: String] = [:]
        if fm.fileExists(atPath: single) {
            let f = try Safetensors.File(path: single)
            files[GemmaModel.hfWeightsFile] = f
            for name in f.tensors.keys { owner[name] = GemmaModel.hfWeightsFile }
        } else if fm.fileExists(atPath: index) {
            let fields = try JSONFields(contentsOf: index, missing: "a sharded model needs its index")
            guard let entries = try fields.object("weight_map")?.values else {
                throw ModelFileError(file: index, "not a safetensors index (no weight_map)")
            }
            var map: [String: String] = [:]
            for (name, shard) in entries {
                guard let shard = shard as? String else {
                    throw ModelFileError(file: index, "weight_map.\(name) is \(JSONFields.describe(shard)), expected a shard's file name")
                }
                map[name] = shard
            }
            for shard in Set(map.values) {
                guard !shard.contains("/") else { throw ModelFileError(file: index, "shard \(shard) is outside the directory") }
                let path = directory + "/" + shard
                guard fm.fileExists(atPath: path) else { throw ModelFileError(file: path, "missing: \(GemmaModel.hfWeightsIndexFile) names this shard") }
                files[shard] = try Safetensors.File(path: path)
            }
            for (name, shard) in map {
                guard files[shard]!.tensors[name] != nil else {
                    throw ModelFileError(file: directory + "/" + shard, "missing tensor \(name), which \(GemmaModel.hfWeightsIndexFile) places here")
                }
                owner[name] = shard
            }
        } else {
            throw ModelFileError(file: single, "missing: a model directory needs \(GemmaModel.hfWeightsFile) or \(GemmaModel.hfWeightsIndexFile)")
        }
        self.files = files
        fileOfTensor = owner
        indexFile = files[GemmaModel.hfWeightsFile] == nil ? index : nil
    }

    /// model.safetensors.index.json when the weights are sharded (it names where each tensor is).
    private let indexFile: String?

    public var tensorNames: [String] { Array(fileOfTensor.keys) }

    /// The file that holds `name` (for messages).
    public func path(of name: String) -> String {
        if let file = fileOfTensor[name] { return directory + "/" + file }
        return indexFile ?? directory + "/" + GemmaModel.hfWeightsFile
    }

    /// Throw unless `name` exists with `shape`.
    public func check(_ name: String, shape: [Int]) throws {
        guard let file = fileOfTensor[name].flatMap({ files[$0] }), let t = file.tensors[name] else {
            throw ModelFileError(file: path(of: name), "missing tensor \(name)")
        }
        guard t.shape == shape else { throw ModelFileError(file: file.path, "tensor \(name) has shape \(t.shape), expected \(shape)") }
    }

    /// Throw unless every tensor `config` asks for exists with its shape.
    public func checkLayout(of config: GemmaConfig) throws {
        for t in ParameterLayout(config: config).tensors { try check(t.hfName, shape: t.shape) }
    }

    /// Shape and dtype of `name` (for `ft-dist info`).
    public func describe(_ name: String) throws -> (shape: [Int], dtype: String) {
        guard let file = fileOfTensor[name].flatMap({ files[$0] }), let t = file.tensors[name] else {
            throw ModelFileError(file: path(of: name), "missing tensor \(name)")
        }
        return (t.shape, file.dtypes[name]!.rawValue)
    }

    /// Read `name` as fp32, adding `offset` to every value.
    public func read(_ name: String, shape: [Int], into destination: UnsafeMutablePointer<Float>, offset: Float = 0) throws {
        try check(name, shape: shape)
        try files[fileOfTensor[name]!]!.read(name, shape: shape, into: destination, offset: offset)
    }

    /// The SHA-256 of the weight files, in name order (what an adapter run records of an HF base).
    public func sha256() throws -> String {
        if files.count == 1, let only = files.values.first { return try SHA256.hex(file: only.path) }
        let digests = try files.keys.sorted().map { try SHA256.hex(file: files[$0]!.path) }
        return Array(digests.joined(separator: "\n").utf8).withUnsafeBytes { SHA256.hex($0) }
    }
}

extension GemmaConfig {
    /// Parse an HF config.json and check it describes the model ft-dist implements:
    /// Gemma3ForCausalLM's text model (gemma3_text), tanh-approximated GELU, query scaling by
    /// 1/√head_dim, no logit soft-capping, no RoPE scaling, a tied embedding, causal attention.
    public init(hfConfig url: URL) throws {
        let path = url.path
        let d = try JSONFields(contentsOf: path, missing: "a model directory needs config.json")
        let type = try d.string("model_type") ?? "?"
        guard type == "gemma3_text" else {
            let hint = type == "gemma3" ? " (Gemma3ForConditionalGeneration, with vision; ft-dist trains the text model)" : ""
            throw ModelFileError(file: path, "model_type is \(type)\(hint), expected gemma3_text")
        }
        // every key is read with its JSON type: absent or null takes the default, another type
        // is refused (a quoted "512" or a true must not silently become a number)
        let rope = try d.object("rope_parameters")
        func ropeTheta(_ layerType: String) throws -> Double? { try rope?.object(layerType)?.number("rope_theta") }
        // the older keys are checked even where rope_parameters wins over them
        let legacyTheta = try d.number("rope_theta"), legacyLocalTheta = try d.number("rope_local_base_freq")
        func unsupported(_ what: String) -> ModelFileError { ModelFileError(file: path, "\(what): ft-dist implements Gemma 3's text model without it") }
        if let act = try d.string("hidden_activation") ?? d.string("hidden_act"), act != "gelu_pytorch_tanh" {
            throw unsupported("hidden_activation \(act)")
        }
        for key in ["final_logit_softcapping", "attn_logit_softcapping"] where d.has(key) {
            throw unsupported("\(key) \(JSONFields.describe(d.values[key]!))")
        }
        if d.has("rope_scaling") { throw unsupported("rope_scaling \(JSONFields.describe(d.values["rope_scaling"]!))") }
        for t in ["full_attention", "sliding_attention"] {
            if let kind = try rope?.object(t)?.string("rope_type"), kind != "default" { throw unsupported("rope_type \(kind)") }
        }
        if try d.bool("tie_word_embeddings") == false { throw unsupported("an untied output head (tie_word_embeddings false)") }
        if try d.bool("use_bidirectional_attention") == true { throw unsupported("bidirectional attention") }
        if try d.bool("attention_bias") == true { throw unsupported("attention biases") }
        let layerTypes = try d.strings("layer_types")
        var pattern = try d.int("_sliding_window_pattern") ?? d.int("sliding_window_pattern") ?? 6
        if let first = layerTypes?.firstIndex(of: "full_attention") { pattern = first + 1 }
        self.init(vocabSize: try d.requiredInt("vocab_size"), hidden: try d.requiredInt("hidden_size"),
                  intermediate: try d.requiredInt("intermediate_size"), layers: try d.requiredInt("num_hidden_layers"),
                  heads: try d.requiredInt("num_attention_heads"), kvHeads: try d.requiredInt("num_key_value_heads"),
                  headDim: try d.requiredInt("head_dim"), rmsEps: Float(try d.number("rms_norm_eps") ?? 1e-6),
                  slidingWindow: try d.int("sliding_window") ?? 512,
                  ropeBaseGlobal: Float(try ropeTheta("full_attention") ?? legacyTheta ?? 1_000_000),
                  ropeBaseLocal: Float(try ropeTheta("sliding_attention") ?? legacyLocalTheta ?? 10_000),
                  slidingPattern: pattern, contextLength: try d.int("max_position_embeddings") ?? 32768)
        let dims = [hidden, intermediate, layers, heads, kvHeads, headDim, vocabSize]
        guard dims.allSatisfy({ $0 > 0 && $0 < 1 << 20 }), heads % kvHeads == 0, headDim % 2 == 0, slidingPattern > 0 else {
            throw ModelFileError(file: path, "implausible gemma3 dimensions \(dims)")
        }
        if let problem = scalarProblem { throw ModelFileError(file: path, problem) }
        if let scalar = try d.int("query_pre_attn_scalar"), scalar != headDim {
            throw unsupported("query_pre_attn_scalar \(scalar) ≠ head_dim \(headDim)")
        }
        if let types = layerTypes {
            let want = (0..<layers).map { isGlobal(layer: $0) ? "full_attention" : "sliding_attention" }
            guard types == want else { throw unsupported("layer_types other than every \(pattern)th layer global") }
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
