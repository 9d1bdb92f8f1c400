import TestSupport
import XCTest
@testable import Model

/// GreedyHead's tokens against generation's argmax of every logit computed by the full head.
final class GreedyHeadTests: XCTestCase {
    /// A random head and rows, every row count the screen takes, and rows the Q8_0 copy cannot
    /// tell apart: three near-copies of the winning row (one weight one ulp larger in two of
    /// them) and an exact duplicate of another winner, which must lose the tie.
    func testTokensAreTheFullHeadsArgmax() throws {
        var rng = SplitMix64(seed: 5)
        let (v, c) = (3000, 64)
        let e = FloatBuffer(count: v * c), x = FloatBuffer(count: fewRowsLimit * c)
        for i in 0..<e.count { e[i] = rng.normal() * 0.05 }
        for i in 0..<x.count { x[i] = rng.normal() * 3 }
        // rows 10, 11: copies of x[0]'s direction (a clear winner for row 0 of x), row 11 nudged up
        // in one weight by one ulp; row 12 an exact copy of 11 (a tie that 11 must win)
        for i in 0..<c { e[10 * c + i] = x[i] * 0.02; e[11 * c + i] = x[i] * 0.02; e[12 * c + i] = x[i] * 0.02 }
        e[11 * c + 3] = e[11 * c + 3].nextUp
        e[12 * c + 3] = e[11 * c + 3]
        // row 2999 a copy of row 20, which row 1 of x is made to prefer: the earlier one must win
        for i in 0..<c { e[20 * c + i] = x[c + i] * 0.02; e[2999 * c + i] = x[c + i] * 0.02 }
        let head = DenseProjection(weight: e.pointer, inputs: c, outputs: v)
        let screen = try XCTUnwrap(GreedyHead(head: head))
        let logits = FloatBuffer(count: fewRowsLimit * v)
        for n in 1...fewRowsLimit {
            head.forward(logits.pointer, x.pointer, rows: n)
            let expected = (0..<n).map { GemmaInference.argmax(logits.pointer + $0 * v, count: v) }
            XCTAssertEqual(screen.tokens(x.pointer, rows: n), expected, "\(n) rows")
        }
        XCTAssertEqual(screen.tokens(x.pointer + c, rows: 1), [20], "an exact tie goes to the first row")
        XCTAssertNil(screen.tokens(x.pointer, rows: fewRowsLimit + 1), "more rows than decoding's few: the full head")
    }

    /// A head whose rows all score alike leaves every row a candidate: nil (the caller computes
    /// the full head) rather than thousands of exact dot products; so does a row that is not finite.
    func testTooManyCandidatesOrNonFiniteRowsFallBack() throws {
        let (v, c) = (GreedyHead.candidateLimit + 10, 32)
        let e = FloatBuffer(count: v * c), x = FloatBuffer(count: c)
        for i in 0..<e.count { e[i] = Float(i % c) * 0.01 }
        for i in 0..<c { x[i] = 1 }
        let screen = try XCTUnwrap(GreedyHead(head: DenseProjection(weight: e.pointer, inputs: c, outputs: v)))
        XCTAssertNil(screen.tokens(x.pointer, rows: 1))
        x[5] = .nan
        XCTAssertNil(screen.tokens(x.pointer, rows: 1))
    }

    /// The real model decodes through the screen (the fp32 model's head is dense): each
    /// generated token is the argmax of the full logits of the same sequence.
    func testRealModelGreedyDecodingEqualsFullLogitsArgmax() throws {
        try assertGreedyDecodingIsTheFullLogitsArgmax(GemmaWeights(model: RealModel.load()), newTokens: 12)
    }
}

/// Decodes `newTokens` greedy tokens of a fixed prompt, checks that the last one came from the
/// model's screen (not from every logit), and that each token is the argmax of the logits a
/// second GemmaInference computes in full for the same sequence.
func assertGreedyDecodingIsTheFullLogitsArgmax(_ weights: GemmaWeights, newTokens: Int,
                                               file: StaticString = #filePath, line: UInt = #line) throws {
    let inference = GemmaInference(weights: weights)
    let prompt: [Int32] = [2, 818, 5279, 529, 7001, 563]
    let generated = try inference.generateGreedy([prompt], maxNewTokens: newTokens, stopToken: -1)[0]
    XCTAssertEqual(generated.count, newTokens, file: file, line: line)
    XCTAssertNotNil(inference.greedyTokens, "the last decode step's token came from the screen, not from every logit",
                    file: file, line: line)
    let reference = GemmaInference(weights: weights), v = weights.config.vocabSize
    let cache = KVCache(config: weights.config, capacity: prompt.count + newTokens)
    var logits = try reference.forward([prompt], caches: [cache], logits: .last)
    for token in generated {
        XCTAssertEqual(token, logits.withUnsafeBufferPointer { GemmaInference.argmax($0.baseAddress!, count: v) }, file: file, line: line)
        logits = try reference.forward([[token]], caches: [cache], logits: .last)
    }
}
