import Foundation

enum TestPaths {
    static var repoRoot: URL {
        if let r = ProcessInfo.processInfo.environment["FTDIST_ROOT"] { return URL(fileURLWithPath: r) }
        var u = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while u.path != "/" {
            if FileManager.default.fileExists(atPath: u.appendingPathComponent("Package.swift").path) { return u }
            u.deleteLastPathComponent()
        }
        fatalError("repo root not found")
    }
    static var modelPath: String { repoRoot.appendingPathComponent("models/gemma-3-270m-q4_k_m.gguf").path }
    static var referenceDir: URL {
        if let r = ProcessInfo.processInfo.environment["FTDIST_REFERENCE"] { return URL(fileURLWithPath: r) }
        return repoRoot.appendingPathComponent("../shared/reference").standardized
    }
}
