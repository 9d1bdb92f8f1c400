import Foundation

/// A command that writes one output under temporary names (export, merge): Ctrl-C or a kill
/// while it writes removes the half-written temporaries, says "<command> interrupted; nothing
/// was written" and exits 128 + signal. Every stderr line goes through one lock; whoever
/// writes the last line (the handler's message, or an error) keeps it until the process
/// ends, so nothing follows it. `body` gets the function that prints a progress line.
func writingOutput(command: String, temporaries: [String], _ body: (_ log: @escaping (String) -> Void) throws -> Void) throws {
    let stderrLock = NSLock()
    var finished = false  // the output is complete (renamed into place): nothing to take back
    var sources: [DispatchSourceSignal] = []
    for sig in [SIGINT, SIGTERM] {
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler {
            for path in temporaries { try? FileManager.default.removeItem(atPath: path) }
            stderrLock.lock()
            if !finished { FileHandle.standardError.write(Data("ft-dist: \(command) interrupted; nothing was written\n".utf8)) }
            Foundation.exit(128 + sig)
        }
        source.resume()
        sources.append(source)
    }
    defer { sources.forEach { $0.cancel() } }
    try runReportingErrors {
        do {
            try body { line in stderrLock.withLock { FileHandle.standardError.write(Data("[\(command)] \(line)\n".utf8)) } }
            stderrLock.withLock { finished = true }
        } catch {
            stderrLock.lock()  // the error line is the last one
            throw error
        }
    }
}
