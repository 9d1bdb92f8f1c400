import XCTest
#if canImport(FoundationXML)
import FoundationXML  // XMLParser lives here on Linux
#endif
import TestSupport
@testable import Report
import Train

/// Element counts, <text> contents and every font-size of an SVG; parse errors fail the test.
private final class SVGScan: NSObject, XMLParserDelegate {
    var texts: [String] = []
    var elements: [String: Int] = [:]
    var root: [String: String] = [:]
    var fontSizes: [Double] = []
    private var current: String?

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
                qualifiedName: String?, attributes: [String: String] = [:]) {
        if elements.isEmpty { root = attributes }
        elements[name, default: 0] += 1
        if let size = attributes["font-size"].flatMap(Double.init) { fontSizes.append(size) }
        if name == "text" { current = "" }
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) { current? += string }
    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "text", let c = current { texts.append(c); current = nil }
    }

    static func parse(_ svg: String, file: StaticString = #filePath, line: UInt = #line) -> SVGScan {
        let scan = SVGScan()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = scan
        XCTAssertTrue(parser.parse(), "not well-formed XML: \(String(describing: parser.parserError))", file: file, line: line)
        return scan
    }
}

final class RunReportTests: XCTestCase {
    private var root: URL!
    private var run: URL!

    override func setUpWithError() throws {
        root = try TestPaths.temporaryDirectory("run-report")
        run = root.appendingPathComponent("run-a")
        try Self.makeRun(at: run)
    }

    override func tearDownWithError() throws {
        if let root { try? FileManager.default.removeItem(at: root) }
    }

    // MARK: - Fixture: 30 steps, 2 epochs of 15, resumed after step 10, 3 validations, a test evaluation

    static let intents = ["card_arrival", "card_delivery_estimate", "lost_or_stolen_card", "top_up_failed"]

    static func step(_ n: Int) -> StepRecord {
        StepRecord(step: n, epoch: (n - 1) / 15, loss: 4.0 / Double(n), gradNorm: 1.5, lr: 5e-5 * (1 - Double(n - 1) / 30),
                   tokens: 100, labelTokens: 10, packedRows: 50, seconds: Double(n),
                   forwardSeconds: 0.4, headSeconds: 0.1, backwardSeconds: 0.3, allReduceSeconds: 0.05,
                   optimizerSeconds: 0.15, rssBytes: 1 << 30, rows: [4 * n, 4 * n + 1, 4 * n + 2, 4 * n + 3])
    }

    static func makeRun(at run: URL, validation: Bool = true, evaluation: Bool = true) throws {
        let dir = RunDirectory(path: run.path)
        try dir.create()
        var options = TrainingOptions(modelPath: "/m.gguf", dataDir: "/data", output: run.path)
        options.epochs = 2
        options.batchSize = 4
        options.evalSteps = 10
        func config(_ resumedFrom: String?, _ started: String) -> RunConfig {
            RunConfig(options: options, worldSize: 2, transport: "MPI (Open MPI)", blasThreads: 3,
                                  hosts: ["node-a", "node-b"], totalSteps: 30, trainExamples: 60, validationExamples: 8,
                                  resumedFrom: resumedFrom, startedAt: started)
        }
        try dir.writeJSON(config(nil, "2026-01-02T03:04:05Z"), to: "run_config.json")
        try dir.writeJSON(config(run.appendingPathComponent("checkpoint-000010").path, "2026-01-02T04:00:00Z"),
                          to: "run_config.resume-10.json")
        for n in 1...30 { try dir.appendMetrics(step(n)) }
        if validation {
            for (n, acc) in [(10, 0.5), (20, 0.7), (30, 0.8)] {
                try dir.appendValidation(ValidationRecord(step: n, loss: 1.0 / Double(n / 10), accuracy: acc,
                                                                      invalidRate: n == 10 ? 0.125 : 0, samples: 8, seconds: 2))
            }
        }
        if evaluation {
            var predictions: [Prediction] = []
            func add(_ gold: String, _ generated: String, _ times: Int) {
                for i in 0..<times { predictions.append(Prediction(text: "\(gold) \(i)", gold: gold, generated: " " + generated)) }
            }
            add("card_arrival", "card_arrival", 3)
            add("card_arrival", "card_delivery_estimate", 2)
            add("card_delivery_estimate", "card_delivery_estimate", 3)
            add("card_delivery_estimate", "card_arrival", 1)
            add("lost_or_stolen_card", "lost_or_stolen_card", 2)
            add("lost_or_stolen_card", "no idea", 1)
            add("top_up_failed", "top_up_failed", 3)
            add("top_up_failed", "lost_or_stolen_card", 1)
            try EvaluationReport(intents: intents, predictions: predictions, title: "test after 30 steps")
                .write(to: run.appendingPathComponent("eval-test"))
        }
    }

