import Foundation

/// Bytes this machine (or network namespace) has sent over its network interfaces, loopback
/// excluded: the kernel's own count (/proc/net/dev), so it measures what a gradient exchange
/// really puts on the links between hosts, protocol overhead and all — and any other traffic
/// of the host. nil where /proc/net/dev cannot be read.
public enum NetworkCounters {
    public static func bytesSent(devFile: String = "/proc/net/dev") -> Int? {
        guard let text = try? String(contentsOfFile: devFile, encoding: .utf8) else { return nil }
        return bytesSent(procNetDev: text)
    }

    /// The sum of the transmitted bytes (the 9th number after "name:") of every interface but lo.
    public static func bytesSent(procNetDev text: String) -> Int? {
        var total = 0, interfaces = 0
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let name = parts[0].trimmingCharacters(in: .whitespaces)
            let fields = parts[1].split(separator: " ").compactMap { Int($0) }
            guard fields.count >= 16 else { continue }
            interfaces += 1
            if name != "lo" { total += fields[8] }
        }
        return interfaces > 0 ? total : nil
    }
}
