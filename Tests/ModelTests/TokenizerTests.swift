import Foundation
import XCTest
@testable import Model

/// The tokenizer on a tiny hand-made vocabulary, written to a GGUF and loaded back, where
/// every expected tokenization is worked out by hand.
final class TokenizerTests: XCTestCase {
    /// Ids of the hand-made vocabulary.
    enum V {
        static let pad: Int32 = 0, eos: Int32 = 1, bos: Int32 = 2, unk: Int32 = 3, startOfTurn: Int32 = 4
        static let newline: Int32 = 5, twoSpaces: Int32 = 6, threeSpaces: Int32 = 7, boldTag: Int32 = 8
        static func byte(_ b: UInt8) -> Int32 { 9 + Int32(b) }            // <0x00> ... <0xFF>: 9...264
        static let a: Int32 = 265, b: Int32 = 266, c: Int32 = 267, space: Int32 = 268
        static let ab: Int32 = 269, bc: Int32 = 270, abc: Int32 = 271, spaceA: Int32 = 272
        static let aa: Int32 = 273, spaceAB: Int32 = 274
        static let x: Int32 = 275, y: Int32 = 276, z: Int32 = 277, xy: Int32 = 278, xyz: Int32 = 279
        static let eAcute: Int32 = 280
    }

    static func vocabulary() -> (tokens: [String], scores: [Float], types: [Int32]) {
        var tokens: [String] = [], scores: [Float] = [], types: [Int32] = []
        func add(_ t: String, _ s: Float, _ type: Int32) { tokens.append(t); scores.append(s); types.append(type) }
        add("<pad>", -1000, 3); add("<eos>", -1000, 3); add("<bos>", -1000, 3); add("<unk>", -1000, 3)
        add("<start_of_turn>", -1000, 3)
        add("\n", -1000, 4); add("  ", -1000, 4); add("   ", -1000, 4); add("<b>", -1000, 4)
        for b in 0..<256 { add(String(format: "<0x%02X>", b), 0, 6) }
        add("a", -1, 1); add("b", -2, 1); add("c", -3, 1); add("▁", -4, 1)
        add("ab", -5, 1)     // "abc": bc (-1) beats ab (-5), then a+bc -> abc
        add("bc", -1, 1)
        add("abc", -6, 1)
        add("▁a", -7, 1)     // " ab": ab (-5) beats ▁a (-7), then ▁+ab -> ▁ab
        add("aa", -8, 1)     // "aaa": two equal candidates, the leftmost wins
        add("▁ab", -9, 1)
        add("x", -1, 1); add("y", -1, 1); add("z", -1, 1)
        add("xy", 0, 5)      // unused: merged, then resegmented unless merged further
        add("xyz", -2, 1)
        add("e\u{301}", -1, 1) // decomposed é: must not match the precomposed é
        return (tokens, scores, types)
    }

    static func writeGGUF(_ configure: (inout GGUFWriter) -> Void) throws -> String {
        var w = GGUFWriter()
        w.set("general.architecture", .string("gemma3"))
        let v = vocabulary()
        w.set("tokenizer.ggml.model", .string("llama"))
        w.set("tokenizer.ggml.tokens", .array(v.tokens.map { .string($0) }))
        w.set("tokenizer.ggml.scores", .array(v.scores.map { .float32($0) }))
        w.set("tokenizer.ggml.token_type", .array(v.types.map { .int32($0) }))
        configure(&w)
        w.addTensor("dummy", shape: [2], values: [1, 2])
        let path = NSTemporaryDirectory() + "ftdist-tok-\(UUID().uuidString).gguf"
        try w.write(to: path)
        return path
    }

    static func tiny() throws -> Tokenizer {
        let path = try writeGGUF { _ in }
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try Tokenizer(gguf: GGUFFile(path: path))
    }

    func testBasics() throws {
        let t = try Self.tiny()
        XCTAssertEqual(t.vocabularySize, 281)
        XCTAssertEqual(t.bos, 2)
        XCTAssertEqual(t.eos, 1)
        XCTAssertEqual(t.piece(V.abc), "abc")
        XCTAssertEqual(t.piece(V.twoSpaces), "  ")
        XCTAssertEqual(t.piece(-1), "")
        XCTAssertEqual(t.piece(100_000), "")
        XCTAssertEqual(t.encode(""), [])
    }

