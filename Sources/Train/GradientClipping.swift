import Foundation
import Model

/// Global L2 norm of the gradient (Double accumulation, threaded) and the coefficient that
/// clips it to `maxNorm`, as torch.nn.utils.clip_grad_norm_: min(1, maxNorm / (norm + 1e-6)).
public enum GradientClipping {
    public static func globalNorm(_ g: FloatBuffer) -> Double {
        let partial = parallelChunkResults(g.count, initial: 0.0) { _, lo, hi -> Double in
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
            return total
        }
        return partial.reduce(0, +).squareRoot()
    }

    public static func coefficient(norm: Double, maxNorm: Double) -> Float {
        guard maxNorm > 0 else { return 1 }
        return Float(min(1, maxNorm / (norm + 1e-6)))
    }
}
