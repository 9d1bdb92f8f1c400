import Foundation
import XCTest
import Train

final class IntentListTests: XCTestCase {
    func testRealCategories() throws {
        let list = try IntentList.load(DataFixtures.banking77Dir.appendingPathComponent("categories.json"))
        XCTAssertEqual(list.count, 77)
        XCTAssertEqual(list[0], "card_arrival")
        XCTAssertEqual(list[76], "country_support")
        XCTAssertEqual(list.index(of: "card_arrival"), 0)
        XCTAssertEqual(list.index(of: "pin_blocked"), 13)
        XCTAssertEqual(list.index(of: "Refund_not_showing_up"), 44)
        XCTAssertNil(list.index(of: "refund_not_showing_up"))  // exact, case-sensitive
    }

    func testOrderIsFileOrder() throws {
        let url = try DataFixtures.tempFile("categories.json", "[\"zeta\", \"alpha\", \"Mid\"]")
        let list = try IntentList.load(url)
        XCTAssertEqual(list.names, ["zeta", "alpha", "Mid"])
        XCTAssertEqual(list.index(of: "alpha"), 1)
        XCTAssertEqual(list.index(of: "Mid"), 2)
        XCTAssertNil(list.index(of: "mid"))
    }

    func testUnicodeComparedByBytes() throws {
        // "é" precomposed vs "e" + combining acute: equal as Swift Strings, different bytes.
        let list = try IntentList(["caf\u{E9}", "x"])
        XCTAssertEqual(list.index(of: "caf\u{E9}"), 0)
        XCTAssertNil(list.index(of: "cafe\u{301}"))
    }

    func testErrors() throws {
        let cases: [(String, String)] = [
            ("[\"a\", \"b\", \"a\"]", "duplicate intent \"a\" at positions 0 and 2"),
            ("{\"a\": 1}", "expected a JSON array of strings"),
            ("[\"a\", 3]", "expected a JSON array of strings"),
            ("[\"a\", ", "expected a JSON array of strings"),
            ("[]", "no intents"),
            ("[\"a\", \"\"]", "empty intent name at position 1"),
            ("[\"a\", \"b\\tc\"]", "intent name \"b\\tc\" at position 1 contains a control character (tab, line break)"),
            ("[\"a\\nb\"]", "intent name \"a\\nb\" at position 0 contains a control character (tab, line break)"),
        ]
        for (json, message) in cases {
            let url = try DataFixtures.tempFile("categories.json", json)
            let e = DataFixtures.expectDataError { _ = try IntentList.load(url) }
            XCTAssertEqual(e?.file, url.path)
            XCTAssertEqual(e?.message, message, json)
            XCTAssertEqual(e?.description, "\(url.path): \(message)")
        }
        let missing = URL(fileURLWithPath: "/nonexistent-ftdist/categories.json")
        let e = DataFixtures.expectDataError { _ = try IntentList.load(missing) }
        XCTAssertEqual(e?.file, "/nonexistent-ftdist/categories.json")
        XCTAssertEqual(e?.message, "no such file")
    }
}
