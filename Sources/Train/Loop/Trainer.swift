import Distributed
import Foundation
import Model
import Report

/// The data-parallel training loop. Every rank holds a full replica; each global batch is
/// split into contiguous shards; each rank's loss is its shard's cross-entropy sum divided by
/// the *global* label count, so the summed gradient is exactly the single-process one.
public final class Trainer {
    public let options: TrainingOptions
    /// The base weights (trained in place by full fine-tuning, frozen under adapters).
    public let base: GemmaBase
    public var config: GemmaConfig { base.config }
    public let data: TrainingData
    public let comm: Communicator
    /// What this run trains: its values, gradients and layout (full fine-tuning: the model's
    /// own parameters).
    public let trainable: TrainableParameters
    /// The all-reduce (or host-shared reduction) of the gradients and, with it, which slice of
    /// the trainable values this rank's AdamW updates.
    public let exchange: GradientExchange
    public var gradients: FloatBuffer { trainable.gradients }
    public let optimizer: AdamW
    public let schedule: LearningRateSchedule
    public private(set) var plan: BatchPlan
    /// Optimizer steps completed so far (the next step's 0-based index).
    public private(set) var completedSteps = 0
    public private(set) var history: [StepRecord] = []
    /// The forward/backward of a shard; its weights serve validation too.
    public let pass: GemmaTrainingPass
    /// The matmul work per block row and per label: what the ranks' shares are balanced on.
    let work: StepWork
    /// Asked at every step: does this rank want the run to stop (a signal arrived)?
    public var localStopRequested: () -> Bool = { false }
    /// Set when any rank asked to stop during the last step; all ranks agree on it, so they
    /// all leave the loop after the same step.
    public private(set) var stopAgreed = false

    /// `baseRecord`: the base file's record taken at load (adapter checkpoints store it);
    /// computed from `options.modelPath` when first needed if not given.
    public init(options: TrainingOptions, base: GemmaBase, data: TrainingData, comm: Communicator,
                baseRecord: BaseModelRecord? = nil, tokenizerFiles: HFTokenizerFiles? = nil) throws {
        baseRecordCache = baseRecord
        tokenizerFilesCache = tokenizerFiles
        try options.validate()
        if let problem = options.adapterProblem(config: base.config) { throw MessageError.invalidArgument(problem) }
        // checked before the first step, not at the first evaluation
        if options.evalMaxNewTokens >= base.config.contextLength {
            throw MessageError.invalidArgument("--max-new-tokens \(options.evalMaxNewTokens) leaves no room for a prompt in the model's context of \(base.config.contextLength) tokens")
        }
        guard options.batchSize <= data.train.count else {
            throw MessageError.invalidArgument("--batch-size \(options.batchSize) is larger than the \(data.train.count) training examples")
        }
        self.options = options
        self.base = base
        self.data = data
        self.comm = comm
        // the exchange owns the gradient memory (host-shared when it can), the trainable set lays it out
        switch options.method {
        case .full:
            guard let model = base as? GemmaModel else { throw MessageError("full fine-tuning needs the fp32 model, not a quantized base") }
            exchange = try GradientExchange(count: TrainableParameters.count(.full, of: model), comm: comm,
                                            hostSharedMemory: options.hostSharedMemory,
                                            interHostWire: options.interHostDType)
            trainable = TrainableParameters(.full, of: model, gradients: exchange.gradients)
        case .lora, .qlora:
            exchange = try GradientExchange(count: TrainableParameters.count(lora: options.lora, config: base.config), comm: comm,
                                            hostSharedMemory: options.hostSharedMemory,
                                            interHostWire: options.interHostDType)
            trainable = TrainableParameters(lora: options.lora, config: base.config, seed: options.seed, gradients: exchange.gradients)
        }
        exchange.overlapWithBackward(trainable, mode: options.overlap)
        optimizer = AdamW(for: trainable, weightDecay: Float(options.weightDecay))
        plan = try BatchPlan(exampleCount: data.train.count, globalBatchSize: options.batchSize, epochs: options.epochs,
                             seed: options.seed)
        schedule = LearningRateSchedule(kind: options.scheduler, baseLR: options.lr, warmupSteps: options.warmupSteps,
                                        totalSteps: plan.totalSteps)
        pass = GemmaTrainingPass(weights: base.weights(trainable: trainable, seed: options.seed), sharePrefix: options.sharePrefix)
        work = StepWork(config: base.config, method: options.method, trainedParameters: trainable.count)
    }

