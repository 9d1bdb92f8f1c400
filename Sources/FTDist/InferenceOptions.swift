import ArgumentParser
import Train

extension InferenceWeights: ExpressibleByArgument {}

/// `--weights`, shared by generate, predict and eval.
struct WeightsOption: ParsableArguments {
    @Option(help: "fp32: every weight dequantized at load, exactly what training used (default). quantized: the projections and embedding stay in ggml blocks, dequantized inside the products (the GGUF's own blocks when every projection is quantized; any other model quantized at load in llama-quantize's Q4_K_M mixture): about a quarter of the memory; a single sequence decodes faster than on fp32 weights (the blocks are read once per token, 0.25 GB instead of 1.07), a prompt and a decode step of up to 64 sequences dequantize six weight rows at a time in L1, larger packed prompts dequantize chunks before sgemm (the test split takes about as long as on fp32 weights).")
    var weights: InferenceWeights = .fp32
}

/// --batch-size of eval and predict: sequences decoded together, each holding 1 MB of logits.
func validateGenerationBatchSize(_ batchSize: Int) throws {
    if !(1...Evaluator.maxBatchSize).contains(batchSize) {
        throw ValidationError("--batch-size must be between 1 and \(Evaluator.maxBatchSize) (each sequence of a batch holds 1 MB of logits)")
    }
}
