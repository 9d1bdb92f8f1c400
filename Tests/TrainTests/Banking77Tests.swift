import Foundation
import XCTest
import Train

final class Banking77Tests: XCTestCase {
    private let intents = try! IntentList(["card_arrival", "Refund_not_showing_up"])

    func testColumnsInAnyOrderExtraColumnsRawText() throws {
        let url = try DataFixtures.tempFile("train.csv",
            "category,id,text\r\n"
            + "Refund_not_showing_up,7,\"Where is my refund, \"\"please\"\"?\"\r\n"
            + "card_arrival,8,\"\nWhen will my card come? \"\r\n")
        let rows = try Banking77.load(csv: url, intents: intents)
        XCTAssertEqual(rows, [
            LabeledText(text: "Where is my refund, \"please\"?", intent: "Refund_not_showing_up", intentIndex: 1, row: 0, line: 2),
            LabeledText(text: "\nWhen will my card come? ", intent: "card_arrival", intentIndex: 0, row: 1, line: 3),
        ])
    }

    private func loadError(_ csv: [UInt8]) throws -> (DataError?, URL) {
        let url = try DataFixtures.tempFile("train.csv", csv)
        return (DataFixtures.expectDataError { _ = try Banking77.load(csv: url, intents: self.intents) }, url)
    }

    func testBadDataNamesFileAndLine() throws {
        let cases: [([UInt8], Int?, String)] = [
            (Array("text,label\nhi,card_arrival\n".utf8), 1, "missing column \"category\""),
            (Array("category\ncard_arrival\n".utf8), 1, "missing column \"text\""),
            (Array("text,category,text\nhi,card_arrival,x\n".utf8), 1, "duplicate column \"text\""),
            (Array("text,category\nok,card_arrival\n\"\",card_arrival\n".utf8), 3, "empty text"),
            (Array("text,category\n\"a\nb\",card_arrival\n\" \n\",card_arrival\n".utf8), 4, "empty text"),
            (Array("text,category\nok,card_arrival\nmy refund?,refund_not_showing_up\n".utf8), 3,
             "unknown intent \"refund_not_showing_up\""),
            (Array("text,category\nok,card_arrival\nok,\n".utf8), 3, "unknown intent \"\""),
            // a stray carriage return before the CRLF stays in the field, and the message shows it
            (Array("text,category\r\nok,card_arrival\r\r\n".utf8), 2, "unknown intent \"card_arrival\\r\""),
            (Array("text,category\nok,card_arrival\nbad ".utf8) + [0xFE] + Array(",card_arrival\n".utf8), 3, "invalid UTF-8"),
            (Array("text,category\nok,card_arrival\nno comma here\n".utf8), 3, "expected 2 fields, found 1"),
            (Array("text,category\n".utf8), nil, "no data rows"),
        ]
        for (csv, line, message) in cases {
            let (e, url) = try loadError(csv)
            guard let e else { continue }
            XCTAssertEqual(e.file, url.path)
            XCTAssertEqual(e.line, line, message)
            XCTAssertEqual(e.message, message)
            if let line {
                XCTAssertTrue(e.description.hasSuffix("train.csv:\(line): \(message)"), e.description)
            }
        }
        let missing = URL(fileURLWithPath: "/nonexistent-ftdist/train.csv")
        let e = DataFixtures.expectDataError { _ = try Banking77.load(csv: missing, intents: self.intents) }
        XCTAssertEqual(e?.file, "/nonexistent-ftdist/train.csv")
        XCTAssertNil(e?.line)
    }

    func testRealBanking77() throws {
        let dir = DataFixtures.banking77Dir
        let intents = try IntentList.load(dir.appendingPathComponent("categories.json"))
        XCTAssertEqual(intents.count, 77)
        let train = try Banking77.load(csv: dir.appendingPathComponent("train.csv"), intents: intents)
        let test = try Banking77.load(csv: dir.appendingPathComponent("test.csv"), intents: intents)
        XCTAssertEqual(train.count, 10_003)
        XCTAssertEqual(test.count, 3_080)
        XCTAssertEqual(train.map(\.row), Array(0..<10_003))

        var testCounts = [Int](repeating: 0, count: 77)
        for x in test { testCounts[x.intentIndex] += 1 }
        XCTAssertEqual(testCounts, [Int](repeating: 40, count: 77))

        var trainCounts = [Int](repeating: 0, count: 77)
        for x in train { trainCounts[x.intentIndex] += 1 }
        XCTAssertEqual(trainCounts.min(), 35)
        XCTAssertEqual(trainCounts.max(), 187)
        XCTAssertEqual(trainCounts[44], 162)  // Refund_not_showing_up
        XCTAssertEqual(trainCounts.reduce(0, +), 10_003)

        XCTAssertEqual(train[8148], LabeledText(text: "I still don't have a card. How do I get one?",
                                                intent: "order_physical_card",
                                                intentIndex: intents.index(of: "order_physical_card")!, row: 8148,
                                                line: 8163))  // texts with line breaks before it span lines
        XCTAssertEqual(train[1710].text, "\nI put the wrong pin too many times and now it is blocked. Can you help me unblock it?")
        XCTAssertEqual(train[1710].intentIndex, 13)
        XCTAssertEqual(train.filter { $0.text.contains("\n") }.count, 10)
        XCTAssertEqual(train.filter { $0.text.contains("\"") }.count, 21)
        XCTAssertEqual(test.filter { $0.text.contains("\n") }.count, 3)
    }
}
