import Distributed
import Model
import TestSupport
@testable import Train
import XCTest

/// The slicing and the norm of the gradient exchange; the multi-rank behaviour is covered by
/// DataParallelTests (host-shared against plain all-reduce, np=1…4).
final class GradientExchangeTests: XCTestCase {
    func testChunkSizeDependsOnlyOnTheParameterCount() {
        XCTAssertEqual(GradientExchange.chunkSize(count: 268_098_176), 1 << 20)  // Gemma 3 270M
        XCTAssertEqual(GradientExchange.chunkSize(count: 80_000), 1024)          // tiny models: the floor
        XCTAssertEqual(GradientExchange.chunkSize(count: 2_000_000), 8192)       // the power of two above count/256
    }

    func testSlicesTileTheBufferAtChunkBoundaries() {
        for (count, chunk) in [(268_098_176, 1 << 20), (80_123, 1024), (5000, 1024), (1000, 1024)] {
            for parts in 1...4 {
                var next = 0
                for part in 0..<parts {
                    let s = GradientExchange.slice(count: count, chunk: chunk, part: part, parts: parts)
                    XCTAssertEqual(s.lowerBound, next, "count \(count), \(parts) parts: slices must be contiguous")
                    XCTAssertTrue(s.lowerBound % chunk == 0, "slice starts on a chunk boundary")
                    next = s.upperBound
                }
                XCTAssertEqual(next, count, "count \(count), \(parts) parts: slices must cover the buffer")
            }
        }
        // the real model's 256 chunks split evenly between 2 ranks
        XCTAssertEqual(GradientExchange.slice(count: 268_098_176, chunk: 1 << 20, part: 1, parts: 2).lowerBound, 128 << 20)
    }

    func testSingleProcessOwnsEverythingAndMatchesThePlainNorm() throws {
        let n = 300_001
        let exchange = try GradientExchange(count: n, comm: SingleProcessCommunicator(), hostSharedMemory: true)
        XCTAssertEqual(exchange.ownedRange, 0..<n)
        XCTAssertNil(exchange.publishTarget)
        var state: UInt64 = 7
        for i in 0..<n {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            exchange.gradients[i] = Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000
        }
        var exact = 0.0
        for i in 0..<n { exact += Double(exchange.gradients[i]) * Double(exchange.gradients[i]) }
        try exchange.reduce()
        let norm = try exchange.globalNorm()
        XCTAssertEqual(norm, exact.squareRoot(), accuracy: 1e-6 * exact.squareRoot())
    }

    /// Full fine-tuning of a zeroed tiny model: the test sets values and gradients itself.
    /// Passing one gradient buffer to several lets their AdamW updates see the same gradient.
    private func tinyTrainable(gradients: FloatBuffer? = nil) -> TrainableParameters {
        TrainableParameters(.full, of: GemmaModel(config: TinyGemma.config()), gradients: gradients)
    }

    func testSlicedAdamWUpdatesOnlyItsRange() {
        let tp = tinyTrainable()
        let count = tp.count
        let p = tp.values, g = tp.gradients
        for i in 0..<count { p[i] = 0.5; g[i] = 0.25 }
        let tq = tinyTrainable(gradients: g)
        let q = tq.values
        q.copy(from: p)
        let full = AdamW(for: tp), sliced = AdamW(for: tq)
        let publish = FloatBuffer(count: count)
        full.update(tp, lr: 1e-3)
        let range = 1000..<3000
        sliced.update(tq, lr: 1e-3, range: range, publish: publish.pointer)
        for i in [0, 999, 3000, count - 1] {
            XCTAssertEqual(q[i], 0.5, "outside the range nothing moves")
            XCTAssertEqual(sliced.m[i], 0)
        }
        for i in [1000, 2000, 2999] {
            XCTAssertEqual(q[i], p[i], "inside the range the update is the full one")
            XCTAssertEqual(sliced.m[i], full.m[i])
            XCTAssertEqual(sliced.v[i], full.v[i])
            XCTAssertEqual(publish[i], q[i], "the new weights are published too")
        }
        XCTAssertNotEqual(q[1500], 0.5)
    }

    /// Weight decay on a slice: only the slice's non-norm weights decay, exactly as in the
    /// full update, and norm weights never do.
    func testSlicedWeightDecayMatchesTheFullUpdate() {
        let tp = tinyTrainable()
        let count = tp.count
        let p = tp.values, g = tp.gradients
        for i in 0..<count { p[i] = 0.5 + Float(i % 17) * 0.01; g[i] = Float(i % 5) * 0.1 - 0.2 }
        let tq = tinyTrainable(gradients: g)
        let q = tq.values
        q.copy(from: p)
        let full = AdamW(for: tp, weightDecay: 0.1), sliced = AdamW(for: tq, weightDecay: 0.1)
        // a range that starts inside one tensor and ends inside another, crossing a norm
        let norm = tp.tensors.first { $0.isNorm }!
        let range = (norm.offset - 100)..<(norm.offset + norm.count + 100)
        full.update(tp, lr: 1e-2)
        sliced.update(tq, lr: 1e-2, range: range)
        for i in range { XCTAssertEqual(q[i], p[i], "index \(i)") }
        XCTAssertEqual(q[range.lowerBound - 1], 0.5 + Float((range.lowerBound - 1) % 17) * 0.01, "before the range nothing moves")
        XCTAssertEqual(q[range.upperBound], 0.5 + Float(range.upperBound % 17) * 0.01, "after the range nothing moves")
        // decay is visible: with zero gradient a decayed weight shrinks, a norm weight does not
        let tr = tinyTrainable()
        let a = AdamW(for: tr, weightDecay: 0.1)
        let r = tr.values
        r.copy(from: q)
        a.update(tr, lr: 1e-2, range: range)
        XCTAssertEqual(r[norm.offset - 1], q[norm.offset - 1] * (1 - 1e-3), accuracy: 1e-7)
        XCTAssertEqual(r[norm.offset], q[norm.offset], "norm weights take no decay")
    }
}
