/// A projection whose weight is a dense fp32 matrix W [outputs, inputs] (row-major, the layout
/// of nn.Linear.weight and of GGUF), read in place from the model's parameter buffer.
/// With a gradient offset, W is trained: backward adds dW = dyᵀ · x at that offset of the
/// gradient buffer. Without one, W is frozen and backward computes only dx — the dW sgemm
/// (a third of a layer's backward work) is skipped, not computed and thrown away.
public final class DenseProjection: Projection {
    public let weight: UnsafePointer<Float>
    public let inputs: Int
    public let outputs: Int
    /// Where dW goes in the trainable gradient buffer; nil: W is frozen.
    public let gradientOffset: Int?

    public init(weight: UnsafePointer<Float>, inputs: Int, outputs: Int, gradientOffset: Int? = nil) {
        self.weight = weight
        self.inputs = inputs
        self.outputs = outputs
        self.gradientOffset = gradientOffset
    }

    public func forward(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int) {
        linearForward(y, x, weight, rows: rows, inputs: inputs, outputs: outputs)
    }

    public func backward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int,
                         accumulate: Bool, gradients: UnsafeMutablePointer<Float>) {
        if let gradientOffset {
            linearWeightGradient(gradients + gradientOffset, dy: dy, x: x, rows: rows, inputs: inputs, outputs: outputs)
        }
        inputGradient(dx: dx, dy: dy, rows: rows, accumulate: accumulate)
    }

    /// dx[n, inputs] = (or += with `accumulate`) dy · W, without dW (a trained head whose dW
    /// travels as its factors, HeadGradientFactors).
    public func inputGradient(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, rows: Int, accumulate: Bool) {
        linearInputGradient(dx, dy: dy, w: weight, rows: rows, inputs: inputs, outputs: outputs, accumulate: accumulate)
    }
}
