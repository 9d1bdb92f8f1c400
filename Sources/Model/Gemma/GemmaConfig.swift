/// Shape and numeric constants of a Gemma 3 text model (docs/DESIGN.md, "The model").
public struct GemmaConfig: Equatable, Codable {
    public var vocabSize: Int
    public var hidden: Int
    public var intermediate: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var rmsEps: Float
    public var slidingWindow: Int
    /// RoPE base of the global layers (stored in the GGUF as gemma3.rope.freq_base).
    public var ropeBaseGlobal: Float
    /// RoPE base of the sliding layers: 10,000 in Gemma 3, not stored in the GGUF.
    public var ropeBaseLocal: Float
    /// Every `slidingPattern`-th layer is global (layers 5, 11, 17 of 18).
    public var slidingPattern: Int
    public var contextLength: Int

    public init(vocabSize: Int, hidden: Int, intermediate: Int, layers: Int, heads: Int, kvHeads: Int,
                headDim: Int, rmsEps: Float = 1e-6, slidingWindow: Int = 512, ropeBaseGlobal: Float = 1_000_000,
                ropeBaseLocal: Float = 10_000, slidingPattern: Int = 6, contextLength: Int = 32768) {
        self.vocabSize = vocabSize
        self.hidden = hidden
        self.intermediate = intermediate
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.rmsEps = rmsEps
        self.slidingWindow = slidingWindow
        self.ropeBaseGlobal = ropeBaseGlobal
        self.ropeBaseLocal = ropeBaseLocal
        self.slidingPattern = slidingPattern
        self.contextLength = contextLength
    }

    /// Gemma 3 270M.
    public static let gemma3_270m = GemmaConfig(vocabSize: 262_144, hidden: 640, intermediate: 2048, layers: 18,
                                                heads: 4, kvHeads: 1, headDim: 256)

    public var qDim: Int { heads * headDim }
    public var kvDim: Int { kvHeads * headDim }
    /// Embeddings are multiplied by sqrt(hidden), rounded to fp32 as PyTorch does.
    public var embeddingScale: Float { Float(hidden).squareRoot() }
    /// Attention scores are scaled by 1/sqrt(query_pre_attn_scalar) = 1/sqrt(head_dim).
    public var attentionScale: Float { 1 / Float(headDim).squareRoot() }

    public func isGlobal(layer: Int) -> Bool { (layer + 1) % slidingPattern == 0 }

    /// What is wrong with the scalar settings a file gave (nil: nothing), checked by both
    /// readers so that no later step meets a negative window or an infinite RoPE base.
    public var scalarProblem: String? {
        if !(1..<(1 << 31)).contains(contextLength) { return "context length \(contextLength) is out of range" }
        if !(1..<(1 << 31)).contains(slidingWindow) { return "sliding window \(slidingWindow) is out of range" }
        if !(rmsEps.isFinite && rmsEps > 0) { return "RMS norm epsilon \(rmsEps) must be positive and finite" }
        if !(ropeBaseGlobal.isFinite && ropeBaseGlobal > 1 && ropeBaseLocal.isFinite && ropeBaseLocal > 1) {
            return "RoPE bases \(ropeBaseGlobal), \(ropeBaseLocal) must be finite and above 1"
        }
        return nil
    }

    /// gemma3.attention.sliding_window_pattern: an integer (every n-th layer global), or —
    /// as gguf-py's add_sliding_window_pattern writes it — one boolean per layer, true for a
    /// sliding layer, which must repeat with the period of its first global layer.
    static func slidingPattern(_ gguf: GGUFFile) throws -> Int? {
        let key = "gemma3.attention.sliding_window_pattern"
        guard case .array(let values)? = gguf.metadata[key] else { return try gguf.optionalInt(key) }
        let sliding = try values.map { v -> Bool in
            guard case .bool(let b) = v else { throw ModelFileError(file: gguf.path, "metadata \(key) holds \(v.summary), expected booleans") }
            return b
        }
        guard let firstGlobal = sliding.firstIndex(of: false),
              sliding.indices.allSatisfy({ sliding[$0] == (($0 + 1) % (firstGlobal + 1) != 0) }) else {
            throw ModelFileError(file: gguf.path, "metadata \(key) is no repeating pattern of sliding layers and one global layer")
        }
        return firstGlobal + 1
    }

    /// Read the config from GGUF metadata; only `gemma3` is accepted.
    public init(gguf: GGUFFile) throws {
        guard let arch = gguf.metadata["general.architecture"]?.string else {
            throw ModelFileError(file: gguf.path, "missing general.architecture")
        }
        guard arch == "gemma3" else {
            throw ModelFileError(file: gguf.path, "architecture is \(arch), expected gemma3")
        }
        if gguf.metadata["general.type"]?.string == "adapter" {
            throw ModelFileError(file: gguf.path, "a LoRA adapter GGUF (general.type adapter), not a model: llama.cpp applies it with --lora over its base; ft-dist reads adapters from their checkpoint directory")
        }
        let headDim = try gguf.requireInt("gemma3.attention.key_length")
        guard try gguf.optionalInt("gemma3.attention.value_length") ?? headDim == headDim else {
            throw ModelFileError(file: gguf.path, "key_length and value_length differ")
        }
        let vocab = try gguf.stringArray("tokenizer.ggml.tokens").count
        self.init(vocabSize: vocab,
                  hidden: try gguf.requireInt("gemma3.embedding_length"),
                  intermediate: try gguf.requireInt("gemma3.feed_forward_length"),
                  layers: try gguf.requireInt("gemma3.block_count"),
                  heads: try gguf.requireInt("gemma3.attention.head_count"),
                  kvHeads: try gguf.requireInt("gemma3.attention.head_count_kv"),
                  headDim: headDim,
                  rmsEps: Float(try gguf.requireDouble("gemma3.attention.layer_norm_rms_epsilon")),
                  slidingWindow: try gguf.optionalInt("gemma3.attention.sliding_window") ?? 512,
                  ropeBaseGlobal: Float(try gguf.optionalDouble("gemma3.rope.freq_base") ?? 1_000_000),
                  // newer converters store the sliding layers' base; Gemma 3's is 10,000
                  ropeBaseLocal: Float(try gguf.optionalDouble("gemma3.rope.freq_base_swa") ?? 10_000),
                  // llama.cpp does not store Gemma 3's pattern (every 6th layer global); small test models do
                  slidingPattern: try Self.slidingPattern(gguf) ?? 6,
                  contextLength: try gguf.optionalInt("gemma3.context_length") ?? 32768)
        let dims = [hidden, intermediate, layers, heads, kvHeads, headDim]
        guard dims.allSatisfy({ $0 > 0 && $0 < 1 << 20 }), heads % kvHeads == 0, headDim % 2 == 0, slidingPattern > 0 else {
            throw ModelFileError(file: gguf.path, "implausible gemma3 dimensions \(dims)")
        }
        if let problem = scalarProblem { throw ModelFileError(file: gguf.path, problem) }
        // A model must fit the file's tensor table (13 tensors a layer) and the reader's size limit
        // per tensor, so metadata alone cannot ask for a huge layout or an overflowing parameter count.
        let sizes = [vocabSize, qDim, kvDim, intermediate].map { $0.multipliedReportingOverflow(by: hidden) }
        guard layers <= gguf.tensors.count / 13, sizes.allSatisfy({ !$0.overflow && $0.partialValue < 1 << 40 }) else {
            throw ModelFileError(file: gguf.path, "gemma3 dimensions \(dims) with \(vocabSize) tokens are too large for the file's \(gguf.tensors.count) tensors")
        }
    }
}
