import Foundation
import Model

/// A command that writes one output under temporary names (export, merge): Ctrl-C or a kill
/// while it writes removes the half-written temporaries, says "<command> interrupted; nothing
/// was written" and exits 128 + signal. The handler first stops the output's commit
/// (OutputCommit: the rename to the final name), then takes the stderr lock and keeps both
/// until the process ends — so a rename never meets a half-removed directory, an error that
/// the removal causes in the writer is never printed, and nothing follows the handler's line.
/// An output already complete when the signal comes is kept, without a message. `body` gets
/// the function that prints a progress line.
func writingOutput(command: String, temporaries: [String], _ body: (_ log: @escaping (String) -> Void) throws -> Void) throws {
    let stderrLock = NSLock()
    var sources: [DispatchSourceSignal] = []
    for sig in [SIGINT, SIGTERM] {
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler {
            let complete = OutputCommit.shared.stopCommits()
            stderrLock.lock()
            if !complete {
                for path in temporaries { try? FileManager.default.removeItem(atPath: path) }
                FileHandle.standardError.write(Data("ft-dist: \(command) interrupted; nothing was written\n".utf8))
            }
            Foundation.exit(128 + sig)
        }
        source.resume()
        sources.append(source)
    }
    defer { sources.forEach { $0.cancel() } }
    try runReportingErrors {
        do {
            try body { line in stderrLock.withLock { FileHandle.standardError.write(Data("[\(command)] \(line)\n".utf8)) } }
        } catch {
            stderrLock.lock()  // the error line is the last one
            throw error
        }
    }
}
