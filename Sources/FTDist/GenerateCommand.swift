import ArgumentParser
import Train

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Greedy generation: prints the continuation of a prompt (<bos> is added).")

    @Option(help: "The prompt text.")
    var prompt: String

    @Option(help: "Most tokens to generate (stops earlier at <eos>).")
    var maxNewTokens = 32

    @Option(help: "A GGUF file or a checkpoint directory (default: the installed model).")
    var model: String?

    func validate() throws {
        if maxNewTokens < 1 { throw ValidationError("--max-new-tokens must be at least 1") }
    }

    func run() throws {
        try runReportingErrors {
            let generator = try TextGenerator(modelPath: model ?? DefaultPaths.model)
            try generator.generate(prompt: prompt, maxNewTokens: maxNewTokens) { print($0, terminator: ""); fflushStdout() }
            print()
        }
    }
}
