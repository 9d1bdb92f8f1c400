import Foundation

/// Greedy decoding with a KV cache, several sequences at once: one packed prefill of all
/// prompts, then one packed step per new token over the sequences still running.
extension GemmaInference {
    /// Where the time of generation went, summed over calls in `GemmaInference.timing`:
    /// shared prefixes (`prefixCache`), prompt tokens read in the prefills (their forward),
    /// and everything after a prefill — the decode steps, each one forward over the running
    /// sequences, and choosing the tokens.
    public struct GenerationTiming {
        public var prefixTokens = 0, prefixSeconds = 0.0
        public var promptTokens = 0, prefillSeconds = 0.0
        public var decodeSteps = 0, decodedTokens = 0, decodeSeconds = 0.0
        public init() {}
        public mutating func add(_ other: GenerationTiming) {
            prefixTokens += other.prefixTokens; prefixSeconds += other.prefixSeconds
            promptTokens += other.promptTokens; prefillSeconds += other.prefillSeconds
            decodeSteps += other.decodeSteps; decodedTokens += other.decodedTokens; decodeSeconds += other.decodeSeconds
        }
    }

    /// Why a prompt of `promptTokens` cannot be continued by up to `maxNewTokens` within the
    /// model's context (nil: it can). Written without overflow for any maxNewTokens.
    public func contextExceeded(promptTokens: Int, maxNewTokens: Int) -> ContextExceeded? {
        let context = config.contextLength
        guard maxNewTokens > context || promptTokens > context - maxNewTokens else { return nil }
        return ContextExceeded(tokens: promptTokens, newTokens: maxNewTokens, context: context)
    }

    /// The KV cache of a prompt prefix that several prompts share (e.g. the template's
    /// `<bos>Classify … Message:`), computed once: pass it as `generateGreedy`'s `prefix`.
    public func prefixCache(_ prefix: [Int32]) throws -> KVCache {
        let start = Date()
        let cache = KVCache(config: config, capacity: prefix.count)
        _ = try prefill([prefix], caches: [cache], logits: .none)
        timing.prefixTokens += prefix.count
        timing.prefixSeconds -= start.timeIntervalSinceNow
        return cache
    }

    /// Generated ids per prompt (without the prompt; without the stop token).
    /// With `prefix`, every prompt continues that cached prefix (the prompts hold only the
    /// tokens after it; each sequence starts from its own copy of the prefix).
    /// `onToken` sees (sequence, token) as soon as each token is chosen.
    /// `stopEarly(sequence, generated)` may end a sequence before <eos> (e.g. once its output
    /// can no longer become a valid label).
    public func generateGreedy(_ prompts: [[Int32]], maxNewTokens: Int, stopToken: Int32, prefix: KVCache? = nil,
                               onToken: ((Int, Int32) -> Void)? = nil,
                               stopEarly: ((Int, [Int32]) -> Bool)? = nil) throws -> [[Int32]] {
        guard !prompts.isEmpty else { return [] }
        let v = config.vocabSize, past = prefix?.length ?? 0
        // before any work
        for p in prompts { if let e = contextExceeded(promptTokens: past + p.count, maxNewTokens: maxNewTokens) { throw e } }
        let caches = prompts.map { p in
            prefix.map { KVCache(continuing: $0, capacity: $0.length + p.count + maxNewTokens) }
                ?? KVCache(config: config, capacity: p.count + maxNewTokens)
        }
        var outputs = [[Int32]](repeating: [], count: prompts.count)
        var running = Array(prompts.indices).filter { !prompts[$0].isEmpty }
        var spent = GenerationTiming()
        spent.promptTokens = running.reduce(0) { $0 + prompts[$1].count }
        let start = Date()
        _ = try prefill(running.map { prompts[$0] }, caches: running.map { caches[$0] }, logits: .last, greedy: true)
        let prefilled = Date()
        spent.prefillSeconds = prefilled.timeIntervalSince(start)
        var next: [Int32] = [], stillRunning: [Int] = []
        for _ in 0..<maxNewTokens {
            next.removeAll(keepingCapacity: true)
            stillRunning.removeAll(keepingCapacity: true)
            for (row, s) in running.enumerated() {
                let token = greedyTokens?[row] ?? Self.argmax(logits + row * v, count: v)
                if token == stopToken { continue }
                outputs[s].append(token)
                onToken?(s, token)
                if stopEarly?(s, outputs[s]) == true { continue }
                next.append(token)
                stillRunning.append(s)
            }
            swap(&running, &stillRunning)
            guard let first = running.first, outputs[first].count < maxNewTokens else { break }
            _ = try forwardInPlace(next.map { [$0] }, caches: running.map { caches[$0] }, logits: .last, greedy: true)
            spent.decodeSteps += 1
            spent.decodedTokens += running.count
        }
        spent.decodeSeconds = -prefilled.timeIntervalSinceNow
        timing.add(spent)
        return outputs
    }

    /// Reads `prompts` into their caches: a prompt of more than prefillChunk tokens in pieces
    /// (no logits), each prompt's last piece — every evaluation prompt whole — in the final
    /// forward, whose logit rows (`rows`) it returns. A bad token id is refused before the first
    /// piece runs, not after (as are prompts beyond the context or their cache).
    /// `greedy`: as forwardInPlace's, for the final forward.
    func prefill(_ prompts: [[Int32]], caches: [KVCache], logits rows: LogitRows, greedy: Bool = false) throws -> Int {
        for (p, cache) in zip(prompts, caches) { try checkRoom(for: p, in: cache) }
        let lastPieceStarts = prompts.map { max(0, $0.count - Self.prefillChunk) }
        var offset = 0
        while lastPieceStarts.contains(where: { $0 > offset }) {
            let pieces = zip(prompts, lastPieceStarts).map { p, end in Array(p[min(offset, end)..<min(offset + Self.prefillChunk, end)]) }
            _ = try forwardInPlace(pieces, caches: caches, logits: .none)
            offset += Self.prefillChunk
        }
        return try forwardInPlace(zip(prompts, lastPieceStarts).map { Array($0[$1...]) }, caches: caches, logits: rows, greedy: greedy)
    }

    /// Prompt tokens per sequence in one prefill forward: the attention's scratch holds
    /// heads × new tokens × keys scores, 4 × 512 × 32,768 floats (268 MB) at a full context,
    /// where a 32,768-token prompt in one forward would need 17 GB.
    static let prefillChunk = 512

    /// The index of the largest of `count` logits (the first one on a tie): greedy needs no
    /// softmax.
    static func argmax(_ p: UnsafePointer<Float>, count: Int) -> Int32 {
        var best = 0
        for j in 1..<count where p[j] > p[best] { best = j }
        return Int32(best)
    }
}
