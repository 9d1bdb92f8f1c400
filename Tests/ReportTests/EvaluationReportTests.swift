import XCTest
#if canImport(FoundationXML)
import FoundationXML  // XMLParser lives here on Linux (tests only; the library needs just Foundation)
#endif
@testable import Report

final class EvaluationReportTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("ft-dist-report-\(UUID().uuidString)/eval", isDirectory: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir.deletingLastPathComponent())
    }

    func testWritesAllFilesAtomically() throws {
        let report = try EvaluationReport(intents: EvalFixture.intents, predictions: EvalFixture.predictions,
                                          title: "Toy evaluation")
        let urls = try report.write(to: dir)
        XCTAssertEqual(urls.map(\.lastPathComponent),
                       ["metrics.json", "predictions.jsonl", "confusion.csv", "confusion.svg", "report.md"])
        // No temporary files left behind.
        let listing = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        XCTAssertEqual(listing, ["confusion.csv", "confusion.svg", "metrics.json", "predictions.jsonl", "report.md"])

        let metrics = try JSONDecoder().decode(EvaluationMetrics.self,
                                               from: Data(contentsOf: dir.appendingPathComponent("metrics.json")))
        XCTAssertEqual(metrics, report.metrics)
        XCTAssertEqual(metrics.accuracy, 0.6, accuracy: 1e-12)

        let jsonl = try String(contentsOf: dir.appendingPathComponent("predictions.jsonl"), encoding: .utf8)
        let lines = jsonl.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 11, "10 lines + final newline")
        XCTAssertEqual(lines.last, "")
        XCTAssertEqual(String(lines[0]), #"{"correct":true,"generated":" alpha","gold":"alpha","text":"a1"}"#)
        let decoded = try lines.dropLast().map { try JSONDecoder().decode(Prediction.self, from: Data($0.utf8)) }
        XCTAssertEqual(decoded, EvalFixture.predictions)

        let csv = try String(contentsOf: dir.appendingPathComponent("confusion.csv"), encoding: .utf8)
        XCTAssertEqual(csv, ConfusionMatrixCSV.render(report.metrics.confusion))
        let svg = try Data(contentsOf: dir.appendingPathComponent("confusion.svg"))
        XCTAssertTrue(XMLParser(data: svg).parse())

        let md = try String(contentsOf: dir.appendingPathComponent("report.md"), encoding: .utf8)
        XCTAssertTrue(md.hasPrefix("# Toy evaluation\n"))
        XCTAssertTrue(md.contains("| accuracy | 60.00% (6 / 10) |"))
        XCTAssertTrue(md.contains("| macro-F1 | 0.606 |"))        // 109/180
        XCTAssertTrue(md.contains("| weighted F1 | 0.620 |"))
        XCTAssertTrue(md.contains("| invalid outputs | 10.00% (1 / 10) |"))
        XCTAssertTrue(md.contains("![Confusion matrix](confusion.svg)"))
        XCTAssertTrue(md.contains("| 1 | `alpha` | `beta` | 1 |\n| 2 | `beta` | `gamma` | 1 |\n| 3 | `gamma` | `alpha` | 1 |\n"))
        // Per-intent table, worst F1 first: gamma 0.4 < beta 0.667 < alpha 0.75.
        XCTAssertTrue(md.contains("""
        | `gamma` | 0.500 | 0.333 | 0.400 | 3 | 1 |
        | `beta` | 0.667 | 0.667 | 0.667 | 3 | 0 |
        | `alpha` | 0.750 | 0.750 | 0.750 | 4 | 0 |
        """))
        for file in ["metrics.json", "predictions.jsonl", "confusion.csv"] {
            XCTAssertTrue(md.contains("(\(file))"), file)
        }
    }

    func testRewriteReplacesFiles() throws {
        try EvaluationReport(intents: EvalFixture.intents, predictions: EvalFixture.predictions).write(to: dir)
        let first = Array(EvalFixture.predictions.prefix(2))
        try EvaluationReport(intents: EvalFixture.intents, predictions: first).write(to: dir)
        let jsonl = try String(contentsOf: dir.appendingPathComponent("predictions.jsonl"), encoding: .utf8)
        XCTAssertEqual(jsonl.split(separator: "\n").count, 2)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).count, 5)
    }

    /// A report that cannot be written (a file stands where its directory should be) is an
    /// error, and nothing is left half-written.
    func testWriteFailsCleanlyWhenTheDirectoryCannotBeMade() throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let blocker = dir.appendingPathComponent("blocker")
        try Data("x".utf8).write(to: blocker)
        let target = blocker.appendingPathComponent("report")
        XCTAssertThrowsError(try EvaluationReport(intents: EvalFixture.intents, predictions: EvalFixture.predictions).write(to: target)) {
            XCTAssertTrue("\($0)".contains("cannot create the report directory \(target.path): \(blocker.path) is a file, not a directory"), "\($0)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["blocker"])
        XCTAssertEqual(try Data(contentsOf: blocker), Data("x".utf8))
    }

    /// A directory where the report writes a file is refused before any file is written, so
    /// an older report in the same place is not left half replaced.
    func testADirectoryInAFilesPlaceIsRefusedBeforeWriting() throws {
        try EvaluationReport(intents: EvalFixture.intents, predictions: EvalFixture.predictions).write(to: dir)
        let before = try Data(contentsOf: dir.appendingPathComponent("predictions.jsonl"))
        try FileManager.default.removeItem(at: dir.appendingPathComponent("confusion.svg"))
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("confusion.svg"), withIntermediateDirectories: false)
        let first = Array(EvalFixture.predictions.prefix(2))
        XCTAssertThrowsError(try EvaluationReport(intents: EvalFixture.intents, predictions: first).write(to: dir)) {
            XCTAssertTrue("\($0)".contains("confusion.svg: is a directory"), "\($0)")
        }
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("predictions.jsonl")), before)
    }

    /// OutputFile replaces a regular file whole, follows a symbolic link (the link stays) and
    /// writes into a named pipe instead of renaming a file over it.
    func testOutputFileFollowsLinksAndWritesIntoPipes() throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let target = dir.appendingPathComponent("target.bin"), link = dir.appendingPathComponent("link.bin")
        try Data("old".utf8).write(to: target)
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: target)
        try OutputFile.write(Data("new".utf8), to: link.path)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: link.path), target.path)
        XCTAssertEqual(try Data(contentsOf: target), Data("new".utf8))
        // a link to nothing yet: the file goes where it points, the link stays
        let later = dir.appendingPathComponent("later.bin"), pending = dir.appendingPathComponent("pending.bin")
        try FileManager.default.createSymbolicLink(at: pending, withDestinationURL: later)
        try OutputFile.write(Data("first".utf8), to: pending.path)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: pending.path), later.path)
        XCTAssertEqual(try Data(contentsOf: later), Data("first".utf8))

        // an open descriptor of this process (what /dev/stdout is): written through it, so a log
        // that stdout appends to keeps its lines and its inode
        let log = dir.appendingPathComponent("run.log")
        try Data("earlier lines\n".utf8).write(to: log)
        let inode = try FileManager.default.attributesOfItem(atPath: log.path)[.systemFileNumber] as? Int
        let appending = try FileHandle(forWritingTo: log)
        try appending.seekToEnd()
        try OutputFile.write(Data("logits".utf8), to: "/dev/fd/\(appending.fileDescriptor)")
        try appending.close()
        XCTAssertEqual(try String(contentsOf: log, encoding: .utf8), "earlier lines\nlogits")
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: log.path)[.systemFileNumber] as? Int, inode)

        let fifo = dir.appendingPathComponent("fifo").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        final class Received: @unchecked Sendable { var bytes: [UInt8] = [] }
        let received = Received()
        let reader = Thread {
            let fd = open(fifo, O_RDONLY)
            var buffer = [UInt8](repeating: 0, count: 256)
            while fd >= 0 {
                let n = read(fd, &buffer, buffer.count)
                if n <= 0 { break }
                received.bytes += buffer[0..<n]
            }
            close(fd)
        }
        reader.start()
        try OutputFile.write(Data("through the pipe".utf8), to: fifo)
        while !reader.isFinished { usleep(1000) }
        XCTAssertEqual(String(decoding: received.bytes, as: UTF8.self), "through the pipe")
        var info = stat()
        XCTAssertEqual(stat(fifo, &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFIFO, "still a pipe")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".tmp") }, [])
    }

    func testFull77ClassReport() throws {
        let intents = SyntheticBanking77.intents()
        let preds = SyntheticBanking77.predictions(intents: intents)
        let report = try EvaluationReport(intents: intents, predictions: preds)
        try report.write(to: dir)
        XCTAssertEqual(report.metrics.perIntent.count, 77)
        XCTAssertEqual(report.metrics.topConfusions.count, 10)
        XCTAssertEqual(report.metrics.topConfusions.first?.count, 12)
        XCTAssertEqual(report.metrics.examples, 77 * 40 + 12)
        let csv = try String(contentsOf: dir.appendingPathComponent("confusion.csv"), encoding: .utf8)
        let rows = csv.split(separator: "\n")
        XCTAssertEqual(rows.count, 78)
        XCTAssertTrue(rows.allSatisfy { $0.split(separator: ",").count == 79 })
    }
}
