import Distributed
import Foundation
import Model
import TestSupport
import Train
import XCTest

/// The recipe's first four steps from the pretrained weights against PyTorch
/// (../shared/reference/train_trajectory.json and grad_norms_step1.json).
final class TrajectoryParityTests: XCTestCase {
    struct Step: Decodable {
        var step: Int
        var indices: [Int]
        var loss: Double
        var grad_norm: Double
        var lr: Double
        var tokens: Int
        var label_tokens: Int
    }
    struct Trajectory: Decodable { var steps: [Step] }
    struct GradNorms: Decodable { var loss: Double; var grad_norms: [String: Double] }

    func testFourReferenceStepsMatchPyTorch() throws {
        let reference = try JSONDecoder().decode(Trajectory.self, from: Data(contentsOf: DataFixtures.referenceDir
            .appendingPathComponent("train_trajectory.json")))
        let stepOneNorms = try JSONDecoder().decode(GradNorms.self, from: Data(contentsOf: DataFixtures.referenceDir
            .appendingPathComponent("grad_norms_step1.json")))
        let trainer = try RealTrainer.make()
        for ref in reference.steps {
            // the plan's own batch order is the reference order
            var plan = trainer.plan
            XCTAssertEqual(try plan.globalBatch(step: ref.step - 1), ref.indices)
            let got = try trainer.step(rows: ref.indices)
            print(String(format: "step %d: loss %.6f (ref %.6f)  grad norm %.4f (ref %.4f)  lr %.6e  %.1f s",
                         ref.step, got.loss, ref.loss, got.gradNorm, ref.grad_norm, got.lr, got.seconds))
            XCTAssertEqual(got.tokens, ref.tokens)
            XCTAssertEqual(got.labelTokens, ref.label_tokens)
            XCTAssertLessThan(abs(got.loss - ref.loss) / ref.loss, 1e-3, "loss at step \(ref.step)")
            XCTAssertLessThan(abs(got.gradNorm - ref.grad_norm) / ref.grad_norm, 1e-2, "grad norm at step \(ref.step)")
            XCTAssertEqual(got.lr, ref.lr, accuracy: 1e-12)
            if ref.step == 1 {
                // per-tensor gradient norms: where a mismatch would start
                var worst = 0.0
                for t in trainer.trainable.tensors {
                    let g = UnsafeBufferPointer(start: trainer.gradients.pointer + t.offset, count: t.count)
                    let norm = g.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
                    let expected = try XCTUnwrap(stepOneNorms.grad_norms[t.hfName], t.hfName)
                    let rel = abs(norm - expected) / expected
                    worst = max(worst, rel)
                    XCTAssertLessThan(rel, 1e-2, "gradient norm of \(t.hfName): \(norm) vs \(expected)")
                }
                print("step 1 per-tensor gradient norms: worst relative error \(worst) over \(trainer.trainable.tensors.count) tensors")
            }
        }
    }
}

/// A trainer on the real model and Banking77, as `ft-dist train` builds it.
enum RealTrainer {
    static var modelPath: String { TestPaths.modelPath }

    /// `quantized`: the base stays in the GGUF's blocks (QLoRA's base).
    static func make(options configure: (inout TrainingOptions) -> Void = { _ in }, quantized: Bool = false,
                     comm: Communicator = SingleProcessCommunicator()) throws -> Trainer {
        let gguf = try GGUFFile(path: modelPath)
        let model: GemmaBase = quantized ? try QuantizedGemma(gguf: gguf) : try GemmaModel(gguf: gguf)
        let tokenizer = try Tokenizer(gguf: gguf)
        var options = TrainingOptions(modelPath: modelPath, dataDir: DataFixtures.banking77Dir.path, output: "")
        configure(&options)
        let data = try TrainingData(dataDir: options.dataDir, tokenizer: tokenizer,
                                    template: try PromptTemplate(options.promptTemplate))
        return try Trainer(options: options, base: model, data: data, comm: comm)
    }
}
