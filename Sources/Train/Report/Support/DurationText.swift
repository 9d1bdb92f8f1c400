import Foundation

/// A duration as people read it: 4.2 → "4.2 s", 754.2 → "12 min 34 s", 5000 → "1 h 23 min";
/// "?" when unknown (negative or not finite). The progress line's ETA and the run report both
/// use it.
public func durationText(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let t = Int(seconds.rounded())
    if t < 60 { return String(format: "%.1f s", seconds) }
    if t < 3600 { return "\(t / 60) min \(t % 60) s" }
    return "\(t / 3600) h \((t % 3600) / 60) min"
}
