import Foundation

/// Where the installed model and data live when no path is given: `$FTDIST_MODEL` /
/// `$FTDIST_DATA`, else `models/` and `data/banking77` in the working directory, else next
/// to the repository that holds the executable (`.build/release/ft-dist` → `../../`).
public enum DefaultPaths {
    public static let modelFile = "models/gemma-3-270m-q4_k_m.gguf"
    public static let dataDir = "data/banking77"

    public static var model: String { resolve(env: "FTDIST_MODEL", relative: modelFile) }
    public static var data: String { resolve(env: "FTDIST_DATA", relative: dataDir) }

    static func resolve(env: String, relative: String) -> String {
        if let v = ProcessInfo.processInfo.environment[env], !v.isEmpty { return v }
        let fm = FileManager.default
        let cwd = URL(fileURLWithPath: fm.currentDirectoryPath).appendingPathComponent(relative).path
        if fm.fileExists(atPath: cwd) { return cwd }
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent(relative).path
            if fm.fileExists(atPath: candidate) { return candidate }
            dir.deleteLastPathComponent()
        }
        return cwd
    }
}
