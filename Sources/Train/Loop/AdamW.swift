import Foundation
import Model

/// AdamW with PyTorch's semantics (torch.optim.AdamW, non-fused): decoupled weight decay
/// p ← p·(1 − lr·wd) (skipped for norm weights), m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g²,
/// p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε), over the trainable parameters only (a frozen
/// weight has no moments). Moments are one flat buffer each, laid out like the trainable
/// values, so a step is one threaded pass over them (two with weight decay).
public final class AdamW {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var eps: Float = 1e-8
    public var weightDecay: Float
    public private(set) var step = 0
    public let m: FloatBuffer
    public let v: FloatBuffer
    /// Ranges of the flat buffer that take weight decay (everything but the norms).
    private let decayRanges: [Range<Int>]

    public init(for trainable: TrainableParameters, weightDecay: Float = 0) {
        self.weightDecay = weightDecay
        m = FloatBuffer(count: trainable.count)
        v = FloatBuffer(count: trainable.count)
        decayRanges = trainable.decayRanges
    }

    /// Restore the step count (moments are restored by copying into m and v).
    public func restore(step: Int) { self.step = step }

    /// One update with learning rate `lr`; gradients are multiplied by `gradScale` on the fly
    /// (the clipping coefficient), which saves a separate pass over the 1 GB gradient.
    /// `range` limits the update to one slice of the flat buffers (the slice a rank owns when
    /// the ranks of a host split the optimizer work); the moments outside it are left alone.
    /// `publish`, when given, also receives the new parameters at the same offsets (the
    /// host-shared exchange passes the spent gradient buffer, which saves a copy pass).
    public func update(_ trainable: TrainableParameters, lr: Float, gradScale: Float = 1,
                       range: Range<Int>? = nil, publish: UnsafeMutablePointer<Float>? = nil) {
        let p = trainable.values, g = trainable.gradients
        precondition(p.count == m.count, "AdamW made for \(m.count) parameters, given \(p.count)")
        let range = range ?? 0..<p.count
        step += 1
        let bc1 = 1 - pow(Double(beta1), Double(step))
        let bc2 = 1 - pow(Double(beta2), Double(step))
        let stepSize = Float(Double(lr) / bc1)
        let bc2Sqrt = Float(bc2.squareRoot())
        let (b1, b2, eps) = (beta1, beta2, eps)
        if weightDecay != 0 {
            let keep = 1 - lr * weightDecay
            for r in decayRanges where r.overlaps(range) { parallelChunks(r.clamped(to: range)) { _, lo, hi in for i in lo..<hi { p.pointer[i] *= keep } } }
        }
        let pp = p.pointer, gp = g.pointer, mp = m.pointer, vp = v.pointer
        // one pass, 8 lanes at a time: the update is bound by memory traffic (7 floats per parameter)
        @inline(__always) func lanes(_ g: Float8, _ m: Float8, _ v: Float8, _ p: Float8) -> (Float8, Float8, Float8) {
            let grad = g * gradScale
            let mi = m + (grad - m) * (1 - b1)
            let vi = v * b2 + (1 - b2) * grad * grad
            return (mi, vi, p - stepSize * mi / (sqrt8(vi) / bc2Sqrt + eps))
        }
        parallelChunks(range) { _, lo, hi in
            var i = lo
            while i + 8 <= hi {
                let (mi, vi, pi) = lanes(Float8.load(gp + i), Float8.load(mp + i), Float8.load(vp + i), Float8.load(pp + i))
                mi.store(mp + i); vi.store(vp + i); pi.store(pp + i)
                if let publish { pi.store(publish + i) }
                i += 8
            }
            while i < hi {
                let (mi, vi, pi) = lanes(Float8(repeating: gp[i]), Float8(repeating: mp[i]), Float8(repeating: vp[i]), Float8(repeating: pp[i]))
                mp[i] = mi[0]; vp[i] = vi[0]; pp[i] = pi[0]
                publish?[i] = pi[0]
                i += 1
            }
        }
    }
}
