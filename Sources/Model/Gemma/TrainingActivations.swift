/// Everything the backward pass needs from the forward pass, for N packed rows, in one
/// allocation: the residual stream entering each layer and after the last (resid[0…L],
/// [N, C] each), each layer's BlockActivations (`act` excepted, see there) and its attention
/// weights probs [Σ over segments of H·Tq·Tk].
final class TrainingActivations {
    private struct LayerOffsets {
        var rstdIn = 0, qRaw = 0, kRaw = 0, rstdQ = 0, rstdK = 0, q = 0, k = 0, v = 0, attn = 0
        var oProj = 0, rstdO = 0, hMid = 0, rstdMid = 0, gate = 0, up = 0, down = 0, rstdDown = 0, probs = 0
    }

    private let storage = GrowableBuffer()
    private(set) var rows = 0
    private var layers: [LayerOffsets] = []
    private var residOffsets: [Int] = []

    /// Lay out (and grow if needed) the storage for `rows` rows and `probCount` attention weights per layer.
    func prepare(config c: GemmaConfig, rows n: Int, probCount: Int) {
        var next = 0
        func take(_ count: Int) -> Int { defer { next += count }; return next }
        residOffsets = (0...c.layers).map { _ in take(n * c.hidden) }
        layers = (0..<c.layers).map { _ in
            var a = LayerOffsets()
            a.rstdIn = take(n); a.qRaw = take(n * c.qDim); a.kRaw = take(n * c.kvDim)
            a.rstdQ = take(n * c.heads); a.rstdK = take(n * c.kvHeads)
            a.q = take(n * c.qDim); a.k = take(n * c.kvDim); a.v = take(n * c.kvDim)
            a.attn = take(n * c.qDim); a.oProj = take(n * c.hidden); a.rstdO = take(n)
            a.hMid = take(n * c.hidden); a.rstdMid = take(n)
            a.gate = take(n * c.intermediate); a.up = take(n * c.intermediate)
            a.down = take(n * c.hidden); a.rstdDown = take(n); a.probs = take(probCount)
            return a
        }
        storage.reserve(next)
        rows = n
    }

    /// The residual stream entering layer l (l = L: after the last layer).
    @inline(__always) func resid(_ l: Int) -> UnsafeMutablePointer<Float> { storage.pointer + residOffsets[l] }

    /// The attention weights of layer l.
    @inline(__always) func probs(_ l: Int) -> UnsafeMutablePointer<Float> { storage.pointer + layers[l].probs }

    /// Layer l's saved activations, with `act` in the given scratch (not kept: recomputed).
    func layer(_ l: Int, act: UnsafeMutablePointer<Float>) -> BlockActivations {
        let o = layers[l], p = storage.pointer
        return BlockActivations(rstdIn: p + o.rstdIn, qRaw: p + o.qRaw, kRaw: p + o.kRaw, rstdQ: p + o.rstdQ,
                                rstdK: p + o.rstdK, q: p + o.q, k: p + o.k, v: p + o.v, attn: p + o.attn,
                                oProj: p + o.oProj, rstdO: p + o.rstdO, hMid: p + o.hMid, rstdMid: p + o.rstdMid,
                                gate: p + o.gate, up: p + o.up, act: act, down: p + o.down, rstdDown: p + o.rstdDown)
    }
}
