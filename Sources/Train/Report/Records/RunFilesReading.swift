import Foundation

/// Reading a run directory as `ft-dist train` wrote it, record by record. A malformed line is
/// an error naming the file and line; what a reader should know about the input (an older
/// format, steps written twice) is appended to `notes`.
extension RunFiles {
    /// metrics.jsonl (required): one record per step, sorted by step.
    public func readSteps(notes: inout [String]) throws -> [StepRecord] {
        guard FileManager.default.fileExists(atPath: metricsPath) else {
            throw MessageError("\(directory) has no \(Self.metrics): not a run directory of `ft-dist train` (or no step finished yet)")
        }
        var legacyKeys = Set<String>()
        var records: [StepRecord] = []
        for (number, line) in try Self.jsonLines(metricsPath, notes: &notes) {
            records.append(try Self.decodeStep(line, file: metricsPath, line: number, patched: &legacyKeys))
        }
        guard !records.isEmpty else { throw MessageError("\(metricsPath) holds no steps") }
        if !legacyKeys.isEmpty {
            notes.append("\(Self.metrics) predates the field(s) \(legacyKeys.sorted().joined(separator: ", ")); they count as 0 here.")
        }
        return Self.lastPerStep(records, step: \.step) { d in
            notes.append("\(Self.metrics) lists \(d) step(s) more than once (a resume without truncation?); the last line of each step is used.")
        }
    }

    /// The modification time of metrics.jsonl: when the last step was written.
    public var metricsModified: Date? {
        (try? FileManager.default.attributesOfItem(atPath: metricsPath))?[.modificationDate] as? Date
    }

    /// validation.jsonl (optional: empty without it), one record per step, sorted by step.
    public func readValidation(notes: inout [String]) throws -> [ValidationRecord] {
        guard FileManager.default.fileExists(atPath: validationPath) else { return [] }
        var points: [ValidationRecord] = []
        for (number, line) in try Self.jsonLines(validationPath, notes: &notes) {
            do {
                points.append(try JSONDecoder().decode(ValidationRecord.self, from: line))
            } catch {
                throw MessageError("\(validationPath) line \(number): \(Self.describe(error))")
            }
        }
        return Self.lastPerStep(points, step: \.step) { d in
            notes.append("\(Self.validation) lists \(d) step(s) more than once; the last line of each step is used.")
        }
    }

    /// run_config.json, with the shape (ranks, threads, transport, hosts) of the latest resume.
    public func readConfiguration(notes: inout [String]) throws -> RunConfiguration {
        var configuration = RunConfiguration()
        if FileManager.default.fileExists(atPath: runConfigPath) {
            configuration = try RunConfiguration(file: runConfigPath)
        } else {
            notes.append("no \(Self.runConfig): ranks, threads and the planned schedule are unknown.")
        }
        // a resume does not change the run's schedule; the latest file names the latest hosts
        if let last = resumeConfigs.last, let c = try? RunConfiguration(file: last.path) {
            configuration.worldSize = c.worldSize ?? configuration.worldSize
            configuration.blasThreads = c.blasThreads ?? configuration.blasThreads
            configuration.transport = c.transport ?? configuration.transport
            if !c.hosts.isEmpty { configuration.hosts = c.hosts }
        }
        return configuration
    }

    /// Every resume of the run, by step.
    public func readResumes() -> [RunResume] {
        resumeConfigs.map { r in
            let c = try? RunConfiguration(file: r.path)
            return RunResume(step: r.step, checkpoint: c?.resumedFrom, startedAt: c?.startedAt)
        }
    }

    /// eval-test/metrics.json (optional).
    public func readTestMetrics() throws -> EvaluationMetrics? {
        let path = testMetricsPath
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else { throw MessageError("cannot read \(path)") }
        do {
            return try JSONDecoder().decode(EvaluationMetrics.self, from: data)
        } catch {
            throw MessageError("\(path): \(Self.describe(error))")
        }
    }

    /// Non-empty lines with their 1-based line numbers. A last line cut short — no newline
    /// after it and no JSON — is what a run killed while appending leaves: it is left out
    /// (with a note) instead of making the whole run unreadable.
    static func jsonLines(_ path: String, notes: inout [String]) throws -> [(Int, Data)] {
        guard let data = FileManager.default.contents(atPath: path) else { throw MessageError("cannot read \(path)") }
        var out: [(Int, Data)] = []
        for (i, line) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            out.append((i + 1, Data(line)))
        }
        if data.last != 0x0A, let (number, last) = out.last, (try? JSONSerialization.jsonObject(with: last)) == nil {
            out.removeLast()
            notes.append("\(URL(fileURLWithPath: path).lastPathComponent) line \(number) is cut short (a run stopped while writing it); it is left out.")
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
                throw MessageError("\(file) line \(number): not a JSON object")
            }
            for field in laterStepFields where object[field] == nil {
                object[field] = 0
                patched.insert(field)
            }
            do {
                return try JSONDecoder().decode(StepRecord.self, from: try JSONSerialization.data(withJSONObject: object))
            } catch {
                throw MessageError("\(file) line \(number): \(describe(error))")
            }
        } catch {
            throw MessageError("\(file) line \(number): \(describe(error))")
        }
    }

    /// Sorted by step; of repeated steps the last line wins (it is the redone step).
    static func lastPerStep<T>(_ items: [T], step: KeyPath<T, Int>, duplicates: (Int) -> Void) -> [T] {
        var byStep: [Int: T] = [:]
        for item in items { byStep[item[keyPath: step]] = item }
        if byStep.count != items.count { duplicates(items.count - byStep.count) }
        return byStep.keys.sorted().map { byStep[$0]! }
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
}
