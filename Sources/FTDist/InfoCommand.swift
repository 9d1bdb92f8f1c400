import ArgumentParser
import Train

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Print a GGUF file's metadata and tensor table, or an HF model directory's config and tensors.")

    @Argument(help: "A GGUF file or an HF model directory (default: the installed model).")
    var model: String?

    @Flag(help: "Print every element of array metadata (the 262,144-entry vocabulary!).")
    var fullArrays = false

    func run() throws {
        try runReportingErrors { print(try ModelInfo.describe(path: model ?? DefaultPaths.model, fullArrays: fullArrays)) }
    }
}
