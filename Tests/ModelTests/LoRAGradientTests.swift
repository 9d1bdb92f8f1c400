import Foundation
import TestSupport
import XCTest
@testable import Model

/// LoRA as peft computes it: finite differences against the analytic gradients of A and B on
/// every target module, with and without dropout; a frozen base that gets no gradient; and the
/// adapter's initial values.
final class LoRAGradientTests: XCTestCase {
    /// Adapters with B made non-zero (at peft's initialisation B = 0, so ∂L/∂A = 0).
    static func adapters(_ model: GemmaModel, dropout: Double, rank: Int = 4) -> TrainableParameters {
        let lora = LoRAConfig(rank: rank, alpha: 8, dropout: dropout)
        let t = TrainableParameters(lora: lora, config: model.config, seed: 3)
        var rng = SplitMix64(seed: 19)
        for tensor in t.tensors where tensor.hfName.hasSuffix("lora_B.weight") {
            for j in 0..<tensor.count { t.values[tensor.offset + j] = 0.2 * rng.normal() }
        }
        return t
    }

    func testAdapterGradientsMatchFiniteDifferences() throws {
        for (kvHeads, dropout) in [(1, 0.0), (2, 0.0), (1, 0.3)] {
            let model = try TinyGemma.load(kvHeads: kvHeads)
            let before = model.parameters.array
            let batch = GradientCheckTests.batch()
            let trainable = Self.adapters(model, dropout: dropout)
            let pass = GemmaTrainingPass(model: model, trainable: trainable, seed: 5)
            pass.step = 7
            // a training pass (dropout on, the same masks every time: they depend on the step and the rows)
            func loss() -> Double { pass.run(batch, lossScale: 1, backward: true).lossSum / Double(batch.labelCount) }
            trainable.gradients.zero()
            pass.run(batch, lossScale: 1 / Float(batch.labelCount), backward: true)
            let analytic = trainable.gradients.array
            var rng = SplitMix64(seed: 23)
            var worst = 0.0, checked = 0
            for t in trainable.tensors {
                let g = analytic[t.offset..<(t.offset + t.count)]
                let maxAbs = g.map { abs($0) }.max()!
                XCTAssertGreaterThan(maxAbs, 0, "\(t.hfName) received no gradient")
                var coords = Array(g.indices.sorted { abs(g[$0]) > abs(g[$1]) }.prefix(2))
                var tries = 0
                while coords.count < 4 && tries < 500 {
                    let i = t.offset + rng.int(t.count)
                    if abs(g[i]) > max(0.1 * maxAbs, 0.01) && !coords.contains(i) { coords.append(i) }
                    tries += 1
                }
                for i in coords {
                    let p = trainable.values.pointer + i
                    let saved = p.pointee
                    func centralDifference(_ h: Float) -> Double {
                        p.pointee = saved + h
                        let up = loss()
                        p.pointee = saved - h
                        let down = loss()
                        p.pointee = saved
                        return (up - down) / Double(2 * h)
                    }
                    // two Richardson steps cancel the h² and h⁴ terms: an adapter's column moves
                    // all `out` outputs at once, so the loss bends faster than for one weight
                    let h: Float = 0.04
                    let d1 = centralDifference(h), d2 = centralDifference(2 * h), d4 = centralDifference(4 * h)
                    let fd = (16 * (4 * d1 - d2) / 3 - (4 * d2 - d4) / 3) / 15
                    let rel = abs(fd - Double(analytic[i])) / max(abs(fd), abs(Double(analytic[i])))
                    worst = max(worst, rel)
                    checked += 1
                    XCTAssertLessThan(rel, 1e-3, "\(t.hfName)[\(i - t.offset)] kvHeads=\(kvHeads) dropout=\(dropout): analytic \(analytic[i]) vs \(fd)")
                }
            }
            XCTAssertEqual(model.parameters.array, before, "the base never changes")
            print("LoRA gradient check kvHeads=\(kvHeads) dropout=\(dropout): \(checked) coordinates, worst relative error \(worst)")
        }
    }

