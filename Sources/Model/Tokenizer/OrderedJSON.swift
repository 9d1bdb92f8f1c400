/// A JSON value whose objects keep every member, in file order, with keys as the exact
/// characters of the file. Foundation's parser builds dictionaries keyed by String, whose
/// equality is canonical equivalence: tokenizer.json's vocabulary has pieces that differ only
/// by normalization (";" and the Greek question mark U+037E), and one of them would vanish.
public indirect enum OrderedJSON {
    case object([(key: String, value: OrderedJSON)])
    case array([OrderedJSON])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    /// The first member named `key` of an object.
    public subscript(key: String) -> OrderedJSON? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key.utf8.elementsEqual(key.utf8) }?.value
    }

    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var int: Int? { if case .number(let d) = self, d == d.rounded(), abs(d) < 1e15 { return Int(d) } else { return nil } }
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var array: [OrderedJSON]? { if case .array(let a) = self { return a } else { return nil } }
    public var members: [(key: String, value: OrderedJSON)]? { if case .object(let m) = self { return m } else { return nil } }

    /// Parse UTF-8 JSON text; a syntax error names its byte offset.
    public static func parse(_ bytes: [UInt8], file: String) throws -> OrderedJSON {
        var p = Parser(bytes: bytes, file: file)
        let value = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == bytes.count else { throw p.error("trailing characters") }
        return value
    }

    struct Parser {
        let bytes: [UInt8]
        let file: String
        var i = 0

        init(bytes: [UInt8], file: String) {
            self.bytes = bytes
            self.file = file
        }

        func error(_ what: String) -> ModelFileError { ModelFileError(file: file, "invalid JSON at byte \(i): \(what)") }

        mutating func skipSpace() {
            while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
        }

        mutating func expect(_ b: UInt8) throws {
            skipSpace()
            guard i < bytes.count, bytes[i] == b else { throw error("expected \(Character(UnicodeScalar(b)))") }
            i += 1
        }

        mutating func value(depth: Int) throws -> OrderedJSON {
            guard depth < 64 else { throw error("nested too deeply") }
            skipSpace()
            guard i < bytes.count else { throw error("unexpected end") }
            switch bytes[i] {
            case UInt8(ascii: "{"):
                i += 1
                var members: [(key: String, value: OrderedJSON)] = []
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                while true {
                    skipSpace()
                    let key = try string()
                    try expect(UInt8(ascii: ":"))
                    members.append((key, try value(depth: depth + 1)))
                    skipSpace()
                    guard i < bytes.count else { throw error("unexpected end in an object") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    try expect(UInt8(ascii: "}"))
                    return .object(members)
                }
            case UInt8(ascii: "["):
                i += 1
                var items: [OrderedJSON] = []
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                while true {
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard i < bytes.count else { throw error("unexpected end in an array") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    try expect(UInt8(ascii: "]"))
                    return .array(items)
                }
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            default:
                let start = i
                while i < bytes.count, "+-0123456789.eE".utf8.contains(bytes[i]) { i += 1 }
                guard let d = Double(String(decoding: bytes[start..<i], as: UTF8.self)) else { throw error("not a value") }
                return .number(d)
            }
        }

        mutating func literal(_ word: String) throws {
            let w = Array(word.utf8)
            guard i + w.count <= bytes.count, Array(bytes[i..<(i + w.count)]) == w else { throw error("not a value") }
            i += w.count
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16) else {
                throw error("bad \\u escape")
            }
            i += 4
            return v
        }

        /// A string, its escapes decoded (\uXXXX with surrogate pairs), as exact scalars.
        mutating func string() throws -> String {
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw error("expected a string") }
            i += 1
            var out: [UInt8] = []
            while true {
                guard i < bytes.count else { throw error("unterminated string") }
                let b = bytes[i]
                i += 1
                if b == UInt8(ascii: "\"") { break }
                guard b == UInt8(ascii: "\\") else { out.append(b); continue }
                guard i < bytes.count else { throw error("unterminated escape") }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "u"):
                    var v = try hex4()
                    if (0xD800..<0xDC00).contains(v), i + 6 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                        i += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("bad surrogate pair") }
                        v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(v) else { throw error("lone surrogate") }
                    out.append(contentsOf: Array(String(Character(scalar)).utf8))
                default: out.append(e)   // \" \\ \/
                }
            }
            guard let s = String(validating: out, as: UTF8.self) else { throw error("a string is not UTF-8") }
            return s
        }
    }
}
