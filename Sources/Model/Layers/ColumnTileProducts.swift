import Foundation
import ModelKernels

// y[n, o] = x[n, i] · W[o, i]ᵀ for a prompt's rows (more than decoding's few, at most 64):
// ModelKernels' ColumnTiles.swift multiplies six rows of W at a time, in L1, with x transposed
// to columns. x is transposed once per call and shared by every projection that reads it
// (q, k, v; gate, up); the six-row groups of all of them are split over the cores as one list.
// W's rows come from a `ColumnTileSource`: a dense matrix in place, quantized blocks
// dequantized into a per-thread six-row buffer — so a quantized model's prompt never sends
// fp32 weights through memory either.

/// Most rows of x for which column tiles beat sgemm: the tiles read W once but keep all of x's
/// columns in L2 (64 × 2048 inputs × 4 B = 512 KB for down_proj); from there on sgemm's
/// packing costs less than it saves.
let columnTilesLimit = 64

/// Inputs per piece of the transposition that the cores share (a multiple of 8).
private let transposeInputs = 128

/// Whether a product with n rows of x goes through column tiles on this CPU.
@inline(__always)
func usesColumnTiles(rows n: Int) -> Bool { n > fewRowsLimit && n <= columnTilesLimit && VectorKernels.available }

/// Where column tiles read W's rows from.
protocol ColumnTileSource: AnyObject {
    var inputs: Int { get }
    var outputs: Int { get }
    /// W's rows first ..< first + count (count ≤ columnTileRows) as fp32 rows of `inputs`,
    /// followed by readable memory up to `columnTileRows` rows (their products are dropped):
    /// the weights in place, or written into `buffer` [columnTileRows, inputs] and returned.
    func tileRows(_ first: Int, count: Int, buffer: UnsafeMutablePointer<Float>) -> UnsafePointer<Float>
}

/// xᵀ for the call in progress: one buffer, grown to the largest x seen (512 KB at most), taken
/// under a lock so that concurrent callers (tests, several models) do not share it.
private let transposedLock = NSLock()
private let transposedScratch = GrowableBuffer()

/// y_j[n, o_j] = x[n, i] · W_jᵀ for sources that all have i inputs; usesColumnTiles(rows: n).
func columnTileProducts(_ products: [(source: any ColumnTileSource, y: UnsafeMutablePointer<Float>)],
                        _ x: UnsafePointer<Float>, rows n: Int) {
    let inputs = products[0].source.inputs
    precondition(products.allSatisfy { $0.source.inputs == inputs }, "column tiles of one x need the same inputs")
    let columns = VectorKernels.transposedColumns(rows: n)
    transposedLock.lock()
    defer { transposedLock.unlock() }
    transposedScratch.reserve(inputs * columns)
    let xT = transposedScratch.pointer
    // over the cores too: on one, it was 3% of a 40-token prompt while the other core waited
    hotParallelChunks(0..<(inputs + transposeInputs - 1) / transposeInputs, chunk: 1) { _, piece, _ in
        VectorKernels.transpose(x, rows: n, inputs: inputs, into: xT, columns: columns,
                                inputRange: piece * transposeInputs..<min((piece + 1) * transposeInputs, inputs))
    }
    let groups = products.map { ($0.source.outputs + columnTileRows - 1) / columnTileRows }
    // 8 groups (48 rows of W) per chunk: a 640-row projection is 14 chunks, enough to even out two cores.
    stackedRowChunks(groups, chunk: 8) { j, groupRange in
        let (source, y) = products[j]
        withUnsafeTemporaryAllocation(of: Float.self, capacity: columnTileRows * inputs) { storage in
            let buffer = storage.baseAddress!
            for g in groupRange {
                let first = g * columnTileRows, count = min(columnTileRows, source.outputs - first)
                // a short last group: the rows past W's end are read (their sums dropped), so they must be set
                if count < columnTileRows {
                    (buffer + count * inputs).initialize(repeating: 0, count: (columnTileRows - count) * inputs)
                }
                let w = source.tileRows(first, count: count, buffer: buffer)
                VectorKernels.rowsTimesColumns(y + first, outputs: source.outputs, w, count: count,
                                               xT, columns: columns, rows: n, inputs: inputs)
            }
        }
    }
}
