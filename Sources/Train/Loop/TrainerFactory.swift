import Distributed
import Foundation
import Model
import Report

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
        /// The tokenizer files full checkpoints carry, made once at load (full only), so that a
        /// checkpoint never depends on the base file still being there.
        public let tokenizerFiles: HFTokenizerFiles?
    }

    /// The base as `options.method` trains it (fp32 for full and lora, quantized blocks for
    /// qlora), the tokenizer, and the data.
    public static func load(options: TrainingOptions) throws -> Loaded {
        let (base, tokenizer, record, files) = try { () throws -> (GemmaBase, Tokenizer, BaseModelRecord?, HFTokenizerFiles?) in
            // a GGUF or an HF directory (config.json, safetensors in F32/BF16/F16, tokenizer)
            let file = try ModelFile(path: options.modelPath)
            let base: GemmaBase
            if options.method == .qlora {
                // a GGUF's own blocks, or an HF base quantized at load in llama-quantize's Q4_K_M mixture
                base = try file.gguf.map { try QuantizedGemma(gguf: $0) } ?? QuantizedGemma(quantizing: file.fp32())
            } else {
                base = try file.fp32()
            }
            let record = options.method == .full ? nil : BaseModelRecord(path: options.modelPath, sha256: try file.sha256())
            let (tokenizer, vocabulary) = try file.tokenizerAndVocabulary()
            let files = options.method == .full ? try HFTokenizerFiles(vocabulary: vocabulary) : nil
            return (base, tokenizer, record, files)
        }()
        let data = try TrainingData(dataDir: options.dataDir, tokenizer: tokenizer, template: try PromptTemplate(options.promptTemplate),
                                    holdout: options.holdout, evalSamples: options.evalSamples, seed: options.seed,
                                    loadTest: options.usesTestSplit)
        return Loaded(base: base, tokenizer: tokenizer, data: data, baseRecord: record, tokenizerFiles: files)
    }

    public static func make(options: TrainingOptions, comm: Communicator) throws -> Trainer {
        let loaded = try load(options: options)
        return try Trainer(options: options, base: loaded.base, data: loaded.data, comm: comm, baseRecord: loaded.baseRecord,
                           tokenizerFiles: loaded.tokenizerFiles)
    }
}
