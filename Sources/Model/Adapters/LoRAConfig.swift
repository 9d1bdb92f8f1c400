/// The low-rank adapters of a LoRA (or QLoRA) run, as peft's LoraConfig describes them:
/// every targeted projection W [out, in] computes W x + s · B (A dropout(x)) with A [r, in],
/// B [out, r] and s = alpha / r (rsLoRA: alpha / √r).
public struct LoRAConfig: Codable, Equatable, Sendable {
    /// The projections an adapter can wrap, by their HF module names (peft's target_modules).
    public enum Target: String, Codable, CaseIterable, Sendable {
        case q = "q_proj", k = "k_proj", v = "v_proj", o = "o_proj"
        case gate = "gate_proj", up = "up_proj", down = "down_proj"

        /// The submodule of a decoder layer that holds it (HF naming).
        public var module: String {
            switch self {
            case .q, .k, .v, .o: return "self_attn"
            case .gate, .up, .down: return "mlp"
            }
        }

        /// llama.cpp's tensor name within `blk.N.`.
        public var ggufName: String {
            switch self {
            case .q: return "attn_q"
            case .k: return "attn_k"
            case .v: return "attn_v"
            case .o: return "attn_output"
            case .gate: return "ffn_gate"
            case .up: return "ffn_up"
            case .down: return "ffn_down"
            }
        }

        /// (inputs, outputs) of the projection in a model of this shape.
        public func shape(_ c: GemmaConfig) -> (inputs: Int, outputs: Int) {
            switch self {
            case .q: return (c.hidden, c.qDim)
            case .k, .v: return (c.hidden, c.kvDim)
            case .o: return (c.qDim, c.hidden)
            case .gate, .up: return (c.hidden, c.intermediate)
            case .down: return (c.intermediate, c.hidden)
            }
        }
    }

    public var rank: Int
    public var alpha: Double
    public var dropout: Double
    /// In the order of `Target.allCases` (the order of the tensors in the adapter buffer).
    public var targets: [Target]
    public var rsLoRA: Bool

    /// The recipe's adapter: rank 16, alpha 32, dropout 0.05, all seven projections.
    public init(rank: Int = 16, alpha: Double = 32, dropout: Double = 0.05, targets: [Target] = Target.allCases,
                rsLoRA: Bool = false) {
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.targets = Target.allCases.filter(targets.contains)
        self.rsLoRA = rsLoRA
    }

    /// The factor of the adapter's output: alpha / r, or alpha / √r with rsLoRA.
    public var scale: Float { Float(rsLoRA ? alpha / Double(rank).squareRoot() : alpha / Double(rank)) }

    /// Parse peft-style target names ("q_proj,k_proj,…"); a failure names the first unknown one.
    public static func targets(_ names: String) -> Result<[Target], InvalidTarget> {
        var out: [Target] = []
        for part in names.split(separator: ",") {
            let name = String(part.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
            guard !name.isEmpty else { continue }
            guard let t = Target(rawValue: name) else { return .failure(InvalidTarget(name: name)) }
            if !out.contains(t) { out.append(t) }
        }
        return .success(out)
    }

    public struct InvalidTarget: Error { public var name: String }

    /// Why this adapter does not fit a model of shape `c` (nil when it does).
    public func problem(for c: GemmaConfig) -> String? {
        if targets.isEmpty { return "--lora-targets names no projection (choose among \(Target.allCases.map(\.rawValue).joined(separator: ",")))" }
        let smallest = targets.map { min($0.shape(c).inputs, $0.shape(c).outputs) }.min()!
        if rank < 1 || rank > smallest {
            return "--lora-rank \(rank) must be between 1 and \(smallest), the smallest dimension of the targeted projections"
        }
        if !(alpha > 0 && alpha.isFinite) { return "--lora-alpha must be a positive number" }
        if !(scale.isFinite && scale > 0) { return "--lora-alpha \(alpha) gives the scale \(scale) (alpha / r), out of fp32's range" }
        if !(dropout >= 0 && dropout < 1) { return "--lora-dropout must be at least 0 and below 1" }
        if let odd = targets.first(where: { $0.shape(c).inputs % 8 != 0 }) {
            return "the adapter kernels need projection inputs divisible by 8; \(odd.rawValue) has \(odd.shape(c).inputs)"
        }
        return nil
    }
}
