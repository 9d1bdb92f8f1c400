import Foundation

/// The files rank 0 keeps in a run directory: run_config.json (written at start),
/// metrics.jsonl (one StepRecord per line, appended and flushed every step),
/// validation.jsonl (one record per evaluation), checkpoints, and the final evaluation.
public final class RunDirectory {
    public let path: String
    private var metrics: FileHandle?
    private var validation: FileHandle?

    public init(path: String) { self.path = path }

    public func file(_ name: String) -> String { URL(fileURLWithPath: path).appendingPathComponent(name).path }

    /// A directory that already holds a run (metrics or checkpoints).
    public var holdsRun: Bool {
        FileManager.default.fileExists(atPath: file("metrics.jsonl")) || !Checkpoint.list(runDirectory: path).isEmpty
    }

    public func create() throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw TrainingError("cannot create the run directory \(path): \(error.localizedDescription)")
        }
    }

    public func writeJSON<T: Encodable>(_ value: T, to name: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeFileAtomicallyData(try encoder.encode(value), to: file(name))
    }

    /// Append one JSON line to metrics.jsonl. On resume the lines after the checkpoint's step
    /// are dropped first (they belong to the part of the run being redone).
    public func appendMetrics(_ record: StepRecord) throws {
        if metrics == nil { metrics = try openAppending("metrics.jsonl") }
        try appendLine(record, to: metrics!)
    }

    public func appendValidation<T: Encodable>(_ record: T) throws {
        if validation == nil { validation = try openAppending("validation.jsonl") }
        try appendLine(record, to: validation!)
    }

    /// Keep only metrics lines whose step is ≤ `step` (resume after a crash past the checkpoint).
    public func truncateMetrics(afterStep step: Int) throws {
        for name in ["metrics.jsonl", "validation.jsonl"] {
            guard let data = FileManager.default.contents(atPath: file(name)) else { continue }
            let kept = data.split(separator: 0x0A).filter { line in
                struct S: Decodable { var step: Int }
                return ((try? JSONDecoder().decode(S.self, from: Data(line)))?.step ?? 0) <= step
            }
            var out = Data()
            for l in kept { out.append(contentsOf: l); out.append(0x0A) }
            try writeFileAtomicallyData(out, to: file(name))
        }
    }

    private func openAppending(_ name: String) throws -> FileHandle {
        let p = file(name)
        if !FileManager.default.fileExists(atPath: p) { FileManager.default.createFile(atPath: p, contents: nil) }
        guard let h = FileHandle(forWritingAtPath: p) else { throw TrainingError("cannot open \(p) for writing") }
        try h.seekToEnd()
        return h
    }

    private func appendLine<T: Encodable>(_ value: T, to handle: FileHandle) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try handle.write(contentsOf: try encoder.encode(value) + Data("\n".utf8))
    }
}

func writeFileAtomicallyData(_ data: Data, to path: String) throws {
    let tmp = path + ".tmp-\(getpid())"
    try data.write(to: URL(fileURLWithPath: tmp))
    guard rename(tmp, path) == 0 else {
        try? FileManager.default.removeItem(atPath: tmp)
        throw TrainingError("cannot write \(path): \(String(cString: strerror(errno)))")
    }
}
