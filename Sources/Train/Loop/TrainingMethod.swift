import Model

/// The three techniques of the series, on the same task with everything else held fixed.
public enum TrainingMethod: String, Codable, CaseIterable, Sendable {
    /// Every weight of the fp32 model.
    case full
    /// Low-rank adapters over the frozen fp32 base.
    case lora
    /// Low-rank adapters over a frozen base kept in the GGUF's quantized blocks.
    case qlora

    /// What the run's TrainableParameters are.
    public var trainable: TrainableParameters.Method { self == .full ? .full : .lora }

    /// The peak learning rate when --lr is not given: the recipe's 5e-5 for full fine-tuning;
    /// 2e-4 for adapters over a frozen base (peft's and the QLoRA paper's value for small models).
    public var defaultLR: Double { self == .full ? 5e-5 : 2e-4 }
}
