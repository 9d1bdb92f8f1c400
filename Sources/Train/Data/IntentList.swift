// The intent vocabulary: categories.json, a JSON array of intent names. File order is the
// intent index (the position), so it must never be sorted or deduplicated silently.
// Names are compared byte for byte: Banking77 has `Refund_not_showing_up` with a capital R,
// and Swift's String == would also equate canonically-equivalent Unicode spellings.

import Foundation

public struct IntentList: Equatable, Sendable {
    /// Intent names in file order; `names[i]` has index `i`.
    public let names: [String]
    private let indexByBytes: [[UInt8]: Int]

    /// Builds the list; `file` only names the source in errors.
    public init(_ names: [String], file: String = "<intents>") throws {
        guard !names.isEmpty else { throw DataError(file: file, message: "no intents") }
        var index: [[UInt8]: Int] = [:]
        for (i, name) in names.enumerated() {
            guard !name.isEmpty else {
                throw DataError(file: file, message: "empty intent name at position \(i)")
            }
            // a name is printed in tab-separated lines and markdown tables
            if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                throw DataError(file: file, message: "intent name \(String(reflecting: name)) at position \(i) contains a control character (tab, line break)")
            }
            let key = Array(name.utf8)
            if let first = index[key] {
                throw DataError(file: file, message: "duplicate intent \"\(name)\" at positions \(first) and \(i)")
            }
            index[key] = i
        }
        self.names = names
        self.indexByBytes = index
    }

    /// Loads a JSON array of strings (e.g. Banking77's categories.json).
    public static func load(_ url: URL) throws -> IntentList {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw DataError(file: url.path, message: unreadableFileReason(url, error))
        }
        let names: [String]
        do {
            names = try JSONDecoder().decode([String].self, from: data)
        } catch {
            throw DataError(file: url.path, message: "expected a JSON array of strings")
        }
        return try IntentList(names, file: url.path)
    }

    public var count: Int { names.count }

    public subscript(index: Int) -> String { names[index] }

    /// Position of `name` in the file, exact byte comparison; nil if absent.
    public func index(of name: String) -> Int? { indexByBytes[Array(name.utf8)] }

    public static func == (a: IntentList, b: IntentList) -> Bool { a.names == b.names }
}
