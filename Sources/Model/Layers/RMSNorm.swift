// RMSNorm with Gemma's stored weight g (= HF's 1 + w):  y = x / sqrt(mean(x²) + eps) * g.
// Rows are independent; the same kernels serve the 640-wide norms and the per-head q/k norms
// (rows of 256: a [T, heads, 256] tensor is [T·heads, 256] rows).
//
// The row sums are accumulated in Double (the residual stream reaches norms of thousands at
// <bos>), in 8 independent partial sums: one Double accumulator is a chain of dependent adds,
// 4 cycles per element, and a training step runs ≈8 norms over ≈800 rows per layer — on one
// core that was ≈0.2 s of a 2.2 s LoRA step. The products are exact in Double, so only the
// order of the additions differs from a single running sum (≈1e-16 relative, far below the
// fp32 result's rounding). Rows are spread over the BLAS threads: every row is computed the
// same way whatever the split, so the result does not depend on the thread count.

/// Σ a[j]·b[j] for j < count, each term as `term` forms it, in Double over 8 partial sums
/// combined in a fixed order (count is a multiple of 8 here: 256 or 640 and the tests' widths;
/// a tail is added last).
@inline(__always)
private func doubleSum(count c: Int, _ term: (Int) -> SIMD8<Double>) -> Double {
    var s = SIMD8<Double>()
    var j = 0
    while j + 8 <= c { s += term(j); j += 8 }
    var total = s.sum()
    while j < c { total += term(j)[0]; j += 1 }
    return total
}

@inline(__always)
private func double8(_ v: Float8) -> SIMD8<Double> { SIMD8<Double>(lowHalf: SIMD4<Double>(v.lowHalf), highHalf: SIMD4<Double>(v.highHalf)) }

/// Rows per parallel chunk: the rows split evenly over the BLAS threads, but no chunk under
/// 32 Ki elements (a decode step's one row runs inline). Only how rows are shared out
/// depends on the thread count, never a row's value.
@inline(__always)
private func rowChunk(rows n: Int, width c: Int) -> Int {
    max((n + BLASThreads.count - 1) / BLASThreads.count, (1 << 15) / max(c, 1), 1)
}

/// x, y: [n, c]; g: [c]; rstd: [n] saved for the backward pass.
func rmsNormForward(_ y: UnsafeMutablePointer<Float>, _ rstd: UnsafeMutablePointer<Float>?,
                    _ x: UnsafePointer<Float>, _ g: UnsafePointer<Float>, rows n: Int, width c: Int, eps: Float) {
    parallelChunks(0..<n, chunk: rowChunk(rows: n, width: c)) { _, lo, hi in
        for r in lo..<hi {
            let xr = x + r * c, yr = y + r * c
            let sumSq = doubleSum(count: c) { j in
                let v = j + 8 <= c ? double8(load8(xr + j)) : SIMD8<Double>(repeating: Double(xr[j]))
                return v * v
            }
            let s = Float(1 / (sumSq / Double(c) + Double(eps)).squareRoot())
            rstd?[r] = s
            for j in 0..<c { yr[j] = xr[j] * s * g[j] }
        }
    }
}

/// Given dy, the forward input x and its rstd: dx = (or +=) ∂L/∂x, and dg += ∂L/∂g unless
/// the norm is frozen (dg nil).   x̂ = x·s;  dx = s·(g⊙dy) − s³/c · x · Σ(g⊙dy⊙x)
/// dg sums over the rows in row order on one thread (a vector pass, no chain), so its value
/// does not depend on the thread count either.
func rmsNormBackward(dx: UnsafeMutablePointer<Float>, dg: UnsafeMutablePointer<Float>?,
                     dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                     g: UnsafePointer<Float>, rows n: Int, width c: Int, accumulate: Bool) {
    if let dg {
        // before dx is written: dx may be dy's buffer
        for r in 0..<n {
            let xr = x + r * c, dyr = dy + r * c, s = rstd[r]
            for j in 0..<c { dg[j] += dyr[j] * xr[j] * s }
        }
    }
    parallelChunks(0..<n, chunk: rowChunk(rows: n, width: c)) { _, lo, hi in
        for r in lo..<hi {
            let xr = x + r * c, dyr = dy + r * c, dxr = dx + r * c
            let s = rstd[r]
            let dot = doubleSum(count: c) { j in
                j + 8 <= c ? double8(load8(g + j) * load8(dyr + j)) * double8(load8(xr + j))
                    : SIMD8<Double>(repeating: Double(g[j] * dyr[j]) * Double(xr[j]))
            }
            let k = Float(dot) * s * s * s / Float(c)
            if accumulate {
                for j in 0..<c { dxr[j] += s * g[j] * dyr[j] - k * xr[j] }
            } else {
                for j in 0..<c { dxr[j] = s * g[j] * dyr[j] - k * xr[j] }
            }
        }
    }
}
