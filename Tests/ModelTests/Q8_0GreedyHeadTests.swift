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

    /// A random head of 3,000 rows, 11 blocks each (the kernel's groups of 8 blocks, a pair and
    /// a last block), against 5 rows of x, with planted winners the screen must get right:
    /// - x[0]: rows 30 and 31 differ in two values of different blocks, chosen so that x's
    ///   8-bit quantization reverses their order: 31's logit is larger, its approximation smaller
    ///   (with the margin left out the screen answers 30); row 32 an exact copy of 31 (a tie 31
    ///   must win);
    /// - x[1]: rows 40 and 2999 equal (the earlier wins);
    /// - x[2]: row 50 stored with negated scales and values (the same weights);
    /// - x[3]: row 60 of −128 and 127 values under a negative scale.
    /// Every row of x gives the full head's argmax; several rows of x go to the full head.
    func testTokensAreTheFullHeadsArgmax() throws {
        var rng = SplitMix64(seed: 5)
        let (v, c, n) = (3000, 352, 5), rowBytes = 34 * 352 / 32
        let e = FloatBuffer(count: v * c), x = FloatBuffer(count: n * c)
        for i in 0..<e.count { e[i] = rng.normal() * 0.05 }
        for i in 0..<x.count { x[i] = rng.normal() * 3 }
        for i in 0..<c { e[30 * c + i] = x[i] * 0.02; e[40 * c + i] = x[c + i] * 0.02; e[2999 * c + i] = x[c + i] * 0.02 }
        for i in 0..<c { e[50 * c + i] = x[2 * c + i] * 0.02 }
        var blocks = q8_0(e, rows: v, inputs: c)
        func scale(_ row: Int, _ b: Int) -> Double {
            Double(Float(Float16(bitPattern: UInt16(blocks[row * rowBytes + 34 * b]) | UInt16(blocks[row * rowBytes + 34 * b + 1]) << 8)))
        }
        func value(_ row: Int, _ i: Int) -> Int { Int(Int8(bitPattern: blocks[row * rowBytes + 34 * (i / 32) + 2 + i % 32])) }
        // x[0]'s quantization, and the change (value i up by k, value j down by k) whose exact
        // and quantized effects disagree most clearly: far beyond fp32's rounding of the logits
        var xq = [Int8](repeating: 0, count: c), dx = [Float](repeating: 0, count: c / 32), errors = dx
        XCTAssertTrue(Q8_0GreedyHead.quantize(x.pointer, count: c, values: &xq, scales: &dx, errors: &errors))
        var change: (i: Int, j: Int, k: Int, clearness: Double)?
        for i in 0..<c {
            for j in 0..<c where i / 32 != j / 32 {
                let exact = (scale(30, i / 32) * Double(x[i]), scale(30, j / 32) * Double(x[j]))
                let quantized = (scale(30, i / 32) * Double(dx[i / 32]) * Double(xq[i]), scale(30, j / 32) * Double(dx[j / 32]) * Double(xq[j]))
                for k in 1...40 where abs(value(30, i) + k) <= 127 && abs(value(30, j) - k) <= 127 {
                    let clearness = min(Double(k) * (exact.0 - exact.1), -Double(k) * (quantized.0 - quantized.1))
                    if clearness > change?.clearness ?? 0 { change = (i, j, k, clearness) }
                }
            }
        }
        let (up, down, k, clearness) = try XCTUnwrap(change)
        XCTAssertGreaterThan(clearness, 5e-4, "logits of ≈60: far beyond their rounding (≈1e-5)")
        for b in 0..<rowBytes { blocks[31 * rowBytes + b] = blocks[30 * rowBytes + b] }
        blocks[31 * rowBytes + 34 * (up / 32) + 2 + up % 32] = UInt8(bitPattern: Int8(value(30, up) + k))
        blocks[31 * rowBytes + 34 * (down / 32) + 2 + down % 32] = UInt8(bitPattern: Int8(value(30, down) - k))
        for b in 0..<rowBytes { blocks[32 * rowBytes + b] = blocks[31 * rowBytes + b] }
        // row 50: every scale's sign bit flipped and every value negated
        for b in 0..<c / 32 {
            blocks[50 * rowBytes + 34 * b + 1] ^= 0x80
            for k in 0..<32 { blocks[50 * rowBytes + 34 * b + 2 + k] = UInt8(bitPattern: -Int8(bitPattern: blocks[50 * rowBytes + 34 * b + 2 + k])) }
        }
        // row 60: scale −0.001, −128 where x[3] is positive (weight +0.128), 127 elsewhere (−0.127)
        let negativeScale = Float16(-0.001).bitPattern
        for b in 0..<c / 32 {
            (blocks[60 * rowBytes + 34 * b], blocks[60 * rowBytes + 34 * b + 1]) = (UInt8(negativeScale & 0xFF), UInt8(negativeScale >> 8))
            for k in 0..<32 { blocks[60 * rowBytes + 34 * b + 2 + k] = x[3 * c + 32 * b + k] > 0 ? 0x80 : 127 }
        }
        try blocks.withUnsafeBytes { raw in
            let head = QuantizedProjection(type: .q8_0, blocks: raw.baseAddress!, inputs: c, outputs: v, scratch: GrowableBuffer())
            let screen = try XCTUnwrap(Q8_0GreedyHead(head: head))
            let logits = FloatBuffer(count: v)
            var full: [Int32] = []
            for s in 0..<n {
                head.forward(logits.pointer, x.pointer + s * c, rows: 1)
                full.append(GemmaInference.argmax(logits.pointer, count: v))
                XCTAssertEqual(screen.tokens(x.pointer + s * c, rows: 1), [full[s]], "row \(s) of x")
            }
            XCTAssertEqual(full[0...3], [31, 40, 50, 60], "the planted winners")
            XCTAssertNil(screen.tokens(x.pointer, rows: 2), "several rows: the full head reads each weight row once for all")
        }
    }

    /// Rows that all score alike leave every row a candidate: nil (the caller computes every
    /// logit) rather than thousands of exact dot products; so does an x or a scale that is not
    /// finite. Heads of another format have no screen.
    func testTooManyCandidatesOrNonFiniteValuesFallBack() throws {
        let (v, c) = (GreedyHead.candidateLimit + 10, 352)
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
        for i in 0..<c { e[7 * c + i] = 10 }
        blocks = q8_0(e, rows: v, inputs: c)
        try blocks.withUnsafeBytes { raw in
            let head = QuantizedProjection(type: .q8_0, blocks: raw.baseAddress!, inputs: c, outputs: v, scratch: GrowableBuffer())
            XCTAssertEqual(try XCTUnwrap(Q8_0GreedyHead(head: head)).tokens(x.pointer, rows: 1), [7])
        }
        // row 100's block 9 (in the kernel's group of 8 blocks) all zeros under an infinite
        // scale: its logit is NaN, which the full head's argmax passes over; the screen must
        // hand the choice back rather than drop the row
        let rowBytes = 34 * c / 32
        (blocks[100 * rowBytes + 34 * 9], blocks[100 * rowBytes + 34 * 9 + 1]) = (0x00, 0x7C)
        for k in 0..<32 { blocks[100 * rowBytes + 34 * 9 + 2 + k] = 0 }
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
