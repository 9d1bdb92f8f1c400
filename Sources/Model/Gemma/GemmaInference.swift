import Foundation

/// The generation driver of the Gemma block: several sequences at once, each with its own
/// KVCache; the new tokens of all sequences are packed into one activation matrix so every
/// matmul sees them all. Nothing is kept between layers but the caches.
public final class GemmaInference {
    public let weights: GemmaWeights
    private var localRope: RoPETable
    private var globalRope: RoPETable
    private let scratch = GrowableBuffer()
    /// The logits of the last forward: 1 MB per row, reused from call to call (decoding makes
    /// one call per token).
    private let logitsBuffer = GrowableBuffer()
    /// Prefill and decode time of every generateGreedy call so far (reset it to measure anew).
    public var timing = GenerationTiming()
    /// Greedy decoding's tokens without every logit, over a dense fp32 head (GreedyHead.swift)
    /// or a Q8_0 one (Q8_0GreedyHead.swift), made on the first forward that asks for tokens of
    /// at most fewRowsLimit rows.
    private lazy var greedyHead: (any GreedyTokenSource)? = greedyTokenSource(for: weights.embedding)
    /// Makes the greedy screen now (GreedyHead's Q8_0 copy of a dense head, Q8_0GreedyHead's
    /// buffers) rather than on the first decode step, so that a caller that times its prompts
    /// (generate, predict) counts it in its load time.
    public func prepareGreedyDecoding() { _ = greedyHead }
    /// The tokens of the last `forwardInPlace(greedy: true)` when GreedyHead chose them (its logits
    /// were then not computed), else nil.
    private(set) var greedyTokens: [Int32]?

    public convenience init(model: GemmaModel) { self.init(weights: GemmaWeights(model: model)) }

    /// Generation with `weights` (adapters, if any, without dropout).
    public init(weights: GemmaWeights) {
        self.weights = weights
        localRope = RoPETable(base: weights.config.ropeBaseLocal, headDim: weights.config.headDim)
        globalRope = RoPETable(base: weights.config.ropeBaseGlobal, headDim: weights.config.headDim)
    }

    public var config: GemmaConfig { weights.config }

    /// Which rows get logits: the last new row of each sequence, every new row, or none (a
    /// shared prompt prefix only fills its cache).
    public enum LogitRows { case last, all, none }

    public struct CacheFull: Error, CustomStringConvertible {
        public var description: String { "the KV cache is full: raise its capacity" }
    }

    /// More tokens than the model's context (gemma3.context_length / max_position_embeddings).
    public struct ContextExceeded: Error, CustomStringConvertible {
        public let tokens: Int, newTokens: Int, context: Int
        public init(tokens: Int, newTokens: Int = 0, context: Int) {
            (self.tokens, self.newTokens, self.context) = (tokens, newTokens, context)
        }
        public var description: String {
            newTokens == 0 ? "\(tokens) tokens exceed the model's context of \(context) tokens: shorten the prompt"
                : "a prompt of \(tokens) tokens and up to \(newTokens) new tokens exceed the model's context of \(context) tokens: shorten the prompt or lower --max-new-tokens"
        }
    }

    public struct TokenOutOfRange: Error, CustomStringConvertible {
        public let token: Int32, vocabulary: Int
        public var description: String { "token id \(token) is outside the model's vocabulary of \(vocabulary)" }
    }

    /// Append `tokens[i]` to sequence i (cache i) and return logits, row-major [rows, vocab]:
    /// the last new row of each sequence (`.last`) or every new row in order (`.all`).
    /// With `.last` or `.none`, a sequence of more than `prefillChunk` new tokens is read in
    /// pieces (bounded attention scratch); `.all` reads every row in one forward.
    public func forward(_ tokens: [[Int32]], caches: [KVCache], logits rowsWanted: LogitRows) throws -> [Float] {
        let rows = rowsWanted == .all ? try forwardInPlace(tokens, caches: caches, logits: .all)
            : try prefill(tokens, caches: caches, logits: rowsWanted)
        return Array(UnsafeBufferPointer(start: logitsBuffer.pointer, count: rows * config.vocabSize))
    }

