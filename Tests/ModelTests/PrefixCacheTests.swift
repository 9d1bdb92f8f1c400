import TestSupport
import XCTest
@testable import Model

/// A prompt prefix computed once and continued by several sequences (evaluation's shared
/// template prefix) gives what each whole prompt gives.
final class PrefixCacheTests: XCTestCase {
    let prefix: [Int32] = [2, 265, 270, 266, 280, 271]
    let suffixes: [[Int32]] = [[272, 290, 291], [299], [281, 282, 283, 284, 285, 286, 287, 288, 289], [272, 273]]

    /// Logits at every new position of each sequence, whole prompt vs prefix cache + suffix,
    /// both kv-head layouts; the continued cache holds the prefix and has the asked capacity.
    func testContinuedPrefixGivesTheWholePromptsLogits() throws {
        for kvHeads in [1, 2] {
            let model = try TinyGemma.load(kvHeads: kvHeads)
            let inference = GemmaInference(model: model)
            let v = model.config.vocabSize
            let shared = try inference.prefixCache(prefix)
            XCTAssertEqual(shared.length, prefix.count)
            for suffix in suffixes {
                let whole = try inference.forward([prefix + suffix], caches: [KVCache(config: model.config, capacity: 32)], logits: .all)
                let cache = KVCache(continuing: shared, capacity: prefix.count + suffix.count + 1)
                XCTAssertEqual(cache.length, prefix.count)
                XCTAssertEqual(cache.capacity, prefix.count + suffix.count + 1)
                let continued = try inference.forward([suffix], caches: [cache], logits: .all)
                XCTAssertEqual(continued.count, suffix.count * v)
                let scale = whole.map(abs).max()!
                for (i, j) in (0..<(suffix.count * v)).enumerated() {
                    XCTAssertEqual(continued[i], whole[prefix.count * v + j], accuracy: 1e-5 * scale)
                }
                XCTAssertEqual(shared.length, prefix.count, "continuing a prefix leaves it unchanged")
            }
        }
    }

    /// Greedy generation of a batch from the shared prefix chooses the same tokens as from the
    /// whole prompts, and `.none` computes no logits.
    func testGreedyFromASharedPrefixEqualsGreedyFromWholePrompts() throws {
        let model = try TinyGemma.load()
        let inference = GemmaInference(model: model)
        let whole = try inference.generateGreedy(suffixes.map { prefix + $0 }, maxNewTokens: 12, stopToken: 1)
        let shared = try inference.generateGreedy(suffixes, maxNewTokens: 12, stopToken: 1, prefix: try inference.prefixCache(prefix))
        XCTAssertEqual(shared, whole)
        XCTAssertTrue(whole.contains { $0.count > 3 }, "the generations are long enough to mean something: \(whole)")
        XCTAssertEqual(try inference.forward([prefix], caches: [KVCache(config: model.config, capacity: 8)], logits: .none), [])
        XCTAssertThrowsError(try inference.forward([[2, 300]], caches: [KVCache(config: model.config, capacity: 8)], logits: .last)) {
            XCTAssertTrue("\($0)".contains("outside the model's vocabulary"), "\($0)")
        }
        XCTAssertGreaterThan(inference.timing.decodedTokens, 0)
        XCTAssertEqual(inference.timing.promptTokens, suffixes.reduce(0) { $0 + prefix.count + $1.count } + suffixes.reduce(0) { $0 + $1.count })
    }
}