    // MARK: - Numbers

    func testSummaryNumbers() throws {
        let report = try RunReport(runDirectory: run.path)
        let s = report.summary
        XCTAssertEqual(s.stepsDone, 30)
        XCTAssertEqual(s.records, 30)
        XCTAssertEqual(s.totalSteps, 30)
        XCTAssertEqual(s.epochsSeen, 2)
        XCTAssertEqual(s.epochsPlanned, 2)
        XCTAssertEqual(s.stepSecondsSum, 465, accuracy: 1e-9)           // 1 + 2 + … + 30
        XCTAssertEqual(s.medianSecondsPerStep, 15.5, accuracy: 1e-12)   // (15 + 16) / 2
        XCTAssertEqual(s.examples, 120)
        XCTAssertEqual(s.tokens, 3000)
        XCTAssertEqual(s.labelTokens, 300)
        XCTAssertEqual(s.examplesPerSecond, 120.0 / 465, accuracy: 1e-12)
        XCTAssertEqual(s.tokensPerSecond, 3000.0 / 465, accuracy: 1e-12)
        XCTAssertEqual(s.firstLoss, 4, accuracy: 1e-12)
        // mean of 4/n over the last 25 steps (6…30)
        XCTAssertEqual(s.lastLossAverage, (6...30).reduce(0.0) { $0 + 4.0 / Double($1) } / 25, accuracy: 1e-12)

        XCTAssertEqual(report.epochStarts.map(\.step), [16])
        XCTAssertEqual(report.epochStarts.map(\.epoch), [1])
        XCTAssertEqual(report.resumeSteps, [10])
        XCTAssertEqual(report.resumes.first?.checkpoint.map { URL(fileURLWithPath: $0).lastPathComponent }, "checkpoint-000010")
        XCTAssertEqual(report.validation.map(\.step), [10, 20, 30])
        XCTAssertEqual(report.configuration.worldSize, 2)
        XCTAssertEqual(report.configuration.blasThreads, 3)
        XCTAssertEqual(report.configuration.hosts, ["node-a", "node-b"])
        XCTAssertEqual(report.testConfusion(gold: "card_arrival", predicted: "card_delivery_estimate"), 2)
        XCTAssertEqual(report.testConfusion(gold: "card_delivery_estimate", predicted: "card_arrival"), 1)
        XCTAssertNil(report.testConfusion(gold: "card_arrival", predicted: "not_an_intent"))
        XCTAssertTrue(report.notes.isEmpty, "\(report.notes)")
    }

    func testMedianAndMovingAverage() {
        XCTAssertEqual(median([3, 1, 2]), 2)
        XCTAssertEqual(median([4, 1, 3, 2]), 2.5)
        XCTAssertEqual(median([]), 0)
        XCTAssertEqual(RunReport.trailingMean([1, 2, 3, 4, 5], window: 2), [1, 1.5, 2.5, 3.5, 4.5])
        XCTAssertEqual(RunReport.trailingMean([2, 4, 6], window: 25), [2, 3, 4])
        XCTAssertEqual(RunReport.centredMean([1, 2, 3, 4, 5], window: 3), [1.5, 2, 3, 4, 4.5])
        XCTAssertEqual(RunReport.centredMean([2, 4, 6], window: 25), [4, 4, 4])
    }

