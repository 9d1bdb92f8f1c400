import Foundation
import TestSupport
import XCTest
@testable import Model

/// Central finite differences against the analytic backward pass on the tiny model, for
/// every kind of parameter; and the packed/prefix-shared layouts against plain inference.
final class GradientCheckTests: XCTestCase {
    /// Three sequences sharing a 5-token prefix, labels on their tails; longer than the
    /// sliding window (4) so the window mask is exercised.
    static func batch() -> LabelMaskedBatch {
        let prefix: [Int32] = [2, 265, 270, 266, 280]
        let tails: [[Int32]] = [[271, 272, 290, 291, 1], [273, 290, 292, 293, 294, 1], [274, 275, 276, 277, 295, 1]]
        let labelled = [3, 4, 2]
        var tokens: [[Int32]] = [], labels: [[Int32]] = []
        for (tail, k) in zip(tails, labelled) {
            let t = prefix + tail
            tokens.append(t)
            labels.append(t.enumerated().map { $0.offset >= t.count - k ? $0.element : LabelMaskedBatch.ignoreIndex })
        }
        return LabelMaskedBatch(tokens: tokens, labels: labels)
    }

    func loss(_ pass: GemmaTrainingPass, _ batch: LabelMaskedBatch) -> Double {
        pass.run(batch, lossScale: 1, backward: false).lossSum / Double(batch.labelCount)
    }

    func testEveryParameterKindMatchesFiniteDifferences() throws {
        for kvHeads in [1, 2] {
            let model = try TinyGemma.load(kvHeads: kvHeads)
            let batch = Self.batch()
            let trainable = TrainableParameters(.full, of: model)
            let pass = GemmaTrainingPass(model: model, trainable: trainable)
            let grads = trainable.gradients
            let result = pass.run(batch, lossScale: 1 / Float(batch.labelCount), backward: true)
            XCTAssertLessThan(result.packedRows, batch.tokenCount, "the shared prefix should be packed once")
            var rng = SplitMix64(seed: 11)
            var worst = 0.0, checked = 0
            for t in model.layout.tensors {
                let g = UnsafeBufferPointer(start: grads.pointer + t.offset, count: t.count)
                let maxAbs = g.map { abs($0) }.max()!
                XCTAssertGreaterThan(maxAbs, 0, "\(t.hfName) received no gradient")
                // the two largest coordinates and four random ones large enough that the fp32
                // rounding of the loss (≈1e-6 after differencing) is far below 1e-3 of them
                var coords = Array(g.indices.sorted { abs(g[$0]) > abs(g[$1]) }.prefix(2))
                var tries = 0
                while coords.count < 6 && tries < 500 {
                    let i = rng.int(t.count)
                    if abs(g[i]) > max(0.1 * maxAbs, 0.02) && !coords.contains(i) { coords.append(i) }
                    tries += 1
                }
                for i in coords {
                    let p = model.parameters.pointer + t.offset + i
                    let saved = p.pointee
                    func centralDifference(_ h: Float) -> Double {
                        p.pointee = saved + h
                        let up = loss(pass, batch)
                        p.pointee = saved - h
                        let down = loss(pass, batch)
                        p.pointee = saved
                        return (up - down) / Double(2 * h)
                    }
                    // Richardson extrapolation cancels the h² term, so h can be large enough
                    // that fp32 rounding of the loss stays far below the tolerance
                    let h: Float = 0.05
                    let fd = (4 * centralDifference(h) - centralDifference(2 * h)) / 3
                    let rel = abs(fd - Double(g[i])) / max(abs(fd), abs(Double(g[i])))
                    worst = max(worst, rel)
                    checked += 1
                    XCTAssertLessThan(rel, 1e-3, "\(t.hfName)[\(i)] kvHeads=\(kvHeads): analytic \(g[i]) vs finite difference \(fd)")
                }
            }
            print("gradient check kvHeads=\(kvHeads): \(checked) coordinates, worst relative error \(worst)")
        }
    }

    func testPrefixSharingIsExact() throws {
        let model = try TinyGemma.load()
        let batch = Self.batch()
        let t1 = TrainableParameters(.full, of: model), t2 = TrainableParameters(.full, of: model)
        let shared = GemmaTrainingPass(model: model, trainable: t1, sharePrefix: true)
        let plain = GemmaTrainingPass(model: model, trainable: t2, sharePrefix: false)
        let g1 = t1.gradients, g2 = t2.gradients
        let l1 = shared.run(batch, lossScale: 0.1, backward: true)
        let l2 = plain.run(batch, lossScale: 0.1, backward: true)
        XCTAssertEqual(l1.packedRows, batch.tokenCount - 2 * 5)
        XCTAssertEqual(l2.packedRows, batch.tokenCount)
        XCTAssertEqual(l1.labelCount, l2.labelCount)
        XCTAssertEqual(l1.lossSum, l2.lossSum, accuracy: 1e-5 * l2.lossSum)
        var maxDiff: Float = 0, maxAbs: Float = 0
        for i in 0..<model.layout.count {
            maxDiff = max(maxDiff, abs(g1[i] - g2[i]))
            maxAbs = max(maxAbs, abs(g2[i]))
        }
        XCTAssertLessThan(maxDiff, 1e-5 * maxAbs)
    }

    /// The training forward's loss equals the cross-entropy computed from inference logits.
    func testTrainingLossMatchesInferenceLogits() throws {
        let model = try TinyGemma.load()
        let batch = Self.batch()
        let inference = GemmaInference(model: model)
        var expected = 0.0
        for (t, l) in zip(batch.tokens, batch.labels) {
            let cache = KVCache(config: model.config, capacity: t.count)
            let logits = try inference.forward([t], caches: [cache], logits: .all)
            let v = model.config.vocabSize
            for pos in 1..<t.count where l[pos] != LabelMaskedBatch.ignoreIndex {
                let row = Array(logits[((pos - 1) * v)..<(pos * v)])
                let lse = row.withUnsafeBufferPointer { logSumExp($0.baseAddress!, count: v) }
                expected += lse - Double(row[Int(l[pos])])
            }
        }
        let got = GemmaTrainingPass(model: model, trainable: nil).run(batch, lossScale: 1, backward: false)
        XCTAssertEqual(got.labelCount, 9)
        XCTAssertEqual(got.lossSum, expected, accuracy: 1e-5 * expected)
    }

    /// Generation with a KV cache, one token at a time, gives the same logits as one pass.
    func testIncrementalDecodingMatchesFullForward() throws {
        let model = try TinyGemma.load()
        let tokens: [Int32] = [2, 265, 270, 266, 280, 271, 272, 290, 291]
        let inference = GemmaInference(model: model)
        let full = try inference.forward([tokens], caches: [KVCache(config: model.config, capacity: 16)], logits: .all)
        let cache = KVCache(config: model.config, capacity: 16)
        _ = try inference.forward([Array(tokens.prefix(4))], caches: [cache], logits: .last)
        let v = model.config.vocabSize
        for pos in 4..<tokens.count {
            let step = try inference.forward([[tokens[pos]]], caches: [cache], logits: .last)
            for j in 0..<v { XCTAssertEqual(step[j], full[pos * v + j], accuracy: 1e-4) }
        }
        XCTAssertThrowsError(try inference.forward([[Int32](repeating: 5, count: 8)], caches: [cache], logits: .last))
    }
}
