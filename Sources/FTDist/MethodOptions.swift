import ArgumentParser
import Model
import Train

/// What is trained — full fine-tuning, LoRA or QLoRA — and the adapters' shape. Shared by
/// `train` and `bench`, so the benchmark times the method training runs.
struct MethodOptions: ParsableArguments {
    private static let adapter = LoRAConfig()

    @Option(help: "What is trained: full (every weight, fp32), lora (low-rank adapters over the frozen fp32 base) or qlora (adapters over a base kept in the GGUF's quantized blocks).")
    var method = TrainingOptions.recipe.method.rawValue
    @Option(help: "LoRA rank r (lora, qlora).") var loraRank = adapter.rank
    @Option(help: "LoRA alpha: the adapter's output is scaled by alpha/r (alpha/√r with --rslora).") var loraAlpha = adapter.alpha
    @Option(help: "Dropout on the adapters' input during training (0 ≤ p < 1).") var loraDropout = adapter.dropout
    @Option(help: "The projections that get adapters, as peft's target_modules (HF names).")
    var loraTargets = adapter.targets.map(\.rawValue).joined(separator: ",")
    @Flag(help: "rsLoRA: scale by alpha/√r instead of alpha/r.") var rslora = false

    func validate() throws {
        guard TrainingMethod(rawValue: method) != nil else { throw ValidationError("--method must be full, lora or qlora") }
        if case .failure(let bad) = LoRAConfig.targets(loraTargets) {
            throw ValidationError("--lora-targets: \(bad.name) is none of \(LoRAConfig.Target.allCases.map(\.rawValue).joined(separator: ","))")
        }
    }

    func apply(to o: inout TrainingOptions) {
        o.method = TrainingMethod(rawValue: method)!
        let targets = (try? LoRAConfig.targets(loraTargets).get()) ?? []
        o.lora = LoRAConfig(rank: loraRank, alpha: loraAlpha, dropout: loraDropout, targets: targets, rsLoRA: rslora)
    }
}
