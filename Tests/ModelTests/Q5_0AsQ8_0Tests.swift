import Foundation
import TestSupport
import XCTest
@testable import Model

/// Inference's Q5_0 tensors re-encoded as Q8_0: the same values, so the same logits bit for bit
/// on every path a product takes (one decoding row, a few rows, a prompt's tiles, sgemm chunks).
final class Q5_0AsQ8_0Tests: XCTestCase {
    /// Random Q5_0 blocks (every nibble and fifth bit, scales of both signs and subnormal ones)
    /// dequantize to the same floats as their Q8_0 re-encoding, whose bytes stay within −16…15.
    func testReencodedBlocksHoldTheSameValues() {
        var rng = SplitMix64(seed: 21)
        let blocks = 200
        var q5 = (0..<22 * blocks).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for b in 0..<blocks {   // finite fp16 scales: exponent field 0…29
            let half = UInt16(rng.int(2)) << 15 | UInt16(rng.int(30)) << 10 | UInt16(rng.int(1024))
            (q5[22 * b], q5[22 * b + 1]) = (UInt8(half & 0xFF), UInt8(half >> 8))
        }
        var q8 = [UInt8](repeating: 0, count: 34 * blocks)
        q5.withUnsafeBytes { source in q8.withUnsafeMutableBytes { Q5_0AsQ8_0.reencode(source.baseAddress!, blocks: blocks, into: $0.baseAddress!) } }
        var fromQ5 = [Float](repeating: 0, count: 32 * blocks), fromQ8 = fromQ5
        q5.withUnsafeBytes { raw in fromQ5.withUnsafeMutableBufferPointer { Dequantize.row(type: .q5_0, source: raw, count: 32 * blocks, into: $0.baseAddress!) } }
        q8.withUnsafeBytes { raw in fromQ8.withUnsafeMutableBufferPointer { Dequantize.row(type: .q8_0, source: raw, count: 32 * blocks, into: $0.baseAddress!) } }
        XCTAssertEqual(fromQ8.map(\.bitPattern), fromQ5.map(\.bitPattern))
        for b in 0..<blocks {
            for j in 0..<32 { XCTAssertTrue((-16...15).contains(Int8(bitPattern: q8[34 * b + 2 + j])), "block \(b) element \(j)") }
        }
        XCTAssertEqual(Set((0..<blocks).flatMap { b in (0..<32).map { Int8(bitPattern: q8[34 * b + 2 + $0]) } }).count, 32,
                       "every value −16…15 occurs")
    }

    /// The tiny model quantized at load in the Q4_K_M mixture (Q5_0 and Q8_0 at its widths), as
    /// training keeps it and as inference re-encodes it: the same logits bit for bit for a
    /// 70-row prompt (sgemm chunks), 7- and 5-row prompts (tiles), a step of 3 rows (few rows)
    /// and single-row steps (ModelKernels' row dots).
    func testTinyModelLogitsAreBitIdentical() throws {
        let path = try TinyGemma.write(quantized: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let model = try GemmaModel(gguf: GGUFFile(path: path))
        let (kept, reencoded) = (QuantizedGemma(quantizing: model), QuantizedGemma(quantizing: model, decoding: true))
        XCTAssertTrue(kept.tensorTypes.values.contains(.q5_0))
        XCTAssertFalse(reencoded.tensorTypes.values.contains(.q5_0))
        XCTAssertEqual(kept.tensorTypes.filter { $0.value != .q5_0 }, reencoded.tensorTypes.filter { kept.tensorTypes[$0.key] != .q5_0 })
        let v = Int32(model.config.vocabSize)
        var rng = SplitMix64(seed: 3)
        func tokens(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.int(Int(v))) } }
        let steps: [[[Int32]]] = [[tokens(70)], [tokens(7), tokens(5)], [tokens(1), tokens(1), tokens(1)], [tokens(1)], [tokens(1)]]
        var logits: [[Float]] = []
        for base in [kept, reencoded] {
            let inference = GemmaInference(weights: base.weights(trainable: nil, seed: 0))
            let caches = (0..<3).map { _ in KVCache(config: model.config, capacity: 80) }
            var all: [Float] = []
            for step in steps { all += try inference.forward(step, caches: Array(caches.prefix(step.count)), logits: .all) }
            logits.append(all)
        }
        XCTAssertEqual(logits[0].count, 87 * Int(v))
        XCTAssertEqual(logits[1].map(\.bitPattern), logits[0].map(\.bitPattern))
    }

    /// The real Q4_K_M file, its own blocks and re-encoded: the same prompt logits and the same
    /// greedy tokens, each decoding step's logits bit for bit.
    func testRealModelLogitsAreBitIdentical() throws {
        let gguf = try GGUFFile(path: TestPaths.modelPath)
        let (kept, reencoded) = (try QuantizedGemma(gguf: gguf), try QuantizedGemma(gguf: gguf, decoding: true))
        XCTAssertEqual(kept.tensorTypes.values.filter { $0 == .q5_0 }.count, 81, "q, k, gate, up of 18 layers and 9 of v")
        XCTAssertFalse(reencoded.tensorTypes.values.contains(.q5_0))
        var logits: [[Float]] = []
        for base in [kept, reencoded] {
            let inference = GemmaInference(weights: base.weights(trainable: nil, seed: 0))
            let cache = KVCache(config: base.config, capacity: 16)
            var rows = try inference.forward([[2, 818, 5279, 529, 7001, 563]], caches: [cache], logits: .last)
            var all = rows
            for _ in 0..<4 {
                let next = rows.withUnsafeBufferPointer { GemmaInference.argmax($0.baseAddress!, count: base.config.vocabSize) }
                rows = try inference.forward([[next]], caches: [cache], logits: .last)
                all += rows
            }
            logits.append(all)
        }
        XCTAssertEqual(logits[1].map(\.bitPattern), logits[0].map(\.bitPattern))
    }
}
