import Foundation
import Model
import Report

/// Which base model an adapter checkpoint was trained on: its path and the sha256 of its
/// bytes. The base is not copied into every checkpoint; resume, eval and predict compare the
/// base they are given with this record and refuse another one.
public struct BaseModelRecord: Codable, Equatable {
    public var path: String
    public var sha256: String
    public var bytes: Int

    /// The record of the model at `path`, a GGUF or an HF directory (reads the weights whole:
    /// ≈1 s for the 253 MB GGUF). The path is stored absolute, so eval and merge find the base
    /// from any working directory.
    public init(file path: String) throws {
        self.init(path: path, sha256: try ModelFile(path: path).sha256())
    }

    /// The record of an open GGUF, hashed through its own mapping (no second copy) — taken
    /// when the base is loaded, so it names the bytes that were actually trained on.
    public init(gguf: GGUFFile) {
        self.init(path: gguf.path, sha256: gguf.sha256())
    }

    public init(path: String, sha256: String) {
        self.path = URL(fileURLWithPath: path).standardized.path
        self.sha256 = sha256
        bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0  // 0 for a directory
    }

    /// Throws unless the file at `path` is this base.
    public func verify(_ path: String, for checkpoint: String) throws {
        let given = try BaseModelRecord(file: path)
        guard given.sha256 == sha256 else {
            throw MessageError("\(checkpoint) holds adapters for the base \(self.path) (sha256 \(sha256.prefix(12))…), "
                + "but \(path) is another model (sha256 \(given.sha256.prefix(12))…); give the base it was trained on")
        }
    }
}
