import Distributed
import Foundation
import Model
import Report

/// Everything that defines a training run; written to the run directory at start, checked
/// to be identical on every rank, and stored with each checkpoint. The defaults below are the
/// recipe, spelled here only: the command line shows and applies `TrainingOptions.recipe`.
public struct TrainingOptions: Codable, Equatable {
    public var modelPath: String
    public var dataDir: String
    public var output: String
    /// What is trained: every weight, or LoRA adapters over an fp32 or a quantized base.
    public var method = TrainingMethod.full
    /// The adapters of `lora` and `qlora` (ignored by `full`).
    public var lora = LoRAConfig()
    public var epochs = 3
    public var batchSize = 16
    /// Peak learning rate (the command line defaults it by method, see TrainingMethod.defaultLR).
    public var lr = TrainingMethod.full.defaultLR
    public var scheduler = LearningRateSchedule.Kind.cosine
    public var warmupSteps = 0
    public var weightDecay = 0.0
    public var maxGradNorm = 1.0
    public var seed = 42
    /// Stop at this optimizer step, counted from the start of the run (a resumed run with the
    /// same flags finishes the same run, as transformers' max_steps); nil: the whole schedule.
    /// The learning-rate schedule spans all epochs either way.
    public var maxSteps: Int?
    public var promptTemplate = PromptTemplate.defaultTemplate
    public var saveSteps = 200
    public var keepCheckpoints = 2
    public var checkReplicasSteps = 50
    /// Validation every N steps (0: never).
    public var evalSteps = 0
    /// Stratified hold-out of train rows for validation (0: none; then `evalSamples` of test).
    public var holdout = 0
    /// Stratified subset of the test split used for monitoring only.
    public var evalSamples = 385
    /// Evaluate the whole test split at the end of training (rank 0 writes the report).
    public var finalEval = true
    public var evalMaxNewTokens = Evaluator.defaultMaxNewTokens
    /// Share the prompt prefix of a shard's examples in the forward/backward (exact).
    public var sharePrefix = true
    /// Ranks on one host reduce gradients through MPI-3 shared memory and each updates one
    /// slice of the parameters (exact; falls back to a plain all-reduce when unavailable).
    public var hostSharedMemory = true
    /// Cut each global batch between the ranks by estimated work (tokens through the blocks,
    /// labels through the head), not by count (exact: any cut gives the same gradient).
    public var balanceShards = true
    /// When each stage's gradients are reduced while the backward pass continues (with host
    /// shared memory; exact up to summation order: the input-embedding rows are summed apart,
    /// and with 3+ hosts the ring's segments fall elsewhere).
    public var overlap = OverlapMode.hosts
    /// How gradients travel between hosts: fp32 (exact) or bf16 (half the bytes, rounded at
    /// every hop of the ring, summed in fp32; like DDP's bf16_compress_hook).
    public var interHostDType = RingAllReduce.Wire.fp32

    public init(modelPath: String, dataDir: String, output: String) {
        self.modelPath = modelPath
        self.dataDir = dataDir
        self.output = output
    }

    /// The recipe: every default above, with the default run directory.
    public static let recipe = TrainingOptions(modelPath: "", dataDir: "", output: DefaultPaths.trainingRun)

