import Distributed
import Foundation
import Model

/// Generative evaluation: greedy decoding of each prompt with a KV cache, several examples
/// at a time; a prediction is correct when the generated text (leading space dropped) is the
/// intent name. Under MPI the ranks take contiguous slices and rank 0 gathers the predictions.
public struct Evaluator {
    public let model: GemmaModel
    public let tokenizer: Tokenizer
    public let template: PromptTemplate
    public let comm: Communicator
    public var batchSize = 16
    public var maxNewTokens = 24

    public init(model: GemmaModel, tokenizer: Tokenizer, template: PromptTemplate, comm: Communicator) {
        self.model = model
        self.tokenizer = tokenizer
        self.template = template
        self.comm = comm
    }

    /// Predictions for all examples in order on rank 0 (nil on the other ranks).
    /// `progress(done, total)` is called on rank 0 after each of its batches (its own share).
    public func predict(_ examples: [LabeledText], progress: ((Int, Int) -> Void)? = nil) throws -> [Prediction]? {
        let mine = try BatchPlan.shardRange(count: examples.count, rank: comm.rank, size: comm.size)
        let inference = GemmaInference(model: model)
        var predictions: [Prediction] = []
        var start = mine.lowerBound
        while start < mine.upperBound {
            let batch = Array(examples[start..<min(start + batchSize, mine.upperBound)])
            let prompts = batch.map { [tokenizer.bos] + tokenizer.encode(template.prompt(for: $0.text)) }
            let outputs = try inference.generateGreedy(prompts, maxNewTokens: maxNewTokens, stopToken: tokenizer.eos)
            for (example, ids) in zip(batch, outputs) {
                predictions.append(Prediction(text: example.text, gold: example.intent, generated: tokenizer.decode(ids)))
            }
            start += batch.count
            progress?(start - mine.lowerBound, mine.count)
        }
        let parts = try comm.gather(try JSONEncoder().encode(predictions).map { $0 }, root: 0)
        guard let parts else { return nil }
        return try parts.flatMap { try JSONDecoder().decode([Prediction].self, from: Data($0)) }
    }
}
