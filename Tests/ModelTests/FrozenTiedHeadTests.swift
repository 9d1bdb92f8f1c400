import Foundation
import TestSupport
import XCTest
@testable import Model

/// The frozen head's one pass over E in slices (an online softmax) gives the losses and input
/// gradients of the two-pass head (whole-vocabulary logits, then dlogits · E): for a dense and
/// a quantized E, for slices that split the vocabulary unevenly and for one slice; and its
/// gradient matches finite differences.
final class FrozenTiedHeadTests: XCTestCase {
    /// x [rows, C], logits scaled so that rows' maxima move between slices; targets spread.
    private func inputs(width c: Int, rows: Int, vocab v: Int) -> (x: FloatBuffer, targets: [Int32]) {
        var rng = SplitMix64(seed: 41)
        let x = FloatBuffer(count: rows * c)
        for i in 0..<x.count { x[i] = 3 * rng.normal() }
        return (x, (0..<rows).map { Int32(($0 * 97 + 5) % v) })
    }

    /// Loss and dx of the two-pass head (TiedHead.swift) for a frozen E.
    private func twoPass(_ head: any TokenEmbedding, x: FloatBuffer, targets: [Int32], vocab v: Int, width c: Int,
                         lossScale: Float) -> (loss: Double, dx: [Float]) {
        let logits = FloatBuffer(count: min(targets.count, headChunkRows) * v), dx = FloatBuffer(count: x.count)
        let unused = FloatBuffer(count: 1)
        let loss = tiedHeadCrossEntropy(x: x.pointer, head: head, targets: targets, logits: logits.pointer, vocab: v, width: c,
                                        gradient: HeadGradient(dx: dx.pointer, gradients: unused.pointer, lossScale: lossScale))
        return (loss, dx.array)
    }

    private func sliced(_ head: any TokenEmbedding, x: FloatBuffer, targets: [Int32], vocab v: Int, width c: Int,
                        sliceRows: Int, lossScale: Float, gradient: Bool = true) -> (loss: Double, dx: [Float]) {
        let logits = FloatBuffer(count: targets.count * min(sliceRows, v)), dx = FloatBuffer(count: x.count)
        let loss = frozenTiedHeadCrossEntropy(x: x.pointer, head: head, targets: targets, logits: logits.pointer,
                                              sliceRows: sliceRows, vocab: v, width: c, dx: gradient ? dx.pointer : nil,
                                              lossScale: lossScale)
        return (loss, dx.array)
    }

    private func assertClose(_ a: (loss: Double, dx: [Float]), _ b: (loss: Double, dx: [Float]), _ what: String) {
        XCTAssertEqual(a.loss, b.loss, accuracy: 1e-6 * abs(b.loss), "loss, \(what)")
        let scale = b.dx.map(abs).max()!
        XCTAssertGreaterThan(scale, 0)
        for i in b.dx.indices { XCTAssertEqual(a.dx[i], b.dx[i], accuracy: 1e-5 * scale, "dx[\(i)], \(what)") }
    }

    func testDenseAndQuantizedHeadsMatchTheTwoPassHead() throws {
        let path = try TinyGemma.write(quantized: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let gguf = try GGUFFile(path: path)
        let dense = GemmaWeights(model: try GemmaModel(gguf: gguf)), quantized = try QuantizedGemma(gguf: gguf).weights(trainable: nil, seed: 0)
        XCTAssertTrue(quantized.embedding is QuantizedProjection)
        let c = dense.config.hidden, v = dense.config.vocabSize
        let (x, targets) = inputs(width: c, rows: 9, vocab: v)
        let reference = twoPass(dense.embedding, x: x, targets: targets, vocab: v, width: c, lossScale: 0.25)
        for head in [dense.embedding, quantized.embedding] {
            // 7 rows: 43 slices, the last one of 6; 64; one slice of the whole vocabulary
            for sliceRows in [7, 64, v, 4 * v] {
                let what = "\(type(of: head)), slices of \(sliceRows)"
                assertClose(sliced(head, x: x, targets: targets, vocab: v, width: c, sliceRows: sliceRows, lossScale: 0.25),
                            reference, what)
                // without a gradient: the same sums, so the same loss to the bit
                XCTAssertEqual(sliced(head, x: x, targets: targets, vocab: v, width: c, sliceRows: sliceRows, lossScale: 0.25, gradient: false).loss,
                               sliced(head, x: x, targets: targets, vocab: v, width: c, sliceRows: sliceRows, lossScale: 0.25).loss, what)
            }
        }
        withExtendedLifetime((dense, quantized, gguf)) {}
    }

    func testInputGradientMatchesFiniteDifferences() throws {
        let model = try TinyGemma.load()
        let weights = GemmaWeights(model: model)
        let c = model.config.hidden, v = model.config.vocabSize
        let (x, targets) = inputs(width: c, rows: 3, vocab: v)
        let analytic = sliced(weights.embedding, x: x, targets: targets, vocab: v, width: c, sliceRows: 7, lossScale: 1).dx
        var worst = 0.0
        for i in [0, 5, c + 17, 2 * c + c - 1] {
            let saved = x[i]
            func loss(_ h: Float) -> Double {
                x[i] = saved + h
                defer { x[i] = saved }
                return sliced(weights.embedding, x: x, targets: targets, vocab: v, width: c, sliceRows: 7, lossScale: 1, gradient: false).loss
            }
            let h: Float = 1e-2
            let fd = (8 * (loss(h) - loss(-h)) - (loss(2 * h) - loss(-2 * h))) / (12 * Double(h))
            let rel = abs(fd - Double(analytic[i])) / max(abs(fd), abs(Double(analytic[i])))
            worst = max(worst, rel)
            XCTAssertLessThan(rel, 1e-3, "dx[\(i)]: analytic \(analytic[i]) vs \(fd)")
        }
        print("frozen head gradient check: worst relative error \(worst)")
        withExtendedLifetime(model) {}
    }
}

/// In a LoRA training pass the head is frozen and read in slices: small slices (many rescales
/// of the running max) give the loss and the adapter gradients of one slice over the whole
/// tiny vocabulary.
final class FrozenHeadPassTests: XCTestCase {
    func testSliceSizeDoesNotChangeALoRAPass() throws {
        let model = try TinyGemma.load(kvHeads: 2)
        let batch = GradientCheckTests.batch()
        var results: [(loss: Double, gradients: [Float])] = []
        for sliceRows in [frozenHeadSliceRows, 7] {
            let trainable = LoRAGradientTests.adapters(model, dropout: 0)
            let pass = GemmaTrainingPass(model: model, trainable: trainable, seed: 5)
            pass.headSliceRows = sliceRows
            trainable.gradients.zero()
            let r = pass.run(batch, lossScale: 1 / Float(batch.labelCount), backward: true)
            results.append((r.lossSum, trainable.gradients.array))
        }
        XCTAssertEqual(results[1].loss, results[0].loss, accuracy: 1e-6 * results[0].loss)
        let scale = results[0].gradients.map(abs).max()!
        XCTAssertGreaterThan(scale, 0)
        for i in results[0].gradients.indices {
            XCTAssertEqual(results[1].gradients[i], results[0].gradients[i], accuracy: 1e-5 * scale, "gradient \(i)")
        }
    }
}
