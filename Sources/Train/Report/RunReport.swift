import Foundation

/// `ft-dist report RUN_DIR`: reads what rank 0 of `ft-dist train` left in a run directory
/// (run_config*.json, metrics.jsonl, validation.jsonl, eval-test/metrics.json) and renders
///   report.md     one page: run summary, pictures, test metrics, resume points
///   loss.svg      training loss per step (+ moving average), validation loss, learning rate
///   accuracy.svg  validation accuracy (only when validation.jsonl exists)
/// Output depends only on the input files (and metrics.jsonl's modification time, which is
/// shown as the end of the run); every file is written atomically.
public struct RunReport {
    public static let reportFile = "report.md"
    public static let lossFile = "loss.svg"
    public static let accuracyFile = "accuracy.svg"
    /// Steps in the trailing moving average of the training loss.
    public static let movingAverageWindow = 25

    /// The numbers of the summary table.
    public struct Summary: Equatable {
        public var stepsDone: Int            // last step in metrics.jsonl
        public var records: Int              // lines in metrics.jsonl
        public var totalSteps: Int?
        public var epochsSeen: Int           // distinct epochs among the records
        public var epochsPlanned: Int?
        public var stepSecondsSum: Double
        public var medianSecondsPerStep: Double
        public var examples: Int             // Σ rows of the global batches
        public var tokens: Int
        public var labelTokens: Int
        public var examplesPerSecond: Double // examples / Σ step seconds
        public var tokensPerSecond: Double
        public var firstLoss: Double
        public var lastLossAverage: Double   // moving average at the last step
    }

    public let directory: String
    public private(set) var configuration = RunConfiguration()
    /// Sorted by step, one record per step.
    public private(set) var steps: [StepRecord] = []
    public private(set) var validation: [ValidationRecord] = []
    public private(set) var resumes: [RunResume] = []
    public private(set) var testMetrics: EvaluationMetrics?
    /// Things the reader should know about the input (older formats, dropped duplicates).
    public private(set) var notes: [String] = []
    /// metrics.jsonl's last modification (the end of the last step written).
    public private(set) var metricsModified: Date?

    // MARK: - Loading

