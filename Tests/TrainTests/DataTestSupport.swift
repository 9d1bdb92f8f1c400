// Shared helpers of the data-pipeline tests: where the Banking77 copy and the reference
// fixtures live, and temp files for bad-data cases.

import Foundation
import XCTest
import TestSupport
import Train

enum DataFixtures {
    /// ../shared (docs/DESIGN.md, "Reference fixtures"); FTDIST_SHARED overrides.
    static var sharedDir: URL { TestPaths.sharedDir }

    static var banking77Dir: URL { sharedDir.appendingPathComponent("data/banking77") }
    static var referenceDir: URL { sharedDir.appendingPathComponent("reference") }

    /// A fresh directory holding `name` with `bytes`; returns the file's URL.
    static func tempFile(_ name: String, _ bytes: [UInt8]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("ftdist-data-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    static func tempFile(_ name: String, _ text: String) throws -> URL {
        try tempFile(name, Array(text.utf8))
    }

    /// Runs `body`, expecting a DataError; returns it (fails the test otherwise).
    static func expectDataError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> DataError? {
        do {
            try body()
            XCTFail("expected a DataError, nothing thrown", file: file, line: line)
        } catch let e as DataError {
            return e
        } catch {
            XCTFail("expected a DataError, got \(error)", file: file, line: line)
        }
        return nil
    }
}