    /// One adapter over 100 rows, with dropout, on its own: its products go through in pieces
    /// (of rows, of B's rows, of A's columns; one per thread) with the masks, the factors and
    /// x̃ built for the whole input. Finite differences of L = Σ w ⊙ y against the analytic
    /// gradients of A, B and x, at coordinates in different pieces.
    func testDropoutPathMatchesFiniteDifferences() throws {
        let (n, inputs, outputs, rank) = (100, 40, 24, 4)
        var rng = SplitMix64(seed: 31)
        let w = FloatBuffer(count: outputs * inputs), x = FloatBuffer(count: n * inputs), weights = FloatBuffer(count: n * outputs)
        let values = FloatBuffer(count: rank * inputs + outputs * rank)
        for buffer in [w, x, weights, values] { for i in 0..<buffer.count { buffer[i] = rng.normal() } }
        let base = DenseProjection(weight: UnsafePointer(w.pointer), inputs: inputs, outputs: outputs)
        let pass = AdapterPass(seed: 4)
        let lora = LoRAProjection(base: base, values: values, offsets: (0, rank * inputs),
                                  config: LoRAConfig(rank: rank, alpha: 8, dropout: 0.3), layer: 1, target: .down, pass: pass)
        let keys = (0..<n).map { UInt64($0) &* 0x9E37_79B9_7F4A_7C15 }
        keys.withUnsafeBufferPointer { keys in
            pass.rowKeys = keys.baseAddress
            pass.training = true
            defer { pass.rowKeys = nil }
            let y = FloatBuffer(count: n * outputs)
            func loss() -> Double {
                lora.forward(y.pointer, x.pointer, rows: n)
                return (0..<y.count).reduce(0.0) { $0 + Double(y[$1]) * Double(weights[$1]) }
            }
            let g = FloatBuffer(count: values.count), dx = FloatBuffer(count: x.count)
            lora.backward(dx: dx.pointer, dy: weights.pointer, x: x.pointer, rows: n, accumulate: false, gradients: g.pointer)
            // coordinates of A, of B and of x (rows in either half of the rows)
            let checks: [(FloatBuffer, Int, Float)] = [(values, 3, g[3]), (values, rank * inputs + 17, g[rank * inputs + 17]),
                                                       (x, 5 * inputs + 7, dx[5 * inputs + 7]), (x, 40 * inputs + 2, dx[40 * inputs + 2]),
                                                       (x, 83 * inputs + 39, dx[83 * inputs + 39]), (values, 2 * inputs + 33, g[2 * inputs + 33])]
            for (buffer, i, analytic) in checks {
                let saved = buffer[i]
                func at(_ h: Float) -> Double { buffer[i] = saved + h; defer { buffer[i] = saved }; return loss() }
                let h: Float = 1e-2
                let fd = (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * Double(h))
                XCTAssertEqual(Double(analytic), fd, accuracy: 1e-3 * max(1, abs(fd)), "coordinate \(i)")
                XCTAssertNotEqual(analytic, 0)
            }
        }
    }

    /// A LoRA pass reports the time its adapters took (dropout and the rank-r products, a part
    /// of the blocks' forward and backward); a pass without adapters reports none.
    func testAdapterTimeIsAPartOfTheBlocks() throws {
        let model = try TinyGemma.load()
        let batch = GradientCheckTests.batch()
        let lora = GemmaTrainingPass(model: model, trainable: Self.adapters(model, dropout: 0.1), seed: 5)
            .run(batch, lossScale: 1, backward: true).timings
        XCTAssertGreaterThan(lora.adapters, 0)
        XCTAssertLessThan(lora.adapters, lora.forward + lora.backward)
        let full = GemmaTrainingPass(model: model, trainable: TrainableParameters(.full, of: model))
            .run(batch, lossScale: 1, backward: true).timings
        XCTAssertEqual(full.adapters, 0)
        XCTAssertEqual((lora + full).adapters, lora.adapters)
    }

