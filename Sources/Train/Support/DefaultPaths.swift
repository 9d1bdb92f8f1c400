import Foundation

/// Where the installed model, the data and the main command's run live when no path is
/// given: `$FTDIST_MODEL` / `$FTDIST_DATA` / `$FTDIST_RUN`, else `models/…`, `data/banking77`
/// and `runs/banking77` in the working directory, else next to the repository that holds the
/// executable (`.build/release/ft-dist` → `../../`).
public enum DefaultPaths {
    public static let modelFile = "models/gemma-3-270m-q4_k_m.gguf"
    public static let dataDir = "data/banking77"
    /// The main command's run directory, relative to the working directory.
    public static let runDirectory = "runs/banking77"
    /// `ft-dist train`'s default --output: `$FTDIST_RUN`, else runs/banking77 here.
    public static var trainingRun: String {
        ProcessInfo.processInfo.environment["FTDIST_RUN"].flatMap { $0.isEmpty ? nil : $0 } ?? runDirectory
    }

    public static var model: String { resolve(env: "FTDIST_MODEL", relative: modelFile) }
    public static var data: String { resolve(env: "FTDIST_DATA", relative: dataDir) }
    /// The default run directory as eval and predict look for it (it need not exist): the
    /// same `$FTDIST_RUN` or runs/banking77 that train writes by default.
    public static var run: String { resolve(env: "FTDIST_RUN", relative: runDirectory) }

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
