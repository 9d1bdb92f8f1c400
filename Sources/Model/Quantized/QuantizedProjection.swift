import CBLAS
import ModelKernels

/// A frozen projection whose weight stays in ggml's quantized blocks — the GGUF's own bytes,
/// read through the file mapping: W [outputs, inputs], `rowBytes` per row. Decoding's few rows
/// and a prompt's 5–64 rows multiply rows dequantized in L1 (below; ColumnTileProducts.swift).
/// Larger forwards and the input gradient dequantize a chunk of rows at a time into scratch (at most 8 Mi floats, 32 MB:
/// a whole block projection, a twentieth of the tied head) and multiply it with sgemm; the
/// fp32 matrix never exists whole. Few, large chunks: every sgemm call synchronises BLAS's
/// threads, and hundreds of small ones cost more than their arithmetic. Dequantization gives
/// exactly the values the fp32 model holds, so the products differ from a DenseProjection's
/// only in summation order.
///   forward:   y[:, chunk] = x · W[chunk]ᵀ          (y [n, outputs], ldc = outputs)
///   backward:  dx += dy[:, chunk] · W[chunk]          (over the chunks; frozen: no dW)
public final class QuantizedProjection: TokenEmbedding, ColumnTileSource {
    public let type: GGMLType
    public let inputs: Int
    public let outputs: Int
    let blocks: UnsafeRawPointer
    let rowBytes: Int
    let rowsPerChunk: Int
    let scratch: GrowableBuffer

    /// `blocks`: the tensor's data (outputs rows of `inputs` elements in `type`'s blocks), which
    /// must outlive the projection; `scratch` may be shared by every projection of a model.
    /// `rowsPerChunk` (tests) overrides the chunk of at most 8 Mi floats.
    public init(type: GGMLType, blocks: UnsafeRawPointer, inputs: Int, outputs: Int, scratch: GrowableBuffer,
                rowsPerChunk: Int? = nil) {
        precondition(inputs % type.blockElements == 0, "a row must be whole blocks")
        self.type = type
        self.blocks = blocks
        self.inputs = inputs
        self.outputs = outputs
        rowBytes = type.byteCount(elements: inputs)!
        self.rowsPerChunk = max(1, min(outputs, rowsPerChunk ?? (1 << 23) / inputs))
        self.scratch = scratch
    }

    /// Rows [first, first + count) as fp32 into `w` [count, inputs], on the calling thread: the
    /// rows' blocks follow each other, so they are one run of blocks.
    private func dequantizeRows(_ first: Int, count: Int = 1, into w: UnsafeMutablePointer<Float>) {
        Dequantize.row(type: type, source: UnsafeRawBufferPointer(start: blocks + first * rowBytes, count: count * rowBytes),
                       count: count * inputs, into: w)
    }

    /// Rows [r0, r0 + count) as fp32 into `w` [count, inputs], over the cores.
    private func dequantize(rows r0: Int, count: Int, into w: UnsafeMutablePointer<Float>) {
        parallelChunks(0..<count, chunk: 32) { _, lo, hi in dequantizeRows(r0 + lo, count: hi - lo, into: w + lo * inputs) }
    }

    public func forward(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows n: Int) {
        guard n > 0 else { return }
        if n <= fewRowsLimit { return forwardFewRows(y, x, rows: n) }
        if usesColumnTiles(rows: n) { return columnTileProducts([(self, y)], x, rows: n) }
        scratch.reserve(rowsPerChunk * inputs)
        let w = scratch.pointer
        for r0 in stride(from: 0, to: outputs, by: rowsPerChunk) {
            let count = min(rowsPerChunk, outputs - r0)
            dequantize(rows: r0, count: count, into: w)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(count), Int32(inputs),
                        1, x, Int32(inputs), w, Int32(inputs), 0, y + r0, Int32(outputs))
        }
    }

    /// Decoding (few rows of x): each weight row is dequantized into a per-thread row buffer
    /// while it is in L1 and multiplied there with all n rows (as FewRowsLinear does for fp32);
    /// no chunk of fp32 weights goes through memory.
    private func forwardFewRows(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows n: Int) {
        let (inputs, outputs) = (self.inputs, self.outputs)
        if n == 1, hasVectorRowDots {
            hotParallelChunks(0..<outputs, chunk: fewRowsChunk(outputs: outputs)) { _, lo, hi in
                vectorRowDots(y, x, rows: lo..<hi)
            }
            return
        }
        hotParallelChunks(0..<outputs, chunk: fewRowsChunk(outputs: outputs)) { _, lo, hi in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: inputs) { row in
                let w = row.baseAddress!
                for r in lo..<hi {
                    dequantizeRows(r, into: w)
                    // the one dequantized row, as row 0 of a matrix whose outputs start at y + r
                    rowDots(y + r, outputs: outputs, x, n: n, w, inputs: inputs, rows: 0..<1)
                }
            }
        }
    }

    /// A prompt's rows (5–64): six rows at a time dequantized into the calling thread's buffer,
    /// in L1, and multiplied there (ColumnTileProducts.swift) — no chunk of fp32 weights goes
    /// through memory, and sgemm's packing pass is skipped.
    func tileRows(_ first: Int, count: Int, buffer: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        dequantizeRows(first, count: count, into: buffer)
        return UnsafePointer(buffer)
    }

    /// Whether `vectorRowDots` can serve a single row of x on this CPU.
    var hasVectorRowDots: Bool { type.vectorFormat != nil && VectorKernels.available }

    /// y[r] = W[r] · x for one row of x, r in `rows`, from the blocks (ModelKernels' BlockRowDots:
    /// the block scale applied once per block).
    func vectorRowDots(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Range<Int>) {
        VectorKernels.rowDots(type.vectorFormat!, y, blocks, rowBytes: rowBytes, x, inputs: inputs, rows: rows)
    }

    /// W[r] · x for one row of x: vectorRowDots' value of that row (each row's dot product is
    /// computed alone, so it is the same bits as in a whole forward).
    func vectorRowDot(row r: Int, _ x: UnsafePointer<Float>) -> Float {
        var y: Float = 0
        VectorKernels.rowDots(type.vectorFormat!, &y, blocks + r * rowBytes, rowBytes: rowBytes, x, inputs: inputs, rows: 0..<1)
        return y
    }

    public func backward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows n: Int,
                         accumulate: Bool, gradients: UnsafeMutablePointer<Float>) {
        guard n > 0 else { return }
        scratch.reserve(rowsPerChunk * inputs)
        let w = scratch.pointer
        for r0 in stride(from: 0, to: outputs, by: rowsPerChunk) {
            let count = min(rowsPerChunk, outputs - r0)
            dequantize(rows: r0, count: count, into: w)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(inputs), Int32(count),
                        1, dy + r0, Int32(outputs), w, Int32(inputs), r0 == 0 && !accumulate ? 0 : 1, dx, Int32(inputs))
        }
    }

    public func fp32Rows(_ first: Int, count: Int) -> UnsafePointer<Float> {
        scratch.reserve(count * inputs)
        dequantize(rows: first, count: count, into: scratch.pointer)
        return UnsafePointer(scratch.pointer)
    }

    public func embed(_ token: Int32, scale: Float, into dst: UnsafeMutablePointer<Float>) {
        dequantizeRows(Int(token), into: dst)
        for j in 0..<inputs { dst[j] *= scale }
    }
}
