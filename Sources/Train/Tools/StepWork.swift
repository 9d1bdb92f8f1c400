import Model

/// The matmul work of one training step, in FLOPs, as `ft-dist bench` counts it (docs/DESIGN.md,
/// "Speed"). A weight that is trained costs 6 FLOPs per row it sees (2 forward, 2 for the input
/// gradient, 2 for its own gradient); a frozen one 4 (no weight gradient is computed). Rows
/// through the blocks are tokens (or packed rows after prefix sharing); rows through the tied
/// head are label positions. Adapters count as trained weights over the frozen base.
public struct StepWork: Equatable {
    /// FLOPs per row through the blocks (every projection, norm vectors included).
    public var perBlockRow: Double
    /// FLOPs per label position through the tied head.
    public var perLabel: Double

    public init(config: GemmaConfig, method: TrainingMethod, trainedParameters: Int) {
        let embedding = Double(config.vocabSize * config.hidden)
        let blockWeights = Double(ParameterLayout(config: config).count) - embedding
        switch method {
        case .full:
            perBlockRow = 6 * blockWeights
            perLabel = 6 * embedding
        case .lora, .qlora:
            perBlockRow = 4 * blockWeights + 6 * Double(trainedParameters)
            perLabel = 4 * embedding
        }
    }

    /// FLOPs of a step whose blocks saw `blockRows` rows and whose head saw `labels` positions.
    public func flops(blockRows: Double, labels: Double) -> Double { perBlockRow * blockRows + perLabel * labels }
}
