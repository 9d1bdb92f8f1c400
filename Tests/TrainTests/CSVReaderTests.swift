import Foundation
import XCTest
import Report
import Train

final class CSVReaderTests: XCTestCase {
    func testDataErrorDescription() {
        XCTAssertEqual(DataError(file: "train.csv", line: 17, message: "empty text").description,
                       "train.csv:17: empty text")
        XCTAssertEqual(DataError(file: "train.csv", message: "no data rows").description,
                       "train.csv: no data rows")
        XCTAssertEqual(MessageError.invalidArgument("x").description, "invalid argument: x")
    }

    func testQuotedFieldsAndLineNumbers() throws {
        let csv = "\"id\",\"text\",n\r\n"                    // line 1 (header, quoted names)
            + "1,\"hello, world\",a\r\n"                    // line 2: embedded comma
            + "2,\"she said \"\"hi\"\"\",b\n"               // line 3: doubled quotes, LF ending
            + "3,\"multi\nline\r\ntext\",c\r\n"             // lines 4–6: embedded LF and CRLF
            + "4,,\r\n"                                     // line 7: empty fields
            + "\r\n"                                        // line 8: blank, skipped
            + "5,plain text,\"\""                           // line 9: no final newline
        let t = try CSVReader.parse(Array(csv.utf8), file: "x.csv")
        XCTAssertEqual(t.header, ["id", "text", "n"])
        XCTAssertEqual(t.records, [
            CSVRecord(fields: ["1", "hello, world", "a"], line: 2),
            CSVRecord(fields: ["2", "she said \"hi\"", "b"], line: 3),
            CSVRecord(fields: ["3", "multi\nline\r\ntext", "c"], line: 4),
            CSVRecord(fields: ["4", "", ""], line: 7),
            CSVRecord(fields: ["5", "plain text", ""], line: 9),
        ])
        XCTAssertEqual(t.column("n"), 2)
        XCTAssertNil(t.column("N"))
    }

    func testBOMAndTrailingCommaAndUnicode() throws {
        let t = try CSVReader.parse([0xEF, 0xBB, 0xBF] + Array("a,b\ncafé 🎉,\n".utf8), file: "u.csv")
        XCTAssertEqual(t.header, ["a", "b"])
        XCTAssertEqual(t.records, [CSVRecord(fields: ["café 🎉", ""], line: 2)])
    }

    private func parseError(_ s: [UInt8]) -> DataError? {
        DataFixtures.expectDataError { _ = try CSVReader.parse(s, file: "bad.csv") }
    }

    func testErrorsNameFileAndLine() {
        let cases: [([UInt8], Int?, String)] = [
            (Array("a,b\n1,\"open\n2,x\n".utf8), 2, "unterminated quoted field"),
            (Array("a,b\n1,2\n3\n".utf8), 3, "expected 2 fields, found 1"),
            (Array("a,b\n1,2\n3,4,5\n".utf8), 3, "expected 2 fields, found 3"),
            (Array("a,b\n1,2\n3,".utf8) + [0xFF] + Array("\n".utf8), 3, "invalid UTF-8"),
            (Array("a,b\n1,".utf8) + [0xC0, 0xAF] + Array("\n".utf8), 2, "invalid UTF-8"),  // overlong "/"
            (Array("a,b\n\"x\"y,2\n".utf8), 2, "unexpected character after closing quote"),
            (Array("a,b\nx\"y,2\n".utf8), 2, "quote inside an unquoted field (quote the whole field)"),
            ([], nil, "empty file (no header)"),
            (Array("text,category\rhi,card_arrival\r".utf8), 1,
             "lines end in a carriage return alone (CR, classic Mac); save the file with LF or CRLF line endings"),
        ]
        for (input, line, message) in cases {
            guard let e = parseError(input) else { continue }
            XCTAssertEqual(e.file, "bad.csv")
            XCTAssertEqual(e.line, line, message)
            XCTAssertEqual(e.message, message)
        }
    }

    func testReadFromFileAndMissingFile() throws {
        let url = try DataFixtures.tempFile("t.csv", "x,y\r\n\"1\r\n2\",3\r\n4,5\r\n")
        let t = try CSVReader.read(url)
        XCTAssertEqual(t.records, [CSVRecord(fields: ["1\r\n2", "3"], line: 2), CSVRecord(fields: ["4", "5"], line: 4)])

        let missing = url.deletingLastPathComponent().appendingPathComponent("nope.csv")
        let e = DataFixtures.expectDataError { _ = try CSVReader.read(missing) }
        XCTAssertEqual(e?.file, missing.path)
        XCTAssertNil(e?.line)
        XCTAssertEqual(e?.description, missing.path + ": no such file")
        // a directory named like a split says so, not "NSCocoaErrorDomain error 256"
        let directory = url.deletingLastPathComponent().appendingPathComponent("dir.csv")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        XCTAssertEqual(DataFixtures.expectDataError { _ = try CSVReader.read(directory) }?.description,
                       directory.path + ": is a directory, not a file")
    }

    func testRealTrainCSVLineNumbers() throws {
        let t = try CSVReader.read(DataFixtures.banking77Dir.appendingPathComponent("train.csv"))
        XCTAssertEqual(t.header, ["text", "category"])
        XCTAssertEqual(t.records.count, 10_003)
        XCTAssertEqual(t.records[0], CSVRecord(fields: ["I am still waiting on my card?", "card_arrival"], line: 2))
        // Row 1710 starts with a newline inside quotes; earlier multi-line texts push it
        // from line 1712 to line 1716.
        XCTAssertEqual(t.records[1710], CSVRecord(
            fields: ["\nI put the wrong pin too many times and now it is blocked. Can you help me unblock it?", "pin_blocked"],
            line: 1716))
        XCTAssertEqual(t.records[10_002].fields, ["Which countries are represented?", "country_support"])
    }
}
