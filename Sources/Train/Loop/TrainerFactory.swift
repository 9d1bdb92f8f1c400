import Distributed
import Foundation
import Model

/// Model, tokenizer, data and trainer as `ft-dist train` builds them, for bench and tests.
/// For an fp32 base the GGUF mapping is released as soon as the weights are dequantized (it
/// would otherwise stay resident next to the fp32 copy); a quantized base keeps it.
public enum TrainerFactory {
    /// What a run starts from.
    public struct Loaded {
        public let base: GemmaBase
        public let tokenizer: Tokenizer
        public let data: TrainingData
        /// The base file's path and sha256, taken while it was open (adapter methods only).
        public let baseRecord: BaseModelRecord?
    }

    /// The base as `options.method` trains it (fp32 for full and lora, quantized blocks for
    /// qlora), the tokenizer, and the data.
    public static func load(options: TrainingOptions) throws -> Loaded {
        let (base, tokenizer, record) = try { () throws -> (GemmaBase, Tokenizer, BaseModelRecord?) in
            let gguf = try GGUFFile(path: options.modelPath)
            let base: GemmaBase = options.method == .qlora ? try QuantizedGemma(gguf: gguf) : try GemmaModel(gguf: gguf)
            return (base, try Tokenizer(gguf: gguf), options.method == .full ? nil : BaseModelRecord(gguf: gguf))
        }()
        let data = try TrainingData(dataDir: options.dataDir, tokenizer: tokenizer, template: try PromptTemplate(options.promptTemplate),
                                    holdout: options.holdout, evalSamples: options.evalSamples, seed: options.seed)
        return Loaded(base: base, tokenizer: tokenizer, data: data, baseRecord: record)
    }

    public static func make(options: TrainingOptions, comm: Communicator) throws -> Trainer {
        let loaded = try load(options: options)
        return try Trainer(options: options, base: loaded.base, data: loaded.data, comm: comm, baseRecord: loaded.baseRecord)
    }
}
