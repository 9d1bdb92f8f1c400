/// What a training run updates, as one value: the trainable tensors (names, shapes, offsets)
/// in one flat fp32 buffer, the gradient buffer laid out the same way, and which tensors of the
/// model receive gradients at all. The gradient exchange, clipping, AdamW, checkpoints, resume
/// and the replica checksum work on this value, never on the model's own layout.
///
/// Full fine-tuning is the first method: every tensor of the model is trained, and `values`
/// is the model's own parameter buffer (not a copy), so an update changes the model in place.
public final class TrainableParameters {
    public enum Method: String, Codable, Sendable, CaseIterable {
        /// Every weight of the model: embedding (tied head), projections, norms.
        case full
    }

    public let method: Method
    /// Name, shape and offset in `values` of each trainable tensor, in buffer order.
    public let tensors: [ParameterTensor]
    public let values: FloatBuffer
    /// ∂loss/∂values, same layout; the passes accumulate into it.
    public let gradients: FloatBuffer

    public var count: Int { values.count }

    /// Floats `method` trains on `model` (the size of the gradient buffer to provide).
    public static func count(_ method: Method, of model: GemmaModel) -> Int {
        switch method {
        case .full: return model.layout.count
        }
    }

    /// `gradients`: where the gradients go (the gradient exchange may hand out shared
    /// memory); a fresh buffer when nil.
    public init(_ method: Method, of model: GemmaModel, gradients: FloatBuffer? = nil) {
        self.method = method
        switch method {
        case .full:
            tensors = model.layout.tensors
            values = model.parameters
        }
        let count = Self.count(method, of: model)
        precondition(gradients.map { $0.count == count } ?? true, "gradient buffer of \(gradients!.count) floats for \(count) parameters")
        self.gradients = gradients ?? FloatBuffer(count: count)
    }

    /// Where the gradient of the model tensor stored at `offset` of the model's parameter
    /// buffer goes in `gradients`; nil when that tensor is frozen (its weight gradient is then
    /// never computed).
    public func gradientOffset(ofModelTensorAt offset: Int) -> Int? {
        switch method {
        case .full: return offset
        }
    }

    /// The ranges of `values` that take decoupled weight decay: every tensor but the norm
    /// weights (as the recipes we compare with do).
    public var decayRanges: [Range<Int>] {
        tensors.filter { !$0.isNorm }.map { $0.offset..<($0.offset + $0.count) }
    }
}