    /// The base is frozen: no projection, norm or embedding of it has a gradient offset, so no
    /// weight-gradient product is ever computed for it.
    func testTheBaseIsFrozen() throws {
        let model = try TinyGemma.load()
        let trainable = Self.adapters(model, dropout: 0)
        let weights = GemmaWeights(model: model, trainable: trainable)
        XCTAssertNil(weights.embeddingGradientOffset)
        XCTAssertNil((weights.embedding as! DenseProjection).gradientOffset)
        XCTAssertNil(weights.finalNorm.gradientOffset)
        for layer in weights.layers {
            for p in [layer.q, layer.k, layer.v, layer.o, layer.gate, layer.up, layer.down] {
                let adapter = try XCTUnwrap(p as? LoRAProjection)
                XCTAssertNil((adapter.base as! DenseProjection).gradientOffset)
            }
            XCTAssertNil(layer.inputNorm.gradientOffset)
            XCTAssertNil(layer.kNorm.gradientOffset)
        }
        // only the targeted projections get an adapter
        let some = TrainableParameters(lora: LoRAConfig(rank: 2, targets: [.q, .down]), config: model.config, seed: 1)
        let partial = GemmaWeights(model: model, trainable: some)
        XCTAssertTrue(partial.layers[0].q is LoRAProjection)
        XCTAssertTrue(partial.layers[0].k is DenseProjection)
        XCTAssertTrue(partial.layers[1].down is LoRAProjection)
        XCTAssertEqual(some.count, 2 * (2 * (64 + 64) + 2 * (96 + 64)))
    }

    /// peft's initialisation: A uniform in (−1/√in, 1/√in) from the seed, B zero; names and
    /// shapes as peft saves them.
    func testInitialAdaptersAreAsPeftMakesThem() throws {
        let c = TinyGemma.config()
        let t = TrainableParameters(lora: LoRAConfig(), config: c, seed: 42)
        XCTAssertEqual(t.tensors.count, c.layers * 7 * 2)
        XCTAssertEqual(t.tensors[0].hfName, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")
        XCTAssertEqual(t.tensors[0].shape, [16, c.hidden])
        XCTAssertEqual(t.tensors[1].hfName, "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight")
        XCTAssertEqual(t.tensors[1].shape, [c.qDim, 16])
        XCTAssertEqual(t.tensors[13].hfName, "base_model.model.model.layers.0.mlp.down_proj.lora_B.weight")
        for tensor in t.tensors {
            let values = Array(UnsafeBufferPointer(start: t.values.pointer + tensor.offset, count: tensor.count))
            if tensor.hfName.hasSuffix("lora_B.weight") {
                XCTAssertTrue(values.allSatisfy { $0 == 0 })
            } else {
                let bound = 1 / Float(tensor.shape[1]).squareRoot()
                XCTAssertTrue(values.allSatisfy { abs($0) < bound })
                XCTAssertGreaterThan(values.map { abs($0) }.max()!, 0.9 * bound)
                let mean = values.reduce(0, +) / Float(values.count)
                XCTAssertLessThan(abs(mean), 0.1 * bound)
            }
        }
        XCTAssertEqual(TrainableParameters(lora: LoRAConfig(), config: c, seed: 42).values.array, t.values.array, "same seed, same adapters")
        XCTAssertNotEqual(TrainableParameters(lora: LoRAConfig(), config: c, seed: 43).values.array, t.values.array)
        XCTAssertEqual(LoRAConfig(rank: 16, alpha: 32).scale, 2)
        XCTAssertEqual(LoRAConfig(rank: 16, alpha: 32, rsLoRA: true).scale, 8)
        XCTAssertNotNil(LoRAConfig(rank: 0).problem(for: c))
        XCTAssertNotNil(LoRAConfig(rank: 17).problem(for: c), "rank above the smallest dimension of a target (k, v: 16 outputs)")
        XCTAssertNil(LoRAConfig(rank: 16).problem(for: c))
        XCTAssertNotNil(LoRAConfig(dropout: 1).problem(for: c))
        XCTAssertNotNil(LoRAConfig(dropout: -0.1).problem(for: c))
        XCTAssertNotNil(LoRAConfig(targets: []).problem(for: c))
    }
}
