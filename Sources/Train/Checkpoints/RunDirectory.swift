import Foundation
import Model
import Report

/// Rank 0's writer of a run directory (the files are named by RunFiles): run_config.json at
/// start, metrics.jsonl (one StepRecord per line, appended and flushed every step),
/// validation.jsonl (one ValidationRecord per validation); checkpoints go through Checkpoint.
public final class RunDirectory {
    public let path: String
    public let files: RunFiles
    private var metrics: FileHandle?
    private var validation: FileHandle?

    public init(path: String) {
        self.path = path
        files = RunFiles(path)
    }

    public func create() throws {
        try OutputFile.createDirectory(path, what: "the run directory")
    }

    /// Pretty JSON with sorted keys, written atomically.
    public func writeJSON<T: Encodable>(_ value: T, to name: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(value), path = files.path(name)
        try naming(path) { try data.write(to: URL(fileURLWithPath: path), options: .atomic) }
    }

    /// Append one JSON line to metrics.jsonl. On resume the lines after the checkpoint's step
    /// are dropped first (they belong to the part of the run being redone).
    public func appendMetrics(_ record: StepRecord) throws {
        if metrics == nil { metrics = try openAppending(files.metricsPath) }
        try appendLine(record, to: metrics!, path: files.metricsPath)
    }

    public func appendValidation(_ record: ValidationRecord) throws {
        if validation == nil { validation = try openAppending(files.validationPath) }
        try appendLine(record, to: validation!, path: files.validationPath)
    }

    /// Keep only metrics and validation lines whose step is ≤ `step` (resume after a crash past
    /// the checkpoint).
    public func truncateMetrics(afterStep step: Int) throws {
        for path in [files.metricsPath, files.validationPath] {
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            // a line that does not decode (cut short when a run was killed while writing it) goes too
            let kept = data.split(separator: 0x0A).filter { line in
                struct S: Decodable { var step: Int }
                return ((try? JSONDecoder().decode(S.self, from: Data(line)))?.step).map { $0 <= step } ?? false
            }
            var out = Data()
            for l in kept { out.append(contentsOf: l); out.append(0x0A) }
            try out.write(to: URL(fileURLWithPath: path), options: .atomic)
        }
    }

    private func openAppending(_ path: String) throws -> FileHandle {
        if !FileManager.default.fileExists(atPath: path) && !FileManager.default.createFile(atPath: path, contents: nil) {
            throw MessageError("cannot create \(path)")
        }
        guard let h = FileHandle(forWritingAtPath: path) else { throw MessageError("cannot open \(path) for writing") }
        try naming(path) { try h.seekToEnd() }
        return h
    }

    private func appendLine<T: Encodable>(_ value: T, to handle: FileHandle, path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let line = try encoder.encode(value) + Data("\n".utf8)
        try naming(path) { try handle.write(contentsOf: line) }
    }

    /// Runs `write`, and names `path` and the system's reason in its error (a full disk, a
    /// file-size limit): Foundation's own errors name neither.
    private func naming(_ path: String, _ write: () throws -> Void) throws {
        do { try write() } catch { throw MessageError("cannot write \(path): \(ModelFileError.systemReason(error))") }
    }
}
