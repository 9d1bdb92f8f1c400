import Foundation

/// Memory figures of this process, as the kernel counts them.
public enum ResourceUsage {
    /// Peak resident set size so far (getrusage's ru_maxrss, KiB on Linux).
    public static func peakRSSBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int(usage.ru_maxrss) * 1024
    }

    /// Current resident set size (/proc/self/statm, second field in pages).
    public static func currentRSSBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Resident memory backed by files (/proc/self/status RssFile): a quantized base's GGUF
    /// pages, read through the mapping; near zero for an fp32 base (its mapping is released).
    public static func residentFileBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("RssFile:") {
            return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
        }
        return 0
    }
}
