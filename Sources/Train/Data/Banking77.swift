// Banking77 loader: a CSV with columns `text` and `category` (any order, extra columns
// ignored) and the intent list. Texts are kept exactly as written, leading newlines and
// spaces included: the reference tokenized the raw strings. Any bad row stops the load
// with file:line, because silently dropping rows would shift every later row index and
// break the seeded batch order (which is defined over 0-based data rows).

import Foundation

public enum Banking77 {
    public static let textColumn = "text"
    public static let intentColumn = "category"

    /// Loads every row of `csv`; throws DataError naming the file (and line) on bad data.
    public static func load(csv: URL, intents: IntentList) throws -> [LabeledText] {
        try load(table: CSVReader.read(csv), file: csv.path, intents: intents)
    }

    /// Same as `load(csv:intents:)` on an already parsed table.
    public static func load(table: CSVTable, file: String, intents: IntentList) throws -> [LabeledText] {
        func requiredColumn(_ name: String) throws -> Int {
            let hits = table.header.indices.filter { Array(table.header[$0].utf8) == Array(name.utf8) }
            guard hits.count == 1 else {
                throw DataError(file: file, line: 1,
                                message: hits.isEmpty ? "missing column \"\(name)\"" : "duplicate column \"\(name)\"")
            }
            return hits[0]
        }
        let textCol = try requiredColumn(textColumn)
        let intentCol = try requiredColumn(intentColumn)
        guard !table.records.isEmpty else { throw DataError(file: file, message: "no data rows") }

        var out: [LabeledText] = []
        out.reserveCapacity(table.records.count)
        for (row, record) in table.records.enumerated() {
            let text = record.fields[textCol]
            let intent = record.fields[intentCol]
            // Whitespace-only counts as empty: it carries no signal for classification.
            guard !text.allSatisfy({ $0.isWhitespace }) else {
                throw DataError(file: file, line: record.line, message: "empty text")
            }
            guard let index = intents.index(of: intent) else {
                throw DataError(file: file, line: record.line, message: "unknown intent \(String(reflecting: intent))")  // escaped, so that a stray carriage return shows
            }
            out.append(LabeledText(text: text, intent: intent, intentIndex: index, row: row, line: record.line))
        }
        return out
    }
}
