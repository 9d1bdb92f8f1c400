import Foundation
import Model
import Report

/// Greedy generation of an intent for each of many messages — what `eval`, training's
/// validation and `predict` all do. Every prompt starts with the same template text
/// (`<bos>Classify the banking customer message … Message:`): the prompts' common leading
/// tokens are computed once, and each sequence continues from a copy of that KV cache, so
/// only the message and `\nIntent:` are read per example. The common part is found on the
/// token ids themselves, not assumed from the template text, so it is exact whatever the
/// tokenizer does at the boundary. The rest goes in batches of `batchSize` sequences, packed
/// into one matrix product per layer, with the early stop of the Evaluator.
struct IntentGeneration {
    let inference: GemmaInference
    let tokenizer: Tokenizer
    let template: PromptTemplate
    var batchSize = Evaluator.defaultBatchSize
    var maxNewTokens = Evaluator.defaultMaxNewTokens
    /// Stop a sequence once its text is no prefix of any of these (nil: generate to <eos>).
    var validPrefixes: Set<String>?
    /// Compute the common leading tokens once (off: every prompt whole, for comparisons).
    var sharePrefix = true
    /// Asked before each batch: true ends the generation there, with the outputs so far.
    var shouldStop: (() -> Bool)?
    /// How a message is named in an error (its place in the input).
    var name: (Int) -> String = { "message \($0 + 1)" }

    /// Every prefix of every name (the empty one included), for `validPrefixes`.
    static func prefixes(of names: some Sequence<String>) -> Set<String> {
        Set(names.flatMap { name in (0...name.count).map { String(name.prefix($0)) } })
    }

    /// The generated ids for each text, in order (fewer when `shouldStop` ended it early).
    /// `onBatch(first, outputs)` after each batch with the index of its first text and its outputs.
    func generate(_ texts: [String], onBatch: ((Int, [[Int32]]) -> Void)? = nil) throws -> [[Int32]] {
        let prompts = texts.map { template.promptIDs(for: $0, with: tokenizer) }
        // one message too long for the context is named before any work, not found mid-batch
        for (i, p) in prompts.enumerated() {
            if let e = inference.contextExceeded(promptTokens: p.count, maxNewTokens: maxNewTokens) {
                throw MessageError("\(name(i)): its prompt has \(p.count) tokens, and with up to \(maxNewTokens) generated ones that exceeds the model's context of \(e.context) tokens: shorten the message")
            }
        }
        // the common leading tokens, computed once (each prompt keeps at least its last token,
        // whose logits choose the first generated token)
        let shared = sharePrefix && prompts.count > 1 ? Self.commonPrefixLength(prompts) : 0
        let prefix = shared > 0 ? try inference.prefixCache(Array(prompts[0].prefix(shared))) : nil
        let stopEarly: ((Int, [Int32]) -> Bool)? = validPrefixes.map { valid in
            { _, ids in !valid.contains(Prediction.normalizedLabel(tokenizer.decode(ids))) }
        }
        var outputs: [[Int32]] = []
        var start = 0
        while start < prompts.count, shouldStop?() != true {
            let batch = prompts[start..<min(start + batchSize, prompts.count)].map { Array($0.dropFirst(shared)) }
            let batchOutputs = try inference.generateGreedy(batch, maxNewTokens: maxNewTokens, stopToken: tokenizer.eos,
                                                            prefix: prefix, stopEarly: stopEarly)
            onBatch?(start, batchOutputs)
            outputs += batchOutputs
            start += batch.count
        }
        return outputs
    }

    /// The number of leading tokens all prompts share, at most the shortest length − 1.
    static func commonPrefixLength(_ prompts: [[Int32]]) -> Int {
        Model.commonPrefixLength(prompts, limit: (prompts.map(\.count).min() ?? 0) - 1)
    }
}
