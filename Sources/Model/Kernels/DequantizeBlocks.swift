// Dequantization of ggml blocks to fp32, several elements at a time. Block layouts and formulas
// as in Model/Files/Dequantize.swift (ggml's dequantize_row_*); every element gets exactly the
// scalar code's value (the same products and differences, rounded once each, in the same order).

extension VectorKernels {
    /// Q8_0, 34 bytes per 32 elements: y = d · q.
    @inline(never)
    public static func dequantizeQ8_0(_ x: UnsafeRawPointer, blocks: Int, into y: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = x + b * 34, out = y + b * 32
            let d = SIMD8<Float>(repeating: half(block))
            for k in 0..<4 {
                let q = widen(block.loadUnaligned(fromByteOffset: 2 + 8 * k, as: SIMD8<Int8>.self))
                store(float(q) * d, out + 8 * k)
            }
        }
    }

    /// Q5_0, 22 bytes per 32 elements: y = d · (q − 16), q's fifth bit from the 32-bit qh
    /// (element j < 16: low nibble of qs[j], bit j; element j + 16: high nibble, bit j + 16).
    @inline(never)
    public static func dequantizeQ5_0(_ x: UnsafeRawPointer, blocks: Int, into y: UnsafeMutablePointer<Float>) {
        q5FifthBits.withUnsafeBufferPointer { fifthBits in
            let table = fifthBits.baseAddress!
            for b in 0..<blocks {
                let block = x + b * 22, out = y + b * 32
                let d = SIMD8<Float>(repeating: half(block))
                let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
                let (low, high) = nibbles16(block, 6)
                store(q5Values(low.lowHalf, qh, 0, table) * d, out)
                store(q5Values(low.highHalf, qh, 1, table) * d, out + 8)
                store(q5Values(high.lowHalf, qh, 2, table) * d, out + 16)
                store(q5Values(high.highHalf, qh, 3, table) * d, out + 24)
            }
        }
    }

    /// Q4_K, 144 bytes per 256 elements: 8 sub-blocks of 32, y = (d · scale) · q − dmin · min.
    @inline(never)
    public static func dequantizeQ4_K(_ x: UnsafeRawPointer, blocks: Int, into y: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = x + b * 144, out = y + b * 256
            let d = half(block), dmin = half(block, 2)
            let scales = (block + 4).assumingMemoryBound(to: UInt8.self)
            for pair in 0..<4 {
                let (sc1, m1) = scaleMin(2 * pair, scales)
                let (sc2, m2) = scaleMin(2 * pair + 1, scales)
                let d1 = SIMD8<Float>(repeating: d * Float(sc1)), min1 = SIMD8<Float>(repeating: dmin * Float(m1))
                let d2 = SIMD8<Float>(repeating: d * Float(sc2)), min2 = SIMD8<Float>(repeating: dmin * Float(m2))
                for k in 0..<4 {
                    let q = bytes8(block, 16 + 32 * pair + 8 * k)
                    store(d1 * float(q & 0x0F) - min1, out + 64 * pair + 8 * k)
                    store(d2 * float(q &>> 4) - min2, out + 64 * pair + 32 + 8 * k)
                }
            }
        }
    }

    /// The 6-bit scale and min of sub-block j of a K-quant block (ggml's get_scale_min_k4).
    @inline(__always)
    static func scaleMin(_ j: Int, _ q: UnsafePointer<UInt8>) -> (UInt8, UInt8) {
        if j < 4 { return (q[j] & 63, q[j + 4] & 63) }
        return ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }

    /// Q6_K, 210 bytes per 256 elements: 6-bit q (4 low bits in ql, 2 high in qh) minus 32, times
    /// (d · scale) with one int8 scale per 16 elements.
    @inline(never)
    public static func dequantizeQ6_K(_ x: UnsafeRawPointer, blocks: Int, into y: UnsafeMutablePointer<Float>) {
        withUnsafeTemporaryAllocation(byteCount: 128, alignment: 32) { buffer in
            let q = UnsafeMutableRawPointer(buffer.baseAddress!)
            for b in 0..<blocks {
                let block = x + b * 210
                let d = half(block, 208)
                for h in 0..<2 {
                    let sc = (block + 192 + 8 * h).assumingMemoryBound(to: Int8.self)
                    let out = y + b * 256 + 128 * h
                    q6TimesFour(block + 64 * h, block + 128 + 32 * h, into: q)
                    for k in 0..<4 {
                        // (d · scale) / 4 exactly: the bytes hold 4·(q − 32)
                        let s = k / 2
                        store(SIMD8<Float>(repeating: d * Float(sc[s]) * 0.25) * float8(q, 8 * k), out + 8 * k)
                        store(SIMD8<Float>(repeating: d * Float(sc[s + 2]) * 0.25) * float8(q, 32 + 8 * k), out + 32 + 8 * k)
                        store(SIMD8<Float>(repeating: d * Float(sc[s + 4]) * 0.25) * float8(q, 64 + 8 * k), out + 64 + 8 * k)
                        store(SIMD8<Float>(repeating: d * Float(sc[s + 6]) * 0.25) * float8(q, 96 + 8 * k), out + 96 + 8 * k)
                    }
                }
            }
        }
    }
}
