import Foundation
import TestSupport
import XCTest
@testable import Model

/// The stages a backward pass reports (what the overlapped exchange sends early): they tile
/// the gradient buffer, come in the order the pass finishes them, are final when reported,
/// and the input-embedding rows taken apart add up to what the dense path writes.
final class BackwardProgressTests: XCTestCase {
    /// Records each stage's values when it is reported, and takes the input-embedding rows.
    final class Recorder: BackwardProgress {
        let trainable: TrainableParameters
        var reported: [Int] = []
        var snapshots: [[Float]] = []
        var rows: [Int32: [Float]] = [:]
        var rowStorage: [Int32: UnsafeMutablePointer<Float>] = [:]
        let width: Int
        init(_ trainable: TrainableParameters, width: Int) { self.trainable = trainable; self.width = width }
        func stageFinished(_ stage: Int) {
            reported.append(stage)
            snapshots.append(trainable.backwardStages[stage].flatMap { r in r.map { trainable.gradients[$0] } })
        }
        func embeddingRowGradient(token: Int32) -> UnsafeMutablePointer<Float> {
            if let p = rowStorage[token] { return p }
            let p = UnsafeMutablePointer<Float>.allocate(capacity: width)
            p.initialize(repeating: 0, count: width)
            rowStorage[token] = p
            return p
        }
        deinit { rowStorage.values.forEach { $0.deallocate() } }
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

    private func layoutEmbedding(_ model: GemmaModel) -> Range<Int> {
        model.layout.embedding..<(model.layout.embedding + model.config.vocabSize * model.config.hidden)
    }
}
