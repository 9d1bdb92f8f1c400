import Foundation

/// The live progress line of rank 0: rewritten in place on a terminal, one line every
/// `everySeconds` otherwise (logs, CI).
public final class ProgressLine {
    private let isTerminal = isatty(STDERR_FILENO) != 0
    private var lastPrinted = Date.distantPast
    private let everySeconds: Double
    private var recent: [StepRecord] = []

    public init(everySeconds: Double = 20) { self.everySeconds = everySeconds }

    public func update(_ r: StepRecord, totalSteps: Int, epochs: Int, force: Bool = false) {
        recent.append(r)
        if recent.count > 20 { recent.removeFirst() }
        let seconds = recent.map(\.seconds).reduce(0, +)
        let examples = Double(recent.map(\.rows.count).reduce(0, +))
        let tokens = Double(recent.map(\.tokens).reduce(0, +))
        let perStep = seconds / Double(recent.count)
        let eta = perStep * Double(totalSteps - r.step)
        let line = String(format: "step %d/%d | epoch %d/%d | loss %.4f | grad %.2f | lr %.2e | %.2f ex/s | %.0f tok/s | %.2f s/step | ETA %@",
                          r.step, totalSteps, r.epoch + 1, epochs, r.loss, r.gradNorm, r.lr,
                          examples / max(seconds, 1e-9), tokens / max(seconds, 1e-9), perStep, Self.duration(eta))
        if isTerminal {
            FileHandle.standardError.write(Data("\r\u{1B}[2K\(line)".utf8))
        } else if force || Date().timeIntervalSince(lastPrinted) >= everySeconds || r.step == 1 {
            FileHandle.standardError.write(Data("\(line)\n".utf8))
            lastPrinted = Date()
        }
    }

    /// A message on its own line (ends a terminal progress line first).
    public func message(_ text: String) {
        FileHandle.standardError.write(Data(((isTerminal ? "\r\u{1B}[2K" : "") + text + "\n").utf8))
    }

    public static func duration(_ s: Double) -> String {
        guard s.isFinite, s >= 0 else { return "?" }
        let t = Int(s.rounded())
        if t >= 3600 { return String(format: "%dh%02dm", t / 3600, (t % 3600) / 60) }
        if t >= 60 { return String(format: "%dm%02ds", t / 60, t % 60) }
        return "\(t)s"
    }
}
