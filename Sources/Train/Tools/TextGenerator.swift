import Foundation
import Model

/// `ft-dist generate`: greedy continuation of a prompt, streamed token by token.
public struct TextGenerator {
    public let weights: GemmaWeights
    public let tokenizer: Tokenizer

    let inference: GemmaInference

    /// Seconds spent loading the model and tokenizer, and warming up.
    public let loadSeconds: Double

    /// Loads the model and runs one token through it (as llama.cpp's warm-up does), so that
    /// the first prompt's timing does not include first-use costs: the first pass over the
    /// weights' pages, the start of Dispatch's worker threads, one row's scratch.
    public init(modelPath: String, weights kind: InferenceWeights = .fp32) throws {
        let start = Date()
        let loaded = try ModelSource.load(modelPath, weights: kind)
        (weights, tokenizer) = (loaded.weights, loaded.tokenizer)
        inference = GemmaInference(weights: weights)
        _ = try inference.forward([[tokenizer.bos]], caches: [KVCache(config: weights.config, capacity: 1)], logits: .last)
        loadSeconds = Date().timeIntervalSince(start)
    }

    /// The logits of the prompt (<bos> added) at every position, [positions, vocab] row-major
    /// fp32, written raw to `path` (for comparisons with another framework). Returns the ids.
    @discardableResult
    public func writePromptLogits(prompt: String, to path: String) throws -> [Int32] {
        let ids = [tokenizer.bos] + tokenizer.encode(prompt)
        let cache = KVCache(config: weights.config, capacity: ids.count)
        let logits = try inference.forward([ids], caches: [cache], logits: .all)
        try logits.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: path), options: .atomic) }
        return ids
    }

    /// Streams the continuation to `onText`; returns this call's timing: prompt tokens and
    /// their forward's seconds, decode steps (each one forward choosing one more token, the
    /// one that chooses <eos> included) and the seconds after the prompt's forward.
    @discardableResult
    public func generate(prompt: String, maxNewTokens: Int, onText: @escaping (String) -> Void) throws -> GemmaInference.GenerationTiming {
        let ids = [tokenizer.bos] + tokenizer.encode(prompt)
        inference.timing = GemmaInference.GenerationTiming()  // this call's alone
        // decode the growing output and print only what is new, so multi-token characters print whole
        var generated: [Int32] = []
        var printed = ""
        _ = try inference.generateGreedy([ids], maxNewTokens: maxNewTokens, stopToken: tokenizer.eos) { _, token in
            generated.append(token)
            let text = tokenizer.decode(generated)
            if text.hasPrefix(printed), !text.hasSuffix("\u{FFFD}") {
                onText(String(text.dropFirst(printed.count)))
                printed = text
            }
        }
        let text = tokenizer.decode(generated)
        if text.count > printed.count, text.hasPrefix(printed) { onText(String(text.dropFirst(printed.count))) }
        return inference.timing
    }
}
