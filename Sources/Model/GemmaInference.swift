import Foundation

/// Forward pass for inference: several sequences at once, each with its own KVCache; the new
/// tokens of all sequences are packed into one activation matrix so every matmul sees them all.
public final class GemmaInference {
    public let model: GemmaModel
    private var localRope: RoPETable
    private var globalRope: RoPETable
    private let scratch = GrowableBuffer()

    public init(model: GemmaModel) {
        self.model = model
        localRope = RoPETable(base: model.config.ropeBaseLocal, headDim: model.config.headDim)
        globalRope = RoPETable(base: model.config.ropeBaseGlobal, headDim: model.config.headDim)
    }

    public enum LogitRows { case last, all }

    public struct CacheFull: Error, CustomStringConvertible {
        public var description: String { "the KV cache is full: raise its capacity" }
    }

    /// Append `tokens[i]` to sequence i (cache i) and return logits, row-major [rows, vocab]:
    /// the last new row of each sequence (`.last`) or every new row in order (`.all`).
    public func forward(_ tokens: [[Int32]], caches: [KVCache], logits rowsWanted: LogitRows) throws -> [Float] {
        precondition(tokens.count == caches.count)
        let c = model.config
        for (t, cache) in zip(tokens, caches) where cache.length + t.count > cache.capacity { throw CacheFull() }
        var rowToken: [Int32] = [], positions: [Int32] = [], starts: [Int] = []
        for (t, cache) in zip(tokens, caches) {
            starts.append(rowToken.count)
            rowToken.append(contentsOf: t)
            positions.append(contentsOf: (0..<t.count).map { Int32(cache.length + $0) })
        }
        let n = rowToken.count
        guard n > 0 else { return [] }
        let maxPos = Int(positions.max()!) + 1
        localRope.reserve(maxPos)
        globalRope.reserve(maxPos)
        let maxKeys = zip(tokens, caches).map { $0.count + $1.length }.max()!
        let maxNew = tokens.map(\.count).max()!
        // scratch: h [n,C], xn [n,C], q [n,Q], k [n,K], v [n,K], attn [n,Q], o [n,C], gate [n,F], up [n,F], probs
        let sizes = [n * c.hidden, n * c.hidden, n * c.qDim, n * c.kvDim, n * c.kvDim, n * c.qDim, n * c.hidden,
                     n * c.intermediate, n * c.intermediate, c.heads * maxNew * maxKeys]
        let total = sizes.reduce(0, +)
        scratch.reserve(total)
        var ptrs: [UnsafeMutablePointer<Float>] = []
        var next = scratch.pointer
        for s in sizes { ptrs.append(next); next += s }
        let (h, xn, q, k, v, attn, o, gate, up, probs) = (ptrs[0], ptrs[1], ptrs[2], ptrs[3], ptrs[4], ptrs[5], ptrs[6], ptrs[7], ptrs[8], ptrs[9])
        let w = model.parameters.pointer, layout = model.layout

        let e = w + layout.embedding
        for (r, t) in rowToken.enumerated() {
            for j in 0..<c.hidden { h[r * c.hidden + j] = e[Int(t) * c.hidden + j] * c.embeddingScale }
        }
        var keyPositions = [Int32](0..<Int32(maxKeys))
        for l in 0..<c.layers {
            let lo = layout.layers[l]
            rmsNormForward(xn, nil, h, w + lo.inputNorm, rows: n, width: c.hidden, eps: c.rmsEps)
            linearForward(q, xn, w + lo.q, rows: n, inputs: c.hidden, outputs: c.qDim)
            linearForward(k, xn, w + lo.k, rows: n, inputs: c.hidden, outputs: c.kvDim)
            linearForward(v, xn, w + lo.v, rows: n, inputs: c.hidden, outputs: c.kvDim)
            rmsNormForward(q, nil, q, w + lo.qNorm, rows: n * c.heads, width: c.headDim, eps: c.rmsEps)
            rmsNormForward(k, nil, k, w + lo.kNorm, rows: n * c.kvHeads, width: c.headDim, eps: c.rmsEps)
            let rope = c.isGlobal(layer: l) ? globalRope : localRope
            positions.withUnsafeBufferPointer { pos in
                rope.apply(q, rows: n, heads: c.heads, positions: pos.baseAddress!)
                rope.apply(k, rows: n, heads: c.kvHeads, positions: pos.baseAddress!)
            }
            let shape = AttentionShape(heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, scale: c.attentionScale,
                                       window: c.isGlobal(layer: l) ? 0 : c.slidingWindow)
            for (i, cache) in caches.enumerated() {
                let rows = tokens[i].count, r0 = starts[i], past = cache.length
                guard rows > 0 else { continue }
                (cache.keys(l) + past * c.kvDim).update(from: k + r0 * c.kvDim, count: rows * c.kvDim)
                (cache.values(l) + past * c.kvDim).update(from: v + r0 * c.kvDim, count: rows * c.kvDim)
                positions.withUnsafeBufferPointer { pos in
                    keyPositions.withUnsafeMutableBufferPointer { kp in
                        attentionForward(out: attn + r0 * c.qDim, probs: probs, q: q + r0 * c.qDim, k: cache.keys(l),
                                         v: cache.values(l), qPos: pos.baseAddress! + r0, kPos: kp.baseAddress!,
                                         tq: rows, tk: past + rows, shape: shape)
                    }
                }
            }
            linearForward(o, attn, w + lo.o, rows: n, inputs: c.qDim, outputs: c.hidden)
            rmsNormForward(xn, nil, o, w + lo.postAttentionNorm, rows: n, width: c.hidden, eps: c.rmsEps)
            for i in 0..<(n * c.hidden) { h[i] += xn[i] }
            rmsNormForward(xn, nil, h, w + lo.preFeedforwardNorm, rows: n, width: c.hidden, eps: c.rmsEps)
            linearForward(gate, xn, w + lo.gate, rows: n, inputs: c.hidden, outputs: c.intermediate)
            linearForward(up, xn, w + lo.up, rows: n, inputs: c.hidden, outputs: c.intermediate)
            gatedGeluForward(gate, gate: gate, up: up, count: n * c.intermediate)
            linearForward(o, gate, w + lo.down, rows: n, inputs: c.intermediate, outputs: c.hidden)
            rmsNormForward(xn, nil, o, w + lo.postFeedforwardNorm, rows: n, width: c.hidden, eps: c.rmsEps)
            for i in 0..<(n * c.hidden) { h[i] += xn[i] }
        }
        for (i, cache) in caches.enumerated() { cache.advance(by: tokens[i].count) }

        // final norm and tied head on the wanted rows only
        let wanted: [Int] = rowsWanted == .all ? Array(0..<n)
            : zip(starts, tokens).compactMap { $1.isEmpty ? nil : $0 + $1.count - 1 }
        for (i, r) in wanted.enumerated() { (xn + i * c.hidden).update(from: h + r * c.hidden, count: c.hidden) }
        rmsNormForward(xn, nil, xn, w + layout.finalNorm, rows: wanted.count, width: c.hidden, eps: c.rmsEps)
        var logits = [Float](repeating: 0, count: wanted.count * c.vocabSize)
        logits.withUnsafeMutableBufferPointer { out in
            linearForward(out.baseAddress!, xn, e, rows: wanted.count, inputs: c.hidden, outputs: c.vocabSize)
        }
        return logits
    }
}
