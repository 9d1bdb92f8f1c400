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

    /// A prompt longer than GemmaInference.prefillChunk is read in pieces (bounded attention
    /// scratch), each sequence's last piece giving the logits: the same tokens as a reference
    /// greedy loop that reads each prompt in one forward (`.all`), in a batch with a short
    /// prompt, and the same logits from `forward(.last)`, which reads in pieces too; more tokens
    /// than the model's context or the cache are refused before any work, whatever
    /// --max-new-tokens.
    func testLongPromptsInPiecesAndTheContextLimit() throws {
        let model = try TinyGemma.load()
        let inference = GemmaInference(model: model)
        let chunk = GemmaInference.prefillChunk
        let long: [Int32] = [2] + (0..<(2 * chunk + 37)).map { Int32(5 + ($0 * 7919) % 290) }
        let prompts = [long, prefix + suffixes[0]]
        let pieces = try inference.generateGreedy(prompts, maxNewTokens: 6, stopToken: -1)
        var reference: [[Int32]] = []
        for p in prompts {
            let cache = KVCache(config: model.config, capacity: p.count + 6)
            let v = model.config.vocabSize
            var logits = Array(try inference.forward([p], caches: [cache], logits: .all).suffix(v))
            let inPieces = try inference.forward([p], caches: [KVCache(config: model.config, capacity: p.count)], logits: .last)
            for j in 0..<v { XCTAssertEqual(inPieces[j], logits[j], accuracy: 1e-4 * max(1, abs(logits[j])), "logit \(j)") }
            var out: [Int32] = []
            for _ in 0..<6 {
                let token = Int32(logits.indices.max { logits[$0] < logits[$1] }!)
                out.append(token)
                logits = try inference.forward([[token]], caches: [cache], logits: .last)
            }
            reference.append(out)
        }
        XCTAssertEqual(pieces, reference)
        // a long shared prefix is read in pieces too: continuing it gives the whole prompts' tokens
        let longPrefix = Array(long.prefix(chunk + 100))
        let continued = try inference.generateGreedy([Array(long.dropFirst(chunk + 100))], maxNewTokens: 6, stopToken: -1,
                                                     prefix: try inference.prefixCache(longPrefix))
        XCTAssertEqual(continued, [reference[0]])
        XCTAssertThrowsError(try inference.generateGreedy([long + [300]], maxNewTokens: 2, stopToken: 1)) {
            XCTAssertTrue("\($0)".contains("outside the model's vocabulary"), "\($0)")
        }
        let context = model.config.contextLength
        for maxNew in [context, Int.max] {
            XCTAssertThrowsError(try inference.generateGreedy([[2, 5]], maxNewTokens: maxNew, stopToken: 1)) {
                XCTAssertTrue("\($0)".contains("a prompt of 2 tokens and up to \(maxNew) new tokens exceed the model's context of \(context)"), "\($0)")
            }
        }
        XCTAssertThrowsError(try inference.forward([[Int32](repeating: 5, count: context + 1)],
                                                   caches: [KVCache(config: model.config, capacity: 8)], logits: .last)) {
            XCTAssertTrue("\($0)".contains("\(context + 1) tokens exceed"), "\($0)")
        }
        let cache = KVCache(config: model.config, capacity: 8)
        XCTAssertThrowsError(try inference.forward([long], caches: [cache], logits: .last)) {
            XCTAssertTrue("\($0)".contains("the KV cache is full"), "\($0)")
        }
        XCTAssertEqual(cache.length, 0, "nothing was read")
    }

    /// Attention of a short prompt runs on one BLAS thread, a long prompt's on every thread; the
    /// logits are those of a forward with BLAS on one thread throughout (within rounding), and
    /// the thread count is what it was before.
    func testAttentionThreadsChangeNothingAndAreRestored() throws {
        let model = try TinyGemma.load()
        let inference = GemmaInference(model: model)
        let saved = BLASThreads.count
        defer { BLASThreads.set(saved) }
        let short = prefix + suffixes[2]
        let long: [Int32] = [2] + (0..<300).map { Int32(5 + ($0 * 7919) % 290) }
        XCTAssertLessThanOrEqual(short.count * short.count, GemmaInference.oneThreadAttentionPairs)
        XCTAssertGreaterThan(long.count * long.count, GemmaInference.oneThreadAttentionPairs)
        for p in [short, long] {
            BLASThreads.set(2)
            let two = try inference.forward([p], caches: [KVCache(config: model.config, capacity: p.count)], logits: .all)
            XCTAssertEqual(BLASThreads.count, 2, "\(p.count) tokens: the thread count is restored")
            BLASThreads.set(1)
            let one = try inference.forward([p], caches: [KVCache(config: model.config, capacity: p.count)], logits: .all)
            let scale = one.map(abs).max()!
            for i in one.indices { XCTAssertEqual(two[i], one[i], accuracy: 1e-5 * scale, "\(p.count) tokens, logit \(i)") }
        }
    }

    /// `.last` and `.none` let the last layer compute only the rows whose logits are wanted
    /// (past every row's key and value): the logits are those of `.all` at each sequence's last
    /// row, an empty sequence in the batch included; the caches are filled bit for bit as by
    /// `.all`, and decoding on from them gives the same logits.
    func testTheLastLayerComputesOnlyTheWantedRows() throws {
        for kvHeads in [1, 2] {
            let model = try TinyGemma.load(kvHeads: kvHeads)
            let inference = GemmaInference(model: model)
            let c = model.config, v = c.vocabSize
            let prompts = suffixes.map { prefix + $0 } + [[]] + [prefix]
            func caches() -> [KVCache] { prompts.map { _ in KVCache(config: c, capacity: 32) } }
            let (allCaches, lastCaches, noneCaches) = (caches(), caches(), caches())
            let all = try inference.forward(prompts, caches: allCaches, logits: .all)
            let last = try inference.forward(prompts, caches: lastCaches, logits: .last)
            XCTAssertEqual(try inference.forward(prompts, caches: noneCaches, logits: .none), [])
            let nonEmpty = prompts.indices.filter { !prompts[$0].isEmpty }
            XCTAssertEqual(last.count, nonEmpty.count * v)
            let scale = all.map(abs).max()!
            var row = 0
            for (j, i) in nonEmpty.enumerated() {
                row += prompts[i].count
                for t in 0..<v { XCTAssertEqual(last[j * v + t], all[(row - 1) * v + t], accuracy: 1e-5 * scale, "sequence \(i), kv heads \(kvHeads)") }
            }
            for (i, reference) in allCaches.enumerated() {
                for other in [lastCaches[i], noneCaches[i]] {
                    XCTAssertEqual(other.length, reference.length)
                    for l in 0..<c.layers {
                        let count = reference.length * c.kvDim
                        XCTAssertEqual(Array(UnsafeBufferPointer(start: other.keys(l), count: count)),
                                       Array(UnsafeBufferPointer(start: reference.keys(l), count: count)), "keys, layer \(l)")
                        XCTAssertEqual(Array(UnsafeBufferPointer(start: other.values(l), count: count)),
                                       Array(UnsafeBufferPointer(start: reference.values(l), count: count)), "values, layer \(l)")
                    }
                }
            }
            let next = nonEmpty.map { _ in [Int32(297)] }
            let a = try inference.forward(next, caches: nonEmpty.map { allCaches[$0] }, logits: .last)
            let b = try inference.forward(next, caches: nonEmpty.map { noneCaches[$0] }, logits: .last)
            XCTAssertEqual(a, b)
        }
    }
}
