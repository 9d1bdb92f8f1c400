/// Everything the backward pass needs from the forward pass, for N packed rows, in one
/// allocation. Per layer (C hidden, Q = heads·D, K = kvHeads·D, F intermediate):
///   resid[l] [N, C] (layer input; resid[L] is the final residual stream), rstdIn [N],
///   qRaw [N, Q], kRaw [N, K], rstdQ [N·H], rstdK [N·G], qRot [N, Q], kRot [N, K], v [N, K],
///   attn [N, Q], oProj [N, C], rstdO [N], hMid [N, C], rstdMid [N], gate [N, F], up [N, F],
///   down [N, C], rstdDown [N], probs [Σ H·Tq·Tk].
final class TrainingActivations {
    struct Layer {
        var rstdIn = 0, qRaw = 0, kRaw = 0, rstdQ = 0, rstdK = 0, qRot = 0, kRot = 0, v = 0, attn = 0
        var oProj = 0, rstdO = 0, hMid = 0, rstdMid = 0, gate = 0, up = 0, down = 0, rstdDown = 0, probs = 0
    }

    private let storage = GrowableBuffer()
    private(set) var rows = 0
    private(set) var layers: [Layer] = []
    private(set) var residOffsets: [Int] = []

    /// Lay out (and grow if needed) the storage for `rows` rows and `probCount` attention weights per layer.
    func prepare(config c: GemmaConfig, rows n: Int, probCount: Int) {
        var next = 0
        func take(_ count: Int) -> Int { defer { next += count }; return next }
        residOffsets = (0...c.layers).map { _ in take(n * c.hidden) }
        layers = (0..<c.layers).map { _ in
            var a = Layer()
            a.rstdIn = take(n); a.qRaw = take(n * c.qDim); a.kRaw = take(n * c.kvDim)
            a.rstdQ = take(n * c.heads); a.rstdK = take(n * c.kvHeads)
            a.qRot = take(n * c.qDim); a.kRot = take(n * c.kvDim); a.v = take(n * c.kvDim)
            a.attn = take(n * c.qDim); a.oProj = take(n * c.hidden); a.rstdO = take(n)
            a.hMid = take(n * c.hidden); a.rstdMid = take(n)
            a.gate = take(n * c.intermediate); a.up = take(n * c.intermediate)
            a.down = take(n * c.hidden); a.rstdDown = take(n); a.probs = take(probCount)
            return a
        }
        storage.reserve(next)
        rows = n
    }

    @inline(__always) func at(_ offset: Int) -> UnsafeMutablePointer<Float> { storage.pointer + offset }
    @inline(__always) func resid(_ l: Int) -> UnsafeMutablePointer<Float> { storage.pointer + residOffsets[l] }
}
