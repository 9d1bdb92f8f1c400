import Foundation
import XCTest
@testable import Model
import TestSupport

/// Dequantization of every supported ggml type on hand-built blocks. Expected values are
/// computed here from the block layouts of ggml's ggml-common.h (block_q8_0, block_q5_0,
/// block_q4_K, block_q6_K), not with the code under test; scales are chosen so every
/// expected value is exact in fp32.
final class DequantizeTests: XCTestCase {
    func dequantize(_ type: GGMLType, _ bytes: [UInt8], count: Int) -> [Float] {
        XCTAssertEqual(type.byteCount(elements: count), bytes.count, "test block has the wrong size")
        var out = [Float](repeating: .nan, count: count)
        bytes.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { Dequantize.row(type: type, source: src, count: count, into: $0.baseAddress!) }
        }
        return out
    }

    func assertBitsEqual(_ got: [Float], _ want: [Float], _ what: String, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, line: line)
        var bad = 0
        for i in 0..<min(got.count, want.count) where got[i].bitPattern != want[i].bitPattern {
            if bad < 5 { XCTFail("\(what)[\(i)] = \(got[i]), expected \(want[i])", line: line) }
            bad += 1
        }
        XCTAssertEqual(bad, 0, "\(what): \(bad) wrong values", line: line)
    }

    // MARK: F32, BF16

    func testF32CopiesBitPatterns() {
        let values: [UInt32] = [0x3F80_0000, 0xBF80_0000, 0x8000_0000, 0x0000_0001, 0x7F80_0000, 0xFF80_0000,
                                0x7FC0_1234, 0x7F7F_FFFF, 0x4049_0FDB]
        var b = ByteBuilder()
        for v in values { b.u32(v) }
        let got = dequantize(.f32, b.bytes, count: values.count)
        XCTAssertEqual(got.map(\.bitPattern), values)
    }

    func testBF16() {
        let cases: [(UInt16, Float)] = [(0x3F80, 1), (0xC049, -3.140625), (0x0000, 0), (0x7F80, .infinity),
                                        (0xFF80, -.infinity), (0x4780, 65536), (0x0001, Float(bitPattern: 0x0001_0000)),
                                        (0x3E80, 0.25)]
        var b = ByteBuilder()
        for c in cases { b.u16(c.0) }
        b.u16(0x8000)
        b.u16(0x7FC1)
        let got = dequantize(.bf16, b.bytes, count: cases.count + 2)
        for (i, c) in cases.enumerated() { XCTAssertEqual(got[i], c.1, "bf16 \(String(c.0, radix: 16))") }
        XCTAssertEqual(got[cases.count].bitPattern, 0x8000_0000, "negative zero keeps its sign")
        XCTAssertEqual(got[cases.count + 1].bitPattern, 0x7FC1_0000, "NaN payload kept")
    }

    // MARK: F16

    func testF16KnownValues() {
        let cases: [(UInt16, Float)] = [
            (0x3C00, 1), (0xC000, -2), (0x3555, 0.333251953125), (0x7BFF, 65504), (0xFBFF, -65504),
            (0x0400, 6.103515625e-05),                // smallest normal 2^-14
            (0x0001, 5.9604644775390625e-08),         // smallest subnormal 2^-24
            (0x03FF, 6.097555160522461e-05),          // largest subnormal 1023 * 2^-24
            (0x8001, -5.9604644775390625e-08), (0x0200, 3.0517578125e-05),
            (0x7C00, .infinity), (0xFC00, -.infinity), (0x0000, 0),
        ]
        var b = ByteBuilder()
        for c in cases { b.u16(c.0) }
        b.u16(0x8000)
        b.u16(0x7E00)
        b.u16(0xFD01)
        let got = dequantize(.f16, b.bytes, count: cases.count + 3)
        for (i, c) in cases.enumerated() {
            XCTAssertEqual(got[i].bitPattern, c.1.bitPattern, "half 0x\(String(c.0, radix: 16)) -> \(got[i]), expected \(c.1)")
        }
        XCTAssertEqual(got[cases.count].bitPattern, 0x8000_0000, "negative zero keeps its sign")
        XCTAssertTrue(got[cases.count + 1].isNaN)
        XCTAssertTrue(got[cases.count + 2].isNaN)
        XCTAssertEqual(got[cases.count + 2].sign, .minus)
    }

    /// Every one of the 65,536 halves, against an independent formula (sign * 2^(e-15) * (1 + m/1024),
    /// subnormals m * 2^-24) computed in Double.
    func testF16Exhaustive() {
        var b = ByteBuilder()
        for h in 0...0xFFFF { b.u16(UInt16(h)) }
        let got = dequantize(.f16, b.bytes, count: 65536)
        for h in 0...0xFFFF {
            let sign: Double = h & 0x8000 != 0 ? -1 : 1
            let e = (h >> 10) & 0x1F, m = h & 0x3FF
            let g = got[h]
            if e == 31 {
                if m == 0 { XCTAssertEqual(Double(g), sign * .infinity) } else { XCTAssertTrue(g.isNaN, "0x\(String(h, radix: 16))") }
                continue
            }
            let want = e == 0 ? sign * Double(m) * 0x1p-24 : sign * (1 + Double(m) / 1024) * pow(2, Double(e - 15))
            if Double(g) != want || (g == 0 && g.sign != (sign < 0 ? .minus : .plus)) {
                XCTFail("half 0x\(String(h, radix: 16)) -> \(g), expected \(want)")
                return
            }
        }
    }

    /// floatToHalf inverts halfToFloat for every non-NaN half (including -0, subnormals, ±inf).
    func testFloatToHalfRoundTrip() {
        for h in 0...0xFFFF {
            let raw = UInt16(h)
            let f = halfToFloat(raw)
            if f.isNaN {
                XCTAssertTrue(halfToFloat(floatToHalf(f)).isNaN)
                continue
            }
            XCTAssertEqual(floatToHalf(f), raw, "round trip of half 0x\(String(h, radix: 16)) (\(f))")
            if floatToHalf(f) != raw { return }
        }
    }

    func testFloatToHalfRoundsTiesToEven() {
        // normal range: the midpoint between two halves goes to the one with an even mantissa
        XCTAssertEqual(floatToHalf(1 + 0x1p-11), 0x3C00)        // 1 and 1+2^-10: tie -> 1 (even)
        XCTAssertEqual(floatToHalf(1 + 3 * 0x1p-11), 0x3C02)    // tie between 0x3C01 and 0x3C02 -> even
        XCTAssertEqual(floatToHalf(1 + 0x1p-11 + 0x1p-20), 0x3C01)  // just above the tie rounds up
        XCTAssertEqual(floatToHalf(1 + 0x1p-11 - 0x1p-20), 0x3C00)  // just below rounds down
        XCTAssertEqual(floatToHalf(-(1 + 3 * 0x1p-11)), 0xBC02)
        // mantissa carry into the exponent: 2 - 2^-11 is the tie between 0x3BFF and 2.0
        XCTAssertEqual(floatToHalf(2 - 0x1p-11), 0x4000)
        // subnormal range
        XCTAssertEqual(floatToHalf(0x1p-25), 0x0000)              // half of the smallest subnormal -> 0 (even)
        XCTAssertEqual(floatToHalf(-0x1p-25), 0x8000)
        XCTAssertEqual(floatToHalf(3 * 0x1p-25), 0x0002)          // 1.5 ulp -> 2 (even)
        XCTAssertEqual(floatToHalf(5 * 0x1p-25), 0x0002)          // 2.5 ulp -> 2 (even)
        XCTAssertEqual(floatToHalf(0x1p-26), 0x0000)
        XCTAssertEqual(floatToHalf(0x1p-14 - 0x1p-25), 0x0400)    // tie between largest subnormal and smallest normal
        XCTAssertEqual(floatToHalf(Float(bitPattern: 1)), 0x0000) // tiny float underflows to zero
        // overflow: 65504 is the largest half; the tie 65520 rounds to even = infinity
        XCTAssertEqual(floatToHalf(65504), 0x7BFF)
        XCTAssertEqual(floatToHalf(65519.996), 0x7BFF)
        XCTAssertEqual(floatToHalf(65520), 0x7C00)
        XCTAssertEqual(floatToHalf(-1e30), 0xFC00)
        XCTAssertEqual(floatToHalf(.infinity), 0x7C00)
        XCTAssertEqual(floatToHalf(-0.0), 0x8000)
        XCTAssertTrue(halfToFloat(floatToHalf(.nan)).isNaN)
    }

    /// floatToHalf against an independent round-to-nearest-even computed in Double, on random floats
    /// spread over the whole half range.
    func testFloatToHalfMatchesReferenceRounding() {
        var rng = SplitMix64(seed: 12)
        for _ in 0..<200_000 {
            let exponent = Int(rng.next() % 44) - 28            // 2^-28 ... 2^15
            let f = Float(sign: rng.next() & 1 == 0 ? .plus : .minus, exponent: exponent,
                          significand: 1 + Float(rng.next() >> 41) / Float(1 << 23))
            let want = referenceHalf(Double(f))
            let got = floatToHalf(f)
            if got != want {
                XCTFail("floatToHalf(\(f)) = 0x\(String(got, radix: 16)), expected 0x\(String(want, radix: 16))")
                return
            }
        }
    }

    /// Round |x| to the nearest half by enumerating the two candidates' values (ties to even mantissa).
    func referenceHalf(_ x: Double) -> UInt16 {
        let sign: UInt16 = x.sign == .minus ? 0x8000 : 0
        let a = abs(x)
        // value of each finite half bit pattern, monotone in the pattern
        func value(_ h: Int) -> Double {
            let e = h >> 10, m = h & 0x3FF
            return e == 0 ? Double(m) * 0x1p-24 : (1 + Double(m) / 1024) * pow(2, Double(e - 15))
        }
        var lo = 0, hi = 0x7C00   // binary search the largest pattern with value <= a (0x7C00 stands for inf)
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if value(mid) <= a { lo = mid } else { hi = mid }
        }
        if lo == 0x7BFF {
            // beyond 65504: the next "value" is 65536 (infinity)
            let up: Double = 65536
            if a - 65504 < up - a { return sign | 0x7BFF }
            return sign | 0x7C00   // tie (65520) rounds to the even pattern 0x7C00
        }
        let dLo = a - value(lo), dHi = value(lo + 1) - a
        if dLo < dHi { return sign | UInt16(lo) }
        if dHi < dLo { return sign | UInt16(lo + 1) }
        return sign | UInt16(lo % 2 == 0 ? lo : lo + 1)
    }

    // MARK: Q8_0

    func testQ8_0() {
        // 8 blocks: d = 0.5 then -0.25, ...; qs runs through every int8 value -128...127 once.
        let ds: [(UInt16, Float)] = [(0x3800, 0.5), (0xB400, -0.25), (0x4000, 2), (0x3C00, 1),
                                     (0x0001, 0x1p-24), (0x2E00, 0.09375), (0x5640, 100), (0x0000, 0)]
        var b = ByteBuilder()
        var want: [Float] = []
        for (blk, d) in ds.enumerated() {
            b.u16(d.0)
            for j in 0..<32 {
                let q = Int8(truncatingIfNeeded: blk * 32 + j - 128)
                b.u8(UInt8(bitPattern: q))
                want.append(Float(q) * d.1)
            }
        }
        XCTAssertEqual(b.bytes.count, 8 * 34)
        assertBitsEqual(dequantize(.q8_0, b.bytes, count: 256), want, "q8_0")
    }

    // MARK: Q5_0

    /// block_q5_0: f16 d, uint8 qh[4] (bit j = fifth bit of element j), uint8 qs[16]
    /// (element j: low nibble of qs[j]; element j+16: high nibble of qs[j]); y = (q - 16) * d.
    func testQ5_0() {
        let ds: [(UInt16, Float)] = [(0x3400, 0.25), (0xBE00, -1.5), (0x3C00, 1)]
        var b = ByteBuilder()
        var want: [Float] = []
        for (blk, d) in ds.enumerated() {
            let q = (0..<32).map { (($0 * 11 + 7 + blk * 5) % 32) }   // every 5-bit value appears
            var qh: UInt32 = 0
            for j in 0..<32 where q[j] & 16 != 0 { qh |= 1 << UInt32(j) }
            b.u16(d.0)
            b.u32(qh)
            for j in 0..<16 { b.u8(UInt8(q[j] & 15) | UInt8(q[j + 16] & 15) << 4) }
            want += q.map { Float($0 - 16) * d.1 }
        }
        XCTAssertEqual(b.bytes.count, 3 * 22)
        assertBitsEqual(dequantize(.q5_0, b.bytes, count: 96), want, "q5_0")
    }

    func testQ5_0ExtremeCodes() {
        // all bits set: q = 31 -> 15 d; all clear: q = 0 -> -16 d
        var b = ByteBuilder()
        b.u16(0x3C00); b.u32(0xFFFF_FFFF); b.raw([UInt8](repeating: 0xFF, count: 16))
        b.u16(0x3C00); b.u32(0); b.raw([UInt8](repeating: 0, count: 16))
        let got = dequantize(.q5_0, b.bytes, count: 64)
        XCTAssertEqual(Array(got[0..<32]), [Float](repeating: 15, count: 32))
        XCTAssertEqual(Array(got[32..<64]), [Float](repeating: -16, count: 32))
    }

    // MARK: Q4_K

    /// block_q4_K: f16 d, f16 dmin, uint8 scales[12] (8 six-bit scales and 8 six-bit mins),
    /// uint8 qs[128]. Sub-block j (32 elements) has y = d * sc[j] * q - dmin * m[j].
    /// Scales: for j < 4, scales[j] = sc[j] and scales[j+4] = m[j] (low 6 bits); for j >= 4,
    /// scales[j+4] = (sc[j] & 15) | (m[j] & 15) << 4, and the top two bits of sc[j] / m[j] go to
    /// bits 6-7 of scales[j-4] / scales[j]. Elements 64c..64c+31 are the low nibbles of
    /// qs[32c..32c+31] (sub-block 2c), elements 64c+32..64c+63 their high nibbles (sub-block 2c+1).
    static func q4KBlock(d: UInt16, dmin: UInt16, sc: [Int], m: [Int], q: [Int]) -> [UInt8] {
        precondition(sc.count == 8 && m.count == 8 && q.count == 256)
        var scales = [UInt8](repeating: 0, count: 12)
        for j in 0..<4 {
            scales[j] = UInt8(sc[j])
            scales[j + 4] = UInt8(m[j])
        }
        for j in 4..<8 {
            scales[j + 4] = UInt8(sc[j] & 15) | UInt8(m[j] & 15) << 4
            scales[j - 4] |= UInt8(sc[j] >> 4) << 6
            scales[j] |= UInt8(m[j] >> 4) << 6
        }
        var qs = [UInt8](repeating: 0, count: 128)
        for c in 0..<4 {
            for l in 0..<32 { qs[32 * c + l] = UInt8(q[64 * c + l]) | UInt8(q[64 * c + 32 + l]) << 4 }
        }
        var b = ByteBuilder()
        b.u16(d); b.u16(dmin); b.raw(scales); b.raw(qs)
        return b.bytes
    }

    func testQ4_K() {
        // Scales and mins use all 6 bits; sub-blocks 4-7 need their packed high bits (48, 33, 62, 40, 31, 60...).
        let sc = [1, 63, 17, 32, 5, 48, 33, 62]
        let m = [0, 7, 63, 20, 40, 1, 31, 60]
        let q = (0..<256).map { ($0 * 7 + $0 / 16 + 3) % 16 }
        let d: Float = 0.5, dmin: Float = 0.25
        var bytes = Self.q4KBlock(d: 0x3800, dmin: 0x3400, sc: sc, m: m, q: q)
        var want = (0..<256).map { d * Float(sc[$0 / 32]) * Float(q[$0]) - dmin * Float(m[$0 / 32]) }
        // second block: swapped roles, negative d, to catch block-stride mistakes
        let sc2 = [63, 0, 48, 15, 62, 1, 16, 47], m2 = [63, 62, 1, 0, 16, 47, 32, 33]
        let q2 = q.reversed().map { $0 }
        bytes += Self.q4KBlock(d: 0xC000, dmin: 0x3C00, sc: sc2, m: m2, q: q2)
        want += (0..<256).map { -2 * Float(sc2[$0 / 32]) * Float(q2[$0]) - 1 * Float(m2[$0 / 32]) }
        XCTAssertEqual(bytes.count, 288)
        assertBitsEqual(dequantize(.q4_K, bytes, count: 512), want, "q4_K")
    }

    /// Each of the 8 sub-blocks alone: a scale only in sub-block j must affect exactly elements 32j..32j+31.
    func testQ4_KSubBlocksAreIndependent() {
        for j in 0..<8 {
            var sc = [Int](repeating: 0, count: 8), m = [Int](repeating: 0, count: 8)
            sc[j] = 63 - j
            m[j] = 33 + j
            let bytes = Self.q4KBlock(d: 0x3C00, dmin: 0x3C00, sc: sc, m: m, q: [Int](repeating: 15, count: 256))
            let got = dequantize(.q4_K, bytes, count: 256)
            for i in 0..<256 {
                let want: Float = i / 32 == j ? Float(15 * (63 - j) - (33 + j)) : 0
                XCTAssertEqual(got[i], want, "sub-block \(j), element \(i)")
            }
        }
    }

    // MARK: Q6_K

    /// block_q6_K: uint8 ql[128] (low 4 bits), uint8 qh[64] (high 2 bits), int8 scales[16], f16 d.
    /// Element e = 128n + 32k + l (n half, k quarter 0..3, l 0..31): low bits in ql[64n + l + 32(k & 1)],
    /// low nibble for k < 2 and high nibble for k >= 2; high bits are bits 2k..2k+1 of qh[32n + l];
    /// y = d * scales[e / 16] * (q - 32).
    static func q6KBlock(d: UInt16, scales: [Int8], q: [Int]) -> [UInt8] {
        precondition(scales.count == 16 && q.count == 256)
        var ql = [UInt8](repeating: 0, count: 128), qh = [UInt8](repeating: 0, count: 64)
        for e in 0..<256 {
            let n = e / 128, k = (e % 128) / 32, l = e % 32
            let v = UInt8(q[e])
            let li = 64 * n + l + 32 * (k & 1)
            ql[li] |= k < 2 ? (v & 15) : (v & 15) << 4
            qh[32 * n + l] |= (v >> 4) << UInt8(2 * k)
        }
        var b = ByteBuilder()
        b.raw(ql); b.raw(qh)
        for s in scales { b.u8(UInt8(bitPattern: s)) }
        b.u16(d)
        return b.bytes
    }

    func testQ6_K() {
        let scales: [Int8] = [-128, -1, 1, 127, -37, 64, 2, -2, 100, -100, 3, 50, -64, 10, 0, 77]
        let q = (0..<256).map { ($0 * 13 + $0 / 64 + 5) % 64 }
        let d: Float = 0.125
        var bytes = Self.q6KBlock(d: 0x3000, scales: scales, q: q)
        var want = (0..<256).map { d * Float(scales[$0 / 16]) * Float(q[$0] - 32) }
        let scales2 = scales.reversed().map { $0 }
        let q2 = q.map { 63 - $0 }
        bytes += Self.q6KBlock(d: 0xC200, scales: scales2, q: q2)
        want += (0..<256).map { -3 * Float(scales2[$0 / 16]) * Float(q2[$0] - 32) }
        XCTAssertEqual(bytes.count, 420)
        assertBitsEqual(dequantize(.q6_K, bytes, count: 512), want, "q6_K")
    }

    func testQ6_KScalesAreIndependent() {
        for s in 0..<16 {
            var scales = [Int8](repeating: 0, count: 16)
            scales[s] = Int8(s % 2 == 0 ? 3 + s : -(3 + s))
            let q = (0..<256).map { $0 % 64 }
            let got = dequantize(.q6_K, Self.q6KBlock(d: 0x3C00, scales: scales, q: q), count: 256)
            for e in 0..<256 {
                let want: Float = e / 16 == s ? Float(scales[s]) * Float(q[e] - 32) : 0
                XCTAssertEqual(got[e], want, "scale \(s), element \(e)")
            }
        }
    }

    // MARK: cross-check against gguf-py

    /// Random blocks (bytes from SplitMix64, with the f16 scales set to fixed sane values) against
    /// sums computed by the `gguf` Python package's numpy dequantization (gguf 0.x, `gguf.quants.dequantize`)
    /// on the same bytes: sum(v), sum(v * (i % 97 + 1)), v[5] and the last value.
    func testRandomBlocksMatchGGUFPy() {
        let reference: [(GGMLType, UInt64, [Int], [Double])] = [
            (.q8_0, 101, [0], [-109.16455078125, -5095.6295166015625, -5.875, -15.74658203125]),
            (.q5_0, 102, [0], [-5.6551513671875, 336.202880859375, 1.125, -1.6209716796875]),
            (.q4_K, 103, [0, 2], [34402.553466796875, 1712643.2891540527, 7.28125, 3.42181396484375]),
            (.q6_K, 104, [208], [3073.688720703125, -66480.7236328125, -71.25, -32.41943359375]),
        ]
        for (type, seed, scalePositions, want) in reference {
            let blocks = 4
            var rng = SplitMix64(seed: seed)
            var bytes: [UInt8] = []
            while bytes.count < type.blockBytes * blocks {
                let r = rng.next()
                for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: r >> (8 * UInt64(i)))) }
            }
            bytes = Array(bytes[0..<(type.blockBytes * blocks)])
            for k in 0..<blocks {
                for (j, p) in scalePositions.enumerated() {
                    let h = j == 0 ? 0x3000 + 0x123 * k : 0x2800 + 0xF1 * k
                    bytes.put(UInt64(h), at: k * type.blockBytes + p, size: 2)
                }
            }
            let v = dequantize(type, bytes, count: type.blockElements * blocks)
            let sum = v.reduce(0.0) { $0 + Double($1) }
            let weighted = v.enumerated().reduce(0.0) { $0 + Double($1.element) * Double($1.offset % 97 + 1) }
            let got = [sum, weighted, Double(v[5]), Double(v.last!)]
            for (g, w) in zip(got, want) {
                XCTAssertEqual(g, w, accuracy: 1e-6 * max(1, abs(w)), "\(type.name) vs gguf-py")
            }
        }
    }

    func testByteCounts() {
        XCTAssertEqual(GGMLType.q4_K.byteCount(elements: 512), 288)
        XCTAssertEqual(GGMLType.q6_K.byteCount(elements: 256), 210)
        XCTAssertEqual(GGMLType.q8_0.byteCount(elements: 64), 68)
        XCTAssertEqual(GGMLType.q5_0.byteCount(elements: 32), 22)
        XCTAssertEqual(GGMLType.bf16.byteCount(elements: 3), 6)
        XCTAssertNil(GGMLType.q4_K.byteCount(elements: 255))
        XCTAssertNil(GGMLType.f32.byteCount(elements: Int.max))
    }
}
