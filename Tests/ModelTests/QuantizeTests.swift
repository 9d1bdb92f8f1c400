import Foundation
import XCTest
@testable import Model
import TestSupport

/// The reference quantizers (Quantize, KQuants): hand-checked blocks whose bytes follow from
/// ggml's formulas by hand, round trips through our dequantizers, and — on the real model —
/// the exact bytes llama-quantize writes for the same fp32 values (fixture made by
/// bench/check_export.sh from llama.cpp's own llama-quantize).
final class QuantizeTests: XCTestCase {
    func quantize(_ type: GGMLType, _ x: [Float]) -> [UInt8] {
        x.withUnsafeBufferPointer { Quantize.bytes(type, $0.baseAddress!, count: x.count) }
    }

    func dequantize(_ type: GGMLType, _ bytes: [UInt8], count: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: count)
        bytes.withUnsafeBytes { src in out.withUnsafeMutableBufferPointer { Dequantize.row(type: type, source: src, count: count, into: $0.baseAddress!) } }
        return out
    }

    func half(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) | UInt16(b[at + 1]) << 8 }

    // MARK: hand-checked blocks

    /// An export must not write weights that decode to infinity: fp16 ends at 65,504 and the
    /// fp16 block scales of Q8_0 at 65,504 × 127. bf16 and f32 hold both.
    func testCheckedBytesRefuseValuesTheTypeCannotHold() throws {
        var x = (0..<64).map { Float($0) / 64 }
        x[40] = 1e5
        for type in [GGMLType.bf16, .f32, .q8_0] { XCTAssertNoThrow(try Quantize.checkedBytes(type, x, count: 64, tensor: "w", file: "f")) }
        XCTAssertEqual(try Quantize.checkedBytes(.q8_0, x, count: 64, tensor: "w", file: "f"), Quantize.bytes(.q8_0, x, count: 64))
        XCTAssertThrowsError(try Quantize.checkedBytes(.f16, x, count: 64, tensor: "w", file: "f")) {
            XCTAssertTrue("\($0)".contains("tensor w does not fit F16: element 40 (100000.0) becomes inf"), "\($0)")
        }
        x[40] = 65504
        XCTAssertNoThrow(try Quantize.checkedBytes(.f16, x, count: 64, tensor: "w", file: "f"))
        x[40] = 1e7
        XCTAssertThrowsError(try Quantize.checkedBytes(.q8_0, x, count: 64, tensor: "w", file: "f")) {
            XCTAssertTrue("\($0)".contains("does not fit Q8_0") && "\($0)".contains("bf16 or f32"), "\($0)")
        }
    }

    /// Q5_0 of d·(q − 16) with the most negative value −16·d: d is found exactly and every q
    /// comes back; nibbles and fifth bits land where block_q5_0 puts them.
    func testQ5_0HandCheckedBlock() {
        let d: Float = 0.25
        let q: [Int] = (0..<32).map { ($0 * 7 + 3) % 32 }.enumerated().map { $0.offset == 5 ? 0 : $0.element }
        let x = q.map { Float($0 - 16) * d }          // x[5] = −4 = −16·d is the largest magnitude
        let b = quantize(.q5_0, x)
        XCTAssertEqual(b.count, 22)
        XCTAssertEqual(half(b, 0), floatToHalf(d), "d = max / −16 = −4 / −16")
        let qh = UInt32(b[2]) | UInt32(b[3]) << 8 | UInt32(b[4]) << 16 | UInt32(b[5]) << 24
        for j in 0..<16 {
            XCTAssertEqual(Int(b[6 + j] & 0xF), q[j] & 0xF, "low nibble of q[\(j)]")
            XCTAssertEqual(Int(b[6 + j] >> 4), q[j + 16] & 0xF, "high nibble holds q[\(j + 16)]")
            XCTAssertEqual(Int((qh >> UInt32(j)) & 1), q[j] >> 4, "bit \(j) of qh")
            XCTAssertEqual(Int((qh >> UInt32(j + 16)) & 1), q[j + 16] >> 4, "bit \(j + 16) of qh")
        }
        XCTAssertEqual(dequantize(.q5_0, b, count: 32), x, "exact values come back exactly")
    }

    /// Q4_K of integers 0…15 in every sub-block: scale 1 and min 0 are exact (make_qkx2_quants
    /// finds zero error), so d = fp16(1/63), dmin = 0, every 6-bit scale 63 and every min 0 —
    /// packed as get_scale_min_k4 reads them — and q = x.
    func testQ4_KHandCheckedBlock() {
        let x: [Float] = (0..<256).map { i in Float((i * 5 + i / 32) % 16) }
        let b = quantize(.q4_K, x)
        XCTAssertEqual(b.count, 144)
        XCTAssertEqual(half(b, 0), floatToHalf(1 / 63), "d = max_scale / 63")
        XCTAssertEqual(half(b, 2), 0, "dmin = 0: no sub-block has a negative minimum")
        XCTAssertEqual(Array(b[4..<16]), [255, 255, 255, 255, 0, 0, 0, 0, 15, 15, 15, 15],
                       "scales 0–3: 63 | (63 >> 4) << 6; mins 0–3: 0; sub-blocks 4–7: 63 & 15 | 0 << 4")
        for chunk in 0..<4 {
            for l in 0..<32 {
                let byte = b[16 + 32 * chunk + l]
                XCTAssertEqual(Float(byte & 0xF), x[64 * chunk + l])
                XCTAssertEqual(Float(byte >> 4), x[64 * chunk + 32 + l])
            }
        }
        let back = dequantize(.q4_K, b, count: 256)
        for i in 0..<256 { XCTAssertEqual(back[i], x[i], accuracy: 16 * 1e-3, "x[\(i)]: fp16(1/63)·63 is 1 within fp16 rounding") }
    }

    /// Q6_K of integers −32…31 in every group of 16: make_qx_quants finds scale 1, so
    /// d = fp16(1/(−128/max_scale)) with int8 scales −128 — hand-derived below — and q + 32 = x + 32.
    func testQ6_KHandCheckedBlock() {
        // every group holds −32 (the largest magnitude, so max = −32 and iscale = 1)
        let x: [Float] = (0..<256).map { i in
            let q: Int = i % 16 == 0 ? -32 : (i * 11) % 63 - 31
            return Float(q)
        }
        let b = quantize(.q6_K, x)
        XCTAssertEqual(b.count, 210)
        // the group scale is 1 (exact fit); max_scale = 1 → iscale = −128, d = −1/128, scales = −128
        XCTAssertEqual(half(b, 208), floatToHalf(-1 / 128))
        for ib in 0..<16 { XCTAssertEqual(Int8(bitPattern: b[192 + ib]), -128, "scale of group \(ib)") }
        let levels = x.map { UInt8(Int($0) + 32) }
        for half128 in 0..<2 {
            let L = Array(levels[(128 * half128)..<(128 * half128 + 128)])
            for l in 0..<32 {
                let (l0, l1, l2, l3): (UInt8, UInt8, UInt8, UInt8) = (L[l], L[l + 32], L[l + 64], L[l + 96])
                let low0: UInt8 = (l0 & 0xF) | ((l2 & 0xF) << 4)
                let low1: UInt8 = (l1 & 0xF) | ((l3 & 0xF) << 4)
                let high: UInt8 = (l0 >> 4) | ((l1 >> 4) << 2) | ((l2 >> 4) << 4) | ((l3 >> 4) << 6)
                XCTAssertEqual(b[64 * half128 + l], low0, "ql[\(l)]: low nibbles of q[l] and q[l + 64]")
                XCTAssertEqual(b[64 * half128 + l + 32], low1, "ql[\(l + 32)]: low nibbles of q[l + 32] and q[l + 96]")
                XCTAssertEqual(b[128 + 32 * half128 + l], high, "qh[\(l)]: the high bit pairs of the four")
            }
        }
        XCTAssertEqual(dequantize(.q6_K, b, count: 256), x, "(−1/128)·(−128)·q is q exactly")
    }

    /// All-zero blocks stay zero in every type (no division by zero, no NaN).
    func testZeroBlocks() {
        for type in [GGMLType.q8_0, .q5_0, .q4_K, .q6_K] {
            let b = quantize(type, [Float](repeating: 0, count: 256))
            XCTAssertEqual(dequantize(type, b, count: 256), [Float](repeating: 0, count: 256), type.name)
        }
    }

    /// ggml's nearest_int rounds half to even through the 1.5·2²³ trick.
    func testNearestIntRoundsHalfToEven() {
        let cases: [(Float, Int)] = [(0.5, 0), (1.5, 2), (2.5, 2), (-0.5, 0), (-1.5, -2), (3.49, 3), (-7.51, -8), (63, 63), (0, 0)]
        for (v, want) in cases { XCTAssertEqual(KQuants.nearestInt(v), want, "\(v)") }
    }

    /// bf16 rounds to nearest even and keeps NaN a NaN, as gguf-py and PyTorch do.
    func testBFloat16Rounding() {
        XCTAssertEqual(floatToBFloat16(1), 0x3F80)
        XCTAssertEqual(floatToBFloat16(Float(bitPattern: 0x3F80_8000)), 0x3F80, "tie to even (down)")
        XCTAssertEqual(floatToBFloat16(Float(bitPattern: 0x3F81_8000)), 0x3F82, "tie to even (up)")
        XCTAssertEqual(floatToBFloat16(Float(bitPattern: 0x3F80_8001)), 0x3F81, "above the tie")
        XCTAssertEqual(floatToBFloat16(-.infinity), 0xFF80)
        XCTAssertTrue(Float(bitPattern: UInt32(floatToBFloat16(.nan)) << 16).isNaN)
    }

    // MARK: round trips

    /// Random Gaussian rows through every quantizer and back. Per value, where the format
    /// bounds it: Q8_0 within half a step (d = max|x|/127) plus the fp16 rounding of d over
    /// 127 steps; Q5_0 within one step (d = max|x|/16; the top level +16 clamps to +15);
    /// F16 and BF16 within their relative precision. Over the row, the relative RMS error of
    /// a uniform grid, step/√12 for the expected block maximum of Gaussians (about 2.4σ for
    /// 32 values, 2σ for 16, a 32-value range of about 4.1σ), with a 40% margin for blocks
    /// whose maximum is larger than expected.
    func testRoundTripsStayWithinTheFormatsResolution() {
        var rng = SplitMix64(seed: 11)
        let x = (0..<4096).map { _ in 0.05 * rng.normal() }
        let grid = 1 / Double(12).squareRoot()
        let rmsBounds: [(GGMLType, Double)] = [(.q8_0, 1.4 * grid * 2.4 / 127), (.q5_0, 1.4 * grid * 2.4 / 16),
                                               (.q6_K, 1.4 * grid * 4.0 / 63), (.q4_K, 1.4 * grid * 4.1 / 15)]
        for (type, bound) in rmsBounds {
            let back = dequantize(type, quantize(type, x), count: x.count)
            var se: Double = 0, ss: Double = 0
            for i in 0..<x.count {
                se += Double((back[i] - x[i]) * (back[i] - x[i]))
                ss += Double(x[i] * x[i])
            }
            let relativeRMS = (se / ss).squareRoot()
            XCTAssertLessThan(relativeRMS, bound, "\(type.name): relative RMS error \(relativeRMS)")
            XCTAssertGreaterThan(relativeRMS, 0, "\(type.name) is lossy on random data")
        }
        let q8 = dequantize(.q8_0, quantize(.q8_0, x), count: x.count)
        let q5 = dequantize(.q5_0, quantize(.q5_0, x), count: x.count)
        for b in 0..<(x.count / 32) {
            let amax = x[(32 * b)..<(32 * b + 32)].map(abs).max()!
            for j in 32 * b..<(32 * b + 32) {
                XCTAssertLessThanOrEqual(abs(q8[j] - x[j]), amax / 127 * (0.5 + 127 * 0x1p-11), "Q8_0 value \(j)")
                XCTAssertLessThanOrEqual(abs(q5[j] - x[j]), amax / 16 * (1 + 16 * 0x1p-11), "Q5_0 value \(j)")
            }
        }
        let f16 = dequantize(.f16, quantize(.f16, x), count: x.count)
        let bf16 = dequantize(.bf16, quantize(.bf16, x), count: x.count)
        for j in 0..<x.count {
            XCTAssertLessThanOrEqual(abs(f16[j] - x[j]), max(abs(x[j]) * 0x1p-11, 0x1p-25), "F16 value \(j)")
            XCTAssertLessThanOrEqual(abs(bf16[j] - x[j]), abs(x[j]) * 0x1p-8, "BF16 value \(j)")
        }
    }

    /// Quantizing dequantized values is a fixed point for Q8_0 and Q5_0 (their scale is the
    /// block's extreme value, which comes back exactly).
    func testQ8_0AndQ5_0AreFixedPointsOfTheirOwnOutput() {
        var rng = SplitMix64(seed: 5)
        let x = (0..<1024).map { _ in rng.normal() }
        for type in [GGMLType.q8_0, .q5_0] {
            let once = quantize(type, x)
            XCTAssertEqual(quantize(type, dequantize(type, once, count: x.count)), once, type.name)
        }
    }

    // MARK: llama-quantize's bytes

    /// The real model's dequantized fp32 values moved off every quantization grid (element i
    /// of a tensor by (((i·2654435761) mod 2³²) >> 16 − 32768)·2⁻²⁶, as bench/quantize_fixture.py
    /// does), then quantized tensor by tensor in llama-quantize's Q4_K_M mixture: every tensor
    /// gets the type llama-quantize chose (ExportType's rule) and exactly its bytes (SHA-256 of
    /// each tensor, fixture made by llama.cpp's own llama-quantize).
    func testRealModelQuantizesToLlamaQuantizesBytes() throws {
        let model = try RealModel.load()
        let url = TestPaths.repoRoot.appendingPathComponent("Tests/ModelTests/Fixtures/llama_quantize_q4_k_m.json")
        let fixture = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let tensors = fixture["tensors"] as! [String: [String: String]]
        XCTAssertEqual(tensors.count, model.layout.tensors.count)
        var checked: [String: Int] = [:]
        var moved = [Float]()
        for t in model.layout.tensors {
            guard let entry = tensors[t.ggufName], let type = GGMLType.allCases.first(where: { $0.name == entry["type"] }) else {
                XCTFail("\(t.ggufName) missing from the fixture or of an unknown type")
                continue
            }
            XCTAssertEqual(ExportType.q4_k_m.tensorType(name: t.ggufName, shape: t.shape, layers: model.config.layers), type,
                           "\(t.ggufName): llama-quantize chose \(type.name)")
            moved = (0..<t.count).map { i in
                let k = Int((UInt32(truncatingIfNeeded: i) &* 2_654_435_761) >> 16) - 32768
                return model.parameters[t.offset + i] + Float(k) * 0x1p-26
            }
            let bytes = moved.withUnsafeBufferPointer { Quantize.bytes(type, $0.baseAddress!, count: t.count) }
            let digest = bytes.withUnsafeBytes { SHA256.hex($0) }
            XCTAssertEqual(digest, entry["sha256"], "\(t.ggufName) as \(type.name): bytes differ from llama-quantize's")
            checked[type.name, default: 0] += 1
        }
        XCTAssertEqual(checked, ["F32": 109, "Q8_0": 10, "Q5_0": 81, "Q4_K": 27, "Q6_K": 9])
    }
}
