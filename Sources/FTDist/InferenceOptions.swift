import ArgumentParser
import Train

extension InferenceWeights: ExpressibleByArgument {}

/// `--weights`, shared by generate, predict and eval.
struct WeightsOption: ParsableArguments {
    @Option(help: "fp32: every weight dequantized at load, exactly what training used (default). quantized: the projections and embedding stay in ggml blocks, dequantized inside the products (the GGUF's own blocks when every projection is quantized; any other model quantized at load in llama-quantize's Q4_K_M mixture): about a quarter of the memory, slower.")
    var weights: InferenceWeights = .fp32
}
