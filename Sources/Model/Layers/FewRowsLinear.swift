import ModelKernels

// y[n, o] = x[n, i] · W[o, i]ᵀ for a few rows of x: what decoding asks of every projection
// (one row per running sequence). There the product is bound by reading W, not by arithmetic:
// OpenBLAS 0.3.21's sgemm first copies W into its packed layout (two more passes over 1.07 GB
// per token) and its sgemv reaches half the memory bandwidth. Here each weight row is read
// from memory once, into L1, and multiplied there with all n rows of x (n × 2.5 KB, resident
// in L1/L2). Output rows are split over the cores (hotParallelChunks: workers kept awake
// between the regions of a token); each output is one dot product summed in a fixed order,
// so the result does not depend on the core count.

/// Few enough rows that streaming W beats sgemm. Measured on this machine (2 threads, W
/// streamed from memory, one layer's five projection shapes / the 262,144 × 640 head):
/// 1 row 0.94 vs 1.43 ms / 21 vs 63 ms; 2 rows 1.09 vs 1.71 / 22 vs 68; 4 rows 1.74 vs 1.98 /
/// 52 vs 76; 8 rows 3.32 vs 1.98 / 90 vs 76 — from about 5 rows on the arithmetic, done here
/// without FMA (the build targets baseline x86-64), outweighs sgemm's extra pass over W.
let fewRowsLimit = 4

/// Output rows per parallel chunk: enough work per thread hand-off (64 rows × 640 inputs is
/// 160 KB of W), and several chunks per core even for a 640-row projection. Large matrices
/// (the 262,144-row head) take chunks of up to 512 rows: fewer hand-offs, measured 20.8 ms
/// instead of 21.8–23.2 for the head at 1 row, while 64 stays best for a layer's projections.
let fewRowsChunk = 64

@inline(__always)
func fewRowsChunk(outputs: Int) -> Int { min(512, max(fewRowsChunk, outputs / 256)) }

/// y[n, o] = x[n, i] · W[o, i]ᵀ, n ≤ fewRowsLimit, by streaming W once (see above).
func linearForwardFewRows(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                          rows n: Int, inputs i: Int, outputs o: Int) {
    hotParallelChunks(0..<o, chunk: fewRowsChunk(outputs: o)) { _, lo, hi in
        rowDots(y, outputs: o, x, n: n, w, inputs: i, rows: lo..<hi)
    }
}

/// y_j[n, o_j] = x[n, i] · W_jᵀ for several projections of the same x (q, k and v; gate and
/// up), n ≤ fewRowsLimit: their rows are split over the cores as one list (`stackedRowChunks`).
func linearForwardFewRows(_ projections: [(y: UnsafeMutablePointer<Float>, w: UnsafePointer<Float>, outputs: Int)],
                          _ x: UnsafePointer<Float>, rows n: Int, inputs i: Int) {
    stackedRowChunks(projections.map(\.outputs)) { j, rows in
        let p = projections[j]
        rowDots(p.y, outputs: p.outputs, x, n: n, p.w, inputs: i, rows: rows)
    }
}

/// The output rows of several projections that read the same x, stacked as one list and split
/// over the cores in chunks, so the cores are handed work once instead of once per projection
/// (a hand-off costs about as much as streaming a 256-row projection): body(j, rows) for each
/// piece of projection j's rows a chunk holds. `chunk`: rows per chunk (default fewRowsChunk's).
func stackedRowChunks(_ outputs: [Int], chunk: Int? = nil, _ body: (_ projection: Int, _ rows: Range<Int>) -> Void) {
    var starts: [Int] = [], total = 0
    for o in outputs { starts.append(total); total += o }
    hotParallelChunks(0..<total, chunk: chunk ?? fewRowsChunk(outputs: total)) { _, lo, hi in
        for (j, start) in starts.enumerated() where start < hi && start + outputs[j] > lo {
            body(j, max(lo, start) - start..<min(hi, start + outputs[j]) - start)
        }
    }
}

/// y[s · o + r] = W[r] · x[s] for r in `rows`, s < n (W [·, i], x [n, i]; W's rows `rowStride`
/// floats apart, packed by default): ModelKernels' loop when the CPU has its instructions, else
/// the same dot products built here.
@inline(__always)
func rowDots(_ y: UnsafeMutablePointer<Float>, outputs o: Int, _ x: UnsafePointer<Float>, n: Int,
             _ w: UnsafePointer<Float>, inputs i: Int, rowStride: Int? = nil, rows: Range<Int>) {
    let stride = rowStride ?? i
    if VectorKernels.available { return VectorKernels.rowDots(y, outputs: o, x, n: n, w, inputs: i, rowStride: stride, rows: rows) }
    for r in rows {
        let row = w + r * stride
        for s in 0..<n { y[s * o + r] = dot(row, x + s * i, count: i) }
    }
}

/// Σ a[k]·b[k] in four 8-lane partial sums (independent additions keep the adders busy),
/// combined in a fixed order. ModelKernels' RowDot.swift holds the same loop built for AVX2,
/// used when the CPU has it; this copy, built for baseline x86-64, is the fallback, and the
/// two give the same bits (VectorKernelsTests).
@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var s0 = Float8(), s1 = Float8(), s2 = Float8(), s3 = Float8()
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
