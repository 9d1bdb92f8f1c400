import ArgumentParser
import Foundation
import Train

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Greedy generation: prints the continuation of a prompt (<bos> is added).")

    @Option(help: "The prompt text.")
    var prompt: String

    @Option(help: "Most tokens to generate (stops earlier at <eos>).")
    var maxNewTokens = 32

    @Option(help: "A GGUF file, an HF model or checkpoint directory, or an adapter checkpoint (default: the installed model).")
    var model: String?

    @Flag(help: "Print load, prompt and generation timings to stderr.") var timing = false
    @OptionGroup var weights: WeightsOption

    @Option(help: "Instead of generating, write the prompt's logits at every position (<bos> first) to this file: raw little-endian fp32, [positions, vocab]; the ids go to stdout. For comparisons with transformers (bench/check_hf_checkpoint.py).")
    var logitsOutput: String?

    func validate() throws {
        if maxNewTokens < 1 { throw ValidationError("--max-new-tokens must be at least 1") }
    }

    func run() throws {
        try runReportingErrors {
            let generator = try TextGenerator(modelPath: model ?? DefaultPaths.model, weights: weights.weights)
            if let logitsOutput {
                try checkWritableOutput(logitsOutput, option: "--logits-output")
                print(try generator.writePromptLogits(prompt: prompt, to: logitsOutput).map(String.init).joined(separator: " "))
                return
            }
            let (t, stoppedAtEOS) = try generator.generate(prompt: prompt, maxNewTokens: maxNewTokens) { print($0, terminator: ""); fflushStdout() }
            print()
            if timing {
                let stop = stoppedAtEOS ? "the one that chose <eos> included" : "stopped at --max-new-tokens"
                let line = String(format: "model loaded in %.2f s (one warm-up token included); prompt of %d tokens in %.3f s (%.0f tokens/s); %d more tokens in %.3f s (%.1f tokens/s, one forward each, %@)\n",
                                  generator.loadSeconds, t.promptTokens, t.prefillSeconds, Double(t.promptTokens) / t.prefillSeconds,
                                  t.decodeSteps, t.decodeSeconds, Double(t.decodeSteps) / max(t.decodeSeconds, 1e-9), stop)
                FileHandle.standardError.write(Data(line.utf8))
            }
        }
    }
}
