// Dot products of one weight row with a few rows of x: decoding's matrix-vector products once
// the row is in L1 (as fp32 weights, or dequantized into a row buffer). Summed exactly as
// Model/Layers/FewRowsLinear.swift's `dot` (four 8-lane partial sums, a product then an add —
// no fused multiply-add — combined in a fixed order), so results do not depend on which is used.

@inline(__always)
private func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), s2 = SIMD8<Float>(), s3 = SIMD8<Float>()
    var k = 0
    while k + 32 <= count {
        s0 += load8(a + k) * load8(b + k)
        s1 += load8(a + k + 8) * load8(b + k + 8)
        s2 += load8(a + k + 16) * load8(b + k + 16)
        s3 += load8(a + k + 24) * load8(b + k + 24)
        k += 32
    }
    while k + 8 <= count { s0 += load8(a + k) * load8(b + k); k += 8 }
    var total = ((s0 + s1) + (s2 + s3)).sum()
    while k < count { total += a[k] * b[k]; k += 1 }
    return total
}

extension VectorKernels {
    /// y[s · outputs + r] = W[r] · x[s] for r in rows, s in 0..<n: W [·, inputs] row-major fp32,
    /// its rows `rowStride` floats apart (`inputs` when packed; more for the cached keys of one
    /// kv head among several), x [n, inputs], y [n, outputs].
    @inline(never)
    public static func rowDots(_ y: UnsafeMutablePointer<Float>, outputs: Int, _ x: UnsafePointer<Float>, n: Int,
                               _ w: UnsafePointer<Float>, inputs: Int, rowStride: Int, rows: Range<Int>) {
        for r in rows {
            let row = w + r * rowStride
            for s in 0..<n { y[s * outputs + r] = dot(row, x + s * inputs, count: inputs) }
        }
    }

    /// out[s, ·] = Σ_j p[s · rows + j] · V[j, ·] for s in 0..<n, j in 0..<rows, summed in j's order
    /// (a product, then an add): one decoded query's attention output for the n heads that share
    /// a kv head. V's rows are `width` floats, `rowStride` apart; out [n, width].
    @inline(never)
    public static func weightedRowSums(_ out: UnsafeMutablePointer<Float>, _ p: UnsafePointer<Float>, n: Int,
                                       _ v: UnsafePointer<Float>, rows: Int, width: Int, rowStride: Int) {
        for e in 0..<n * width { out[e] = 0 }
        for j in 0..<rows {
            let vj = v + j * rowStride
            for s in 0..<n {
                let o = out + s * width
                let w = SIMD8<Float>(repeating: p[s * rows + j])
                var d = 0
                while d + 8 <= width { store(load8(o + d) + w * load8(vj + d), o + d); d += 8 }
                while d < width { o[d] += p[s * rows + j] * vj[d]; d += 1 }
            }
        }
    }
}
