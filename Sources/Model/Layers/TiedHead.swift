import CBLAS
import Foundation

/// The tied output head with cross-entropy, evaluated only at the rows that carry a loss —
/// here for a head that is trained (full fine-tuning's backward: dE needs every row's whole
/// softmax; a frozen head reads E in slices instead, FrozenTiedHead.swift).
/// Shapes: x [L, C] (final-normed hidden states), E [V, C] (the head: a projection C → V),
/// logits [min(L, chunk), V]. Returns Σ cross-entropy over the L rows. With `gradient`, the
/// logits are overwritten by dlogits = (softmax − onehot) · lossScale, then the head's backward
/// gives dx = dlogits · E and, when the embedding is trained, adds dE += dlogitsᵀ · x (or hands
/// dlogits and x to HeadGradientFactors instead).
/// Rows go through in chunks of `headChunkRows`: the logits buffer (1 MB per row) stays
/// bounded (128 rows: one chunk for every pass the trainer makes, see
/// LabelMaskedBatch.maxLabelsPerPass), at the price of one more accumulation pass over dE per
/// extra chunk (≈0.4 s, measured).
let headChunkRows = 128

/// Where the head's backward writes: dx [L, C] (overwritten), the trainable gradients (dE
/// when the embedding is trained), and the factor every dlogit carries (1 / global label count).
/// With `factors`, dE is not added: its factors dlogits and x go there instead.
struct HeadGradient {
    var dx: UnsafeMutablePointer<Float>
    var gradients: UnsafeMutablePointer<Float>
    var lossScale: Float
    var factors: HeadGradientFactors? = nil
}

func tiedHeadCrossEntropy(x: UnsafePointer<Float>, head: any Projection, targets: [Int32],
                          logits: UnsafeMutablePointer<Float>, vocab v: Int, width c: Int,
                          gradient: HeadGradient?) -> Double {
    var total = 0.0
    var start = 0
    while start < targets.count {
        let rows = min(headChunkRows, targets.count - start)
        let chunkGradient = gradient.map { HeadGradient(dx: $0.dx + start * c, gradients: $0.gradients, lossScale: $0.lossScale,
                                                                  factors: $0.factors) }
        total += tiedHeadChunk(x: x + start * c, head: head, targets: targets[start..<(start + rows)], logits: logits,
                               vocab: v, width: c, gradient: chunkGradient)
        start += rows
    }
    return total
}

private func tiedHeadChunk(x: UnsafePointer<Float>, head: any Projection, targets: ArraySlice<Int32>,
                           logits: UnsafeMutablePointer<Float>, vocab v: Int, width c: Int,
                           gradient: HeadGradient?) -> Double {
    let l = targets.count
    let targetIDs = Array(targets)
    head.forward(logits, x, rows: l)
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
        if let factors = g.factors {
            guard let dense = head as? DenseProjection else { preconditionFailure("a trained head is a DenseProjection") }
            factors.append(dlogits: logits, x: x, rows: l)
            dense.inputGradient(dx: g.dx, dy: logits, rows: l, accumulate: false)
        } else {
            head.backward(dx: g.dx, dy: logits, x: x, rows: l, accumulate: false, gradients: g.gradients)
        }
    }
    return losses.reduce(0, +)
}

/// log Σ exp(row[j]) with the max subtracted: 8-lane partial sums over blocks of 256,
/// accumulated in Double (262,144 terms).
func logSumExp(_ row: UnsafePointer<Float>, count n: Int) -> Double {
    let m = rowMax(row, count: n)
    return Double(m) + log(expSum(row, count: n, shift: m))
}

/// The largest of `count` values (a NaN is skipped).
func rowMax(_ row: UnsafePointer<Float>, count n: Int) -> Float {
    var m8 = Float8(repeating: -.infinity)
    var j = 0
    while j + 8 <= n { m8 = max8(load8(row + j), m8); j += 8 }
    var m = m8.max()
    while j < n { m = max(m, row[j]); j += 1 }
    return m
}

/// Σ exp(row[j] − shift): 8-lane partial sums over blocks of 256, accumulated in Double. With
/// `store`, each exp(row[j] − shift) is also written to store[j] (it may be `row` itself).
func expSum(_ row: UnsafePointer<Float>, count n: Int, shift: Float, storingInto store: UnsafeMutablePointer<Float>? = nil) -> Double {
    var sum: Double = 0
    var j = 0
    while j < n {
        let blockEnd = min(j + 256, n)
        var s = Float8()
        while j + 8 <= blockEnd {
            let p = exp8(load8(row + j) - shift)
            if let store { store8(p, store + j) }
            s += p
            j += 8
        }
        var tail: Float = 0
        while j < blockEnd {
            let p = fastExp(row[j] - shift)
            store?[j] = p
            tail += p
            j += 1
        }
        sum += Double(s.sum()) + Double(tail)
    }
    return sum
}

/// log Σ exp over one row of logits, for callers outside the module (scoring).
public func logSumExpRow(_ row: UnsafePointer<Float>, count: Int) -> Double { logSumExp(row, count: count) }
