import XCTest
@testable import Report

/// The small helpers every part of the report and the command line share.
final class SupportTests: XCTestCase {
    func testDurationText() {
        XCTAssertEqual(durationText(4.25), "4.2 s")
        XCTAssertEqual(durationText(59.4), "59.4 s")
        XCTAssertEqual(durationText(754.2), "12 min 34 s")
        XCTAssertEqual(durationText(5000), "1 h 23 min")
        XCTAssertEqual(durationText(-1), "?")
        XCTAssertEqual(durationText(.infinity), "?")
        XCTAssertEqual(durationText(.nan), "?")
    }

    func testMedian() {
        XCTAssertEqual(median([3, 1, 2]), 2)
        XCTAssertEqual(median([4, 1, 3, 2]), 2.5)
        XCTAssertEqual(median([]), 0)
    }

    func testEscaping() {
        XCTAssertEqual(escaping("a<b & \"c\"", ["<": "&lt;", "&": "&amp;"]), "a&lt;b &amp; \"c\"")
        XCTAssertEqual(escaping("é\r\n", ["\n": "\\n", "\r": "\\r"]), "é\\r\\n", "scalars, not characters: \\r\\n is two")
    }

    func testMessageError() {
        XCTAssertEqual(MessageError("x").description, "x")
        XCTAssertEqual(MessageError.invalidArgument("--lr").message, "invalid argument: --lr")
    }
}
