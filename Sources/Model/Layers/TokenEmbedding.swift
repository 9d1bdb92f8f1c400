/// The tied embedding matrix E [vocab, hidden]: a projection from hidden states to logits (the
/// output head) that can also hand out one token's row (the input embedding). Dense fp32 and
/// quantized blocks both provide it.
public protocol TokenEmbedding: Projection {
    /// dst[0..<hidden] = E[token] · scale.
    func embed(_ token: Int32, scale: Float, into dst: UnsafeMutablePointer<Float>)

    /// E's rows [first, first + count) as fp32 [count, hidden], for reading the head in slices
    /// (FrozenTiedHead.swift): the weights themselves when dense, a copy dequantized into the
    /// shared scratch when quantized (valid until the next call that uses that scratch).
    func fp32Rows(_ first: Int, count: Int) -> UnsafePointer<Float>
}

extension DenseProjection: TokenEmbedding {
    public func embed(_ token: Int32, scale: Float, into dst: UnsafeMutablePointer<Float>) {
        let src = weight + Int(token) * inputs
        for j in 0..<inputs { dst[j] = src[j] * scale }
    }

    public func fp32Rows(_ first: Int, count: Int) -> UnsafePointer<Float> { weight + first * inputs }
}
