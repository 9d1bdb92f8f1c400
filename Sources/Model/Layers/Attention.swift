import CBLAS
import Foundation
import ModelKernels

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
    if tq == 1 { return attentionForwardOneQuery(out: out, probs: probs, q: q, k: k, v: v, qPos: qPos[0], kPos: kPos, tk: tk, shape: s) }
    let hd = s.heads * s.headDim, kd = s.kvHeads * s.headDim, group = s.heads / s.kvHeads
    for h in 0..<s.heads {
        let g = h / group
        let p = probs + h * tq * tk
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(tq), Int32(tk), Int32(s.headDim),
                    s.scale, q + h * s.headDim, Int32(hd), k + g * s.headDim, Int32(kd), 0, p, Int32(tk))
        for i in 0..<tq { softmaxOfVisible(p + i * tk, keys: tk, qPos: qPos[i], kPos: kPos, window: s.window) }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(tq), Int32(s.headDim), Int32(tk),
                    1, p, Int32(tk), v + g * s.headDim, Int32(kd), 0, out + h * s.headDim, Int32(hd))
    }
}

/// One query row — a decoding step: the heads that share a kv head read each cached key and
/// value row once, in direct loops. (sgemm with one row packs the whole cache again for each
/// head and each of its two products, 8 calls per layer per token: measured 7% of a quantized
/// decode's time at 34–153 cached tokens.) Shapes as attentionForward's with Tq = 1.
func attentionForwardOneQuery(out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                              q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                              qPos: Int32, kPos: UnsafePointer<Int32>, tk: Int, shape s: AttentionShape) {
    let kd = s.kvHeads * s.headDim, group = s.heads / s.kvHeads
    for g in 0..<s.kvHeads {
        // the group's heads are consecutive in q, out and probs: [group, D], [group, D], [group, Tk]
        let h0 = g * group
        let qg = q + h0 * s.headDim, p = probs + h0 * tk, og = out + h0 * s.headDim
        // p[h · Tk + j] = q[h] · K[j]
        rowDots(p, outputs: tk, qg, n: group, k + g * s.headDim, inputs: s.headDim, rowStride: kd, rows: 0..<tk)
        for h in 0..<group {
            let row = p + h * tk
            for j in 0..<tk { row[j] *= s.scale }
            softmaxOfVisible(row, keys: tk, qPos: qPos, kPos: kPos, window: s.window)
        }
        weightedRowSums(og, p, heads: group, v + g * s.headDim, keys: tk, width: s.headDim, rowStride: kd)
    }
}

/// out[h] = Σ_j p[h · keys + j] · V[j] in j's order: ModelKernels' loop or the same here (each
/// element a product then an add, so lanes or scalars give the same bits).
private func weightedRowSums(_ out: UnsafeMutablePointer<Float>, _ p: UnsafePointer<Float>, heads n: Int,
                             _ v: UnsafePointer<Float>, keys: Int, width: Int, rowStride: Int) {
    if VectorKernels.available {
        return VectorKernels.weightedRowSums(out, p, n: n, v, rows: keys, width: width, rowStride: rowStride)
    }
    out.update(repeating: 0, count: n * width)
    for j in 0..<keys {
        for h in 0..<n {
            let w = p[h * keys + j], o = out + h * width, vj = v + j * rowStride
            for d in 0..<width { o[d] += w * vj[d] }
        }
    }
}

/// row ← softmax over the keys visible from qPos (the rest 0), in place.
private func softmaxOfVisible(_ row: UnsafeMutablePointer<Float>, keys tk: Int, qPos: Int32, kPos: UnsafePointer<Int32>, window: Int) {
    var m = -Float.infinity
    for j in 0..<tk where visible(qPos, kPos[j], window) { m = max(m, row[j]) }
    var sum: Float = 0
    for j in 0..<tk {
        if visible(qPos, kPos[j], window) {
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
