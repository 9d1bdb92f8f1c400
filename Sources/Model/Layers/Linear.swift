import CBLAS

// Dense matrix products without bias in the layout of PyTorch's nn.Linear: W is [out, in]
// row-major. The three products of a linear layer, each one sgemm — but a forward of a few
// rows (decoding) streams W instead (FewRowsLinear.swift).

/// y[n, o] = x[n, i] · W[o, i]ᵀ
@inline(__always)
func linearForward(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                   rows n: Int, inputs i: Int, outputs o: Int) {
    guard n > 0 else { return }
    if n <= fewRowsLimit { return linearForwardFewRows(y, x, w, rows: n, inputs: i, outputs: o) }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(o), Int32(i),
                1, x, Int32(i), w, Int32(i), 0, y, Int32(o))
}

/// dW[o, i] += dy[n, o]ᵀ · x[n, i]
@inline(__always)
func linearWeightGradient(_ dW: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>,
                          rows n: Int, inputs i: Int, outputs o: Int) {
    guard n > 0 else { return }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(o), Int32(i), Int32(n),
                1, dy, Int32(o), x, Int32(i), 1, dW, Int32(i))
}

/// dW[o, i] = (or += with `accumulate`) dy[n, o]ᵀ · x[n, i]: a weight gradient made from its
/// factors where they arrive (the overlapped exchange's factored head,
/// Train/Exchange/OverlappedReduction).
public func weightGradientFromFactors(_ dW: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                      rows n: Int, inputs i: Int, outputs o: Int, accumulate: Bool = false) {
    guard n > 0 else {
        if !accumulate { dW.initialize(repeating: 0, count: o * i) }
        return
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(o), Int32(i), Int32(n),
                1, dy, Int32(o), x, Int32(i), accumulate ? 1 : 0, dW, Int32(i))
}

/// dx[n, i] = (or += with `accumulate`) dy[n, o] · W[o, i]
@inline(__always)
func linearInputGradient(_ dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, w: UnsafePointer<Float>,
                         rows n: Int, inputs i: Int, outputs o: Int, accumulate: Bool) {
    guard n > 0 else { return }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(i), Int32(o),
                1, dy, Int32(o), w, Int32(i), accumulate ? 1 : 0, dx, Int32(i))
}
