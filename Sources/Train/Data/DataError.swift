import Foundation

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

/// Why a data file could not be read, in words: Foundation's errors for a directory or a
/// missing file print as "NSCocoaErrorDomain error 256".
func unreadableFileReason(_ url: URL, _ error: Error) -> String {
    var isDirectory: ObjCBool = false
    if !FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) { return "no such file" }
    if isDirectory.boolValue { return "is a directory, not a file" }
    if !FileManager.default.isReadableFile(atPath: url.path) { return "not readable (permissions)" }
    return "cannot read file (\(error.localizedDescription))"
}