    func testBPEMergesByScore() throws {
        let t = try Self.tiny()
        XCTAssertEqual(t.encode("a"), [V.a])
        XCTAssertEqual(t.encode("abc"), [V.abc])                // bc first, then a+bc
        XCTAssertEqual(t.encode("ab"), [V.ab])
        XCTAssertEqual(t.encode("abab"), [V.ab, V.ab])          // "abab" is no piece
        XCTAssertEqual(t.encode("aaa"), [V.aa, V.a])            // tie: leftmost pair first
        XCTAssertEqual(t.encode(" ab"), [V.spaceAB])            // ab, then ▁+ab
        XCTAssertEqual(t.encode(" a"), [V.spaceA])
        XCTAssertEqual(t.encode("c a"), [V.c, V.spaceA])        // spaces become ▁, no dummy prefix
        XCTAssertEqual(t.encode("a b"), [V.a, V.space, V.b])    // "▁b" is no piece
        XCTAssertEqual(t.encode("cab"), [V.c, V.ab])            // "ca" is no piece
        XCTAssertEqual(t.encode("bcab"), [V.bc, V.ab])
    }

    func testUnusedPiecesAreResegmented() throws {
        let t = try Self.tiny()
        XCTAssertEqual(t.encode("xy"), [V.x, V.y])
        XCTAssertEqual(t.encode("xyz"), [V.xyz])
        XCTAssertEqual(t.encode("xyx"), [V.x, V.y, V.x])
    }

    func testByteFallback() throws {
        let t = try Self.tiny()
        XCTAssertEqual(t.encode("d"), [V.byte(0x64)])
        XCTAssertEqual(t.encode("aé"), [V.a, V.byte(0xC3), V.byte(0xA9)])     // precomposed é: no piece
        XCTAssertEqual(t.encode("e\u{301}"), [V.eAcute])                        // decomposed é: a piece
        XCTAssertEqual(t.encode("🙂b"), [V.byte(0xF0), V.byte(0x9F), V.byte(0x99), V.byte(0x82), V.b])
        // Pieces are built from scalars, not grapheme clusters: "e" + U+0301 + "x"
        XCTAssertEqual(t.encode("xe\u{301}"), [V.x, V.eAcute])
        // The text of a byte token is not merged into the byte token.
        XCTAssertEqual(t.encode("<0x61>").count, 6)
    }

    func testUserDefinedPiecesMatchFirstLongestFirst() throws {
        let t = try Self.tiny()
        XCTAssertEqual(t.encode("  "), [V.twoSpaces])
        XCTAssertEqual(t.encode("a  b\nc"), [V.a, V.twoSpaces, V.b, V.newline, V.c])
        XCTAssertEqual(t.encode("a   b"), [V.a, V.threeSpaces, V.b])
        XCTAssertEqual(t.encode("    a"), [V.threeSpaces, V.spaceA])        // 3 spaces, then "▁a"
        XCTAssertEqual(t.encode("\n\n"), [V.newline, V.newline])
        XCTAssertEqual(t.encode("a<b>b"), [V.a, V.boldTag, V.b])            // matched even without parseSpecial
        XCTAssertEqual(t.encode("ab<b>"), [V.ab, V.boldTag])
    }

    func testControlTokensOnlyWithParseSpecial() throws {
        let t = try Self.tiny()
        let literal = t.encode("<bos>a")
        XCTAssertEqual(literal, [V.byte(0x3C), V.b, V.byte(0x6F), V.byte(0x73), V.byte(0x3E), V.a])
        XCTAssertFalse(literal.contains(V.bos))
        XCTAssertEqual(t.encode("<bos>a", parseSpecial: true), [V.bos, V.a])
        XCTAssertEqual(t.encode("<start_of_turn>ab\n", parseSpecial: true), [V.startOfTurn, V.ab, V.newline])
        XCTAssertEqual(t.encode("a<b>b", parseSpecial: true), [V.a, V.boldTag, V.b])
    }

    func testDecode() throws {
        let t = try Self.tiny()
        XCTAssertEqual(t.decode([V.a, V.twoSpaces, V.space, V.b, V.byte(0xC3), V.byte(0xA9)]), "a   bé")
        XCTAssertEqual(t.decode([V.bos, V.spaceAB, V.eos, V.startOfTurn, V.pad]), " ab")
        XCTAssertEqual(t.decode([V.byte(0xC3)]), "\u{FFFD}")                 // lossy
        XCTAssertEqual(t.decode([-5, 9999, V.c]), "c")                      // out of range ids: nothing
        for text in ["abc a", "  a\n\nb   c", "aé🙂 d", "<bos>x", "e\u{301}"] {
            XCTAssertEqual(t.decode(t.encode(text)), text)
        }
    }

