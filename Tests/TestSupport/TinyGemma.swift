import Foundation
import Model

/// A small random Gemma-shaped model written as a GGUF with the project's writer and loaded
/// through the same loader as the real model. Two layers: layer 0 sliding (window 4, so the
/// window mask matters), layer 1 global; 4 query heads sharing `kvHeads` KV heads.
public enum TinyGemma {
    public static func config(kvHeads: Int = 1) -> GemmaConfig {
        GemmaConfig(vocabSize: 300, hidden: 64, intermediate: 96, layers: 2, heads: 4, kvHeads: kvHeads, headDim: 16,
                    rmsEps: 1e-6, slidingWindow: 4, ropeBaseGlobal: 1_000_000, ropeBaseLocal: 10_000, slidingPattern: 2)
    }

    /// Vocabulary: 4 specials, 256 byte tokens, then a few pieces.
    public static func vocabulary(size: Int) -> (tokens: [String], scores: [Float], types: [Int32]) {
        var tokens = ["<pad>", "<eos>", "<bos>", "<unk>"]
        var types: [Int32] = [3, 3, 3, 2]
        for b in 0..<256 { tokens.append(String(format: "<0x%02X>", b)); types.append(6) }
        let pieces = ["▁", "a", "b", "c", "d", "e", "▁a", "ab", "abc", "▁ab"]
        var i = 0
        while tokens.count < size { tokens.append(i < pieces.count ? pieces[i] : "p\(i)"); types.append(1); i += 1 }
        let scores = (0..<size).map { Float(-$0) }
        return (tokens, scores, types)
    }

    /// Write the model to a temporary GGUF and return its path. `adjust` may change a tensor's
    /// values before they are written (to build a model with a known behaviour).
    /// `quantized`: projections and embedding stored as Q8_0 (a base `--method qlora` keeps).
    public static func write(config c: GemmaConfig = config(), seed: UInt64 = 7, to path: String? = nil, quantized: Bool = false,
                             adjust: ((ParameterTensor, inout [Float]) -> Void)? = nil) throws -> String {
        var rng = SplitMix64(seed: seed)
        var w = GGUFWriter()
        w.set("general.architecture", .string("gemma3"))
        w.set("gemma3.context_length", .uint32(UInt32(c.contextLength)))
        w.set("gemma3.embedding_length", .uint32(UInt32(c.hidden)))
        w.set("gemma3.block_count", .uint32(UInt32(c.layers)))
        w.set("gemma3.feed_forward_length", .uint32(UInt32(c.intermediate)))
        w.set("gemma3.attention.head_count", .uint32(UInt32(c.heads)))
        w.set("gemma3.attention.head_count_kv", .uint32(UInt32(c.kvHeads)))
        w.set("gemma3.attention.key_length", .uint32(UInt32(c.headDim)))
        w.set("gemma3.attention.value_length", .uint32(UInt32(c.headDim)))
        w.set("gemma3.attention.layer_norm_rms_epsilon", .float32(c.rmsEps))
        w.set("gemma3.attention.sliding_window", .uint32(UInt32(c.slidingWindow)))
        w.set("gemma3.rope.freq_base", .float32(c.ropeBaseGlobal))
        w.set("gemma3.attention.sliding_window_pattern", .uint32(UInt32(c.slidingPattern)))
        let vocab = vocabulary(size: c.vocabSize)
        w.set("tokenizer.ggml.model", .string("llama"))
        w.set("tokenizer.ggml.tokens", .array(vocab.tokens.map { .string($0) }))
        w.set("tokenizer.ggml.scores", .array(vocab.scores.map { .float32($0) }))
        w.set("tokenizer.ggml.token_type", .array(vocab.types.map { .int32($0) }))
        for t in ParameterLayout(config: c).tensors {
            var values: [Float]
            if t.isNorm {
                values = (0..<t.count).map { _ in 1 + 0.2 * rng.normal() }
            } else {
                let fanIn = Float(t.shape.last!)
                let std: Float = t.hfName.contains("embed") ? 0.15 : 1 / fanIn.squareRoot()
                values = (0..<t.count).map { _ in std * rng.normal() }
            }
            adjust?(t, &values)
            w.addTensor(t.ggufName, shape: t.shape, values: values, type: quantized && !t.isNorm ? .q8_0 : .f32)
        }
        let out = path ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("tiny-gemma-\(seed)-\(c.kvHeads)\(quantized ? "-q8" : "")-\(getpid()).gguf").path
        try w.write(to: out)
        return out
    }

    public static func load(kvHeads: Int = 1, seed: UInt64 = 7) throws -> GemmaModel {
        let path = try write(config: config(kvHeads: kvHeads), seed: seed)
        return try GemmaModel(gguf: GGUFFile(path: path))
    }
}

/// Deterministic random numbers for tests.
public struct SplitMix64 {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    public mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) }
    public mutating func normal() -> Float {
        let u1 = max(uniform(), 1e-7), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
    public mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
