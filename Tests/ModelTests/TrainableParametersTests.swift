import Foundation
import TestSupport
import XCTest
@testable import Model

/// What is trained, as a value: its layout, where the passes put gradients, and that a frozen
/// projection computes its input gradient only.
final class TrainableParametersTests: XCTestCase {
    func testFullFineTuningTrainsEveryTensorInPlace() throws {
        let model = try TinyGemma.load()
        let trainable = TrainableParameters(.full, of: model)
        XCTAssertEqual(trainable.count, model.layout.count)
        XCTAssertEqual(TrainableParameters.count(.full, of: model), model.layout.count)
        XCTAssertTrue(trainable.values === model.parameters, "full fine-tuning updates the model's own buffer")
        XCTAssertEqual(trainable.gradients.count, model.layout.count)
        XCTAssertEqual(trainable.tensors.map(\.hfName), model.layout.tensors.map(\.hfName))
        for t in model.layout.tensors { XCTAssertEqual(trainable.gradientOffset(ofModelTensorAt: t.offset), t.offset) }
        // weight decay: everything but the norms, as contiguous ranges of the buffer
        let decayed = trainable.decayRanges.reduce(0) { $0 + $1.count }
        XCTAssertEqual(decayed, model.layout.tensors.filter { !$0.isNorm }.reduce(0) { $0 + $1.count })
        let firstNorm = model.layout.tensors.first(where: \.isNorm)!
        XCTAssertFalse(trainable.decayRanges.contains { $0.contains(firstNorm.offset) })
        // a gradient buffer from elsewhere (the exchange's shared memory) is used as given
        let provided = FloatBuffer(count: model.layout.count)
        XCTAssertTrue(TrainableParameters(.full, of: model, gradients: provided).gradients === provided)
    }

    func testWeightsForGenerationAreFrozenAndForTrainingPointIntoTheGradients() throws {
        let model = try TinyGemma.load()
        let frozen = GemmaWeights(model: model)
        XCTAssertNil(frozen.embeddingGradientOffset)
        XCTAssertNil(frozen.finalNorm.gradientOffset)
        XCTAssertTrue(frozen.layers.allSatisfy { ($0.q as! DenseProjection).gradientOffset == nil && $0.inputNorm.gradientOffset == nil })
        let trained = GemmaWeights(model: model, trainable: TrainableParameters(.full, of: model))
        XCTAssertEqual(trained.embeddingGradientOffset, model.layout.embedding)
        for (w, o) in zip(trained.layers, model.layout.layers) {
            XCTAssertEqual((w.q as! DenseProjection).gradientOffset, o.q)
            XCTAssertEqual((w.down as! DenseProjection).gradientOffset, o.down)
            XCTAssertEqual(w.kNorm.gradientOffset, o.kNorm)
            XCTAssertEqual((w.gate as! DenseProjection).weight, UnsafePointer(model.pointer(o.gate)))
        }
    }

    /// A frozen projection gives the same input gradient as a trained one and writes nothing
    /// into the gradient buffer; the trained one adds exactly dyᵀ·x.
    func testFrozenProjectionComputesOnlyTheInputGradient() {
        let rows = 3, inputs = 5, outputs = 4
        var rng = SplitMix64(seed: 5)
        let w = FloatBuffer(count: outputs * inputs), x = FloatBuffer(count: rows * inputs), dy = FloatBuffer(count: rows * outputs)
        for b in [w, x, dy] { for i in 0..<b.count { b[i] = rng.normal() } }
        let offset = 7
        let trained = DenseProjection(weight: w.pointer, inputs: inputs, outputs: outputs, gradientOffset: offset)
        let frozen = DenseProjection(weight: w.pointer, inputs: inputs, outputs: outputs)
        let g1 = FloatBuffer(count: offset + outputs * inputs + 3), g2 = FloatBuffer(count: g1.count)
        let dx1 = FloatBuffer(count: rows * inputs), dx2 = FloatBuffer(count: rows * inputs)
        trained.backward(dx: dx1.pointer, dy: dy.pointer, x: x.pointer, rows: rows, accumulate: false, gradients: g1.pointer)
        frozen.backward(dx: dx2.pointer, dy: dy.pointer, x: x.pointer, rows: rows, accumulate: false, gradients: g2.pointer)
        XCTAssertEqual(dx1.array, dx2.array)
        XCTAssertTrue(g2.array.allSatisfy { $0 == 0 }, "a frozen weight gets no gradient")
        for o in 0..<outputs {
            for i in 0..<inputs {
                var expected: Float = 0
                for r in 0..<rows { expected += dy[r * outputs + o] * x[r * inputs + i] }
                XCTAssertEqual(g1[offset + o * inputs + i], expected, accuracy: 1e-5)
            }
        }
        XCTAssertEqual(g1[offset - 1], 0)
        XCTAssertEqual(g1[offset + outputs * inputs], 0)
        // dx = dy · W
        for r in 0..<rows {
            for i in 0..<inputs {
                var expected: Float = 0
                for o in 0..<outputs { expected += dy[r * outputs + o] * w[o * inputs + i] }
                XCTAssertEqual(dx2[r * inputs + i], expected, accuracy: 1e-5)
            }
        }
    }

