import Foundation
import Model
import Report

/// `ft-dist tokenize`.
public struct TokenizeTool {
    let tokenizer: Tokenizer
    let parseSpecial: Bool

    public init(modelPath: String, parseSpecial: Bool) throws {
        tokenizer = try ModelFile(path: modelPath).tokenizer()
        self.parseSpecial = parseSpecial
    }

    public func ids(_ text: String) -> [Int32] { tokenizer.encode(text, parseSpecial: parseSpecial) }

    /// {"text": …} per line in, {"text": …, "ids": […]} per line out; a bad line is an error naming its number.
    public func answerJSONLines(input: FileHandle, output: FileHandle) throws {
        struct Line: Codable { var text: String; var ids: [Int32]? }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]  // one key order every run
        var lineNumber = 0
        var pending = Data()
        func handle(_ raw: Data) throws {
            lineNumber += 1
            guard !raw.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) else { return }
            guard var line = try? JSONDecoder().decode(Line.self, from: raw) else {
                throw MessageError.invalidArgument("stdin line \(lineNumber): expected a JSON object with a \"text\" string")
            }
            line.ids = ids(line.text)
            output.write(try encoder.encode(line) + Data("\n".utf8))
        }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            // read(2): whatever has arrived (a client waits for each line's answer), and an error
            // (stdin a directory, or closed) as a message where availableData traps
            let n = read(input.fileDescriptor, &buffer, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw MessageError.invalidArgument("cannot read stdin: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            let chunk = Data(buffer[0..<n])
            pending.append(chunk)
            while let nl = pending.firstIndex(of: 0x0A) {
                try handle(pending[pending.startIndex..<nl])
                pending.removeSubrange(pending.startIndex...nl)
            }
        }
        if !pending.isEmpty { try handle(pending) }
    }
}
