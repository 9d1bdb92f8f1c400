import CBLAS
import Foundation

/// The tied output head with cross-entropy when E gets no gradient — LoRA and QLoRA training
/// passes, and every pass without a backward. Shapes: x [L, C] (final-normed hidden states),
/// E [V, C], logits [L, min(sliceRows, V)], dx [L, C]. Returns Σ cross-entropy over the L rows.
///
/// E is read in slices of `sliceRows` vocabulary rows, each slice once: its logits are
/// computed, folded into every row's running max m and Σ exp (an online softmax), and — with
/// a gradient — its share of softmax · E is added to dx while the slice is still in cache:
///   logits_s = x · E_sᵀ;  m' = max(m, max logits_s);  Σ and dx scaled by exp(m − m');
///   p = exp(logits_s − m');  Σ += Σ_j p;  dx += p · E_s
/// and at the end loss = m + log Σ − logit[target], dx = (dx / Σ − E[target]) · lossScale.
/// The same numbers as TiedHead.swift's two passes up to rounding (another summation order,
/// and the rescaling factors). Why: the
/// whole vocabulary's logits (1 MB per row) never exist, so these passes need no cap on their
/// label rows, and a quantized E is dequantized once per pass instead of once per product.
func frozenTiedHeadCrossEntropy(x: UnsafePointer<Float>, head: any TokenEmbedding, targets: [Int32],
                                logits: UnsafeMutablePointer<Float>, sliceRows: Int, vocab v: Int, width c: Int,
                                dx: UnsafeMutablePointer<Float>?, lossScale: Float) -> Double {
    let l = targets.count
    guard l > 0 else { return 0 }
    dx?.initialize(repeating: 0, count: l * c)
    var maxes = [Float](repeating: -.infinity, count: l)
    var sums = [Double](repeating: 0, count: l)
    var targetLogits = [Float](repeating: 0, count: l)
    maxes.withUnsafeMutableBufferPointer { maxes in
        sums.withUnsafeMutableBufferPointer { sums in
            targetLogits.withUnsafeMutableBufferPointer { targetLogits in
                for first in stride(from: 0, to: v, by: sliceRows) {
                    let count = min(sliceRows, v - first)
                    let e = head.fp32Rows(first, count: count)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(l), Int32(count), Int32(c),
                                1, x, Int32(c), e, Int32(c), 0, logits, Int32(count))
                    // rows are independent: spread them over the cores (BLAS is idle here)
                    parallelChunks(0..<l, chunk: 1) { r, _, _ in
                        let row = logits + r * count
                        let t = Int(targets[r]) - first
                        if t >= 0 && t < count { targetLogits[r] = row[t] }
                        let sliceMax = rowMax(row, count: count)
                        if sliceMax > maxes[r] {
                            // on the first slice Σ and dx are still zero: nothing to rescale
                            if maxes[r] > -.infinity {
                                let f = fastExp(maxes[r] - sliceMax)
                                sums[r] *= Double(f)
                                if let dx { scaleRow(dx + r * c, by: f, count: c) }
                            }
                            maxes[r] = sliceMax
                        }
                        sums[r] += expSum(row, count: count, shift: maxes[r], storingInto: dx == nil ? nil : row)
                    }
                    if let dx {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(l), Int32(c), Int32(count),
                                    1, logits, Int32(count), e, Int32(c), 1, dx, Int32(c))
                    }
                }
            }
        }
    }
    var total = 0.0
    for r in 0..<l { total += Double(maxes[r]) + log(sums[r]) - Double(targetLogits[r]) }
    if let dx {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: c) { target in
            for r in 0..<l {
                let row = dx + r * c
                scaleRow(row, by: Float(Double(lossScale) / sums[r]), count: c)
                head.embed(targets[r], scale: lossScale, into: target.baseAddress!)
                for j in 0..<c { row[j] -= target[j] }
            }
        }
    }
    return total
}

/// The number of vocabulary rows of E a frozen head reads at once: 8,192 × 640 floats (21 MB,
/// within the L3 cache) for the 270M model; 32 slices.
let frozenHeadSliceRows = 8192

private func scaleRow(_ row: UnsafeMutablePointer<Float>, by f: Float, count n: Int) {
    for j in 0..<n { row[j] *= f }
}