    // MARK: - report.md

    func testReportMarkdown() throws {
        let before = Set(try FileManager.default.contentsOfDirectory(atPath: run.path))
        let urls = try RunReport(runDirectory: run.path).write()
        XCTAssertEqual(urls.map(\.lastPathComponent), ["report.md", "loss.svg", "accuracy.svg"])
        let listing = try FileManager.default.contentsOfDirectory(atPath: run.path)
        XCTAssertEqual(Set(listing), before.union(["report.md", "loss.svg", "accuracy.svg"]), "nothing else, no temporary files left")
        let md = try String(contentsOf: run.appendingPathComponent("report.md"), encoding: .utf8)
        XCTAssertTrue(md.hasPrefix("# Training run `run-a`\n"))
        for expected in [
            "| ranks | 2 ranks × 3 BLAS threads over MPI (Open MPI) |",
            "| hosts | node-a, node-b |",
            "| steps done / total | 30 / 30 (100.0%) |",
            "| epochs | at epoch 2 of 2; epoch boundaries after step 15 |",
            "| step time, sum | 7 min 45 s (465.0 s) |",
            "| step time, median | 15.50 s/step |",
            "| throughput | 0.26 examples/s, 6.5 tokens/s (120 examples, 3000 tokens over the step time) |",
            "| resumed at | step 10 (from `checkpoint-000010`) |",
            "![Training loss, validation loss and learning rate](loss.svg)",
            "![Validation accuracy](accuracy.svg)",
            "| 30 | 0.3333 | 80.00% | 0.00% | 8 |",
            "| accuracy | 68.75% (11 / 16) |",
            "| invalid outputs | 6.25% (1 / 16) |",
            "**`card_arrival` → `card_delivery_estimate`: 2** test examples",
            "**`card_delivery_estimate` → `card_arrival`: 1** the other way round",
            "| 1 | `card_arrival` | `card_delivery_estimate` | 2 |",
            "| 2 | `card_delivery_estimate` | `card_arrival` | 1 |",
            "| 3 | `top_up_failed` | `lost_or_stolen_card` | 1 |",
            "[![Confusion matrix](eval-test/confusion.svg)](eval-test/confusion.svg)",
        ] {
            XCTAssertTrue(md.contains(expected), "report.md lacks: \(expected)\n---\n\(md)")
        }
        let m = try RunReport(runDirectory: run.path).testMetrics!
        XCTAssertTrue(md.contains("| macro-F1 | \(String(format: "%.4f", m.macroF1)) |"))
        XCTAssertTrue(md.contains("| weighted F1 | \(String(format: "%.4f", m.weightedF1)) |"))
        XCTAssertFalse(md.contains("## Notes"))
    }

