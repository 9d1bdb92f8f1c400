/// The base weights of a model, whatever stores them: fp32 (GemmaModel) or the GGUF's
/// quantized blocks (QuantizedGemma). The passes see them only as GemmaWeights.
public protocol GemmaBase: AnyObject {
    var config: GemmaConfig { get }
    /// The weights as the passes read them; `trainable` adds gradients (full) or adapters
    /// (LoRA, their dropout keyed by `seed`).
    func weights(trainable: TrainableParameters?, seed: Int) -> GemmaWeights
}

extension GemmaModel: GemmaBase {
    public func weights(trainable: TrainableParameters?, seed: Int) -> GemmaWeights {
        GemmaWeights(model: self, trainable: trainable, seed: seed)
    }
}
