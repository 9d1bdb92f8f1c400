// RMSNorm with Gemma's stored weight g (= HF's 1 + w):  y = x / sqrt(mean(x²) + eps) * g.
// Rows are independent; the same kernels serve the 640-wide norms and the per-head q/k norms
// (rows of 256: a [T, heads, 256] tensor is [T·heads, 256] rows).

/// x, y: [n, c]; g: [c]; rstd: [n] saved for the backward pass. The sum of squares is
/// accumulated in Double: the residual stream reaches norms of thousands at <bos>.
@inline(__always)
func rmsNormForward(_ y: UnsafeMutablePointer<Float>, _ rstd: UnsafeMutablePointer<Float>?,
                    _ x: UnsafePointer<Float>, _ g: UnsafePointer<Float>, rows n: Int, width c: Int, eps: Float) {
    for r in 0..<n {
        let xr = x + r * c, yr = y + r * c
        var sumSq: Double = 0
        for j in 0..<c { sumSq += Double(xr[j]) * Double(xr[j]) }
        let s = Float(1 / (sumSq / Double(c) + Double(eps)).squareRoot())
        rstd?[r] = s
        for j in 0..<c { yr[j] = xr[j] * s * g[j] }
    }
}

/// Given dy, the forward input x and its rstd: dx = (or +=) ∂L/∂x, and dg += ∂L/∂g unless
/// the norm is frozen (dg nil).   x̂ = x·s;  dx = s·(g⊙dy) − s³/c · x · Σ(g⊙dy⊙x)
@inline(__always)
func rmsNormBackward(dx: UnsafeMutablePointer<Float>, dg: UnsafeMutablePointer<Float>?,
                     dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                     g: UnsafePointer<Float>, rows n: Int, width c: Int, accumulate: Bool) {
    for r in 0..<n {
        let xr = x + r * c, dyr = dy + r * c, dxr = dx + r * c
        let s = rstd[r]
        var dot: Double = 0
        if let dg {
            for j in 0..<c {
                dot += Double(g[j] * dyr[j]) * Double(xr[j])
                dg[j] += dyr[j] * xr[j] * s
            }
        } else {
            for j in 0..<c { dot += Double(g[j] * dyr[j]) * Double(xr[j]) }
        }
        let k = Float(dot) * s * s * s / Float(c)
        if accumulate {
            for j in 0..<c { dxr[j] += s * g[j] * dyr[j] - k * xr[j] }
        } else {
            for j in 0..<c { dxr[j] = s * g[j] * dyr[j] - k * xr[j] }
        }
    }
}
