// RFC 4180 CSV reader, strict, byte-level.
//
// Why our own: Foundation has no CSV parser, and Banking77 needs the real thing: quoted
// fields with commas, doubled quotes and embedded newlines (LF inside quotes, CRLF between
// records). Quoted content is kept byte for byte (the reference tokenized the raw texts,
// including their leading "\n").
//
// Grammar (RFC 4180 §2), with the usual relaxations:
//   file   = record *(EOL record) [EOL]      EOL = CRLF or LF
//   record = field *("," field)
//   field  = quoted / plain
//   quoted = '"' *(any byte except '"' / '""') '"'
//   plain  = *(any byte except ',' '"' CR-LF LF)
// Blank lines are skipped (as Python's csv.DictReader does). A leading UTF-8 BOM is skipped.
// Errors: invalid UTF-8, unterminated quote, a quote inside a plain field, text after a
// closing quote, a record whose field count differs from the header's.

import Foundation

/// One data record and the 1-based line on which it starts (a quoted field may span lines).
public struct CSVRecord: Equatable, Sendable {
    public let fields: [String]
    public let line: Int

    public init(fields: [String], line: Int) {
        self.fields = fields
        self.line = line
    }
}

/// A parsed file: the header (line 1 unless blank lines precede it) and the data records.
public struct CSVTable: Equatable, Sendable {
    public let header: [String]
    public let records: [CSVRecord]

    /// Index of the first header column named exactly `name` (byte-wise comparison).
    public func column(_ name: String) -> Int? {
        let key = Array(name.utf8)
        return header.firstIndex { Array($0.utf8) == key }
    }
}

public enum CSVReader {
    /// Reads and parses `url`; errors name `url.path`.
    public static func read(_ url: URL) throws -> CSVTable {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw DataError(file: url.path, message: unreadableFileReason(url, error))
        }
        return try parse([UInt8](data), file: url.path)
    }

    /// Parses CSV bytes; `file` is only used in error messages.
    public static func parse(_ bytes: [UInt8], file: String) throws -> CSVTable {
        try validateUTF8(bytes, file: file)
        // lines that end in CR alone (classic Mac) would read as one long header line
        if !bytes.contains(0x0A), let cr = bytes.firstIndex(of: 0x0D), cr < bytes.count - 1 {
            throw DataError(file: file, line: 1, message: "lines end in a carriage return alone (CR, classic Mac); save the file with LF or CRLF line endings")
        }
        var rows = try splitRecords(bytes, file: file)
        guard !rows.isEmpty else { throw DataError(file: file, message: "empty file (no header)") }
        let header = rows.removeFirst()
        for r in rows where r.fields.count != header.fields.count {
            throw DataError(file: file, line: r.line,
                            message: "expected \(header.fields.count) fields, found \(r.fields.count)")
        }
        return CSVTable(header: header.fields, records: rows)
    }

    private static let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","),
                       cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")

    /// Strict UTF-8 check up front (rejects overlongs, surrogates, truncated sequences), so
    /// that fields can later be decoded without repair and the error can give a line.
    private static func validateUTF8(_ bytes: [UInt8], file: String) throws {
        var parser = Unicode.UTF8.ForwardParser()
        var it = bytes.makeIterator()
        var line = 1
        while true {
            switch parser.parseScalar(from: &it) {
            case .valid(let s):
                if s.count == 1 && s.first == lf { line += 1 }
            case .emptyInput:
                return
            case .error:
                throw DataError(file: file, line: line, message: "invalid UTF-8")
            }
        }
    }

    /// Splits into records (header included); does not check field counts.
    private static func splitRecords(_ bytes: [UInt8], file: String) throws -> [CSVRecord] {
        let n = bytes.count
        var i = 0
        var line = 1
        if n >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { i = 3 }

        // Length of the record terminator at `j` (2 for CRLF, 1 for LF), 0 if none.
        func eol(_ j: Int) -> Int {
            if bytes[j] == lf { return 1 }
            if bytes[j] == cr && j + 1 < n && bytes[j + 1] == lf { return 2 }
            return 0
        }

        var records: [CSVRecord] = []
        while i < n {
            let startLine = line
            var fields: [String] = []
            var isBlank = false
            record: while true {
                if i < n && bytes[i] == quote {
                    // Quoted field: runs to the next lone quote; "" is an escaped quote.
                    let openLine = line
                    i += 1
                    var buf: [UInt8] = []
                    while true {
                        guard i < n else {
                            throw DataError(file: file, line: openLine, message: "unterminated quoted field")
                        }
                        let b = bytes[i]
                        if b == quote {
                            if i + 1 < n && bytes[i + 1] == quote { buf.append(quote); i += 2; continue }
                            i += 1
                            break
                        }
                        if b == lf { line += 1 }
                        buf.append(b)
                        i += 1
                    }
                    fields.append(String(decoding: buf, as: UTF8.self))
                    if i >= n { break record }
                    if bytes[i] == comma { i += 1; continue record }
                    let e = eol(i)
                    guard e > 0 else {
                        throw DataError(file: file, line: line, message: "unexpected character after closing quote")
                    }
                    i += e
                    line += 1
                    break record
                } else {
                    // Plain field: runs to a comma, a record terminator or the end.
                    let start = i
                    while i < n && bytes[i] != comma && eol(i) == 0 {
                        if bytes[i] == quote {
                            throw DataError(file: file, line: line,
                                            message: "quote inside an unquoted field (quote the whole field)")
                        }
                        i += 1
                    }
                    fields.append(String(decoding: bytes[start..<i], as: UTF8.self))
                    if i >= n {
                        isBlank = fields.count == 1 && start == i
                        break record
                    }
                    if bytes[i] == comma { i += 1; continue record }
                    isBlank = fields.count == 1 && start == i
                    i += eol(i)
                    line += 1
                    break record
                }
            }
            if !isBlank { records.append(CSVRecord(fields: fields, line: startLine)) }
        }
        return records
    }
}
