// Errors of the data pipeline. Bad input data must stop the run with a message that
// points at the offending file and line (compiler style), never with a trap: release
// builds use -Ounchecked, where preconditions vanish.

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

/// A caller passed an argument outside its domain (batch plan, shard, template, RNG).
public struct InvalidArgument: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "invalid argument: \(message)" }
}