    func testBadVocabularyIsAnError() {
        XCTAssertThrowsError(try Tokenizer(tokens: [], scores: [], types: []))
        XCTAssertThrowsError(try Tokenizer(tokens: ["<unk>", "a"], scores: [0], types: [2, 1])) { error in
            XCTAssertTrue("\(error)".contains("tokenizer.ggml.scores"), "\(error)")
        }
        XCTAssertThrowsError(try Tokenizer(tokens: ["<unk>", "a"], scores: [0, 0], types: [2]))
        XCTAssertThrowsError(try Tokenizer(tokens: ["<unk>", "a"], scores: [0, 0], types: [2, 9]))
        XCTAssertThrowsError(try Tokenizer(tokens: ["<unk>", "<0xZZ>"], scores: [0, 0], types: [2, 6]))
        XCTAssertThrowsError(try Tokenizer(tokens: ["<unk>", "a"], scores: [0, .nan], types: [2, 1]))
        // Neither byte tokens nor <unk>: byte fallback would have nothing to emit.
        XCTAssertThrowsError(try Tokenizer(tokens: ["a"], scores: [0], types: [1]))
        // A vocabulary with <unk> but no byte tokens is usable: unknown characters become <unk>.
        XCTAssertEqual(try Tokenizer(tokens: ["<unk>", "a"], scores: [0, 0], types: [2, 1]).encode("ab"), [1, 0])
    }

    func testBadGGUFMetadataIsAnError() throws {
        func expectError(_ what: String, _ configure: (inout GGUFWriter) -> Void) throws {
            let path = try Self.writeGGUF(configure)
            defer { try? FileManager.default.removeItem(atPath: path) }
            let file = try GGUFFile(path: path)
            XCTAssertThrowsError(try Tokenizer(gguf: file), what) { error in
                guard let e = error as? ModelFileError else { return XCTFail("\(what): \(error) is no ModelFileError") }
                XCTAssertEqual(e.file, path, what)
            }
        }
        try expectError("missing tokens") { w in
            var copy = GGUFWriter()
            copy.set("tokenizer.ggml.scores", .array([.float32(0)]))
            copy.set("tokenizer.ggml.token_type", .array([.int32(1)]))
            w = copy
        }
        try expectError("scores too short") { $0.set("tokenizer.ggml.scores", .array([.float32(0)])) }
        try expectError("types not numbers") { $0.set("tokenizer.ggml.token_type", .array([.string("normal")])) }
        try expectError("tokens not strings") { $0.set("tokenizer.ggml.tokens", .array([.int32(1)])) }
        try expectError("non-integer type") {
            $0.set("tokenizer.ggml.token_type", .array(Self.vocabulary().types.map { _ in .float32(1.5) }))
        }
        try expectError("empty vocabulary") {
            $0.set("tokenizer.ggml.tokens", .array([]))
            $0.set("tokenizer.ggml.scores", .array([]))
            $0.set("tokenizer.ggml.token_type", .array([]))
        }
        try expectError("other tokenizer model") { $0.set("tokenizer.ggml.model", .string("gpt2")) }
    }

    /// The special ids come from the file's tokenizer.ggml.*_token_id when it names them, else
    /// from the pieces <bos>, <eos>, <pad>; an id outside the vocabulary is an error.
    func testSpecialIdsComeFromTheFile() throws {
        func load(_ configure: (inout GGUFWriter) -> Void) throws -> Tokenizer {
            let path = try Self.writeGGUF(configure)
            defer { try? FileManager.default.removeItem(atPath: path) }
            return try Tokenizer(gguf: GGUFFile(path: path))
        }
        XCTAssertEqual(try load { _ in }.special, SpecialTokens(bos: V.bos, eos: V.eos, pad: V.pad, unk: V.unk))
        let declared = try load {
            $0.set("tokenizer.ggml.bos_token_id", .uint32(UInt32(V.startOfTurn)))
            $0.set("tokenizer.ggml.eos_token_id", .uint32(UInt32(V.newline)))
            $0.set("tokenizer.ggml.padding_token_id", .uint32(UInt32(V.unk)))
        }
        XCTAssertEqual(declared.special, SpecialTokens(bos: V.startOfTurn, eos: V.newline, pad: V.unk, unk: V.unk))
        XCTAssertEqual(declared.bos, V.startOfTurn)
        XCTAssertThrowsError(try load { $0.set("tokenizer.ggml.eos_token_id", .uint32(1_000_000)) }) { error in
            XCTAssertTrue("\(error)".contains("tokenizer.ggml.eos_token_id"), "\(error)")
        }
    }
}
