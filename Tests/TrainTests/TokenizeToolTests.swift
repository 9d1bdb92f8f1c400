import Foundation
import TestSupport
import XCTest

/// `ft-dist tokenize --jsonl` (TokenizeTool): a client that writes one line gets its answer
/// before it writes the next, keys in one order every run; stdin that cannot be read is an
/// error, not a trap.
final class TokenizeToolTests: XCTestCase {
    func testAnswersEachLineAsItArrives() throws {
        let dir = try temporaryDirectory("tokenize")
        let model = try TinyRun.model(in: dir)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestPaths.binary)
        p.arguments = ["tokenize", "--jsonl", "--model", model]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = FileHandle.nullDevice
        try p.run()
        final class Lines: @unchecked Sendable { var text = ""; let lock = NSLock() }
        let lines = Lines()
        output.fileHandleForReading.readabilityHandler = { h in
            let data = h.availableData
            lines.lock.lock(); lines.text += String(decoding: data, as: UTF8.self); lines.lock.unlock()
        }
        func answered(_ count: Int) -> Bool {
            let start = Date()
            while Date().timeIntervalSince(start) < 30 {
                lines.lock.lock(); let n = lines.text.filter { $0 == "\n" }.count; lines.lock.unlock()
                if n >= count { return true }
                Thread.sleep(forTimeInterval: 0.02)
            }
            return false
        }
        input.fileHandleForWriting.write(Data("{\"text\":\"ab\"}\n".utf8))
        XCTAssertTrue(answered(1), "no answer to the first line while stdin stays open")
        input.fileHandleForWriting.write(Data("{\"text\":\"ba ab\"}\n".utf8))
        XCTAssertTrue(answered(2), "no answer to the second line")
        try input.fileHandleForWriting.close()
        p.waitUntilExit()
        output.fileHandleForReading.readabilityHandler = nil
        XCTAssertEqual(p.terminationStatus, 0)
        let first = try XCTUnwrap(lines.text.split(separator: "\n").first)
        XCTAssertTrue(first.hasPrefix("{\"ids\":["), "sorted keys: \(first)")
        XCTAssertTrue(first.hasSuffix("\"text\":\"ab\"}"), String(first))

        let fromDirectory = try Launch.ftdist(["tokenize", "--jsonl", "--model", model], stdinPath: dir)
        XCTAssertEqual(fromDirectory.status, 1)
        XCTAssertTrue(fromDirectory.stderr.contains("cannot read stdin: Is a directory"), fromDirectory.stderr)
    }
}