    /// Fields added after a checkpoint was written take their defaults, so checkpoints of older
    /// versions still resume and evaluate (the synthesized decoder would reject them).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(modelPath: try c.decode(String.self, forKey: .modelPath), dataDir: try c.decode(String.self, forKey: .dataDir),
                  output: try c.decode(String.self, forKey: .output))
        func field<T: Decodable>(_ key: CodingKeys, _ value: inout T) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: key) { value = v }
        }
        try field(.method, &method); try field(.lora, &lora)
        try field(.epochs, &epochs); try field(.batchSize, &batchSize); try field(.lr, &lr)
        try field(.scheduler, &scheduler); try field(.warmupSteps, &warmupSteps); try field(.weightDecay, &weightDecay)
        try field(.maxGradNorm, &maxGradNorm); try field(.seed, &seed)
        maxSteps = try c.decodeIfPresent(Int.self, forKey: .maxSteps)
        try field(.promptTemplate, &promptTemplate); try field(.saveSteps, &saveSteps)
        try field(.keepCheckpoints, &keepCheckpoints); try field(.checkReplicasSteps, &checkReplicasSteps)
        try field(.evalSteps, &evalSteps); try field(.holdout, &holdout); try field(.evalSamples, &evalSamples)
        try field(.finalEval, &finalEval); try field(.evalMaxNewTokens, &evalMaxNewTokens)
        try field(.sharePrefix, &sharePrefix); try field(.hostSharedMemory, &hostSharedMemory)
        try field(.balanceShards, &balanceShards); try field(.overlap, &overlap)
        try field(.interHostDType, &interHostDType)
    }

    /// The fields that must agree for a resume to continue the same trajectory.
    public func trajectoryKey() -> String {
        (method == .full ? "" : "\(method)|\(lora)|") + "\(epochs)|\(batchSize)|\(lr)|\(scheduler)|\(warmupSteps)|\(weightDecay)|\(maxGradNorm)|\(seed)|\(promptTemplate)|\(holdout)"
    }

    /// Whether the run reads test.csv: for the final evaluation, or for validation rows when
    /// it validates without a hold-out.
    public var usesTestSplit: Bool { finalEval || (evalSteps > 0 && holdout == 0) }

    /// The flags of the trajectory in which these options differ from `run`'s (a checkpoint's),
    /// each as "--flag value (the run: value)": what resume names when it refuses.
    public func trajectoryDifferences(from run: TrainingOptions) -> [String] {
        var out: [String] = []
        func compare<T: Equatable>(_ flag: String, _ here: T, _ there: T, _ show: (T) -> String = { "\($0)" }) {
            if here != there { out.append("\(flag) \(show(here)) (the run: \(show(there)))") }
        }
        compare("--method", method, run.method) { $0.rawValue }
        if method != .full, run.method != .full {
            compare("--lora-rank", lora.rank, run.lora.rank)
            compare("--lora-alpha", lora.alpha, run.lora.alpha)
            compare("--lora-dropout", lora.dropout, run.lora.dropout)
            compare("--lora-targets", lora.targets, run.lora.targets) { $0.map(\.rawValue).joined(separator: ",") }
            compare("--rslora", lora.rsLoRA, run.lora.rsLoRA) { $0 ? "on" : "off" }
        }
        compare("--epochs", epochs, run.epochs)
        compare("--batch-size", batchSize, run.batchSize)
        compare("--lr", lr, run.lr)
        compare("--scheduler", scheduler, run.scheduler) { $0.rawValue }
        compare("--warmup-steps", warmupSteps, run.warmupSteps)
        compare("--weight-decay", weightDecay, run.weightDecay)
        compare("--max-grad-norm", maxGradNorm, run.maxGradNorm)
        compare("--seed", seed, run.seed)
        compare("--prompt-template", promptTemplate, run.promptTemplate) { "\"\($0)\"" }
        compare("--holdout", holdout, run.holdout)
        return out
    }

    public func validate() throws {
        func check(_ ok: Bool, _ message: String) throws { if !ok { throw MessageError.invalidArgument(message) } }
        // 10,000 epochs of Banking77 are 6 million steps; more is a typo, and step counts past
        // Int32 would overflow the schedule's arithmetic and the progress line
        try check(epochs >= 1 && epochs <= 10_000, "--epochs must be between 1 and 10000")
        try check(batchSize >= 1, "--batch-size must be at least 1")
        try check(lr > 0 && lr.isFinite, "--lr must be a positive number")
        try check(warmupSteps >= 0, "--warmup-steps must be 0 or more")
        try check(weightDecay >= 0 && weightDecay.isFinite, "--weight-decay must be a finite number, 0 or more")
        try check(maxGradNorm >= 0 && maxGradNorm.isFinite, "--max-grad-norm must be 0 (off) or more")
        try check(seed >= 0, "--seed must be 0 or more")
        try check(maxSteps.map { $0 >= 1 } ?? true, "--max-steps must be at least 1")
        try check(saveSteps >= 0, "--save-steps must be 0 (only at the end) or more")
        try check(keepCheckpoints >= 1, "--keep-checkpoints must be at least 1")
        try check(checkReplicasSteps >= 0, "--check-replicas-steps must be 0 (only at the end) or more")
        try check(evalSteps >= 0 && holdout >= 0 && evalSamples >= 0, "--eval-steps, --holdout and --eval-samples must be 0 or more")
        try check(evalMaxNewTokens >= 1, "--max-new-tokens must be at least 1")
        _ = try PromptTemplate(promptTemplate)
        if method != .full {
            try check(lora.rank >= 1, "--lora-rank must be at least 1")
            try check(lora.alpha > 0 && lora.alpha.isFinite, "--lora-alpha must be a positive number")
            try check(lora.dropout >= 0 && lora.dropout < 1, "--lora-dropout must be at least 0 and below 1")
            try check(!lora.targets.isEmpty, "--lora-targets names no projection")
        }
    }

    /// What the adapters would be wrong about on a model of shape `config` (nil: fine or full).
    public func adapterProblem(config: GemmaConfig) -> String? {
        method == .full ? nil : lora.problem(for: config)
    }
}
