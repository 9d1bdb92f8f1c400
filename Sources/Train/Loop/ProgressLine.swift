import Foundation
import Report

/// The live progress line of rank 0: rewritten in place on a terminal, one line every
/// `everySeconds` otherwise (logs, CI).
public final class ProgressLine {
    private let isTerminal = isatty(STDERR_FILENO) != 0
    private var lastPrinted = Date.distantPast
    private let everySeconds: Double
    private var recent: [StepRecord] = []

    public init(everySeconds: Double = 20) { self.everySeconds = everySeconds }

    public func update(_ r: StepRecord, totalSteps: Int, epochs: Int) {
        recent.append(r)
        if recent.count > 20 { recent.removeFirst() }
        let seconds = recent.map(\.seconds).reduce(0, +)
        let examples = Double(recent.map(\.rows.count).reduce(0, +))
        let tokens = Double(recent.map(\.tokens).reduce(0, +))
        let perStep = seconds / Double(recent.count)
        let eta = perStep * Double(totalSteps - r.step)
        let line = String(format: "step %d/%d | epoch %d/%d | loss %.4f | grad %.2f | lr %.2e | %.2f ex/s | %.0f tok/s | %.2f s/step | ETA %@",
                          r.step, totalSteps, r.epoch + 1, epochs, r.loss, r.gradNorm, r.lr,
                          examples / max(seconds, 1e-9), tokens / max(seconds, 1e-9), perStep, durationText(eta))
        if isTerminal {
            FileHandle.standardError.write(Data("\r\u{1B}[2K\(line)".utf8))
        } else if Date().timeIntervalSince(lastPrinted) >= everySeconds || r.step == 1 {
            FileHandle.standardError.write(Data("\(line)\n".utf8))
            lastPrinted = Date()
        }
    }

    /// A message on its own line (ends a terminal progress line first).
    public func message(_ text: String) {
        FileHandle.standardError.write(Data(((isTerminal ? "\r\u{1B}[2K" : "") + text + "\n").utf8))
    }
}
