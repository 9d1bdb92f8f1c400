import Foundation

/// Where tests find the repository, the installed model, the data and the fixtures.
/// FTDIST_ROOT, FTDIST_SHARED and FTDIST_BIN override the defaults.
public enum TestPaths {
    public static let repoRoot: URL = {
        if let r = ProcessInfo.processInfo.environment["FTDIST_ROOT"] { return URL(fileURLWithPath: r) }
        var u = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while u.path != "/" {
            if FileManager.default.fileExists(atPath: u.appendingPathComponent("Package.swift").path) { return u }
            u.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()

    /// ../shared beside the repository (docs/DESIGN.md, "Reference fixtures").
    public static var sharedDir: URL {
        if let s = ProcessInfo.processInfo.environment["FTDIST_SHARED"] { return URL(fileURLWithPath: s) }
        return repoRoot.appendingPathComponent("../shared").standardized
    }

    /// The real model as scripts/setup.sh installs it. Tests that need it fail without it.
    public static var modelPath: String { repoRoot.appendingPathComponent("models/gemma-3-270m-q4_k_m.gguf").path }
    public static var referenceDir: URL { sharedDir.appendingPathComponent("reference") }

    /// Banking77: data/banking77 as installed, else the shared copy.
    public static var dataDir: URL {
        let own = repoRoot.appendingPathComponent("data/banking77")
        if FileManager.default.fileExists(atPath: own.appendingPathComponent("train.csv").path) { return own }
        return sharedDir.appendingPathComponent("data/banking77")
    }

    /// The ft-dist executable built by `swift test -c release` (tests that launch mpirun use it).
    public static var binary: String {
        if let b = ProcessInfo.processInfo.environment["FTDIST_BIN"] { return b }
        return repoRoot.appendingPathComponent(".build/release/ft-dist").path
    }

    /// A fresh temporary directory.
    public static func temporaryDirectory(_ label: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ftdist-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}