    func testOutDirectoryLinksBackToRun() throws {
        let out = root.appendingPathComponent("pages/run-a-report")
        try RunReport(runDirectory: run.path).write(to: out.path)
        let md = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
        XCTAssertTrue(md.contains("(../../run-a/eval-test/confusion.svg)"), md)
        XCTAssertTrue(md.contains("(../../run-a/eval-test/report.md)"), md)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("loss.svg").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.appendingPathComponent("report.md").path))
    }

    func testWithoutValidationAndEvaluation() throws {
        let bare = root.appendingPathComponent("bare")
        try Self.makeRun(at: bare, validation: false, evaluation: false)
        let report = try RunReport(runDirectory: bare.path)
        XCTAssertNil(report.accuracySVG())
        let urls = try report.write()
        XCTAssertEqual(urls.map(\.lastPathComponent), ["report.md", "loss.svg"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: bare.appendingPathComponent("accuracy.svg").path))
        let md = try String(contentsOf: bare.appendingPathComponent("report.md"), encoding: .utf8)
        XCTAssertTrue(md.contains("No `validation.jsonl` in this run, so there is no validation picture."), md)
        XCTAssertTrue(md.contains("No `eval-test/` in this run"), md)
        XCTAssertFalse(md.contains("accuracy.svg"))
        let scan = SVGScan.parse(report.lossSVG())
        XCTAssertEqual(scan.elements["circle"] ?? 0, 0, "no validation dots")
    }

    // MARK: - Pictures

    func testLossSVG() throws {
        let report = try RunReport(runDirectory: run.path)
        let svg = report.lossSVG()
        XCTAssertEqual(svg, try RunReport(runDirectory: run.path).lossSVG(), "deterministic")
        let scan = SVGScan.parse(svg)
        XCTAssertEqual(scan.root["width"], "900")
        XCTAssertEqual(scan.root["height"], "420")
        XCTAssertEqual(scan.elements["polyline"], 3, "loss per step, moving average, learning rate")
        XCTAssertEqual(scan.elements["circle"], 3 + 1, "3 validation points + legend dot")
        XCTAssertGreaterThanOrEqual(scan.fontSizes.min() ?? 0, 11)
        let texts = Set(scan.texts)
        for t in ["Training loss: run-a (30 of 30 steps)", "optimizer step", "loss (cross-entropy per label token)",
                  "learning rate (×10⁻⁵)", "epoch 1", "epoch 2", "resumed (step 10)", "loss per step",
                  "moving average, 25 steps", "validation loss", "learning rate (right axis)", "epoch start", "resumed",
                  "0", "10", "20", "30", "4"] {
            XCTAssertTrue(texts.contains(t), "loss.svg lacks text \(t): \(scan.texts)")
        }
        // epoch boundary between steps 15 and 16, resume marker between 10 and 11
        XCTAssertTrue(svg.contains("stroke-dasharray=\"5 4\""))
        XCTAssertTrue(svg.contains("stroke=\"\(RunReportCharts.resumeColor)\""))
    }

    func testAccuracySVG() throws {
        let report = try RunReport(runDirectory: run.path)
        let svg = try XCTUnwrap(report.accuracySVG())
        let scan = SVGScan.parse(svg)
        XCTAssertEqual(scan.root["width"], "900")
        XCTAssertGreaterThanOrEqual(scan.fontSizes.min() ?? 0, 11)
        let texts = Set(scan.texts)
        for t in ["Validation accuracy: run-a (30 of 30 steps)", "accuracy (%)", "50.0%", "70.0%", "80.0%",
                  "test 68.75%", "test accuracy (final)", "resumed (step 10)", "epoch 2", "100"] {
            XCTAssertTrue(texts.contains(t), "accuracy.svg lacks text \(t): \(scan.texts)")
        }
    }

    func testAxisTicksAreNice() {
        let a = RunReportCharts.Axis(lo: 0, hi: 4.57, integer: false, target: 6)
        XCTAssertEqual(a.ticks, [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(a.label(2), "2")
        let x = RunReportCharts.Axis(lo: 0, hi: 1878, integer: true, target: 10)
        XCTAssertEqual(x.hi, 2000)
        XCTAssertEqual(x.ticks.count, 11)
        let lr = RunReportCharts.Axis(lo: 0, hi: 0.5, integer: false, target: 6)
        XCTAssertEqual(lr.label(lr.ticks[1]), "0.1")
    }

    func testLossAxisTurnsLogarithmicPastTwoDecades() {
        let short = RunReportCharts.Axis.forLosses([4.57, 2.1, 1.2, 0.9])
        XCTAssertFalse(short.logarithmic)
        XCTAssertEqual(short.ticks, [0, 1, 2, 3, 4, 5])

        // a full run: 4.57 at step 1, ≈0.003 in epoch 3
        let run = RunReportCharts.Axis.forLosses([4.57, 0.8, 0.05, 0.0031, 0.0004])
        XCTAssertTrue(run.logarithmic)
        XCTAssertEqual(run.lo, 1e-4, accuracy: 1e-12)
        XCTAssertEqual(run.hi, 10, accuracy: 1e-9)
        XCTAssertEqual(run.ticks.map(run.label), ["0.0001", "0.001", "0.01", "0.1", "1", "10"])
        XCTAssertEqual(run.fraction(1), 0.8, accuracy: 1e-12)
        XCTAssertEqual(run.fraction(0.01), 0.4, accuracy: 1e-12)

        // one near-zero step does not stretch the axis beyond six decades below the top
        let spike = RunReportCharts.Axis.forLosses([4.57, 0.01, 1e-9])
        XCTAssertEqual(spike.lo, 1e-5, accuracy: 1e-15)
        XCTAssertLessThan(spike.fraction(1e-9), 0, "drawn below the floor, where the plot clips it")
    }

    func testLossSVGOfALongRunUsesTheLogAxis() throws {
        let long = root.appendingPathComponent("long")
        try FileManager.default.createDirectory(at: long, withIntermediateDirectories: true)
        let lines = try (1...200).map { i -> String in
            var r = Self.step(i)
            r.loss = 4.57 * pow(0.96, Double(i - 1))  // 4.57 → 0.0014
            return String(decoding: try JSONEncoder().encode(r), as: UTF8.self)
        }
        try (lines.joined(separator: "\n") + "\n").write(to: long.appendingPathComponent("metrics.jsonl"), atomically: true, encoding: .utf8)
        let texts = Set(SVGScan.parse(try RunReport(runDirectory: long.path).lossSVG()).texts)
        for t in ["loss (cross-entropy per label token, log scale)", "0.001", "0.01", "0.1", "1", "10"] {
            XCTAssertTrue(texts.contains(t), "loss.svg lacks \(t): \(texts)")
        }
    }

    // MARK: - Older and damaged input

    func testOlderMetricsLinesWithoutPhaseTimes() throws {
        let old = root.appendingPathComponent("old")
        try FileManager.default.createDirectory(at: old, withIntermediateDirectories: true)
        let lines = (1...3).map { n in
            #"{"allreduce_seconds":0,"epoch":0,"forward_backward_seconds":9,"grad_norm":2,"label_tokens":10,"loss":\#(n),"lr":5e-05,"optimizer_seconds":1,"packed_rows":40,"rows":[1,2],"seconds":\#(n * 10),"step":\#(n),"tokens":50}"#
        }
        try (lines.joined(separator: "\n") + "\n").write(to: old.appendingPathComponent("metrics.jsonl"), atomically: true, encoding: .utf8)
        let report = try RunReport(runDirectory: old.path)
        XCTAssertEqual(report.summary.medianSecondsPerStep, 20)
        XCTAssertEqual(report.steps.map(\.forwardSeconds), [0, 0, 0])
        XCTAssertEqual(report.notes.count, 2, "older fields + no run_config.json: \(report.notes)")
        let md = report.markdown()
        XCTAssertTrue(md.contains("| ranks | unknown |"), md)
        XCTAssertFalse(md.contains("median step split"))
        _ = SVGScan.parse(report.lossSVG())
    }

    /// A run killed while appending leaves its last line cut short: the report of a run in
    /// progress leaves that line out with a note instead of failing; a bad line before the
    /// last (or a last line that ends in a newline) is still an error naming it.
    func testACutShortLastLineIsLeftOut() throws {
        let torn = root.appendingPathComponent("torn")
        try FileManager.default.createDirectory(at: torn, withIntermediateDirectories: true)
        let line = { (n: Int) in
            #"{"allreduce_seconds":0,"epoch":0,"forward_backward_seconds":9,"grad_norm":2,"label_tokens":10,"loss":\#(n),"lr":5e-05,"optimizer_seconds":1,"packed_rows":40,"rows":[1,2],"seconds":\#(n * 10),"step":\#(n),"tokens":50}"#
        }
        let metrics = torn.appendingPathComponent("metrics.jsonl")
        try (line(1) + "\n" + line(2) + "\n" + #"{"step":3,"loss":"#).write(to: metrics, atomically: true, encoding: .utf8)
        let report = try RunReport(runDirectory: torn.path)
        XCTAssertEqual(report.steps.map(\.step), [1, 2])
        XCTAssertTrue(report.notes.contains { $0.contains("metrics.jsonl line 3 is cut short") }, "\(report.notes)")
        try (line(1) + "\n" + #"{"step":3,"loss":"# + "\n" + line(2) + "\n").write(to: metrics, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RunReport(runDirectory: torn.path)) { XCTAssertTrue("\($0)".contains("line 2"), "\($0)") }
    }

    func testMissingDirectory() {
        let missing = root.appendingPathComponent("nope").path
        XCTAssertThrowsError(try RunReport(runDirectory: missing)) { error in
            XCTAssertEqual("\(error)", "run directory \(missing) does not exist")
        }
    }

    func testNoMetrics() throws {
        try FileManager.default.removeItem(at: run.appendingPathComponent("metrics.jsonl"))
        XCTAssertThrowsError(try RunReport(runDirectory: run.path)) { error in
            XCTAssertTrue("\(error)".contains("has no metrics.jsonl"), "\(error)")
        }
    }

    func testEmptyMetrics() throws {
        try Data().write(to: run.appendingPathComponent("metrics.jsonl"))
        XCTAssertThrowsError(try RunReport(runDirectory: run.path)) { error in
            XCTAssertTrue("\(error)".hasSuffix("metrics.jsonl holds no steps"), "\(error)")
        }
    }

    func testMalformedMetricsLineNamesFileAndLine() throws {
        let url = run.appendingPathComponent("metrics.jsonl")
        var lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(String.init)
        lines[6] = String(lines[6].prefix(40))  // a line cut short (crash mid-write)
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RunReport(runDirectory: run.path)) { error in
            XCTAssertEqual("\(error)", "\(url.path) line 7: not valid JSON")
        }
        lines[6] = #"{"step": 7, "epoch": 0}"#
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RunReport(runDirectory: run.path)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(url.path) line 7: missing field `"), "\(error)")
        }
    }

    func testMalformedValidationLine() throws {
        let url = run.appendingPathComponent("validation.jsonl")
        try (String(contentsOf: url, encoding: .utf8) + #"{"step": "forty"}"# + "\n").write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RunReport(runDirectory: run.path)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(url.path) line 4: "), "\(error)")
        }
    }

    // MARK: - A real run end to end

    /// `ft-dist train` on the tiny model with validation, then `ft-dist report` on its directory.
    func testReportsARealTinyRun() throws {
        let model = try TinyRun.model(in: root)
        let run = root.appendingPathComponent("tiny-run")
        var r = try TinyRun.train(ranks: 1, output: run, model: model,
                                              extra: ["--max-steps", "12", "--eval-steps", "6", "--eval-samples", "8", "--max-new-tokens", "3"])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try Launch.ftdist(["report", run.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let report = try RunReport(runDirectory: run.path)
        XCTAssertEqual(report.summary.stepsDone, 12)
        XCTAssertEqual(report.validation.map(\.step), [6, 12])
        for file in ["report.md", "loss.svg", "accuracy.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent(file).path), file)
        }
        _ = SVGScan.parse(try String(contentsOf: run.appendingPathComponent("loss.svg"), encoding: .utf8))
        r = try Launch.ftdist(["report", root.appendingPathComponent("no-such-run").path])
        XCTAssertNotEqual(r.status, 0)
    }
}
