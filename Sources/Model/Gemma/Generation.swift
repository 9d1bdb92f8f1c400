/// Greedy decoding with a KV cache, several sequences at once: one packed prefill of all
/// prompts, then one packed step per new token over the sequences still running.
extension GemmaInference {
    /// Generated ids per prompt (without the prompt; without the stop token).
    /// `onToken` sees (sequence, token) as soon as each token is chosen.
    /// `stopEarly(sequence, generated)` may end a sequence before <eos> (e.g. once its output
    /// can no longer become a valid label).
    public func generateGreedy(_ prompts: [[Int32]], maxNewTokens: Int, stopToken: Int32,
                               onToken: ((Int, Int32) -> Void)? = nil,
                               stopEarly: ((Int, [Int32]) -> Bool)? = nil) throws -> [[Int32]] {
        guard !prompts.isEmpty else { return [] }
        let v = config.vocabSize
        let caches = prompts.map { KVCache(config: config, capacity: $0.count + maxNewTokens) }
        var outputs = [[Int32]](repeating: [], count: prompts.count)
        var running = Array(prompts.indices).filter { !prompts[$0].isEmpty }
        var logits = try forward(running.map { prompts[$0] }, caches: running.map { caches[$0] }, logits: .last)
        for _ in 0..<maxNewTokens {
            var next: [Int32] = []
            var stillRunning: [Int] = []
            for (row, s) in running.enumerated() {
                let token = argmax(logits, row: row, width: v)
                if token == stopToken { continue }
                outputs[s].append(token)
                onToken?(s, token)
                if stopEarly?(s, outputs[s]) == true { continue }
                next.append(token)
                stillRunning.append(s)
            }
            running = stillRunning
            guard let first = running.first, outputs[first].count < maxNewTokens else { break }
            logits = try forward(next.map { [$0] }, caches: running.map { caches[$0] }, logits: .last)
        }
        return outputs
    }

    private func argmax(_ logits: [Float], row: Int, width: Int) -> Int32 {
        logits.withUnsafeBufferPointer { b in
            let p = b.baseAddress! + row * width
            var best = 0
            for j in 1..<width where p[j] > p[best] { best = j }
            return Int32(best)
        }
    }
}
