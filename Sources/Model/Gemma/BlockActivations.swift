/// What the forward pass of one block writes, for n rows (C hidden, Q = heads·D,
/// K = kvHeads·D, F intermediate, H heads, G kv heads):
///   rstdIn [n]      qRaw [n, Q]   kRaw [n, K]   rstdQ [n·H]   rstdK [n·G]
///   q [n, Q], k [n, K]  after the head norms and RoPE      v [n, K]
///   attn [n, Q]     oProj [n, C]  rstdO [n]     hMid [n, C] (residual after attention)
///   rstdMid [n]     gate [n, F]   up [n, F]     act [n, F] = gelu(gate)·up
///   down [n, C]     rstdDown [n]
/// Training points every field at a buffer of its own and keeps them for the backward pass
/// (`act` excepted: the backward recomputes it). Generation keeps nothing: it leaves the rstd
/// fields nil and lets fields share memory where the forward allows it (qRaw = q, kRaw = k,
/// act = gate, down = oProj, hMid = the residual stream itself).
struct BlockActivations {
    var rstdIn: UnsafeMutablePointer<Float>?
    var qRaw: UnsafeMutablePointer<Float>
    var kRaw: UnsafeMutablePointer<Float>
    var rstdQ: UnsafeMutablePointer<Float>?
    var rstdK: UnsafeMutablePointer<Float>?
    var q: UnsafeMutablePointer<Float>
    var k: UnsafeMutablePointer<Float>
    var v: UnsafeMutablePointer<Float>
    var attn: UnsafeMutablePointer<Float>
    var oProj: UnsafeMutablePointer<Float>
    var rstdO: UnsafeMutablePointer<Float>?
    var hMid: UnsafeMutablePointer<Float>
    var rstdMid: UnsafeMutablePointer<Float>?
    var gate: UnsafeMutablePointer<Float>
    var up: UnsafeMutablePointer<Float>
    var act: UnsafeMutablePointer<Float>
    var down: UnsafeMutablePointer<Float>
    var rstdDown: UnsafeMutablePointer<Float>?
}

/// Scratch of one block's backward pass, shared by all layers (n rows):
///   xn [n, C] (recomputed norm outputs)  dX [n, C]  dHMid [n, C]  dDown [n, C]
///   dGate [n, F]  dUp [n, F]  dAttn [n, Q]  dq [n, Q]  dk [n, K]  dv [n, K]
struct BlockBackwardScratch {
    var xn: UnsafeMutablePointer<Float>
    var dX: UnsafeMutablePointer<Float>
    var dHMid: UnsafeMutablePointer<Float>
    var dDown: UnsafeMutablePointer<Float>
    var dGate: UnsafeMutablePointer<Float>
    var dUp: UnsafeMutablePointer<Float>
    var dAttn: UnsafeMutablePointer<Float>
    var dq: UnsafeMutablePointer<Float>
    var dk: UnsafeMutablePointer<Float>
    var dv: UnsafeMutablePointer<Float>
}
