import Foundation
import TestSupport
import XCTest
@testable import Model

/// The stages a backward pass reports (what the overlapped exchange sends early): they tile
/// the gradient buffer, come in the order the pass finishes them, are final when reported,
/// and the input-embedding rows taken apart add up to what the dense path writes.
final class BackwardProgressTests: XCTestCase {
    /// Takes the input-embedding rows, one zeroed row per token.
    class RowStore: EmbeddingRowSink {
        let width: Int
        var rowStorage: [Int32: UnsafeMutablePointer<Float>] = [:]
        init(width: Int) { self.width = width }
        func embeddingRowGradient(token: Int32) -> UnsafeMutablePointer<Float> {
            if let p = rowStorage[token] { return p }
            let p = UnsafeMutablePointer<Float>.allocate(capacity: width)
            p.initialize(repeating: 0, count: width)
            rowStorage[token] = p
            return p
        }
        deinit { rowStorage.values.forEach { $0.deallocate() } }
    }

    /// Records each stage's values when it is reported, and takes the input-embedding rows.
    final class Recorder: RowStore, BackwardProgress {
        let trainable: TrainableParameters
        var reported: [Int] = []
        var snapshots: [[Float]] = []
        init(_ trainable: TrainableParameters, width: Int) {
            self.trainable = trainable
            super.init(width: width)
        }
        func stageFinished(_ stage: Int) {
            reported.append(stage)
            snapshots.append(trainable.backwardStages[stage].flatMap { r in r.map { trainable.gradients[$0] } })
        }
    }

