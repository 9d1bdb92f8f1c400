import Foundation
import Model
import Report

/// `ft-dist generate`: greedy continuation of a prompt, streamed token by token.
public struct TextGenerator {
    public let weights: GemmaWeights
    public let tokenizer: Tokenizer

    let inference: GemmaInference

    /// Seconds spent loading the model and tokenizer, and warming up.
    public let loadSeconds: Double

    /// Loads the model and runs one token through it (as llama.cpp's warm-up does), so that
    /// the first prompt's timing does not include first-use costs: the first pass over the
    /// weights' pages, the start of Dispatch's worker threads, one row's scratch, and the
    /// Q8_0 copy of a dense head that greedy decoding reads (GreedyHead).
    public init(modelPath: String, weights kind: InferenceWeights = .fp32) throws {
        let start = Date()
        let loaded = try ModelSource.load(modelPath, weights: kind)
        (weights, tokenizer) = (loaded.weights, loaded.tokenizer)
        inference = GemmaInference(weights: weights)
        _ = try inference.forward([[tokenizer.bos]], caches: [KVCache(config: weights.config, capacity: 1)], logits: .last)
        inference.prepareGreedyDecoding()
        loadSeconds = Date().timeIntervalSince(start)
    }

    /// The logits of the prompt (<bos> added) at every position, [positions, vocab] row-major
    /// fp32, written raw to `path` (for comparisons with another framework). Returns the ids.
    @discardableResult
    public func writePromptLogits(prompt: String, to path: String) throws -> [Int32] {
        let ids = [tokenizer.bos] + tokenizer.encode(prompt)
        let cache = KVCache(config: weights.config, capacity: ids.count)
        try inference.checkRoom(for: ids, in: cache)
        // pieces of the prompt, each piece's logits written before the next: 1 MB per position
        // (262,144 floats), so a long prompt's logits never all sit in memory at once
        try OutputFile.write(to: path) { file in
            for start in stride(from: 0, to: ids.count, by: Self.logitsPieceTokens) {
                let piece = Array(ids[start..<min(start + Self.logitsPieceTokens, ids.count)])
                let logits = try inference.forward([piece], caches: [cache], logits: .all)
                try logits.withUnsafeBytes { try file.write(contentsOf: $0) }
            }
        }
        return ids
    }

    /// Prompt positions whose logits `writePromptLogits` computes at once (128 MB of them).
    static let logitsPieceTokens = 128

    /// Streams the continuation to `onText`; returns this call's timing (prompt tokens and
    /// their forward's seconds, decode steps — each one forward choosing one more token, the
    /// one that chooses <eos> included — and the seconds after the prompt's forward) and
    /// whether <eos> ended the text (else `maxNewTokens` did).
    @discardableResult
    public func generate(prompt: String, maxNewTokens: Int,
                         onText: @escaping (String) -> Void) throws -> (timing: GemmaInference.GenerationTiming, stoppedAtEOS: Bool) {
        let ids = [tokenizer.bos] + tokenizer.encode(prompt)
        inference.timing = GemmaInference.GenerationTiming()  // this call's alone
        // decode the growing output and print only what is new, so multi-token characters print whole
        var generated: [Int32] = []
        var stream = StreamedText()
        _ = try inference.generateGreedy([ids], maxNewTokens: maxNewTokens, stopToken: tokenizer.eos) { _, token in
            generated.append(token)
            if let new = stream.update(tokenizer.decode(generated)) { onText(new) }
        }
        if let rest = stream.finish(tokenizer.decode(generated)) { onText(rest) }
        // <eos> is chosen but not output: fewer tokens than the limit means it ended the text
        return (inference.timing, generated.count < maxNewTokens)
    }
}

/// The part of a growing decoded text not printed yet. Compared as UTF-8 bytes, not as Swift
/// Characters: a flag or an accented letter is one Character made of several tokens, so the
/// text after its second half no longer starts (as Characters) with what was printed after
/// its first — and nothing more would print. A text ending in U+FFFD (a character whose bytes
/// have not all been generated yet) waits for the next token.
struct StreamedText {
    private(set) var printed: [UInt8] = []

    /// What `text` adds to what was printed, or nil (nothing new yet).
    mutating func update(_ text: String) -> String? {
        text.hasSuffix("\u{FFFD}") ? nil : finish(text)
    }

    /// The same at the end of generation, where an incomplete character prints as it is.
    mutating func finish(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        guard bytes.count > printed.count, bytes.starts(with: printed) else { return nil }
        defer { printed = bytes }
        return String(decoding: bytes[printed.count...], as: UTF8.self)
    }
}
