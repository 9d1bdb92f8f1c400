import Foundation
import Model
import TestSupport
@testable import Train
import XCTest

/// The loop's small pieces against their definitions: the schedule, the clipping factor, one
/// AdamW step, and the replica checksum.
final class OptimizerPiecesTests: XCTestCase {
    func testLearningRateSchedules() {
        let cosine = LearningRateSchedule(kind: .cosine, baseLR: 5e-5, warmupSteps: 0, totalSteps: 1878)
        XCTAssertEqual(cosine.lr(step: 0), 5e-5)
        XCTAssertEqual(cosine.lr(step: 939), 2.5e-5, accuracy: 1e-18)
        XCTAssertEqual(cosine.lr(step: 1878), 0, accuracy: 1e-20)
        XCTAssertEqual(cosine.lr(step: 1), 5e-5 * 0.5 * (1 + cos(Double.pi / 1878)), accuracy: 1e-20)
        let warm = LearningRateSchedule(kind: .linear, baseLR: 1, warmupSteps: 10, totalSteps: 110)
        XCTAssertEqual(warm.lr(step: 0), 0)
        XCTAssertEqual(warm.lr(step: 5), 0.5)
        XCTAssertEqual(warm.lr(step: 10), 1)
        XCTAssertEqual(warm.lr(step: 60), 0.5)
        XCTAssertEqual(LearningRateSchedule(kind: .constant, baseLR: 3, warmupSteps: 0, totalSteps: 5).lr(step: 4), 3)
    }

    /// torch.nn.utils.clip_grad_norm_: factor min(1, max / (norm + 1e-6)); 0 switches it off.
    func testClippingFactorAndNorm() {
        XCTAssertEqual(GradientClipping.coefficient(norm: 150.2977953646043, maxNorm: 1), Float(1 / (150.2977953646043 + 1e-6)))
        XCTAssertEqual(GradientClipping.coefficient(norm: 0.5, maxNorm: 1), 1)
        XCTAssertEqual(GradientClipping.coefficient(norm: 1e9, maxNorm: 0), 1)
        let g = FloatBuffer(count: 3_000_003)
        var exact = 0.0
        for i in 0..<g.count { g[i] = Float(i % 11) - 5; exact += Double(g[i]) * Double(g[i]) }
        XCTAssertEqual(GradientClipping.globalNorm(g), exact.squareRoot(), accuracy: 1e-9 * exact.squareRoot())
        XCTAssertEqual(GradientClipping.globalNorm(g), GradientClipping.globalNorm(g, chunk: 1 << 20), "the same chunks, the same bits")
    }

    /// One step of torch.optim.AdamW's formula, by hand.
    func testOneAdamWStepIsTorchs() {
        let trainable = TrainableParameters(.full, of: GemmaModel(config: TinyGemma.config()))
        trainable.values[0] = 0.5
        trainable.gradients[0] = 0.25
        let norm = trainable.tensors.first(where: \.isNorm)!.offset
        trainable.values[norm] = 1.5
        trainable.gradients[norm] = -2
        let adam = AdamW(for: trainable, weightDecay: 0.1)
        adam.update(trainable, lr: 1e-3, gradScale: 0.5)
        func expected(_ p: Float, _ g: Float, decay: Bool) -> Float {
            let grad = Double(g) * 0.5, lr = 1e-3
            var p = Double(p) * (decay ? 1 - lr * 0.1 : 1)
            let m = 0.1 * grad, v = 0.001 * grad * grad
            p -= lr / 0.1 * m / ((v / 0.001).squareRoot() + 1e-8)
            return Float(p)
        }
        XCTAssertEqual(trainable.values[0], expected(0.5, 0.25, decay: true), accuracy: 1e-7)
        XCTAssertEqual(trainable.values[norm], expected(1.5, -2, decay: false), accuracy: 1e-7, "no decay on norms")
        XCTAssertEqual(adam.step, 1)
        XCTAssertEqual(adam.m[0], 0.1 * 0.125, accuracy: 1e-8, "(1 − β1) · g in fp32")
    }

    func testParameterChecksumSeesEveryBit() {
        let a = FloatBuffer(count: 2_500_001)
        for i in 0..<a.count { a[i] = Float(i) * 1e-3 }
        let before = ParameterChecksum.of(a)
        XCTAssertEqual(ParameterChecksum.of(a), before, "deterministic")
        a[1_999_999] = Float(bitPattern: a[1_999_999].bitPattern ^ 1)
        XCTAssertNotEqual(ParameterChecksum.of(a), before, "one flipped bit changes it")
        XCTAssertEqual(ParameterChecksum.hex(0xAB), "00000000000000ab")
    }
}
