import Distributed
import Foundation
import Model

/// Model, tokenizer, data and trainer as `ft-dist train` builds them, for bench and tests.
/// For an fp32 base the GGUF mapping is released as soon as the weights are dequantized (it
/// would otherwise stay resident next to the fp32 copy); a quantized base keeps it.
public enum TrainerFactory {
    /// The base as `options.method` trains it (fp32 for full and lora, quantized blocks for
    /// qlora), the tokenizer, and the data.
    public static func load(options: TrainingOptions) throws -> (GemmaBase, Tokenizer, TrainingData) {
        let (base, tokenizer) = try { () throws -> (GemmaBase, Tokenizer) in
            let gguf = try GGUFFile(path: options.modelPath)
            let base: GemmaBase = options.method == .qlora ? try QuantizedGemma(gguf: gguf) : try GemmaModel(gguf: gguf)
            return (base, try Tokenizer(gguf: gguf))
        }()
        let data = try TrainingData(dataDir: options.dataDir, tokenizer: tokenizer, template: try PromptTemplate(options.promptTemplate),
                                    holdout: options.holdout, evalSamples: options.evalSamples, seed: options.seed)
        return (base, tokenizer, data)
    }

    public static func make(options: TrainingOptions, comm: Communicator) throws -> Trainer {
        let (base, _, data) = try load(options: options)
        return try Trainer(options: options, base: base, data: data, comm: comm)
    }
}
