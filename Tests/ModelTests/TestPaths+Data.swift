import Foundation

extension TestPaths {
    /// Banking77 CSVs: `repoRoot/data/banking77`, else `repoRoot/../shared/data/banking77`.
    static var dataDir: URL {
        let own = repoRoot.appendingPathComponent("data/banking77")
        if FileManager.default.fileExists(atPath: own.path) { return own }
        return repoRoot.appendingPathComponent("../shared/data/banking77").standardized
    }
}
