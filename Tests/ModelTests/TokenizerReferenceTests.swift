import Foundation
import TestSupport
import XCTest
@testable import Model

/// The tokenizer of the real Gemma 3 270M GGUF against the reference vectors
/// (`../shared/reference/tokenizer_vectors.jsonl`) and on all Banking77 texts.
/// These tests fail (never skip) when the model or a fixture is missing.
final class TokenizerReferenceTests: XCTestCase {
    /// The real tokenizer, loaded once for all tests of this class.
    static let loaded: Result<Tokenizer, Error> = Result {
        let path = TestPaths.modelPath
        guard FileManager.default.fileExists(atPath: path) else {
            throw ModelFileError(file: path, "model file missing (set FTDIST_ROOT or install the model)")
        }
        let t0 = Date()
        let file = try GGUFFile(path: path)
        let t1 = Date()
        let tokenizer = try Tokenizer(gguf: file)
        let t2 = Date()
        print(String(format: "tokenizer load: GGUF header %.3f s, tokenizer build %.3f s, total %.3f s",
                     t1.timeIntervalSince(t0), t2.timeIntervalSince(t1), t2.timeIntervalSince(t0)))
        loadSeconds = (t1.timeIntervalSince(t0), t2.timeIntervalSince(t1))
        return tokenizer
    }
    nonisolated(unsafe) static var loadSeconds: (header: Double, build: Double) = (0, 0)

    func tokenizer() throws -> Tokenizer { try Self.loaded.get() }

    /// Timing bounds apply to release builds (`swift test -c release`); debug builds get loose ones.
    #if DEBUG
    static let optimized = false
    #else
    static let optimized = true
    #endif

    struct Vector {
        var text: String
        var ids: [Int32]
        var idsParseSpecial: [Int32]?
    }

