import ArgumentParser
import Foundation
import Train

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Tokenize text with the model's tokenizer (no <bos> is added).",
        discussion: """
        ft-dist tokenize "Hello world"            prints the ids, one line
        ft-dist tokenize --jsonl < in.jsonl       reads {"text": ...} lines, writes {"text": ..., "ids": [...]} lines
        Control-token text such as <bos> stays literal unless --parse-special is given.
        """)

    @Argument(help: "The text to tokenize.")
    var text: String?

    @Flag(help: "Read {\"text\": …} JSON lines on stdin and answer each with {\"text\": …, \"ids\": […]}.")
    var jsonl = false

    @Flag(help: "Turn control-token text (<bos>, <start_of_turn>, …) into control ids.")
    var parseSpecial = false

    @Option(help: "The GGUF file or HF model directory whose tokenizer to use (default: the installed model).")
    var model: String?

    func validate() throws {
        if jsonl == (text != nil) { throw ValidationError("give either a TEXT argument or --jsonl") }
    }

    func run() throws {
        try runReportingErrors {
            let tokenizer = try TokenizeTool(modelPath: model ?? DefaultPaths.model, parseSpecial: parseSpecial)
            if let text {
                print(tokenizer.ids(text).map(String.init).joined(separator: " "))
            } else {
                try tokenizer.answerJSONLines(input: FileHandle.standardInput, output: FileHandle.standardOutput)
            }
        }
    }
}
