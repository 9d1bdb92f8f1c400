import Foundation
import TestSupport
@testable import Model

/// The real Gemma 3 270M, loaded once for all tests of this bundle (≈1 GB of fp32 weights).
/// A missing model is a failure, not a skip: the setup installs it.
enum RealModel {
    static let shared: Result<GemmaModel, Error> = Result {
        let file = try GGUFFile(path: TestPaths.modelPath)
        return try GemmaModel(gguf: file)
    }
    static func load() throws -> GemmaModel { try shared.get() }
}