    func testStagesTileTheGradientInBackwardOrder() throws {
        let model = try TinyGemma.load()
        let c = model.config
        let full = TrainableParameters(.full, of: model)
        let stages = full.backwardStages
        XCTAssertEqual(stages.count, c.layers + 1)
        // stage 0: the embedding and the final norm; stage 1 + k: layer L−1−k, one range
        let layout = model.layout
        XCTAssertEqual(stages[0], [layout.embedding..<(layout.embedding + c.vocabSize * c.hidden),
                                   layout.finalNorm..<(layout.finalNorm + c.hidden)])
        for l in 0..<c.layers {
            let next = l + 1 < c.layers ? layout.layers[l + 1].inputNorm : layout.finalNorm
            XCTAssertEqual(stages[c.layers - l], [layout.layers[l].inputNorm..<next], "layer \(l)")
        }
        XCTAssertEqual(full.embeddingTensor?.offset, layout.embedding)
        // adapters: no head stage, every layer's adapters in one range, the whole buffer covered
        let lora = TrainableParameters(lora: LoRAConfig(rank: 2, targets: [.q, .down]), config: c, seed: 1)
        let loraStages = lora.backwardStages
        XCTAssertEqual(loraStages[0], [])
        XCTAssertNil(lora.embeddingTensor)
        let covered = loraStages.flatMap { $0 }.sorted { $0.lowerBound < $1.lowerBound }
        XCTAssertEqual(covered.first?.lowerBound, 0)
        XCTAssertEqual(covered.last?.upperBound, lora.count)
        for (a, b) in zip(covered, covered.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
        XCTAssertEqual(loraStages[c.layers], [0..<(lora.count / c.layers)], "layer 0's adapters come first in the buffer")
    }

    func testReportedStagesAreFinalAndTheEmbeddingRowsAddUp() throws {
        let model = try TinyGemma.load()
        let c = model.config
        let batch = GradientCheckTests.batch()
        // the dense path: every gradient, embedding rows included, in the buffer
        let plain = TrainableParameters(.full, of: model)
        GemmaTrainingPass(model: model, trainable: plain).run(batch, lossScale: 0.25, backward: true)
        // the reported path
        let reported = TrainableParameters(.full, of: model)
        let recorder = Recorder(reported, width: c.hidden)
        GemmaTrainingPass(model: model, trainable: reported).run(batch, lossScale: 0.25, backward: true, progress: recorder)
        XCTAssertEqual(recorder.reported, Array(0...c.layers))
        for (stage, snapshot) in recorder.snapshots.enumerated() {
            let now = reported.backwardStages[stage].flatMap { r in r.map { reported.gradients[$0] } }
            XCTAssertEqual(snapshot, now, "stage \(stage) changed after it was reported final")
        }
        XCTAssertFalse(recorder.rowStorage.isEmpty)
        XCTAssertEqual(Set(recorder.rowStorage.keys), Set(batch.tokens.flatMap { $0 }))
        // outside the embedding rows the buffers agree exactly; the rows within rounding
        let e = layoutEmbedding(model)
        var worst: Float = 0
        for i in 0..<plain.count {
            var value = reported.gradients[i]
            if e.contains(i) {
                let token = Int32((i - e.lowerBound) / c.hidden)
                if let row = recorder.rowStorage[token] { value += row[(i - e.lowerBound) % c.hidden] }
            }
            if !e.contains(i) { XCTAssertEqual(value, plain.gradients[i], "gradient \(i)") }
            worst = max(worst, abs(value - plain.gradients[i]) / max(abs(plain.gradients[i]), 1e-3))
        }
        XCTAssertLessThan(worst, 1e-5)
    }

    /// Keeps the head's factors (rows appended pass after pass) and the input-embedding rows.
    final class FactorRecorder: RowStore, HeadGradientFactors {
        let vocab: Int
        var dlogits: [Float] = [], x: [Float] = [], rowCount = 0
        init(vocab: Int, width: Int) {
            self.vocab = vocab
            super.init(width: width)
        }
        func append(dlogits: UnsafePointer<Float>, x: UnsafePointer<Float>, rows count: Int) {
            self.dlogits += UnsafeBufferPointer(start: dlogits, count: count * vocab)
            self.x += UnsafeBufferPointer(start: x, count: count * width)
            rowCount += count
        }
    }

    /// The head's gradient as its factors, over two passes of a step (the second adds to the
    /// first): the embedding region is left zero, every other gradient is the dense path's
    /// bit for bit, and dlogitsᵀ · x plus the input-embedding rows is the dense embedding
    /// gradient within rounding.
    func testHeadFactorsMultiplyToTheDenseEmbeddingGradient() throws {
        let model = try TinyGemma.load()
        let c = model.config
        let batch = GradientCheckTests.batch()
        let plain = TrainableParameters(.full, of: model)
        let plainPass = GemmaTrainingPass(model: model, trainable: plain)
        for _ in 0..<2 { plainPass.run(batch, lossScale: 0.25, backward: true) }
        let factored = TrainableParameters(.full, of: model)
        let recorder = FactorRecorder(vocab: c.vocabSize, width: c.hidden)
        let factoredPass = GemmaTrainingPass(model: model, trainable: factored)
        for _ in 0..<2 { factoredPass.run(batch, lossScale: 0.25, backward: true, headFactors: recorder) }
        XCTAssertEqual(recorder.rowCount, 2 * batch.labelCount)
        XCTAssertEqual(Set(recorder.rowStorage.keys), Set(batch.tokens.flatMap { $0 }))
        let e = layoutEmbedding(model)
        var product = [Float](repeating: 0, count: e.count)
        weightGradientFromFactors(&product, dy: recorder.dlogits, x: recorder.x, rows: recorder.rowCount,
                                  inputs: c.hidden, outputs: c.vocabSize)
        var worst: Float = 0
        for i in 0..<plain.count {
            guard e.contains(i) else {
                XCTAssertEqual(factored.gradients[i], plain.gradients[i], "gradient \(i)")
                continue
            }
            XCTAssertEqual(factored.gradients[i], 0, "the embedding region should stay untouched")
            let k = i - e.lowerBound, token = Int32(k / c.hidden)
            let row = recorder.rowStorage[token].map { $0[k % c.hidden] } ?? 0
            let value = product[k] + row
            // rounding of a sum is relative to its terms: where the head's and the input
            // embedding's gradients of a token cancel, |plain| is far smaller than either
            let scale = max(abs(plain.gradients[i]), abs(product[k]), abs(row), 1e-3)
            worst = max(worst, abs(value - plain.gradients[i]) / scale)
        }
        XCTAssertGreaterThan(e.map { abs(plain.gradients[$0]) }.max() ?? 0, 1e-3, "a head gradient to compare")
        XCTAssertLessThan(worst, 1e-5)
    }

    private func layoutEmbedding(_ model: GemmaModel) -> Range<Int> {
        model.layout.embedding..<(model.layout.embedding + model.config.vocabSize * model.config.hidden)
    }
}
