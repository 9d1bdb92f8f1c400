import Foundation
import Model
import Report

/// `ft-dist predict`: the intent of a message, by greedy generation, or with `topK` the
/// intents ranked by the model's log-probability of each intent's target tokens
/// (" intent" + <eos>), scored teacher-forced after one shared prompt.
public struct IntentPredictor {
    public struct Ranked: Codable {
        public var intent: String
        public var logProbability: Double
    }

    let tokenizer: Tokenizer
    let template: PromptTemplate
    let intents: IntentList
    let inference: GemmaInference
    /// Seconds spent loading the model and tokenizer.
    public let loadSeconds: Double

    /// The model at `modelPath`, prompted with the template it was trained with (a
    /// checkpoint's run; the default for a GGUF). `generates: false` (ranking only, `--top-k`)
    /// skips GreedyHead's copy of a dense head (178 MB, 1–2 s), which only decoding reads.
    public init(modelPath: String, intents: IntentList, weights kind: InferenceWeights = .fp32, generates: Bool = true) throws {
        let start = Date()
        let loaded = try ModelSource.load(modelPath, weights: kind)
        (tokenizer, template) = (loaded.tokenizer, loaded.template)
        self.intents = intents
        inference = GemmaInference(weights: loaded.weights)
        // GreedyHead's copy of a dense head counts as loading, not as the first message's time
        if generates { inference.prepareGreedyDecoding() }
        loadSeconds = Date().timeIntervalSince(start)
    }

    /// The generated text with its leading space dropped (may be no intent at all).
    public func generate(_ text: String, maxNewTokens: Int = Evaluator.defaultMaxNewTokens) throws -> String {
        try generate([text], maxNewTokens: maxNewTokens)[0]
    }

    /// The generated text of each message, in order, generated `batchSize` at a time after the
    /// prompts' shared prefix (as `eval` does; each to <eos> or `maxNewTokens`).
    /// `onBatch(first, texts)` gets each batch's results as soon as they are done.
    public func generate(_ texts: [String], maxNewTokens: Int = Evaluator.defaultMaxNewTokens,
                         batchSize: Int = Evaluator.defaultBatchSize,
                         onBatch: ((Int, [String]) -> Void)? = nil) throws -> [String] {
        var generation = IntentGeneration(inference: inference, tokenizer: tokenizer, template: template)
        generation.maxNewTokens = maxNewTokens
        generation.batchSize = batchSize
        var labels: [String] = []
        _ = try generation.generate(texts) { first, outputs in
            let batch = outputs.map { Prediction.normalizedLabel(tokenizer.decode($0)) }
            labels += batch
            onBatch?(first, batch)
        }
        return labels
    }

    /// Prefill and decode time of every generation so far.
    public var timing: GemmaInference.GenerationTiming { inference.timing }

    /// All intents ranked by log P(" intent" <eos> | prompt), best first, the first `k` returned.
    public func rank(_ text: String, k: Int) throws -> [Ranked] {
        let prompt = template.promptIDs(for: text, with: tokenizer)
        let v = inference.config.vocabSize
        let allTargets = intents.names.map { tokenizer.encode(template.target(for: $0)) + [tokenizer.eos] }
        // the prompt once; each intent continues from a copy of its cache, room for the longest
        let base = KVCache(config: inference.config, capacity: prompt.count + (allTargets.map(\.count).max() ?? 0))
        let promptLogits = try inference.forward([prompt], caches: [base], logits: .last)
        var scored: [Ranked] = []
        // 16 intents at a time, each from its own copy of the prompt's cache: fewer for a long
        // message, so the copies stay within about 1 GB (a 30,000-token prompt's is 1.1 GB)
        let chunk = max(1, min(16, (1 << 30) / base.bytes))
        for start in stride(from: 0, to: intents.count, by: chunk) {
            let names = Array(intents.names[start..<min(start + chunk, intents.count)])
            let targets = Array(allTargets[start..<min(start + chunk, intents.count)])
            let caches = targets.map { _ in base.copy() }
            // the logits at the last prompt position predict each target's first token
            let logits = try inference.forward(targets.map { Array($0.dropLast()) }, caches: caches, logits: .all)
            var row = 0
            for (name, target) in zip(names, targets) {
                var total = logProbability(promptLogits, row: 0, width: v, token: target[0])
                for t in target.dropFirst() {
                    total += logProbability(logits, row: row, width: v, token: t)
                    row += 1
                }
                scored.append(Ranked(intent: name, logProbability: total))
            }
        }
        return Array(scored.sorted { $0.logProbability > $1.logProbability }.prefix(k))
    }

    private func logProbability(_ logits: [Float], row: Int, width: Int, token: Int32) -> Double {
        logits.withUnsafeBufferPointer { b in
            let p = b.baseAddress! + row * width
            return Double(p[Int(token)]) - logSumExpRow(p, count: width)
        }
    }
}
