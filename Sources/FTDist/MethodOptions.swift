import ArgumentParser
import Model
import Train

/// What is trained — full fine-tuning, LoRA or QLoRA — and the adapters' shape. Shared by
/// `train` and `bench`, so the benchmark times the method training runs.
struct MethodOptions: ParsableArguments {
    private static let adapter = LoRAConfig()

    @Option(help: "What is trained: full (every weight, fp32), lora (low-rank adapters over the frozen fp32 base) or qlora (adapters over a base kept in the GGUF's quantized blocks).")
    var method = TrainingOptions.recipe.method.rawValue
    @Option(help: "LoRA rank r (lora, qlora; default \(adapter.rank)).") var loraRank: Int?
    @Option(help: "LoRA alpha: the adapter's output is scaled by alpha/r (alpha/√r with --rslora; default \(String(format: "%g", adapter.alpha))).")
    var loraAlpha: Double?
    @Option(help: "Dropout on the adapters' input during training (0 ≤ p < 1; default \(adapter.dropout)).") var loraDropout: Double?
    @Option(help: "The projections that get adapters, as peft's target_modules (HF names; default \(adapter.targets.map(\.rawValue).joined(separator: ","))).")
    var loraTargets: String?
    @Flag(help: "rsLoRA: scale by alpha/√r instead of alpha/r.") var rslora = false

    func validate() throws {
        guard let m = TrainingMethod(rawValue: method) else { throw ValidationError("--method must be full, lora or qlora") }
        if m == .full && (loraRank != nil || loraAlpha != nil || loraDropout != nil || loraTargets != nil || rslora) {
            throw ValidationError("--lora-rank, --lora-alpha, --lora-dropout, --lora-targets and --rslora shape the adapters of --method lora or qlora; --method full trains every weight")
        }
        if let loraTargets, case .failure(let bad) = LoRAConfig.targets(loraTargets) {
            throw ValidationError("--lora-targets: \(bad.name) is none of \(LoRAConfig.Target.allCases.map(\.rawValue).joined(separator: ","))")
        }
    }

    func apply(to o: inout TrainingOptions) {
        o.method = TrainingMethod(rawValue: method)!
        let targets = loraTargets.map { (try? LoRAConfig.targets($0).get()) ?? [] } ?? Self.adapter.targets
        o.lora = LoRAConfig(rank: loraRank ?? Self.adapter.rank, alpha: loraAlpha ?? Self.adapter.alpha,
                            dropout: loraDropout ?? Self.adapter.dropout, targets: targets, rsLoRA: rslora)
    }
}