    public var totalSteps: Int { plan.totalSteps }

    /// The base model file's record (path, sha256), read once when first needed: adapter
    /// checkpoints store it and resume compares it.
    public func baseRecord() throws -> BaseModelRecord {
        if let baseRecordCache { return baseRecordCache }
        let record = try BaseModelRecord(file: options.modelPath)
        baseRecordCache = record
        return record
    }
    private var baseRecordCache: BaseModelRecord?

    /// The tokenizer files a full checkpoint carries (so transformers and llama.cpp's
    /// converter read the directory alone): given at load, else made from the base when first
    /// needed; nil (with a warning, the checkpoint is still written) when the base is gone.
    public func hfTokenizerFiles() -> HFTokenizerFiles? {
        if let tokenizerFilesCache { return tokenizerFilesCache }
        do {
            let files = try HFTokenizerFiles(vocabulary: ModelFile(path: options.modelPath).vocabulary())
            tokenizerFilesCache = files
            return files
        } catch {
            FileHandle.standardError.write(Data("ft-dist: warning: checkpoint written without tokenizer files: \(error)\n".utf8))
            return nil
        }
    }
    private var tokenizerFilesCache: HFTokenizerFiles?

    /// The step this invocation stops at: `--max-steps` (an absolute step, as transformers'
    /// max_steps, so a resumed run finishes the same run) or the end of the schedule.
    public var endStep: Int { min(totalSteps, options.maxSteps ?? totalSteps) }

    /// Continue from a checkpoint's position (the moments and values are restored by the caller).
    public func restore(completedSteps: Int, history: [StepRecord]) {
        self.completedSteps = completedSteps
        self.history = history
        optimizer.restore(step: completedSteps)
    }

    /// One optimizer step on the next global batch of the plan.
    @discardableResult
    public func step() throws -> StepRecord {
        let rows = try plan.globalBatch(step: completedSteps)
        return try step(rows: rows)
    }