    static func readVectors() throws -> [Vector] {
        let path = TestPaths.referenceDir.appendingPathComponent("tokenizer_vectors.jsonl").path
        let data = try String(contentsOfFile: path, encoding: .utf8)
        var vectors: [Vector] = []
        for (n, line) in data.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let text = object["text"] as? String, let ids = object["ids"] as? [Int] else {
                throw ModelFileError(file: path, "line \(n + 1) is not {text, ids}")
            }
            let special = (object["ids_parse_special"] as? [Int])?.map { Int32($0) }
            vectors.append(Vector(text: text, ids: ids.map { Int32($0) }, idsParseSpecial: special))
        }
        return vectors
    }

    func testLoadsTheRealVocabulary() throws {
        let t = try tokenizer()
        XCTAssertEqual(t.vocabularySize, 262_144)
        XCTAssertEqual(t.piece(0), "<pad>")
        XCTAssertEqual(t.piece(1), "<eos>")
        XCTAssertEqual(t.piece(2), "<bos>")
        XCTAssertEqual(t.piece(3), "<unk>")
        XCTAssertEqual(t.piece(105), "<start_of_turn>")
        XCTAssertEqual(t.piece(106), "<end_of_turn>")
        XCTAssertEqual(t.bos, 2)
        XCTAssertEqual(t.eos, 1)
        XCTAssertLessThan(Self.loadSeconds.build, Self.optimized ? 1.0 : 10.0, "building the tokenizer should take < 1 s (release)")
    }

    func testReferenceVectors() throws {
        let t = try tokenizer()
        let vectors = try Self.readVectors()
        XCTAssertEqual(vectors.count, 3154)
        var mismatches: [String] = []
        var specialRows = 0
        for (n, v) in vectors.enumerated() {
            let ids = t.encode(v.text)
            if ids != v.ids {
                mismatches.append("row \(n) \(v.text.debugDescription): got \(ids), expected \(v.ids)")
            }
            if let expected = v.idsParseSpecial {
                specialRows += 1
                let got = t.encode(v.text, parseSpecial: true)
                if got != expected {
                    mismatches.append("row \(n) parseSpecial \(v.text.debugDescription): got \(got), expected \(expected)")
                }
            }
        }
        XCTAssertEqual(specialRows, 2)
        print("tokenizer vectors: \(vectors.count - mismatches.count)/\(vectors.count) rows match, \(specialRows) parse-special rows")
        XCTAssertTrue(mismatches.isEmpty, "\(mismatches.count) mismatches:\n" + mismatches.prefix(30).joined(separator: "\n"))
    }

    func testDecodeInvertsEncode() throws {
        let t = try tokenizer()
        var failures: [String] = []
        for v in try Self.readVectors() {
            let ids = t.encode(v.text)
            if v.idsParseSpecial == nil, t.decode(ids) != v.text {
                failures.append("\(v.text.debugDescription) -> \(t.decode(ids).debugDescription)")
            }
            // Decoding the reference ids gives the text back as well.
            if v.idsParseSpecial == nil, t.decode(v.ids) != v.text {
                failures.append("reference ids of \(v.text.debugDescription) -> \(t.decode(v.ids).debugDescription)")
            }
        }
        XCTAssertTrue(failures.isEmpty, failures.prefix(20).joined(separator: "\n"))
        // Control tokens decode to nothing; their literal tokenization decodes to the text.
        XCTAssertEqual(t.decode(t.encode("<start_of_turn>user\nhi<end_of_turn>", parseSpecial: true)), "user\nhi")
        XCTAssertEqual(t.decode(t.encode("<start_of_turn>user\nhi<end_of_turn>")), "<start_of_turn>user\nhi<end_of_turn>")
        XCTAssertEqual(t.decode([2] + t.encode("Hello world") + [1]), "Hello world")
    }

    /// Random strings (ASCII, whitespace runs, accents, combining marks, CJK, emoji, NUL, tags)
    /// survive encode/decode, with and without parseSpecial.
    func testRandomRoundTrips() throws {
        let t = try tokenizer()
        let alphabet: [String] = ["a", "b", "Z", "0", " ", "  ", "\n", "\t", "\r", "\0", "é", "e\u{301}", "ß", "日", "本",
                                  "🙂", "👍🏽", "<", ">", "<b>", "<bos>", "<start_of_turn>", "_", "'", "\"", ",", "\u{FFFD}"]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let text = (0..<Int.random(in: 0...40, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }.joined()
            let ids = t.encode(text)
            XCTAssertTrue(ids.allSatisfy { $0 >= 0 && Int($0) < t.vocabularySize })
            XCTAssertEqual(t.decode(ids), text, "\(text.debugDescription) -> \(ids)")
            let special = t.encode(text, parseSpecial: true)
            let stripped = text.replacingOccurrences(of: "<start_of_turn>", with: "").replacingOccurrences(of: "<bos>", with: "")
            XCTAssertEqual(t.decode(special), stripped, "\(text.debugDescription) -> \(special)")
        }
    }

    /// A customer message cannot inject control tokens.
    func testControlTokensAreLiteralByDefault() throws {
        let t = try tokenizer()
        for text in ["<bos>", "<eos>", "<start_of_turn>model\n", "<end_of_turn>", "<pad><unk><mask>"] {
            let ids = t.encode(text)
            XCTAssertFalse(ids.contains { t.pieceType($0) == .control }, "\(text.debugDescription) -> \(ids)")
        }
        XCTAssertEqual(t.encode("<eos>", parseSpecial: true), [1])
    }

    func testBanking77Speed() throws {
        let t = try tokenizer()
        var texts: [String] = []
        for name in ["train.csv", "test.csv"] {
            texts += try Self.csvColumn("text", of: TestPaths.dataDir.appendingPathComponent(name).path)
        }
        XCTAssertEqual(texts.count, 13_083)
        let start = Date()
        var tokens = 0
        for text in texts { tokens += t.encode(text).count }
        let seconds = Date().timeIntervalSince(start)
        print(String(format: "banking77: %d texts, %d tokens encoded in %.3f s", texts.count, tokens, seconds))
        XCTAssertLessThan(seconds, Self.optimized ? 2.0 : 30.0, "the bound is 2 s in release builds")
        XCTAssertGreaterThan(tokens, texts.count)
    }

    /// The values of one column of a CSV file (RFC 4180: quoted fields may hold commas,
    /// doubled quotes and newlines).
    static func csvColumn(_ column: String, of path: String) throws -> [String] {
        let content = try String(contentsOfFile: path, encoding: .utf8)
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var chars = content.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        while let c = pending ?? chars.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let n = chars.next() {
                        if n == "\"" { field.unicodeScalars.append("\"") } else { quoted = false; pending = n }
                    } else { quoted = false }
                } else {
                    field.unicodeScalars.append(c)
                }
            } else if c == "\"" && field.isEmpty {
                quoted = true
            } else if c == "," {
                row.append(field); field = ""
            } else if c == "\n" || c == "\r" {
                if c == "\r" { if let n = chars.next(), n != "\n" { pending = n } }
                row.append(field); field = ""
                rows.append(row); row = []
            } else {
                field.unicodeScalars.append(c)
            }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        guard let header = rows.first, let index = header.firstIndex(of: column) else {
            throw ModelFileError(file: path, "no column \(column)")
        }
        return try rows.dropFirst().map {
            guard index < $0.count else { throw ModelFileError(file: path, "short row \($0)") }
            return $0[index]
        }
    }
}
