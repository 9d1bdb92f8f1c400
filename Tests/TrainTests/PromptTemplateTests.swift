import Foundation
import XCTest
import Model
import Report
import Train

final class PromptTemplateTests: XCTestCase {
    /// Gemma's special ids.
    static let gemma = SpecialTokens(bos: 2, eos: 1, pad: 0, unk: 3)

    /// Fake tokenizer: one token per UTF-8 byte, id = 1000 + byte.
    private static func byteTokens(_ s: String) -> [Int32] { s.utf8.map { 1000 + Int32($0) } }

    func testDefaultTemplate() throws {
        let t = try PromptTemplate()
        XCTAssertEqual(t.template,
                       "Classify the banking customer message into one of 77 intents.\nMessage: {text}\nIntent:")
        XCTAssertEqual(t.prompt(for: "Where is my card?"),
                       "Classify the banking customer message into one of 77 intents.\nMessage: Where is my card?\nIntent:")
        XCTAssertEqual(t.target(for: "card_arrival"), " card_arrival")
        // The message is inserted verbatim, even if it contains the placeholder itself.
        XCTAssertEqual(try PromptTemplate("[{text}]").prompt(for: "a {text} b"), "[a {text} b]")
    }

    func testPlaceholderMustAppearOnce() {
        for bad in ["no placeholder", "{text} and {text}", "{Text}", ""] {
            XCTAssertThrowsError(try PromptTemplate(bad), bad) { XCTAssertTrue(($0 as? MessageError)?.message.hasPrefix("invalid argument:") == true, "\($0)") }
        }
        XCTAssertNoThrow(try PromptTemplate("{text}"))
    }

    func testTokenizeIdsPromptLengthLabels() throws {
        let t = try PromptTemplate("<{text}>")
        let ex = LabeledText(text: "hi", intent: "ab", intentIndex: 5, row: 9)
        let tok = t.tokenize(ex, special: Self.gemma, encode: Self.byteTokens)
        // <bos>, "<hi>" = 60 104 105 62, " ab" = 32 97 98, <eos>
        XCTAssertEqual(tok.ids, [2, 1060, 1104, 1105, 1062, 1032, 1097, 1098, 1])
        XCTAssertEqual(tok.promptLength, 5)
        XCTAssertEqual(tok.targets, [1032, 1097, 1098, 1])
        XCTAssertEqual(tok.labels, [-100, -100, -100, -100, -100, 1032, 1097, 1098, 1])
        XCTAssertEqual(tok.row, 9)
        XCTAssertEqual(tok.intentIndex, 5)
        XCTAssertEqual(tok, TokenizedExample(ids: tok.ids, promptLength: 5, row: 9, intentIndex: 5))
    }

    func testPromptAndTargetTokenizedSeparately() throws {
        var calls: [String] = []
        let t = try PromptTemplate("Q: {text}\nA:")
        let ex = [LabeledText(text: "x", intent: "y", intentIndex: 0, row: 0),
                  LabeledText(text: "z", intent: "w", intentIndex: 1, row: 1)]
        let toks = t.tokenize(ex, special: Self.gemma) { s -> [Int32] in calls.append(s); return [Int32(s.utf8.count)] }
        XCTAssertEqual(calls, ["Q: x\nA:", " y", "Q: z\nA:", " w"])
        XCTAssertEqual(toks.map(\.ids), [[2, 7, 2, 1], [2, 7, 2, 1]])
        XCTAssertEqual(toks.map(\.promptLength), [2, 2])
        XCTAssertEqual(toks.map(\.row), [0, 1])
    }

    func testTokenizerErrorsPropagate() throws {
        struct Boom: Error {}
        let ex = LabeledText(text: "x", intent: "y", intentIndex: 0, row: 0)
        XCTAssertThrowsError(try PromptTemplate().tokenize(ex, special: Self.gemma) { _ in throw Boom() }) { XCTAssertTrue($0 is Boom) }
    }

    /// The rendered prompts of the first 50 test rows are exactly the prompt strings of the
    /// reference tokenizer vectors; with those vectors as a lookup tokenizer the example
    /// layout is <bos> + 26 prompt ids + 5 target ids + <eos>.
    func testAgainstReferenceTokenizerVectors() throws {
        var vectors: [String: [Int32]] = [:]
        let text = try String(contentsOf: DataFixtures.referenceDir.appendingPathComponent("tokenizer_vectors.jsonl"), encoding: .utf8)
        for line in text.split(separator: "\n") {
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            vectors[obj["text"] as! String] = (obj["ids"] as! [NSNumber]).map { Int32($0.intValue) }
        }
        XCTAssertEqual(vectors.count, 3_154)

        let dir = DataFixtures.banking77Dir
        let intents = try IntentList.load(dir.appendingPathComponent("categories.json"))
        let test = try Banking77.load(csv: dir.appendingPathComponent("test.csv"), intents: intents)
        let t = try PromptTemplate()
        for row in 0..<50 { XCTAssertNotNil(vectors[t.prompt(for: test[row].text)], "test row \(row)") }

        let ex = LabeledText(text: test[0].text, intent: "card_delivery_estimate", intentIndex: 7, row: 0)
        let tok = try t.tokenize(ex, special: Self.gemma) { s -> [Int32] in
            guard let ids = vectors[s] else { throw DataError(file: "vectors", message: "no vector for \(s)") }
            return ids
        }
        XCTAssertEqual(tok.ids.count, 1 + 27 + 5 + 1)
        XCTAssertEqual(tok.promptLength, 28)
        XCTAssertEqual(Array(tok.ids.prefix(4)), [2, 4335, 1891, 506])
        XCTAssertEqual(tok.targets, [3733, 236_779, 81_907, 236_779, 50_257, 1])
        XCTAssertEqual(tok.labels.filter { $0 != -100 }.count, 6)
    }
}
