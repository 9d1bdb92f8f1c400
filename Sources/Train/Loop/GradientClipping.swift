import Foundation
import Model

/// Global L2 norm of the gradient (Double accumulation, threaded) and the coefficient that
/// clips it to `maxNorm`, as torch.nn.utils.clip_grad_norm_: min(1, maxNorm / (norm + 1e-6)).
public enum GradientClipping {
    public static func globalNorm(_ g: FloatBuffer, chunk: Int = 1 << 20) -> Double {
        chunkSquares(g, chunk: chunk, chunks: 0..<((g.count + chunk - 1) / chunk)).reduce(0, +).squareRoot()
    }

    /// Sum of squares of each `chunk`-sized piece of `g` in `chunks` (chunk indices), in order.
    /// Combining the same per-chunk values in the same order gives the same norm bit for bit,
    /// whichever rank computed which chunk.
    static func chunkSquares(_ g: FloatBuffer, chunk: Int, chunks: Range<Int>) -> [Double] {
        var results = [Double](repeating: 0, count: chunks.count)
        results.withUnsafeMutableBufferPointer { out in
            let o = out.baseAddress!
            parallelChunks(0..<chunks.count, chunk: 1) { k, _, _ in
                let lo = (chunks.lowerBound + k) * chunk, hi = min(lo + chunk, g.count)
                // 8-lane Float partial sums over 4 Ki elements, totals in Double
                var total: Double = 0
                var i = lo
                while i < hi {
                    let end = min(i + 4096, hi)
                    var s = Float8()
                    while i + 8 <= end { let x = Float8.load(g.pointer + i); s += x * x; i += 8 }
                    var tail: Float = 0
                    while i < end { tail += g.pointer[i] * g.pointer[i]; i += 1 }
                    total += Double(s.sum()) + Double(tail)
                }
                o[k] = total
            }
        }
        return results
    }

    public static func coefficient(norm: Double, maxNorm: Double) -> Float {
        guard maxNorm > 0 else { return 1 }
        return Float(min(1, maxNorm / (norm + 1e-6)))
    }
}
