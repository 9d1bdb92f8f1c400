import CBLAS
import Foundation

/// The tied output head with cross-entropy, evaluated only at the rows that carry a loss.
/// Shapes: x [L, C] (final-normed hidden states), E [V, C], logits [L, V].
/// Returns Σ cross-entropy over the L rows. With `gradient`, the logits are overwritten by
/// dlogits = (softmax − onehot) · lossScale, then dx = dlogits · E and dE += dlogitsᵀ · x.
func tiedHeadCrossEntropy(x: UnsafePointer<Float>, embedding e: UnsafePointer<Float>, targets: [Int32],
                          logits: UnsafeMutablePointer<Float>, vocab v: Int, width c: Int,
                          gradient: (dx: UnsafeMutablePointer<Float>, dE: UnsafeMutablePointer<Float>, lossScale: Float)?) -> Double {
    let l = targets.count
    guard l > 0 else { return 0 }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(l), Int32(v), Int32(c),
                1, x, Int32(c), e, Int32(c), 0, logits, Int32(v))
    var losses = [Double](repeating: 0, count: l)
    losses.withUnsafeMutableBufferPointer { lossOut in
        let lossPtr = lossOut.baseAddress!
        // rows are independent: spread them over the cores (BLAS is idle here)
        DispatchQueue.concurrentPerform(iterations: l) { r in
            let row = logits + r * v
            let lse = logSumExp(row, count: v)
            let target = Int(targets[r])
            lossPtr[r] = lse - Double(row[target])
            if let g = gradient {
                let shift = Float(lse)
                for j in 0..<v { row[j] = expf(row[j] - shift) * g.lossScale }
                row[target] -= g.lossScale
            }
        }
    }
    if let g = gradient {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(l), Int32(c), Int32(v),
                    1, logits, Int32(v), e, Int32(c), 0, g.dx, Int32(c))
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(v), Int32(c), Int32(l),
                    1, logits, Int32(v), x, Int32(c), 1, g.dE, Int32(c))
    }
    return losses.reduce(0, +)
}

/// log Σ exp(row[j]) with the max subtracted; the sum accumulates in Double.
@inline(__always)
func logSumExp(_ row: UnsafePointer<Float>, count n: Int) -> Double {
    var m = -Float.infinity
    for j in 0..<n { m = max(m, row[j]) }
    var sum: Double = 0
    var j = 0
    // partial sums in Float blocks keep the loop vectorizable, Double keeps the total exact enough
    while j < n {
        let end = min(j + 256, n)
        var s: Float = 0
        for i in j..<end { s += expf(row[i] - m) }
        sum += Double(s)
        j = end
    }
    return Double(m) + log(sum)
}
