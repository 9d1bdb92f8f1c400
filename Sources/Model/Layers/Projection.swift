/// A bias-free linear map of rows, y[n, out] = x[n, in] · Wᵀ: how the Gemma block computes
/// every one of its seven projections (q, k, v, o, gate, up, down). The block calls only these
/// two functions, so a new way of storing or adapting W — a frozen quantized base, a low-rank
/// adapter over it — is written once, as a new conforming type, and serves generation and
/// training alike.
public protocol Projection: AnyObject {
    var inputs: Int { get }
    var outputs: Int { get }

    /// y[n, outputs] = x[n, inputs] · Wᵀ (y is overwritten).
    func forward(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int)

    /// Backward of `forward` for the same x and the gradient dy[n, outputs]:
    ///   1. the gradients of whatever this projection trains are added into `gradients` (the
    ///      flat gradient buffer of the TrainableParameters; a frozen projection adds nothing
    ///      and computes nothing for it);
    ///   2. dx[n, inputs] = (or += with `accumulate`) dy · W.
    /// Step 1 reads x before step 2 writes dx, so dx may be x's own buffer.
    func backward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int,
                  accumulate: Bool, gradients: UnsafeMutablePointer<Float>)
}

/// y_j = x · W_jᵀ for projections that read the same x (q, k, v; gate, up). Decoding's few
/// rows over dense weights go through the cores as one list (FewRowsLinear.swift), and so do
/// the six-row groups of a prompt's column tiles over dense or quantized weights, after one
/// transposition of x (ColumnTileProducts.swift); anything else is each projection's own forward.
func projectSharingInput(_ x: UnsafePointer<Float>, _ outputs: [(projection: any Projection, y: UnsafeMutablePointer<Float>)], rows n: Int) {
    let dense = outputs.compactMap { $0.projection as? DenseProjection }
    let quantized = outputs.compactMap { $0.projection as? QuantizedProjection }
    let tileSources = outputs.compactMap { $0.projection as? any ColumnTileSource }
    if n <= fewRowsLimit, n > 0, dense.count == outputs.count, dense.allSatisfy({ $0.inputs == dense[0].inputs }) {
        linearForwardFewRows(zip(dense, outputs).map { ($1.y, $0.weight, $0.outputs) }, x, rows: n, inputs: dense[0].inputs)
    } else if n == 1, quantized.count == outputs.count, quantized.allSatisfy(\.hasVectorRowDots) {
        quantizedRowDots(zip(quantized, outputs).map { ($0, $1.y) }, x)
    } else if usesColumnTiles(rows: n), tileSources.count == outputs.count,
              tileSources.allSatisfy({ $0.inputs == tileSources[0].inputs }) {
        columnTileProducts(zip(tileSources, outputs).map { ($0, $1.y) }, x, rows: n)
    } else {
        for o in outputs { o.projection.forward(o.y, x, rows: n) }
    }
}

/// y_j = x · W_jᵀ for one row of x and several quantized projections: their rows split over
/// the cores as one list (`stackedRowChunks`), as for dense weights.
func quantizedRowDots(_ projections: [(projection: QuantizedProjection, y: UnsafeMutablePointer<Float>)],
                      _ x: UnsafePointer<Float>) {
    stackedRowChunks(projections.map(\.projection.outputs)) { j, rows in
        projections[j].projection.vectorRowDots(projections[j].y, x, rows: rows)
    }
}
