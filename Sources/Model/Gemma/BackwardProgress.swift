/// Where a backward pass puts the input-embedding rows of the tied embedding's gradient
/// (`hidden` floats per token, accumulated into) instead of the embedding's row in the
/// gradient buffer: an exchange that sends the rest of that gradient before the rows exist
/// (after the head's backward, before layer 0's) reduces them apart.
public protocol EmbeddingRowSink: AnyObject {
    func embeddingRowGradient(token: Int32) -> UnsafeMutablePointer<Float>
}

/// Told by the last backward pass of a step when parts of the gradient are final, so that
/// their exchange runs while the rest of the backward is computed (Train's overlapped
/// reduction). The stages are TrainableParameters.backwardStages: the head first, then the
/// layers from the last to the first.
///
/// The tied embedding's gradient is final but for a few rows once the head's backward ends:
/// the input-embedding rows of the batch's tokens are added only after layer 0. A listener
/// that sends the dense part away at stage 0 takes those rows in a buffer of its own.
public protocol BackwardProgress: EmbeddingRowSink {
    /// `stage` of TrainableParameters.backwardStages will not be written again in this pass.
    func stageFinished(_ stage: Int)
}

/// Takes a trained head's gradient as its two factors instead of their product, from every
/// pass of a step. dE = dlogitsᵀ · x has the rank of the pass's label rows (≈112 per global
/// batch against a vocabulary of 262,144 × 640): the rows of dlogits [L, V] and x [L, C] are
/// 4% of the 168M floats of dE, so an exchange between hosts sends them and multiplies on
/// arrival. The head then computes only dx, and the input-embedding rows of every pass go to
/// `embeddingRowGradient`: the dense embedding region of the gradient buffer is left as it
/// was (zero).
public protocol HeadGradientFactors: EmbeddingRowSink {
    /// Rows of this pass's dlogits (already scaled by the loss factor) and of the head's input.
    func append(dlogits: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int)
}
