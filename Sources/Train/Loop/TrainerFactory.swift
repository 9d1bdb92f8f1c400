import Distributed
import Foundation
import Model

/// Model, tokenizer, data and trainer as `ft-dist train` builds them, for bench and tests.
/// The GGUF mapping is released as soon as the weights are dequantized (it would otherwise
/// stay resident next to the fp32 copy).
public enum TrainerFactory {
    public static func load(options: TrainingOptions) throws -> (GemmaModel, Tokenizer, TrainingData) {
        let (model, tokenizer) = try { () throws -> (GemmaModel, Tokenizer) in
            let gguf = try GGUFFile(path: options.modelPath)
            return (try GemmaModel(gguf: gguf), try Tokenizer(gguf: gguf))
        }()
        let data = try TrainingData(dataDir: options.dataDir, tokenizer: tokenizer, template: try PromptTemplate(options.promptTemplate),
                                    holdout: options.holdout, evalSamples: options.evalSamples, seed: options.seed)
        return (model, tokenizer, data)
    }

    public static func make(options: TrainingOptions, comm: Communicator) throws -> Trainer {
        let (model, _, data) = try load(options: options)
        return try Trainer(options: options, model: model, data: data, comm: comm)
    }
}
