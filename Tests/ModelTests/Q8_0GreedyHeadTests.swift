import ModelKernels
import TestSupport
import XCTest
@testable import Model

/// Q8_0GreedyHead's tokens against generation's argmax of every logit the full Q8_0 head
/// computes, and the bound its activation quantization reports.
final class Q8_0GreedyHeadTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(VectorKernels.available, "this CPU lacks AVX2/FMA/F16C: there is no screen, every logit is computed")
    }

    /// Q8_0 blocks of e [rows, c].
    private func q8_0(_ e: FloatBuffer, rows: Int, inputs c: Int) -> [UInt8] {
        var blocks = [UInt8](repeating: 0, count: rows * 34 * c / 32)
        blocks.withUnsafeMutableBytes { Quantize.blocks(.q8_0, e.pointer, count: rows * c, into: $0.baseAddress!) }
        return blocks
    }

    /// A random head of 3,000 rows and rows the screen cannot tell apart: row 11 a copy of the
    /// clear winner 10 with one value one quantum further in x's direction, row 12 an exact copy
    /// of 11 (a tie that 11 must win); rows 20 and 2999 equal (the earlier wins). Every row of x
    /// gives the full head's argmax; several rows of x go to the full head.
    func testTokensAreTheFullHeadsArgmax() throws {
        var rng = SplitMix64(seed: 5)
        let (v, c) = (3000, 96)
        let e = FloatBuffer(count: v * c), x = FloatBuffer(count: 8 * c)
        for i in 0..<e.count { e[i] = rng.normal() * 0.05 }
        for i in 0..<x.count { x[i] = rng.normal() * 3 }
        for i in 0..<c { e[10 * c + i] = x[i] * 0.02; e[20 * c + i] = x[c + i] * 0.02; e[2999 * c + i] = x[c + i] * 0.02 }
        var blocks = q8_0(e, rows: v, inputs: c)
        let rowBytes = 34 * c / 32
        for i in 0..<rowBytes { blocks[11 * rowBytes + i] = blocks[10 * rowBytes + i] }
        let q3 = Int8(bitPattern: blocks[11 * rowBytes + 2 + 3])
        blocks[11 * rowBytes + 2 + 3] = UInt8(bitPattern: x[3] > 0 ? q3 + 1 : q3 - 1)
        for i in 0..<rowBytes { blocks[12 * rowBytes + i] = blocks[11 * rowBytes + i] }
        try blocks.withUnsafeBytes { raw in
            let head = QuantizedProjection(type: .q8_0, blocks: raw.baseAddress!, inputs: c, outputs: v, scratch: GrowableBuffer())
            let screen = try XCTUnwrap(Q8_0GreedyHead(head: head))
            let logits = FloatBuffer(count: v)
            for s in 0..<8 {
                head.forward(logits.pointer, x.pointer + s * c, rows: 1)
                XCTAssertEqual(screen.tokens(x.pointer + s * c, rows: 1), [GemmaInference.argmax(logits.pointer, count: v)], "row \(s) of x")
            }
            XCTAssertEqual(screen.tokens(x.pointer, rows: 1), [11], "the nudged copy, ahead of its exact duplicate")
            XCTAssertEqual(screen.tokens(x.pointer + c, rows: 1), [20], "an exact tie goes to the first row")
            XCTAssertNil(screen.tokens(x.pointer, rows: 2), "several rows: the full head reads each weight row once for all")
        }
    }

    /// Rows that all score alike leave every row a candidate: nil (the caller computes every
    /// logit) rather than thousands of exact dot products; so does an x or a scale that is not
    /// finite. Heads of another format have no screen.
    func testTooManyCandidatesOrNonFiniteValuesFallBack() throws {
        let (v, c) = (GreedyHead.candidateLimit + 10, 32)
        let e = FloatBuffer(count: v * c), x = FloatBuffer(count: c)
        for i in 0..<e.count { e[i] = Float(i % c) * 0.01 }
        for i in 0..<c { x[i] = 1 }
        var blocks = q8_0(e, rows: v, inputs: c)
        try blocks.withUnsafeBytes { raw in
            let head = QuantizedProjection(type: .q8_0, blocks: raw.baseAddress!, inputs: c, outputs: v, scratch: GrowableBuffer())
            let screen = try XCTUnwrap(Q8_0GreedyHead(head: head))
            XCTAssertNil(screen.tokens(x.pointer, rows: 1), "every row a candidate")
            x[5] = .nan
            XCTAssertNil(screen.tokens(x.pointer, rows: 1), "x not finite")
            XCTAssertNil(Q8_0GreedyHead(head: QuantizedProjection(type: .q5_0, blocks: raw.baseAddress!, inputs: c, outputs: 10,
                                                                  scratch: GrowableBuffer())))
        }
        // one distinct winner, then an infinite scale in another row (fp16 0x7C00)
        x[5] = 1
        for i in 0..<c { e[7 * c + i] = 1 }
        blocks = q8_0(e, rows: v, inputs: c)
        try blocks.withUnsafeBytes { raw in
            let head = QuantizedProjection(type: .q8_0, blocks: raw.baseAddress!, inputs: c, outputs: v, scratch: GrowableBuffer())
            XCTAssertEqual(try XCTUnwrap(Q8_0GreedyHead(head: head)).tokens(x.pointer, rows: 1), [7])
        }
        (blocks[100 * 34], blocks[100 * 34 + 1]) = (0x00, 0x7C)
        try blocks.withUnsafeBytes { raw in
            let head = QuantizedProjection(type: .q8_0, blocks: raw.baseAddress!, inputs: c, outputs: v, scratch: GrowableBuffer())
            XCTAssertNil(try XCTUnwrap(Q8_0GreedyHead(head: head)).tokens(x.pointer, rows: 1), "a scale not finite")
        }
    }

    /// x's 8-bit values: within ±127 and within half a step of x; each block's e_b at least
    /// 128 · (‖x − x̂‖₁ + ρ (‖x‖₁ + ‖x̂‖₁)) and within 1.001 of it; a block of zeros has scale 0 and
    /// no error; a NaN refuses.
    func testActivationQuantizationBoundsItsError() {
        var rng = SplitMix64(seed: 9)
        let c = 96
        var x = (0..<c).map { _ in rng.normal() * 4 }
        for i in 64..<96 { x[i] = 0 }
        var values = [Int8](repeating: 0, count: c), scales = [Float](repeating: 0, count: 3), errors = scales
        XCTAssertTrue(Q8_0GreedyHead.quantize(x, count: c, values: &values, scales: &scales, errors: &errors))
        let rho = Double(GreedyHead.rounding)
        for b in 0..<3 {
            var error = 0.0, norms = 0.0
            for i in 32 * b ..< 32 * b + 32 {
                let xHat = Double(scales[b]) * Double(values[i])
                XCTAssertLessThanOrEqual(abs(Int(values[i])), 127)
                XCTAssertLessThanOrEqual(abs(Double(x[i]) - xHat), Double(scales[b]) / 2 * 1.0001)
                error += abs(Double(x[i]) - xHat)
                norms += abs(Double(x[i])) + abs(xHat)
            }
            let expected = 128 * (error + rho * norms)
            XCTAssertGreaterThanOrEqual(Double(errors[b]), expected)
            XCTAssertLessThanOrEqual(Double(errors[b]), expected * 1.001 + 1e-30)
        }
        XCTAssertEqual(scales[2], 0)
        XCTAssertLessThanOrEqual(errors[2], Float.leastNonzeroMagnitude, "a block of zeros: nothing beyond the rounding up")
        x[7] = .nan
        XCTAssertFalse(Q8_0GreedyHead.quantize(x, count: c, values: &values, scales: &scales, errors: &errors))
    }

    /// The real Q4_K_M file decodes on its own blocks through the screen (its token_embd is
    /// Q8_0): each generated token is the argmax of the full logits of the same sequence.
    func testRealQuantizedModelGreedyDecodingEqualsFullLogitsArgmax() throws {
        let weights = try QuantizedGemma(gguf: GGUFFile(path: TestPaths.modelPath), decoding: true).weights(trainable: nil, seed: 0)
        XCTAssertEqual((weights.embedding as? QuantizedProjection)?.type, .q8_0)
        try assertGreedyDecodingIsTheFullLogitsArgmax(weights, newTokens: 16)
    }
}