    /// One optimizer step on the given global batch (0-based indices into `data.train`).
    @discardableResult
    public func step(rows: [Int]) throws -> StepRecord {
        let start = Date()
        let examples = rows.map { data.train[$0] }
        let globalLabels = examples.reduce(0) { $0 + $1.ids.count - $1.promptLength }
        let shards = try self.shards(of: examples)
        let mine = shards[comm.rank]
        gradients.zero()
        pass.step = completedSteps
        // every rank's label rows — the head's rows of its shard — lay out the head's factors
        let labelRows = exchange.headGradientFactors == nil ? []
            : shards.map { LabelMaskedBatch($0.map { examples[$0] }).labelCount }
        exchange.beginStep(tokens: examples.flatMap(\.ids), labelRows: labelRows)
        // gradients accumulate over the passes of a shard; one pass unless the shard is long;
        // the last one reports its backward stages to the exchange (when it overlaps)
        var lossSum = 0.0, packedRows = 0
        var timings = GemmaTrainingPass.Timings()
        // a frozen head's logits need no label cap (FrozenTiedHead.swift)
        let labelCap = pass.trainsHead ? LabelMaskedBatch.maxLabelsPerPass : nil
        let parts = LabelMaskedBatch(mine.map { examples[$0] }).memoryBoundedPasses(maxLabels: labelCap)
        for (i, part) in parts.enumerated() {
            let r = pass.run(part, lossScale: 1 / Float(max(globalLabels, 1)), backward: true,
                             progress: i == parts.count - 1 ? exchange.backwardProgress : nil,
                             headFactors: exchange.headGradientFactors)
            lossSum += r.lossSum
            packedRows += r.packedRows
            timings = timings + r.timings
        }
        let afterBackward = Date()
        try exchange.reduce()
        // the loss, the stop requests and every rank's compute time ride on one small all-reduce
        var totals = [lossSum, localStopRequested() ? 1 : 0] + [Double](repeating: 0, count: comm.size)
        totals[2 + comm.rank] = afterBackward.timeIntervalSince(start)
        try comm.allReduceSum(&totals)
        stopAgreed = totals[1] > 0
        // the steps start together (the last one ended in collectives), so the slowest rank's
        // compute time beyond this rank's is how long this rank waited for it
        let waitSeconds = max(0, (totals[2...].max() ?? 0) - totals[2 + comm.rank])
        let afterReduce = Date()

        let norm = try exchange.globalNorm()
        let afterNorm = Date()
        guard norm.isFinite else {
            throw MessageError("step \(completedSteps + 1): the gradient norm is not finite (\(norm)); stopping before the weights are damaged")
        }
        let coefficient = GradientClipping.coefficient(norm: norm, maxNorm: options.maxGradNorm)
        let lr = schedule.lr(step: completedSteps)
        optimizer.update(trainable, lr: Float(lr), gradScale: coefficient, range: exchange.ownedRange,
                         publish: exchange.publishTarget)
        let afterUpdate = Date()
        try exchange.shareUpdatedValues(of: trainable)
        let end = Date()

        completedSteps += 1
        let record = StepRecord(step: completedSteps, epoch: plan.epoch(ofStep: completedSteps - 1),
                                loss: totals[0] / Double(max(globalLabels, 1)), gradNorm: norm, lr: lr,
                                tokens: examples.reduce(0) { $0 + $1.ids.count }, labelTokens: globalLabels,
                                packedRows: packedRows, seconds: end.timeIntervalSince(start),
                                forwardSeconds: timings.forward, headSeconds: timings.head, backwardSeconds: timings.backward,
                                allReduceSeconds: afterReduce.timeIntervalSince(afterBackward) + end.timeIntervalSince(afterUpdate),
                                optimizerSeconds: afterUpdate.timeIntervalSince(afterReduce),
                                rssBytes: ResourceUsage.currentRSSBytes(),
                                rows: rows.map { data.train[$0].row }, gradNormSeconds: afterNorm.timeIntervalSince(afterReduce),
                                waitSeconds: waitSeconds,
                                adapterSeconds: options.method == .full ? nil : timings.adapters)
        history.append(record)
        return record
    }

    /// Every rank's examples of a global batch (indices into it), in rank order: shares of
    /// about equal work (`BatchPlan.balancedShards` over StepWork's cost of each example: its
    /// rows through the blocks beyond the prompt prefix all of them share, and its labels
    /// through the head), or with --no-balance-shards the contiguous parts of equal count.
    private func shards(of examples: [TokenizedExample]) throws -> [[Int]] {
        guard options.balanceShards, comm.size > 1 else {
            return try (0..<comm.size).map { Array(try BatchPlan.shardRange(count: examples.count, rank: $0, size: comm.size)) }
        }
        let shared = options.sharePrefix ? commonPrefixLength(examples.map(\.ids), limit: examples.map(\.ids.count).min() ?? 0) : 0
        let costs = examples.map { e in
            work.flops(blockRows: Double(e.ids.count - shared), labels: Double(e.ids.count - e.promptLength))
        }
        return try BatchPlan.balancedShards(costs: costs, size: comm.size)
    }

    /// Mean teacher-forced cross-entropy of the label tokens of `examples` (no update);
    /// the ranks split the examples and all-reduce the sums. Passes obey the same row cap as
    /// training steps (no label cap: without a backward the head is read in slices).
    public func evaluationLoss(_ examples: [TokenizedExample], batchSize: Int = 16) throws -> Double {
        let mine = try BatchPlan.shardRange(count: examples.count, rank: comm.rank, size: comm.size)
        var sums = [0.0, 0.0]
        var start = mine.lowerBound
        while start < mine.upperBound {
            let end = min(start + batchSize, mine.upperBound)
            for part in LabelMaskedBatch(Array(examples[start..<end])).memoryBoundedPasses(maxLabels: nil) {
                let r = pass.run(part, lossScale: 1, backward: false)
                sums[0] += r.lossSum
                sums[1] += Double(r.labelCount)
            }
            start = end
        }
        try comm.allReduceSum(&sums)
        return sums[0] / max(sums[1], 1)
    }
}
