import Foundation
import Report
import TestSupport
import XCTest
@testable import Train

/// RunDirectory's files, and the message when one cannot be written.
final class RunDirectoryTests: XCTestCase {
    /// Lines are appended and kept across instances (a resumed run continues the file).
    func testMetricsLinesAreAppended() throws {
        let dir = try temporaryDirectory("run-directory")
        for step in 1...2 {
            let run = RunDirectory(path: dir.path)
            try run.appendValidation(ValidationRecord(step: step, loss: 0.5, accuracy: 0.9, invalidRate: 0, samples: 8, seconds: 1))
        }
        let lines = try String(contentsOfFile: RunFiles(dir.path).validationPath, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        XCTAssertTrue(lines[1].contains("\"step\":2"), String(lines[1]))
    }

    /// validation.jsonl on a full disk (/dev/full: every write fails with ENOSPC): the error names
    /// the file and the reason, rather than Foundation's "the operation could not be completed".
    func testAFailedAppendNamesTheFileAndTheReason() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: "/dev/full"), "needs Linux's /dev/full")
        let dir = try temporaryDirectory("run-directory")
        let path = RunFiles(dir.path).validationPath
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/full")
        let run = RunDirectory(path: dir.path)
        XCTAssertThrowsError(try run.appendValidation(ValidationRecord(step: 1, loss: 0.5, accuracy: 0.9, invalidRate: 0, samples: 8, seconds: 1))) { error in
            XCTAssertEqual("\(error)", "cannot write \(path): No space left on device")
        }
    }
}