    public init(runDirectory: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: runDirectory, isDirectory: &isDir) else {
            throw MessageError("run directory \(runDirectory) does not exist")
        }
        guard isDir.boolValue else { throw MessageError("\(runDirectory) is not a directory") }
        directory = runDirectory
        let files = RunFiles(runDirectory)
        var notes: [String] = []
        steps = try files.readSteps(notes: &notes)
        metricsModified = files.metricsModified
        validation = try files.readValidation(notes: &notes)
        configuration = try files.readConfiguration(notes: &notes)
        resumes = files.readResumes()
        testMetrics = try files.readTestMetrics()
        self.notes = notes
    }

    // MARK: - Numbers

    public var summary: Summary {
        let seconds = steps.reduce(0) { $0 + $1.seconds }
        let examples = steps.reduce(0) { $0 + $1.rows.count }
        let tokens = steps.reduce(0) { $0 + $1.tokens }
        return Summary(stepsDone: steps.last!.step, records: steps.count, totalSteps: configuration.totalSteps,
                       epochsSeen: Set(steps.map(\.epoch)).count, epochsPlanned: configuration.epochs,
                       stepSecondsSum: seconds, medianSecondsPerStep: median(steps.map(\.seconds)),
                       examples: examples, tokens: tokens, labelTokens: steps.reduce(0) { $0 + $1.labelTokens },
                       examplesPerSecond: seconds > 0 ? Double(examples) / seconds : 0,
                       tokensPerSecond: seconds > 0 ? Double(tokens) / seconds : 0,
                       firstLoss: steps[0].loss, lastLossAverage: movingAverage.last ?? steps[0].loss)
    }

    /// Trailing mean over the last `movingAverageWindow` steps (fewer at the start).
    public var movingAverage: [Double] { Self.trailingMean(steps.map(\.loss), window: Self.movingAverageWindow) }

    /// Mean over a window of `movingAverageWindow` steps centred on each step (narrower at the
    /// ends): what the loss picture draws, since a trailing mean lags the curve by half a window.
    public var centredMovingAverage: [Double] { Self.centredMean(steps.map(\.loss), window: Self.movingAverageWindow) }

    public static func centredMean(_ values: [Double], window: Int) -> [Double] {
        var prefix = [0.0]
        for v in values { prefix.append(prefix.last! + v) }
        let before = (window - 1) / 2, after = window - 1 - before
        return values.indices.map { i in
            let lo = max(0, i - before), hi = min(values.count - 1, i + after)
            return (prefix[hi + 1] - prefix[lo]) / Double(hi - lo + 1)
        }
    }

    public static func trailingMean(_ values: [Double], window: Int) -> [Double] {
        var out: [Double] = []
        out.reserveCapacity(values.count)
        var sum = 0.0
        for (i, v) in values.enumerated() {
            sum += v
            if i >= window { sum -= values[i - window] }
            out.append(sum / Double(min(i + 1, window)))
        }
        return out
    }

    /// First step of every epoch after the first that the records reach: (step, 0-based epoch).
    public var epochStarts: [(step: Int, epoch: Int)] {
        var out: [(Int, Int)] = []
        for (a, b) in zip(steps, steps.dropFirst()) where b.epoch != a.epoch { out.append((b.step, b.epoch)) }
        return out
    }

    public var resumeSteps: [Int] { resumes.map(\.step) }

    /// `confusion[gold][predicted]` in the test evaluation; nil without eval-test or when a
    /// name is not among its intents.
    public func testConfusion(gold: String, predicted: String) -> Int? {
        guard let m = testMetrics, let g = m.confusion.labels.firstIndex(of: gold),
              let p = m.confusion.labels.firstIndex(of: predicted) else { return nil }
        return m.confusion.counts[g][p]
    }

    // MARK: - Output

    /// Writes report.md, loss.svg and (with validation) accuracy.svg into `outputDirectory`
    /// (default: the run directory; created if missing) and returns their URLs.
    @discardableResult
    public func write(to outputDirectory: String? = nil) throws -> [URL] {
        let out = URL(fileURLWithPath: outputDirectory ?? directory)
        try OutputFile.createDirectory(out.path, what: "the report directory")
        var files: [(String, String)] = [(Self.lossFile, lossSVG())]
        if let accuracy = accuracySVG() { files.append((Self.accuracyFile, accuracy)) }
        files.insert((Self.reportFile, markdown(outputDirectory: out.path)), at: 0)
        var urls: [URL] = []
        for (name, text) in files {
            let url = out.appendingPathComponent(name)
            do {
                try OutputFile.write(Data(text.utf8), to: url.path)
            } catch {
                throw MessageError("cannot write \(url.path): \(error.localizedDescription)")
            }
            urls.append(url)
        }
        return urls
    }

    public func lossSVG() -> String { RunReportCharts.loss(self) }
    public func accuracySVG() -> String? { validation.isEmpty ? nil : RunReportCharts.accuracy(self) }

    /// report.md; links to run-directory files are relative to `outputDirectory`.
    public func markdown(outputDirectory: String? = nil) -> String {
        let s = summary
        let c = configuration
        let runLink = Self.relativePath(from: outputDirectory ?? directory, to: directory)
        func inRun(_ name: String) -> String { runLink == "." ? name : runLink + "/" + name }
        let name = URL(fileURLWithPath: directory).standardized.lastPathComponent

        var md = "# Training run `\(name)`\n\n"
        var headline = "\(s.stepsDone)"
        if let total = s.totalSteps { headline += " of \(total)" }
        headline += " steps"
        if let started = c.startedAt { headline += ", started \(started)" }
        if !resumes.isEmpty { headline += ", resumed \(resumes.count) time\(resumes.count == 1 ? "" : "s")" }
        md += headline + ". Run directory: `\(directory)`.\n\n"

        md += "## Summary\n\n| | |\n|---|---|\n"
        md += "| technique | \(c.techniqueDescription) |\n"
        var ranks = c.worldSize.map { "\($0) rank\($0 == 1 ? "" : "s")" } ?? "unknown"
        if let t = c.blasThreads { ranks += " × \(t) BLAS thread\(t == 1 ? "" : "s")" }
        if let transport = c.transport { ranks += " over \(transport)" }
        md += "| ranks | \(ranks) |\n"
        if !c.hosts.isEmpty { md += "| hosts | \(Self.cell(c.hosts.joined(separator: ", "))) |\n" }
        var stepsCell = "\(s.stepsDone)"
        if let total = s.totalSteps { stepsCell += " / \(total) (\(String(format: "%.1f%%", 100 * Double(s.stepsDone) / Double(max(total, 1)))))" }
        if s.records != s.stepsDone { stepsCell += "; \(s.records) step records" }
        md += "| steps done / total | \(stepsCell) |\n"
        let lastEpoch = steps.last!.epoch + 1
        md += "| epochs | at epoch \(lastEpoch)\(s.epochsPlanned.map { " of \($0)" } ?? "")"
            + (epochStarts.isEmpty ? "" : "; epoch boundaries after step " + epochStarts.map { "\($0.step - 1)" }.joined(separator: ", ")) + " |\n"
        var recipe: [String] = []
        if let b = c.batchSize { recipe.append("batch \(b)") }
        if let lr = c.lr { recipe.append("lr \(Self.number(lr))") }
        if let sch = c.scheduler { recipe.append("\(sch) schedule" + (c.warmupSteps.map { ", \($0) warm-up steps" } ?? "")) }
        if !recipe.isEmpty { md += "| recipe | \(recipe.joined(separator: ", ")) |\n" }
        if let t = c.trainExamples {
            md += "| examples | \(t) train" + (c.validationExamples.map { ", \($0) validation" } ?? "") + " |\n"
        }
        md += "| step time, sum | \(durationText(s.stepSecondsSum)) (\(String(format: "%.1f", s.stepSecondsSum)) s) |\n"
        md += "| step time, median | \(String(format: "%.2f", s.medianSecondsPerStep)) s/step |\n"
        if let started = c.startedAt.flatMap({ ISO8601DateFormatter().date(from: $0) }), let end = metricsModified, end > started {
            md += "| wall clock, start → last metrics line | \(durationText(end.timeIntervalSince(started))) "
                + "(includes loading, checkpoints, validation\(resumes.isEmpty ? "" : " and time between sessions")) |\n"
        }
        md += "| throughput | \(String(format: "%.2f", s.examplesPerSecond)) examples/s, \(String(format: "%.1f", s.tokensPerSecond)) tokens/s "
            + "(\(s.examples) examples, \(s.tokens) tokens over the step time) |\n"
        let phases: [(String, KeyPath<StepRecord, Double>)] = [
            ("forward", \.forwardSeconds), ("head", \.headSeconds), ("backward", \.backwardSeconds),
            ("all-reduce", \.allReduceSeconds), ("optimizer", \.optimizerSeconds)]
        let split = phases.map { p in (p.0, median(steps.map { $0[keyPath: p.1] })) }
        if split.contains(where: { $0.1 > 0 }) && !(split[0].1 == 0 && split[2].1 == 0) {
            md += "| median step split (rank 0) | " + split.map { "\($0.0) \(String(format: "%.2f", $0.1)) s" }.joined(separator: " · ") + " |\n"
        }
        md += "| training loss | \(String(format: "%.4f", s.firstLoss)) at step \(steps[0].step) → "
            + "\(String(format: "%.4f", s.lastLossAverage)) (mean of the last \(min(Self.movingAverageWindow, steps.count)) steps) |\n"
        if let v = validation.last {
            md += "| validation | \(String(format: "%.2f%%", 100 * v.accuracy)) accuracy, loss \(String(format: "%.4f", v.loss)) at step \(v.step) "
                + "(\(validation.count) evaluation\(validation.count == 1 ? "" : "s")) |\n"
        }
        md += "| resumed at | " + (resumes.isEmpty ? "never" : resumes.map { r in
            "step \(r.step)" + (r.checkpoint.map { " (from `\(URL(fileURLWithPath: $0).lastPathComponent)`)" } ?? "")
        }.joined(separator: ", ")) + " |\n\n"

        md += "## Training loss\n\n![Training loss, validation loss and learning rate](\(Self.lossFile))\n\n"
        md += "Faint: loss of every step; bold: its mean over a window of \(Self.movingAverageWindow) steps centred on each step"
        md += validation.isEmpty ? "" : "; dots: validation loss"
        md += "; thin green: learning rate (right axis). Dashed lines mark epoch starts"
        md += resumes.isEmpty ? ".\n\n" : ", solid purple lines the steps where the run was resumed.\n\n"

        md += "## Validation accuracy\n\n"
        if validation.isEmpty {
            md += "No `\(RunFiles.validation)` in this run"
            if let e = c.evalSteps, e == 0 { md += " (it trained with `--eval-steps 0`)" }
            md += ", so there is no validation picture.\n\n"
        } else {
            md += "![Validation accuracy](\(Self.accuracyFile))\n\n"
            md += "| step | loss | accuracy | invalid outputs | examples |\n|---:|---:|---:|---:|---:|\n"
            for v in validation {
                md += "| \(v.step) | \(String(format: "%.4f", v.loss)) | \(String(format: "%.2f%%", 100 * v.accuracy)) | "
                    + "\(String(format: "%.2f%%", 100 * v.invalidRate)) | \(v.samples) |\n"
            }
            md += "\n"
        }

        md += "## Test evaluation\n\n"
        if let m = testMetrics {
            md += "| metric | value |\n|---|---|\n"
            md += "| accuracy | \(String(format: "%.2f%%", 100 * m.accuracy)) (\(m.correct) / \(m.examples)) |\n"
            md += "| macro-F1 | \(String(format: "%.4f", m.macroF1)) |\n"
            md += "| weighted F1 | \(String(format: "%.4f", m.weightedF1)) |\n"
            md += "| invalid outputs | \(String(format: "%.2f%%", 100 * m.invalidRate)) (\(m.invalid) / \(m.examples)) |\n\n"
            let a = "card_arrival", b = "card_delivery_estimate"
            if let ab = testConfusion(gold: a, predicted: b), let ba = testConfusion(gold: b, predicted: a) {
                md += "**`\(a)` → `\(b)`: \(ab)** test example\(ab == 1 ? "" : "s") of `\(a)` predicted as `\(b)`; "
                md += "**`\(b)` → `\(a)`: \(ba)** the other way round.\n\n"
            } else {
                md += "`\(a)` / `\(b)` are not both among the evaluated intents.\n\n"
            }
            md += "### Most confused pairs\n\n"
            let top = Array(m.topConfusions.prefix(10))
            if top.isEmpty {
                md += "No confusions between intents.\n\n"
            } else {
                md += "| # | gold | predicted | count |\n|---:|---|---|---:|\n"
                for (i, p) in top.enumerated() {
                    md += "| \(i + 1) | `\(Self.cell(p.gold))` | `\(Self.cell(p.predicted))` | \(p.count) |\n"
                }
                md += "\n"
            }
            let svg = inRun(RunFiles.testEvaluation + "/" + EvaluationReport.confusionSVGFile)
            md += "### Confusion matrix\n\n[![Confusion matrix](\(svg))](\(svg)) · full evaluation: "
            md += "[`\(RunFiles.testEvaluation)/\(EvaluationReport.reportFile)`](\(inRun(RunFiles.testEvaluation + "/" + EvaluationReport.reportFile)))\n\n"
        } else {
            md += "No `\(RunFiles.testEvaluation)/` in this run: the final test evaluation runs only when training completes all "
            md += "\(c.totalSteps.map(String.init) ?? "its") steps (and without `--no-final-eval`).\n\n"
        }

        if !notes.isEmpty {
            md += "## Notes\n\n" + notes.map { "- \($0)\n" }.joined() + "\n"
        }
        md += "_Rendered by `ft-dist report` from `\(RunFiles.metrics)`"
        md += validation.isEmpty ? "" : ", `\(RunFiles.validation)`"
        md += testMetrics == nil ? "" : ", `\(RunFiles.testEvaluation)/\(EvaluationReport.metricsFile)`"
        md += " and the run configuration._\n"
        return md
    }

    // MARK: - Formatting helpers

    /// A table cell: "|" would end the cell.
    static func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }

    /// "5e-05" → "5e-5", 0.001 → "0.001": short and locale-free.
    static func number(_ v: Double) -> String {
        if v != 0 && (abs(v) < 1e-3 || abs(v) >= 1e6) {
            var s = String(format: "%.3g", v)
            s = s.replacingOccurrences(of: "e-0", with: "e-").replacingOccurrences(of: "e+0", with: "e").replacingOccurrences(of: "e+", with: "e")
            return s
        }
        return String(format: "%g", v)
    }

    /// A relative path from directory `from` to `to` ("." when equal).
    static func relativePath(from: String, to: String) -> String {
        let a = URL(fileURLWithPath: from).standardized.pathComponents
        let b = URL(fileURLWithPath: to).standardized.pathComponents
        var common = 0
        while common < min(a.count, b.count) && a[common] == b[common] { common += 1 }
        let parts = Array(repeating: "..", count: a.count - common) + b[common...]
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }
}
