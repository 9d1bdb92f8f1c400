import Foundation

// The evaluation artefacts of one run, written into one directory:
//   metrics.json       EvaluationMetrics, pretty JSON with sorted keys
//   predictions.jsonl  one Prediction per line (text, gold, generated, correct)
//   confusion.csv      ConfusionMatrixCSV
//   confusion.svg      ConfusionMatrixSVG
//   report.md          one-page summary linking the above
// Each file is written to a temporary name in the same directory and renamed into place, so
// a reader (or a crashed run) never sees a half-written artefact.
public struct EvaluationReport {
    public static let metricsFile = "metrics.json"
    public static let predictionsFile = "predictions.jsonl"
    public static let confusionCSVFile = "confusion.csv"
    public static let confusionSVGFile = "confusion.svg"
    public static let reportFile = "report.md"

    public let metrics: EvaluationMetrics
    public let predictions: [Prediction]
    /// Heading of report.md and title of the SVG.
    public var title: String

    public init(metrics: EvaluationMetrics, predictions: [Prediction], title: String = "Banking77 evaluation") {
        self.metrics = metrics
        self.predictions = predictions
        self.title = title
    }

    /// Computes the metrics from the predictions (see `EvaluationMetrics.init`).
    public init(intents: [String], predictions: [Prediction], title: String = "Banking77 evaluation") throws {
        self.init(metrics: try EvaluationMetrics(intents: intents, predictions: predictions),
                  predictions: predictions, title: title)
    }

    /// Writes all five files into `directory` (created if missing) and returns their URLs.
    @discardableResult
    public func write(to directory: URL) throws -> [URL] {
        try OutputFile.createDirectory(directory.path, what: "the report directory")
        let files: [(String, Data)] = [
            (Self.metricsFile, try metrics.jsonData()),
            (Self.predictionsFile, try predictionsJSONL()),
            (Self.confusionCSVFile, Data(ConfusionMatrixCSV.render(metrics.confusion).utf8)),
            (Self.confusionSVGFile, Data(ConfusionMatrixSVG.render(metrics.confusion, title: "\(title): confusion matrix").utf8)),
            (Self.reportFile, Data(markdown().utf8)),
        ]
        // a directory in a file's place would stop the writing half-way: refused before any file
        for (name, _) in files {
            var isDir: ObjCBool = false
            let path = directory.appendingPathComponent(name).path
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
                throw MessageError("\(path): is a directory, where the report writes a file")
            }
        }
        var urls: [URL] = []
        for (name, data) in files {
            let url = directory.appendingPathComponent(name)
            try OutputFile.write(data, to: url.path)
            urls.append(url)
        }
        return urls
    }

    /// One compact JSON object per line, keys sorted, so the file is stable and greppable.
    public func predictionsJSONL() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var out = Data()
        for p in predictions {
            out.append(try encoder.encode(p))
            out.append(0x0A)
        }
        return out
    }

    // MARK: - report.md

    public func markdown() -> String {
        let m = metrics
        var s = "# \(title)\n\n"
        s += "| metric | value |\n|---|---|\n"
        s += "| examples | \(m.examples) |\n"
        s += "| accuracy | \(pct(m.accuracy)) (\(m.correct) / \(m.examples)) |\n"
        s += "| macro-F1 | \(dec(m.macroF1)) |\n"
        s += "| weighted F1 | \(dec(m.weightedF1)) |\n"
        s += "| macro precision / recall | \(dec(m.macroPrecision)) / \(dec(m.macroRecall)) |\n"
        s += "| invalid outputs | \(pct(m.invalidRate)) (\(m.invalid) / \(m.examples)) |\n\n"
        s += "A prediction is correct when the generated text, without its leading space, equals the gold intent name; "
        s += "an output that is not any of the \(m.perIntent.count) intent names is *invalid* (counted as an error, "
        s += "never as a prediction of a class). Macro-F1 averages all intents equally; an intent that is never "
        s += "predicted has precision 0 (scikit-learn `zero_division=0`).\n\n"
        s += "Files: [`\(Self.metricsFile)`](\(Self.metricsFile)) · [`\(Self.predictionsFile)`](\(Self.predictionsFile)) · "
        s += "[`\(Self.confusionCSVFile)`](\(Self.confusionCSVFile)) · [`\(Self.confusionSVGFile)`](\(Self.confusionSVGFile))\n\n"

        s += "## Most confused pairs\n\n"
        if m.topConfusions.isEmpty {
            s += "No confusions between intents.\n\n"
        } else {
            s += "| # | gold | predicted | count |\n|---:|---|---|---:|\n"
            for (i, pair) in m.topConfusions.enumerated() {
                s += "| \(i + 1) | \(code(pair.gold)) | \(code(pair.predicted)) | \(pair.count) |\n"
            }
            s += "\n"
        }

        s += "## Confusion matrix\n\n![Confusion matrix](\(Self.confusionSVGFile))\n\n"

        s += "## Per intent (worst F1 first)\n\n"
        s += "| intent | precision | recall | F1 | support | invalid |\n|---|---:|---:|---:|---:|---:|\n"
        let ordered = m.perIntent.sorted { a, b in a.f1 != b.f1 ? a.f1 < b.f1 : a.intent < b.intent }
        for r in ordered {
            s += "| \(code(r.intent)) | \(dec(r.precision)) | \(dec(r.recall)) | \(dec(r.f1)) | \(r.support) | \(r.invalid) |\n"
        }
        return s
    }

    /// Inline code keeps underscores literal; a "|" would end the table cell, so escape it.
    func code(_ name: String) -> String {
        "`" + name.replacingOccurrences(of: "`", with: "'").replacingOccurrences(of: "|", with: "\\|") + "`"
    }

    /// Three decimals, locale-independent.
    func dec(_ v: Double) -> String { String(format: "%.3f", v) }
    func pct(_ v: Double) -> String { String(format: "%.2f%%", 100 * v) }
}
