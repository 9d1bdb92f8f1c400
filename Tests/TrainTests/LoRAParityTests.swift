import Foundation
import Model
import TestSupport
import Train
import XCTest

/// LoRA on the real model against transformers + peft, and QLoRA against LoRA.
final class LoRAParityTests: XCTestCase {
    struct Fixture: Decodable {
        struct Step: Decodable { var step: Int; var loss: Double; var grad_norm: Double; var lr: Double; var tokens: Int; var label_tokens: Int }
        var lora_rank: Int
        var lora_alpha: Double
        var lora_dropout: Double
        var lora_init: String
        var steps: [Step]
    }
    struct Trajectory: Decodable { struct Step: Decodable { var step: Int; var indices: [Int] }; var steps: [Step] }

    static func batches() throws -> [[Int]] {
        try JSONDecoder().decode(Trajectory.self, from: Data(contentsOf: DataFixtures.referenceDir
            .appendingPathComponent("train_trajectory.json"))).steps.map(\.indices)
    }

    /// The recipe's adapter with dropout 0 (peft's and torch's dropout masks cannot agree).
    static func lora(_ o: inout TrainingOptions, method: TrainingMethod = .lora) {
        o.method = method
        o.lora = LoRAConfig(rank: 16, alpha: 32, dropout: 0)
        o.lr = method.defaultLR
    }

    /// bench/peer_pytorch.py --method lora --lora-init ftdist made the fixture: peft from
    /// ft-dist's own initial adapter, the first 4 recipe batches, fp32.
    func testFourStepsMatchTransformersAndPeft() throws {
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: TestPaths.repoRoot
            .appendingPathComponent("Tests/TrainTests/Fixtures/peft_lora_trajectory.json")))
        XCTAssertEqual(fixture.lora_init, "ftdist")
        XCTAssertEqual(fixture.lora_dropout, 0)
        let trainer = try RealTrainer.make { Self.lora(&$0) }
        XCTAssertEqual(trainer.trainable.count, 3_796_992, "peft's count of trainable parameters")
        for (ref, rows) in zip(fixture.steps, try Self.batches()) {
            let got = try trainer.step(rows: rows)
            print(String(format: "LoRA step %d: loss %.6f (peft %.6f)  grad norm %.5f (peft %.5f)  lr %.6e",
                         ref.step, got.loss, ref.loss, got.gradNorm, ref.grad_norm, got.lr))
            XCTAssertEqual(got.tokens, ref.tokens)
            XCTAssertEqual(got.labelTokens, ref.label_tokens)
            XCTAssertLessThan(abs(got.loss - ref.loss) / ref.loss, 1e-3, "loss at step \(ref.step)")
            XCTAssertLessThan(abs(got.gradNorm - ref.grad_norm) / ref.grad_norm, 1e-3, "grad norm at step \(ref.step) (the issue allows 1e-2; fp32 against fp32 agrees far closer)")
            XCTAssertEqual(got.lr, ref.lr, accuracy: 1e-12)
        }
    }

    /// The quantized base dequantizes to exactly the fp32 values LoRA trains on: 4 real steps
    /// agree to summation order.
    func testQLoRAFollowsLoRA() throws {
        let batches = Array(try Self.batches().prefix(4))
        var losses: [[Double]] = []
        for method in [TrainingMethod.lora, .qlora] {
            let trainer = try RealTrainer.make(options: { Self.lora(&$0, method: method) }, quantized: method == .qlora)
            losses.append(try batches.map { try trainer.step(rows: $0).loss })
        }
        for (step, (a, b)) in zip(losses[0], losses[1]).enumerated() {
            print(String(format: "step %d: LoRA %.8f, QLoRA %.8f", step + 1, a, b))
            XCTAssertLessThan(abs(a - b) / a, 1e-5, "step \(step + 1)")
        }
    }
}
