/// What the adapters of one model share during a pass: whether dropout is on (training
/// passes only), the keys of its random masks, and the scratch of their small products.
///
/// Dropout masks are a pure function of (seed, step, layer, target, row key, column), where a
/// row's key is a hash of its sequence's tokens up to that row (`PackedLayout.rowKeys`). Rows
/// that prefix sharing computes once are exactly the rows with equal keys, so the masks — and
/// the trajectory — do not depend on how a batch is split between ranks or packed into passes;
/// the price is that sequences with a common prefix share its masks within a step. Nothing is
/// stored between forward and backward but each adapter's small u = x̃ Aᵀ: the backward
/// regenerates the masks (DropoutMask).
public final class AdapterPass {
    public let seed: UInt64
    /// Dropout applies (a training pass).
    public var training = false
    /// Counts passes (GemmaTrainingPass.run): an adapter keeps the u of a training forward for
    /// the backward of the same pass.
    var index = 0
    /// The optimizer step the pass belongs to (masks differ from step to step).
    public var step = 0
    /// One key per packed row (training passes).
    var rowKeys: UnsafePointer<UInt64>?
    let scratch = GrowableBuffer()
    /// Seconds spent in the adapters' own work — dropout and the rank-r products, not the
    /// base projections they wrap — since the training pass began (its `Timings.adapters`).
    var seconds = 0.0

    public init(seed: Int) { self.seed = UInt64(bitPattern: Int64(seed)) }

    /// The key of one adapter's masks in this pass.
    func maskKey(layer: Int, target: Int) -> UInt64 {
        CounterRandom.key(seed, 0xD50F, UInt64(step), UInt64(layer), UInt64(target))
    }
}
