/// Told by the last backward pass of a step when parts of the gradient are final, so that
/// their exchange runs while the rest of the backward is computed (Train's overlapped
/// reduction). The stages are TrainableParameters.backwardStages: the head first, then the
/// layers from the last to the first.
///
/// The tied embedding's gradient is final but for a few rows once the head's backward ends:
/// the input-embedding rows of the batch's tokens are added only after layer 0. A listener
/// that sends the dense part away at stage 0 takes those rows in a buffer of its own.
public protocol BackwardProgress: AnyObject {
    /// `stage` of TrainableParameters.backwardStages will not be written again in this pass.
    func stageFinished(_ stage: Int)
    /// Where the input-embedding gradient of `token` goes (`hidden` floats, accumulated
    /// into) instead of the embedding's row in the gradient buffer.
    func embeddingRowGradient(token: Int32) -> UnsafeMutablePointer<Float>
}
