import CBLAS

// Dense layers without bias, the layout of PyTorch's nn.Linear: W is [out, in] row-major.

/// out[n, o] = x[n, i] · W[o, i]ᵀ
@inline(__always)
func linearForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                   rows n: Int, inputs i: Int, outputs o: Int) {
    guard n > 0 else { return }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(o), Int32(i),
                1, x, Int32(i), w, Int32(i), 0, out, Int32(o))
}

/// dW[o, i] += dout[n, o]ᵀ · x[n, i]   and then   dx[n, i] = (or +=) dout[n, o] · W[o, i].
/// dW is formed first, so dx may overwrite x (the MLP backward reuses that buffer).
@inline(__always)
func linearBackward(dx: UnsafeMutablePointer<Float>?, dW: UnsafeMutablePointer<Float>,
                    dout: UnsafePointer<Float>, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                    rows n: Int, inputs i: Int, outputs o: Int, accumulateDx: Bool = false) {
    guard n > 0 else { return }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(o), Int32(i), Int32(n),
                1, dout, Int32(o), x, Int32(i), 1, dW, Int32(i))
    if let dx {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(i), Int32(o),
                    1, dout, Int32(o), w, Int32(i), accumulateDx ? 1 : 0, dx, Int32(i))
    }
}

/// Set OpenBLAS's thread count (ranks × threads should not exceed the cores).
public func setBLASThreads(_ n: Int) {
    openblas_set_num_threads(Int32(max(1, n)))
}

public func blasThreads() -> Int { Int(openblas_get_num_threads()) }

/// The layer kernels that benchmarks call from outside the module.
public enum GemmaKernels {
    /// out[n, o] = x[n, i] · W[o, i]ᵀ, exactly as the passes call it.
    public static func linear(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                              rows: Int, inputs: Int, outputs: Int) {
        linearForward(out, x, w, rows: rows, inputs: inputs, outputs: outputs)
    }
}
