import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A problem with a run directory that `ft-dist report` cannot render: the message names the
/// file (and line) at fault.
public struct RunReportError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

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

    /// One `run_config.resume-N.json`: the run continued after step `step`.
    public struct Resume: Equatable {
        public var step: Int
        public var checkpoint: String?
        public var startedAt: String?
    }

    /// The run's configuration as far as the report needs it (from run_config.json; every
    /// field is optional because an old or foreign file may lack it).
    public struct Configuration: Equatable {
        public var worldSize: Int?
        public var transport: String?
        public var blasThreads: Int?
        public var hosts: [String] = []
        public var totalSteps: Int?
        public var trainExamples: Int?
        public var validationExamples: Int?
        public var startedAt: String?
        public var epochs: Int?
        public var batchSize: Int?
        public var lr: Double?
        public var scheduler: String?
        public var warmupSteps: Int?
        public var evalSteps: Int?
        public var maxSteps: Int?
    }

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
    public private(set) var configuration = Configuration()
    /// Sorted by step, one record per step.
    public private(set) var steps: [StepRecord] = []
    public private(set) var validation: [TrainingRun.ValidationRecord] = []
    public private(set) var resumes: [Resume] = []
    public private(set) var testMetrics: EvaluationMetrics?
    /// Things the reader should know about the input (older formats, dropped duplicates).
    public private(set) var notes: [String] = []
    /// metrics.jsonl's last modification (the end of the last step written).
    public private(set) var metricsModified: Date?

    // MARK: - Loading

    public init(runDirectory: String) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: runDirectory, isDirectory: &isDir) else {
            throw RunReportError("run directory \(runDirectory) does not exist")
        }
        guard isDir.boolValue else { throw RunReportError("\(runDirectory) is not a directory") }
        directory = runDirectory
        let dir = URL(fileURLWithPath: runDirectory)
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

        // metrics.jsonl (required)
        let metricsPath = path("metrics.jsonl")
        guard fm.fileExists(atPath: metricsPath) else {
            throw RunReportError("\(runDirectory) has no metrics.jsonl: not a run directory of `ft-dist train` (or no step finished yet)")
        }
        var legacyKeys = Set<String>()
        let stepLines = try Self.jsonLines(metricsPath)
        var records: [StepRecord] = []
        for (number, line) in stepLines {
            records.append(try Self.decodeStep(line, file: metricsPath, line: number, patched: &legacyKeys))
        }
        guard !records.isEmpty else { throw RunReportError("\(metricsPath) holds no steps") }
        var notes: [String] = []
        if !legacyKeys.isEmpty {
            notes.append("metrics.jsonl predates the field(s) \(legacyKeys.sorted().joined(separator: ", ")); they count as 0 here.")
        }
        steps = Self.lastPerStep(records) { d in
            notes.append("metrics.jsonl lists \(d) step(s) more than once (a resume without truncation?); the last line of each step is used.")
        }
        metricsModified = (try? fm.attributesOfItem(atPath: metricsPath))?[.modificationDate] as? Date

        // validation.jsonl (optional)
        let validationPath = path("validation.jsonl")
        if fm.fileExists(atPath: validationPath) {
            var points: [TrainingRun.ValidationRecord] = []
            for (number, line) in try Self.jsonLines(validationPath) {
                do {
                    points.append(try JSONDecoder().decode(TrainingRun.ValidationRecord.self, from: line))
                } catch {
                    throw RunReportError("\(validationPath) line \(number): \(Self.describe(error))")
                }
            }
            validation = Self.lastPerStep(points) { d in
                notes.append("validation.jsonl lists \(d) step(s) more than once; the last line of each step is used.")
            }
        }

        // run_config.json and run_config.resume-N.json
        let configPath = path("run_config.json")
        if fm.fileExists(atPath: configPath) {
            configuration = try Self.configuration(configPath)
        } else {
            notes.append("no run_config.json: ranks, threads and the planned schedule are unknown.")
        }
        let names = (try? fm.contentsOfDirectory(atPath: runDirectory)) ?? []
        for name in names where name.hasPrefix("run_config.resume-") && name.hasSuffix(".json") {
            let number = name.dropFirst("run_config.resume-".count).dropLast(".json".count)
            guard let step = Int(number) else { continue }
            var resume = Resume(step: step)
            if let data = fm.contents(atPath: path(name)),
               let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] {
                resume.checkpoint = object["resumedFrom"] as? String
                resume.startedAt = object["startedAt"] as? String
            }
            resumes.append(resume)
        }
        resumes.sort { $0.step < $1.step }
        self.notes = notes
        // a resume does not change the run's shape; the latest file names the latest hosts
        if let last = resumes.last, let c = try? Self.configuration(path("run_config.resume-\(last.step).json")) {
            configuration.worldSize = c.worldSize ?? configuration.worldSize
            configuration.blasThreads = c.blasThreads ?? configuration.blasThreads
            configuration.transport = c.transport ?? configuration.transport
            if !c.hosts.isEmpty { configuration.hosts = c.hosts }
        }

        // eval-test/metrics.json (optional)
        let evalPath = path("eval-test/" + EvaluationReport.metricsFile)
        if fm.fileExists(atPath: evalPath) {
            guard let data = fm.contents(atPath: evalPath) else { throw RunReportError("cannot read \(evalPath)") }
            do {
                testMetrics = try JSONDecoder().decode(EvaluationMetrics.self, from: data)
            } catch {
                throw RunReportError("\(evalPath): \(Self.describe(error))")
            }
        }
    }

    /// Non-empty lines with their 1-based line numbers.
    static func jsonLines(_ path: String) throws -> [(Int, Data)] {
        guard let data = FileManager.default.contents(atPath: path) else { throw RunReportError("cannot read \(path)") }
        var out: [(Int, Data)] = []
        for (i, line) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            out.append((i + 1, Data(line)))
        }
        return out
    }

    /// Fields StepRecord gained after the first runs; older lines lack them (they read as 0).
    static let laterStepFields = ["forward_seconds", "head_seconds", "backward_seconds", "rss_bytes"]

    static func decodeStep(_ line: Data, file: String, line number: Int, patched: inout Set<String>) throws -> StepRecord {
        do {
            return try JSONDecoder().decode(StepRecord.self, from: line)
        } catch DecodingError.keyNotFound(let key, _) where laterStepFields.contains(key.stringValue) {
            guard var object = (try? JSONSerialization.jsonObject(with: line)) as? [String: Any] else {
                throw RunReportError("\(file) line \(number): not a JSON object")
            }
            for field in laterStepFields where object[field] == nil {
                object[field] = 0
                patched.insert(field)
            }
            do {
                return try JSONDecoder().decode(StepRecord.self, from: try JSONSerialization.data(withJSONObject: object))
            } catch {
                throw RunReportError("\(file) line \(number): \(describe(error))")
            }
        } catch {
            throw RunReportError("\(file) line \(number): \(describe(error))")
        }
    }

    static func configuration(_ path: String) throws -> Configuration {
        guard let data = FileManager.default.contents(atPath: path) else { throw RunReportError("cannot read \(path)") }
        if let c = try? JSONDecoder().decode(TrainingRun.RunConfig.self, from: data) {
            let o = c.options
            return Configuration(worldSize: c.worldSize, transport: c.transport, blasThreads: c.blasThreads, hosts: c.hosts,
                                 totalSteps: c.totalSteps, trainExamples: c.trainExamples,
                                 validationExamples: c.validationExamples, startedAt: c.startedAt,
                                 epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, scheduler: o.scheduler.rawValue,
                                 warmupSteps: o.warmupSteps, evalSteps: o.evalSteps, maxSteps: o.maxSteps)
        }
        // An older or newer layout: take what is there.
        guard let any = try? JSONSerialization.jsonObject(with: data), let object = any as? [String: Any] else {
            throw RunReportError("\(path): not a JSON object")
        }
        let o = object["options"] as? [String: Any] ?? [:]
        func int(_ d: [String: Any], _ k: String) -> Int? { (d[k] as? NSNumber)?.intValue }
        return Configuration(worldSize: int(object, "worldSize"), transport: object["transport"] as? String,
                             blasThreads: int(object, "blasThreads"), hosts: object["hosts"] as? [String] ?? [],
                             totalSteps: int(object, "totalSteps"), trainExamples: int(object, "trainExamples"),
                             validationExamples: int(object, "validationExamples"),
                             startedAt: object["startedAt"] as? String, epochs: int(o, "epochs"),
                             batchSize: int(o, "batchSize"), lr: (o["lr"] as? NSNumber)?.doubleValue,
                             scheduler: o["scheduler"] as? String, warmupSteps: int(o, "warmupSteps"),
                             evalSteps: int(o, "evalSteps"), maxSteps: int(o, "maxSteps"))
    }

    /// Sorted by step; of repeated steps the last line wins (it is the redone step).
    static func lastPerStep<T>(_ items: [T], step: KeyPath<T, Int>, duplicates: (Int) -> Void) -> [T] {
        var byStep: [Int: T] = [:]
        for item in items { byStep[item[keyPath: step]] = item }
        if byStep.count != items.count { duplicates(items.count - byStep.count) }
        return byStep.keys.sorted().map { byStep[$0]! }
    }

    static func lastPerStep(_ items: [StepRecord], duplicates: (Int) -> Void) -> [StepRecord] {
        lastPerStep(items, step: \StepRecord.step, duplicates: duplicates)
    }

    static func lastPerStep(_ items: [TrainingRun.ValidationRecord], duplicates: (Int) -> Void) -> [TrainingRun.ValidationRecord] {
        lastPerStep(items, step: \TrainingRun.ValidationRecord.step, duplicates: duplicates)
    }

    /// A decoding error in a few words ("missing field `loss`", "not valid JSON").
    static func describe(_ error: Error) -> String {
        func at(_ context: DecodingError.Context) -> String {
            let path = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
            return path.isEmpty ? "" : " at `\(path)`"
        }
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing field `\(key.stringValue)`"
        case DecodingError.typeMismatch(let type, let c): return "expected \(type)\(at(c))"
        case DecodingError.valueNotFound(let type, let c): return "expected \(type)\(at(c)), found null"
        case DecodingError.dataCorrupted(let c):
            return c.codingPath.isEmpty ? "not valid JSON" : "invalid value\(at(c)): \(c.debugDescription)"
        default: return "\(error)"
        }
    }

    // MARK: - Numbers

    public var summary: Summary {
        let seconds = steps.reduce(0) { $0 + $1.seconds }
        let examples = steps.reduce(0) { $0 + $1.rows.count }
        let tokens = steps.reduce(0) { $0 + $1.tokens }
        return Summary(stepsDone: steps.last!.step, records: steps.count, totalSteps: configuration.totalSteps,
                       epochsSeen: Set(steps.map(\.epoch)).count, epochsPlanned: configuration.epochs,
                       stepSecondsSum: seconds, medianSecondsPerStep: Self.median(steps.map(\.seconds)),
                       examples: examples, tokens: tokens, labelTokens: steps.reduce(0) { $0 + $1.labelTokens },
                       examplesPerSecond: seconds > 0 ? Double(examples) / seconds : 0,
                       tokensPerSecond: seconds > 0 ? Double(tokens) / seconds : 0,
                       firstLoss: steps[0].loss, lastLossAverage: movingAverage.last ?? steps[0].loss)
    }

    public static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let s = values.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
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
        do {
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        } catch {
            throw RunReportError("cannot create \(out.path): \(error.localizedDescription)")
        }
        var files: [(String, String)] = [(Self.lossFile, lossSVG())]
        if let accuracy = accuracySVG() { files.append((Self.accuracyFile, accuracy)) }
        files.insert((Self.reportFile, markdown(outputDirectory: out.path)), at: 0)
        var urls: [URL] = []
        for (name, text) in files {
            let url = out.appendingPathComponent(name)
            do {
                try EvaluationReport.writeAtomically(Data(text.utf8), to: url)
            } catch {
                throw RunReportError("cannot write \(url.path): \(error.localizedDescription)")
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
        md += "| step time, sum | \(Self.duration(s.stepSecondsSum)) (\(String(format: "%.1f", s.stepSecondsSum)) s) |\n"
        md += "| step time, median | \(String(format: "%.2f", s.medianSecondsPerStep)) s/step |\n"
        if let started = c.startedAt.flatMap({ ISO8601DateFormatter().date(from: $0) }), let end = metricsModified, end > started {
            md += "| wall clock, start → last metrics line | \(Self.duration(end.timeIntervalSince(started))) "
                + "(includes loading, checkpoints, validation\(resumes.isEmpty ? "" : " and time between sessions")) |\n"
        }
        md += "| throughput | \(String(format: "%.2f", s.examplesPerSecond)) examples/s, \(String(format: "%.1f", s.tokensPerSecond)) tokens/s "
            + "(\(s.examples) examples, \(s.tokens) tokens over the step time) |\n"
        let phases: [(String, KeyPath<StepRecord, Double>)] = [
            ("forward", \.forwardSeconds), ("head", \.headSeconds), ("backward", \.backwardSeconds),
            ("all-reduce", \.allReduceSeconds), ("optimizer", \.optimizerSeconds)]
        let split = phases.map { p in (p.0, Self.median(steps.map { $0[keyPath: p.1] })) }
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
            md += "No `validation.jsonl` in this run"
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
            let svg = inRun("eval-test/" + EvaluationReport.confusionSVGFile)
            md += "### Confusion matrix\n\n[![Confusion matrix](\(svg))](\(svg)) · full evaluation: "
            md += "[`eval-test/report.md`](\(inRun("eval-test/" + EvaluationReport.reportFile)))\n\n"
        } else {
            md += "No `eval-test/` in this run: the final test evaluation runs only when training completes all "
            md += "\(c.totalSteps.map(String.init) ?? "its") steps (and without `--no-final-eval`).\n\n"
        }

        if !notes.isEmpty {
            md += "## Notes\n\n" + notes.map { "- \($0)\n" }.joined() + "\n"
        }
        md += "_Rendered by `ft-dist report` from `metrics.jsonl`"
        md += validation.isEmpty ? "" : ", `validation.jsonl`"
        md += testMetrics == nil ? "" : ", `eval-test/metrics.json`"
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

    /// 754.2 → "12 min 34 s"; 5000 → "1 h 23 min".
    static func duration(_ seconds: Double) -> String {
        let t = Int(seconds.rounded())
        if t < 60 { return String(format: "%.1f s", seconds) }
        if t < 3600 { return "\(t / 60) min \(t % 60) s" }
        return "\(t / 3600) h \((t % 3600) / 60) min"
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
