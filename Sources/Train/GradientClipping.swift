import Foundation
import Model

/// Global L2 norm of the gradient (Double accumulation, threaded) and the coefficient that
/// clips it to `maxNorm`, as torch.nn.utils.clip_grad_norm_: min(1, maxNorm / (norm + 1e-6)).
public enum GradientClipping {
    public static func globalNorm(_ g: FloatBuffer) -> Double {
        let chunk = 1 << 20
        let chunks = (g.count + chunk - 1) / chunk
        var partial = [Double](repeating: 0, count: chunks)
        partial.withUnsafeMutableBufferPointer { out in
            let o = out.baseAddress!
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let lo = c * chunk, hi = min(lo + chunk, g.count)
                var s: Float = 0, total: Double = 0
                var i = lo
                while i < hi {  // Float partial sums over 4 Ki elements keep the loop vectorised
                    let end = min(i + 4096, hi)
                    s = 0
                    for j in i..<end { s += g.pointer[j] * g.pointer[j] }
                    total += Double(s)
                    i = end
                }
                o[c] = total
            }
        }
        return partial.reduce(0, +).squareRoot()
    }

    public static func coefficient(norm: Double, maxNorm: Double) -> Float {
        guard maxNorm > 0 else { return 1 }
        return Float(min(1, maxNorm / (norm + 1e-6)))
    }
}
