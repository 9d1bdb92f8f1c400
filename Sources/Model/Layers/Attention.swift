import CBLAS
import Foundation

/// Causal (optionally sliding-window) attention of one sequence segment with grouped KV heads.
/// Shapes (H query heads, G kv heads, D head width, Tq queries, Tk keys):
///   q [Tq, H·D], k [Tk, G·D], v [Tk, G·D], out [Tq, H·D], probs [H, Tq, Tk].
/// Query head h reads kv head h / (H/G). Key j is visible from query i when
/// kPos[j] ≤ qPos[i] and, with a window w > 0, qPos[i] − kPos[j] < w.
struct AttentionShape {
    var heads: Int
    var kvHeads: Int
    var headDim: Int
    var scale: Float
    var window: Int  // 0: no sliding window
}

@inline(__always)
private func visible(_ qp: Int32, _ kp: Int32, _ window: Int) -> Bool {
    kp <= qp && (window == 0 || Int(qp - kp) < window)
}

func attentionForward(out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                      q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                      qPos: UnsafePointer<Int32>, kPos: UnsafePointer<Int32>, tq: Int, tk: Int, shape s: AttentionShape) {
    let hd = s.heads * s.headDim, kd = s.kvHeads * s.headDim, group = s.heads / s.kvHeads
    for h in 0..<s.heads {
        let g = h / group
        let p = probs + h * tq * tk
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(tq), Int32(tk), Int32(s.headDim),
                    s.scale, q + h * s.headDim, Int32(hd), k + g * s.headDim, Int32(kd), 0, p, Int32(tk))
        for i in 0..<tq {
            let row = p + i * tk
            var m = -Float.infinity
            for j in 0..<tk where visible(qPos[i], kPos[j], s.window) { m = max(m, row[j]) }
            var sum: Float = 0
            for j in 0..<tk {
                if visible(qPos[i], kPos[j], s.window) {
                    let e = expf(row[j] - m)
                    row[j] = e
                    sum += e
                } else {
                    row[j] = 0
                }
            }
            let inv = 1 / sum
            for j in 0..<tk { row[j] *= inv }
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(tq), Int32(s.headDim), Int32(tk),
                    1, p, Int32(tk), v + g * s.headDim, Int32(kd), 0, out + h * s.headDim, Int32(hd))
    }
}

/// Gradients of one segment: dq = (written), dk += , dv += . `scratch` holds Tq·Tk floats.
func attentionBackward(dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
                       dout: UnsafePointer<Float>, probs: UnsafePointer<Float>,
                       q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                       tq: Int, tk: Int, shape s: AttentionShape, scratch dp: UnsafeMutablePointer<Float>) {
    let hd = s.heads * s.headDim, kd = s.kvHeads * s.headDim, group = s.heads / s.kvHeads
    for h in 0..<s.heads {
        let g = h / group
        let p = probs + h * tq * tk
        let doh = dout + h * s.headDim
        // dP = dO · Vᵀ  [Tq, Tk]
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(tq), Int32(tk), Int32(s.headDim),
                    1, doh, Int32(hd), v + g * s.headDim, Int32(kd), 0, dp, Int32(tk))
        // dV += Pᵀ · dO  [Tk, D]
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(tk), Int32(s.headDim), Int32(tq),
                    1, p, Int32(tk), doh, Int32(hd), 1, dv + g * s.headDim, Int32(kd))
        // softmax backward: dS = P ⊙ (dP − Σⱼ dPⱼPⱼ), then the score scale
        for i in 0..<tq {
            let pr = p + i * tk, dr = dp + i * tk
            var dot: Float = 0
            for j in 0..<tk { dot += pr[j] * dr[j] }
            for j in 0..<tk { dr[j] = pr[j] * (dr[j] - dot) * s.scale }
        }
        // dQ = dS · K  [Tq, D];  dK += dSᵀ · Q  [Tk, D]
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(tq), Int32(s.headDim), Int32(tk),
                    1, dp, Int32(tk), k + g * s.headDim, Int32(kd), 0, dq + h * s.headDim, Int32(hd))
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(tk), Int32(s.headDim), Int32(tq),
                    1, dp, Int32(tk), q + h * s.headDim, Int32(hd), 1, dk + g * s.headDim, Int32(kd))
    }
}
