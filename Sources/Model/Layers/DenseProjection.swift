import ModelKernels

/// A projection whose weight is a dense fp32 matrix W [outputs, inputs] (row-major, the layout
/// of nn.Linear.weight and of GGUF), read in place from the model's parameter buffer.
/// With a gradient offset, W is trained: backward adds dW = dyᵀ · x at that offset of the
/// gradient buffer. Without one, W is frozen and backward computes only dx — the dW sgemm
/// (a third of a layer's backward work) is skipped, not computed and thrown away.
public final class DenseProjection: Projection, ColumnTileSource {
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

    /// A prompt's rows (5–64) go through column tiles (ColumnTileProducts.swift), fewer and
    /// more through linearForward (streamed rows; sgemm).
    public func forward(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int) {
        if usesColumnTiles(rows: rows) { return columnTileProducts([(self, y)], x, rows: rows) }
        linearForward(y, x, weight, rows: rows, inputs: inputs, outputs: outputs)
    }

    /// W's rows in place; a short last group copied into `buffer` (reading six rows from
    /// `first` would run past W).
    func tileRows(_ first: Int, count: Int, buffer: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        if count == columnTileRows { return weight + first * inputs }
        buffer.update(from: weight + first * inputs, count: count * inputs)
        return UnsafePointer(buffer)
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