    /// Attention of at most this many query × key rows per sequence runs its small sgemms on one
    /// BLAS thread (a decoded token, a prompt of up to 256 tokens): handing each to OpenBLAS's
    /// second thread wakes it, and it then spins beside the decoding workers through the
    /// following products. Measured, 40-token prompt + 64 tokens, 10 interleaved rounds: prompt
    /// +6–8%, decode +1.5% (Q4_K_M) and +10% (fp32); the same generations. Longer prompts
    /// (512-row pieces) keep both threads for their larger products.
    static let oneThreadAttentionPairs = 256 * 256

    /// `forward` without copying the logits out: returns the number of logit rows, which are
    /// at `logits` until the next call.
    /// With `greedy`, the rows' greedy tokens may come from GreedyHead instead (`greedyTokens`).
    func forwardInPlace(_ tokens: [[Int32]], caches: [KVCache], logits rowsWanted: LogitRows, greedy: Bool = false) throws -> Int {
        precondition(tokens.count == caches.count)
        greedyTokens = nil
        let c = weights.config
        weights.adapterPass?.training = false
        for (t, cache) in zip(tokens, caches) { try checkRoom(for: t, in: cache) }
        var rowToken: [Int32] = [], positions: [Int32] = [], starts: [Int] = []
        for (t, cache) in zip(tokens, caches) {
            starts.append(rowToken.count)
            rowToken.append(contentsOf: t)
            positions.append(contentsOf: (0..<t.count).map { Int32(cache.length + $0) })
        }
        let n = rowToken.count
        guard n > 0 else { return 0 }
        let maxPos = Int(positions.max()!) + 1
        localRope.reserve(maxPos)
        globalRope.reserve(maxPos)
        let maxKeys = zip(tokens, caches).map { $0.count + $1.length }.max()!
        let maxNew = tokens.map(\.count).max()!
        let attentionOnOneThread = maxNew * maxKeys <= Self.oneThreadAttentionPairs
        // scratch: h [n,C], xn [n,C], q [n,Q], k [n,K], v [n,K], attn [n,Q], o [n,C], gate [n,F], up [n,F], probs
        let sizes = [n * c.hidden, n * c.hidden, n * c.qDim, n * c.kvDim, n * c.kvDim, n * c.qDim, n * c.hidden,
                     n * c.intermediate, n * c.intermediate, c.heads * maxNew * maxKeys]
        scratch.reserve(sizes.reduce(0, +))
        var ptrs: [UnsafeMutablePointer<Float>] = []
        var next = scratch.pointer
        for s in sizes { ptrs.append(next); next += s }
        let (h, xn, q, k, v, attn, o, gate, up, probs) = (ptrs[0], ptrs[1], ptrs[2], ptrs[3], ptrs[4], ptrs[5], ptrs[6], ptrs[7], ptrs[8], ptrs[9])
        // nothing is kept: norms in place, the residual stream updated in place, o and gate reused
        let a = BlockActivations(rstdIn: nil, qRaw: q, kRaw: k, rstdQ: nil, rstdK: nil, q: q, k: k, v: v, attn: attn,
                                 oProj: o, rstdO: nil, hMid: h, rstdMid: nil, gate: gate, up: up, act: gate, down: o,
                                 rstdDown: nil)

        for (r, t) in rowToken.enumerated() { weights.embedding.embed(t, scale: c.embeddingScale, into: h + r * c.hidden) }
        // the rows whose logits are wanted; the last layer computes only those past its keys and values
        let wanted: [Int]
        switch rowsWanted {
        case .all: wanted = Array(0..<n)
        case .last: wanted = zip(starts, tokens).compactMap { $1.isEmpty ? nil : $0 + $1.count - 1 }
        case .none: wanted = []
        }
        let pruneLastLayer = wanted.count < n  // (decoding wants every row: nothing to drop)
        var keyPositions = [Int32](0..<Int32(maxKeys))
        positions.withUnsafeBufferPointer { pos in
            keyPositions.withUnsafeMutableBufferPointer { kp in
                for l in 0..<c.layers {
                    let b = GemmaBlock(layer: l, weights: weights, localRope: localRope, globalRope: globalRope, onSpinningWorkers: true)
                    let pruned = pruneLastLayer && l == c.layers - 1
                    b.forward(rows: n, positions: pos.baseAddress!, input: h, output: h, activations: a, scratch: xn,
                              keep: pruned ? wanted : nil) { a in
                        // each sequence's new rows join its cache, then attend to everything cached
                        func attendAll() {
                            var keptQuery = 0
                            for (i, cache) in caches.enumerated() {
                                let rows = tokens[i].count, r0 = starts[i], past = cache.length
                                guard rows > 0 else { continue }
                                (cache.keys(l) + past * c.kvDim).update(from: a.k + r0 * c.kvDim, count: rows * c.kvDim)
                                (cache.values(l) + past * c.kvDim).update(from: a.v + r0 * c.kvDim, count: rows * c.kvDim)
                                // pruned: only the sequence's last row asks (if its logits are wanted at
                                // all), from its place among the kept rows
                                if pruned && rowsWanted != .last { continue }
                                let (qRow, tq) = pruned ? (keptQuery, 1) : (r0, rows)
                                keptQuery += 1
                                attentionForward(out: a.attn + qRow * c.qDim, probs: probs, q: a.q + qRow * c.qDim, k: cache.keys(l),
                                                 v: cache.values(l), qPos: pos.baseAddress! + r0 + rows - tq, kPos: kp.baseAddress!,
                                                 tq: tq, tk: past + rows, shape: b.attentionShape)
                            }
                        }
                        if attentionOnOneThread { BLASThreads.singleThreaded(attendAll) } else { attendAll() }
                    }
                }
            }
        }
        for (i, cache) in caches.enumerated() { cache.advance(by: tokens[i].count) }

        // final norm and tied head on the wanted rows only (already compact when the last layer pruned)
        guard !wanted.isEmpty else { return 0 }
        for (i, r) in wanted.enumerated() { (xn + i * c.hidden).update(from: h + (pruneLastLayer ? i : r) * c.hidden, count: c.hidden) }
        rmsNormForward(xn, nil, xn, weights.finalNorm.g, rows: wanted.count, width: c.hidden, eps: c.rmsEps)
        greedyTokens = greedy && wanted.count <= fewRowsLimit ? greedyHead?.tokens(xn, rows: wanted.count) : nil
        if greedyTokens != nil { return wanted.count }
        logitsBuffer.reserve(wanted.count * c.vocabSize)
        weights.embedding.forward(logitsBuffer.pointer, xn, rows: wanted.count)
        return wanted.count
    }

    /// Refuses tokens beyond the model's context or the cache's capacity, and ids outside the
    /// vocabulary, before any work.
    public func checkRoom(for tokens: [Int32], in cache: KVCache) throws {
        let context = config.contextLength
        if cache.length + tokens.count > context { throw ContextExceeded(tokens: cache.length + tokens.count, context: context) }
        if cache.length + tokens.count > cache.capacity { throw CacheFull() }
        try checkVocabulary(tokens)
    }

    /// Refuses an id outside the vocabulary (the embedding would read past its rows).
    func checkVocabulary(_ tokens: [Int32]) throws {
        let v = config.vocabSize
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= v }) { throw TokenOutOfRange(token: bad, vocabulary: v) }
    }

    /// The logits rows of the last `forwardInPlace`.
    var logits: UnsafePointer<Float> { UnsafePointer(logitsBuffer.pointer) }
}
