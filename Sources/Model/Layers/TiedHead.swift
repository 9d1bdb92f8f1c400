import CBLAS
import Foundation

/// The tied output head with cross-entropy, evaluated only at the rows that carry a loss.
/// Shapes: x [L, C] (final-normed hidden states), E [V, C], logits [min(L, chunk), V].
/// Returns Σ cross-entropy over the L rows. With `gradient`, the logits are overwritten by
/// dlogits = (softmax − onehot) · lossScale, then dx = dlogits · E and, unless the embedding
/// is frozen (dE nil), dE += dlogitsᵀ · x.
/// Rows go through in chunks of `headChunkRows`: the logits buffer (1 MB per row) stays
/// bounded (128 rows: one chunk for every pass the trainer makes, see
/// LabelMaskedBatch.maxLabelsPerPass), at the price of one more accumulation pass over dE per
/// extra chunk (≈0.4 s, measured).
let headChunkRows = 128

/// Where the head's backward writes: dx [L, C] (overwritten), dE [V, C] (accumulated; nil when
/// the embedding is frozen), and the factor every dlogit carries (1 / global label count).
struct HeadGradient {
    var dx: UnsafeMutablePointer<Float>
    var dE: UnsafeMutablePointer<Float>?
    var lossScale: Float
}

func tiedHeadCrossEntropy(x: UnsafePointer<Float>, embedding e: UnsafePointer<Float>, targets: [Int32],
                          logits: UnsafeMutablePointer<Float>, vocab v: Int, width c: Int,
                          gradient: HeadGradient?) -> Double {
    var total = 0.0
    var start = 0
    while start < targets.count {
        let rows = min(headChunkRows, targets.count - start)
        let chunkGradient = gradient.map { HeadGradient(dx: $0.dx + start * c, dE: $0.dE, lossScale: $0.lossScale) }
        total += tiedHeadChunk(x: x + start * c, embedding: e, targets: targets[start..<(start + rows)], logits: logits,
                               vocab: v, width: c, gradient: chunkGradient)
        start += rows
    }
    return total
}

private func tiedHeadChunk(x: UnsafePointer<Float>, embedding e: UnsafePointer<Float>, targets: ArraySlice<Int32>,
                           logits: UnsafeMutablePointer<Float>, vocab v: Int, width c: Int,
                           gradient: HeadGradient?) -> Double {
    let l = targets.count
    let targetIDs = Array(targets)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(l), Int32(v), Int32(c),
                1, x, Int32(c), e, Int32(c), 0, logits, Int32(v))
    var losses = [Double](repeating: 0, count: l)
    losses.withUnsafeMutableBufferPointer { lossOut in
        let lossPtr = lossOut.baseAddress!
        // rows are independent: spread them over the cores (BLAS is idle here)
        parallelChunks(0..<l, chunk: 1) { r, _, _ in
            let row = logits + r * v
            let lse = logSumExp(row, count: v)
            let target = Int(targetIDs[r])
            lossPtr[r] = lse - Double(row[target])
            if let g = gradient {
                let shift = Float(lse)
                var j = 0
                while j + 8 <= v {
                    store8(exp8(load8(row + j) - shift) * g.lossScale, row + j)
                    j += 8
                }
                while j < v { row[j] = fastExp(row[j] - shift) * g.lossScale; j += 1 }
                row[target] -= g.lossScale
            }
        }
    }
    if let g = gradient {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(l), Int32(c), Int32(v),
                    1, logits, Int32(v), e, Int32(c), 0, g.dx, Int32(c))
        if let dE = g.dE {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(v), Int32(c), Int32(l),
                        1, logits, Int32(v), x, Int32(c), 1, dE, Int32(c))
        }
    }
    return losses.reduce(0, +)
}

/// log Σ exp(row[j]) with the max subtracted: 8-lane partial sums over blocks of 256,
/// accumulated in Double (262,144 terms).
func logSumExp(_ row: UnsafePointer<Float>, count n: Int) -> Double {
    var m8 = Float8(repeating: -.infinity)
    var j = 0
    while j + 8 <= n { m8 = max8(load8(row + j), m8); j += 8 }  // a NaN logit is skipped, as before
    var m = m8.max()
    while j < n { m = max(m, row[j]); j += 1 }
    var sum: Double = 0
    j = 0
    while j + 256 <= n {
        var s = Float8()
        for i in stride(from: j, to: j + 256, by: 8) { s += exp8(load8(row + i) - m) }
        sum += Double(s.sum())
        j += 256
    }
    while j < n { sum += Double(fastExp(row[j] - m)); j += 1 }
    return Double(m) + log(sum)
}

/// log Σ exp over one row of logits, for callers outside the module (scoring).
public func logSumExpRow(_ row: UnsafePointer<Float>, count: Int) -> Double { logSumExp(row, count: count) }
