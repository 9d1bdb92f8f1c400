import Foundation

// Confusion matrix as CSV (RFC 4180), for spreadsheets and pandas:
//
//   gold\predicted,<intent 0>,...,<intent k-1>,(invalid)
//   <intent 0>,<count>,...,<count>,<invalid count>
//
// Rows are gold intents, columns predicted intents, both in class-index order; the last
// column counts outputs that were not any intent name. Lines end with "\n", including the
// last one.
public enum ConfusionMatrixCSV {
    /// Top-left header cell: says which axis is which.
    public static let cornerHeader = "gold\\predicted"
    /// Header of the extra column for outputs that are not an intent name.
    public static let invalidHeader = "(invalid)"

    public static func render(_ matrix: ConfusionMatrix) -> String {
        var out = ""
        let header = [cornerHeader] + matrix.labels + [invalidHeader]
        out += header.map(field).joined(separator: ",") + "\n"
        for (row, name) in matrix.labels.enumerated() {
            let cells = [field(name)] + matrix.counts[row].map(String.init) + [String(matrix.invalidCounts[row])]
            out += cells.joined(separator: ",") + "\n"
        }
        return out
    }

    /// Quotes a field only when it needs it: separators, quotes, line breaks, or leading /
    /// trailing spaces (which some readers would otherwise trim). Quotes are doubled.
    public static func field(_ value: String) -> String {
        // Scalars, not Characters: "\r\n" is one Character equal to neither "\r" nor "\n".
        let needsQuotes = value.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            || value.hasPrefix(" ") || value.hasSuffix(" ")
        guard needsQuotes else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