    /// A shard over the caps is cut into consecutive passes within them; under the caps it is
    /// one pass; the passes together are the batch, in order.
    func testMemoryBoundedPassesKeepTheCapsAndTheOrder() {
        func example(_ promptLength: Int, _ labels: Int, first: Int32) -> (tokens: [Int32], labels: [Int32]) {
            let ids: [Int32] = (0..<(promptLength + labels)).map { $0 == 0 ? 2 : first + Int32($0) }
            return (ids, ids.indices.map { $0 >= promptLength ? ids[$0] : LabelMaskedBatch.ignoreIndex })
        }
        func batch(_ examples: [(tokens: [Int32], labels: [Int32])]) -> LabelMaskedBatch {
            LabelMaskedBatch(tokens: examples.map { $0.tokens }, labels: examples.map { $0.labels })
        }
        let one = batch((0..<4).map { _ in example(30, 5, first: 10) })
        XCTAssertEqual(one.memoryBoundedPasses().count, 1)
        // 12 examples of 60 labels: at most 2 per pass (128 labels)
        let long = batch((0..<12).map { example(20, 60, first: Int32(100 * $0)) })
        let passes = long.memoryBoundedPasses()
        XCTAssertEqual(passes.count, 6)
        XCTAssertTrue(passes.allSatisfy { $0.labelCount <= LabelMaskedBatch.maxLabelsPerPass })
        XCTAssertEqual(passes.flatMap { $0.tokens }, long.tokens)
        XCTAssertEqual(passes.flatMap { $0.labels }, long.labels)
        // a frozen head has no label cap: rows only (12 × 80 rows → 2 passes of at most 512)
        let frozenHeadPasses = long.memoryBoundedPasses(maxLabels: nil)
        XCTAssertEqual(frozenHeadPasses.map { $0.tokens.count }, [6, 6])
        XCTAssertEqual(frozenHeadPasses.flatMap { $0.tokens }, long.tokens)
        // rows: 20 sequences of 40 tokens sharing only <bos> pack into 781 rows, more than 512
        let wide = batch((0..<20).map { example(39, 1, first: Int32(1000 * $0)) })
        XCTAssertEqual(PackedLayout(batch: wide, sharePrefix: true).rows, 1 + 20 * 39)
        let widePasses = wide.memoryBoundedPasses()
        XCTAssertEqual(widePasses.map { $0.tokens.count }, [13, 7])
        XCTAssertTrue(widePasses.allSatisfy { PackedLayout(batch: $0, sharePrefix: true).rows <= LabelMaskedBatch.maxRowsPerPass })
    }

    func testBLASThreadCountCanBeSet() {
        let before = BLASThreads.count
        BLASThreads.set(1)
        XCTAssertEqual(BLASThreads.count, 1)
        BLASThreads.set(0)
        XCTAssertEqual(BLASThreads.count, 1, "at least one thread")
        BLASThreads.set(before)
        XCTAssertEqual(BLASThreads.count, before)
    }
}
