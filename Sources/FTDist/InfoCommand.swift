import ArgumentParser
import Train

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Print a GGUF file's metadata and tensor table.")

    @Argument(help: "The GGUF file (default: the installed model).")
    var model: String?

    @Flag(help: "Print every element of array metadata (the 262,144-entry vocabulary!).")
    var fullArrays = false

    func run() throws {
        try runReportingErrors { print(try ModelInfo.describe(path: model ?? DefaultPaths.model, fullArrays: fullArrays)) }
    }
}
