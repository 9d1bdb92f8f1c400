import Distributed
import Foundation
import Model
import Report

/// Generative evaluation: greedy decoding of each prompt with a KV cache, several examples
/// at a time after the prompts' common prefix, computed once (IntentGeneration). A
/// prediction is correct when the generated text (leading space dropped) is the intent
/// name. Under MPI the ranks take contiguous slices and rank 0 gathers the predictions.
public struct Evaluator {
    /// The weights generation runs on (a model, a base with adapters).
    public let weights: GemmaWeights
    public let tokenizer: Tokenizer
    public let template: PromptTemplate
    public let comm: Communicator
    /// Every valid label (for the early stop); the gold labels are always included.
    public var intentNames: [String] = []
    /// Sequences decoded together on a rank, and the longest generation: the evaluation's
    /// defaults, for training's validation and for `ft-dist eval` and `predict` alike.
    /// 256, not 64: a batch's decoding ends with a tail of steps for its few longest outputs,
    /// each streaming all the weights (1.07 GB) for a handful of rows; 256 makes a quarter as
    /// many such tails (the 1,540 rows of one rank's test share: 276 decode steps → 88). The
    /// test split at np=2 went 160.6 → 153.8 s on this machine, one core's 1,540 rows 161.7 →
    /// 149.0–156.1 s (128: 164.6; 512: 171.3, its prompts' packed rows outgrow the caches),
    /// quantized weights 69.8 → 64.4 s on 768 rows; the predictions the same bytes.
    public static let defaultBatchSize = 256
    /// The most sequences decoded together: a decode step holds 1 MB of logits per sequence.
    public static let maxBatchSize = 1024
    public static let defaultMaxNewTokens = 24
    public var batchSize = defaultBatchSize
    public var maxNewTokens = defaultMaxNewTokens
    /// Stop a generation as soon as its text is no prefix of any intent name: it can only be
    /// an invalid output from then on, so accuracy and every metric are unchanged, but the
    /// stored generation is cut there (off: the full generation up to <eos> or the limit).
    public var stopWhenNoIntentCanFollow = true
    /// Compute the prompts' common leading tokens (the template's prefix) once per rank and
    /// continue every example from it; off: each prompt whole (slower; the same predictions
    /// up to fp32 rounding — identical on all 3,080 test rows, measured).
    public var sharePromptPrefix = true

    /// Asked by every rank before each of its batches (training sets it to its stop signal):
    /// once it says true on any rank, `predict` throws `EvaluationStopped` on every rank.
    public var shouldStop: (() -> Bool)?

    public init(weights: GemmaWeights, tokenizer: Tokenizer, template: PromptTemplate, comm: Communicator) {
        self.weights = weights
        self.tokenizer = tokenizer
        self.template = template
        self.comm = comm
    }

    /// Predictions for all examples in order on rank 0 (nil on the other ranks).
    /// `progress(done, total)` is called on rank 0 after each of its batches (its own share).
    public func predict(_ examples: [LabeledText], progress: ((Int, Int) -> Void)? = nil) throws -> [Prediction]? {
        let mine = try BatchPlan.shardRange(count: examples.count, rank: comm.rank, size: comm.size)
        var generation = IntentGeneration(inference: GemmaInference(weights: weights), tokenizer: tokenizer, template: template)
        generation.batchSize = batchSize
        generation.maxNewTokens = maxNewTokens
        generation.sharePrefix = sharePromptPrefix
        if stopWhenNoIntentCanFollow {
            generation.validPrefixes = IntentGeneration.prefixes(of: Set(examples.map(\.intent)).union(intentNames))
        }
        let shard = Array(examples[mine])
        generation.name = { i in shard[i].line.map { "the example on line \($0)" } ?? "example \(shard[i].row + 1)" }
        generation.shouldStop = shouldStop
        let outputs = try generation.generate(shard.map(\.text)) { first, batch in progress?(first + batch.count, mine.count) }
        // every rank reaches this agreement, stopped early or not, so none waits in the gather
        if shouldStop != nil {
            var stopped = [outputs.count < shard.count ? 1.0 : 0]
            try comm.allReduceSum(&stopped)
            if stopped[0] > 0 { throw EvaluationStopped() }
        }
        let predictions = zip(shard, outputs).map { example, ids in
            Prediction(text: example.text, gold: example.intent, generated: tokenizer.decode(ids))
        }
        let parts = try comm.gather(try JSONEncoder().encode(predictions).map { $0 }, root: 0)
        guard let parts else { return nil }
        return try parts.flatMap { try JSONDecoder().decode([Prediction].self, from: Data($0)) }
    }
}

/// A stop request ended an evaluation before every example was generated (Evaluator.shouldStop).
public struct EvaluationStopped: Error {}
