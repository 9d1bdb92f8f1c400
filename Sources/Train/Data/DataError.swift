// Errors of the data pipeline. Bad input data must stop the run with a message that
// points at the offending file and line (compiler style), never with a trap: a user's data
// file is input, not a programming error.

/// A problem in an input file: `train.csv:17: empty text`.
public struct DataError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file as the caller named it (usually a path).
    public let file: String
    /// 1-based line in `file`, when the problem has one.
    public let line: Int?
    public let message: String

    public init(file: String, line: Int? = nil, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}
