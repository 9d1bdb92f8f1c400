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
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { buffer in
            let scales = buffer.baseAddress!, mins = scales + 8
            for b in 0..<blocks {
                let block = x + b * 144, out = y + b * 256
                // d · sc and dmin · m of the 8 sub-blocks, each then broadcast by a load
                let (sc, m) = scalesAndMins(block + 4)
                store(SIMD8<Float>(repeating: half(block)) * float(widen(sc)), scales)
                store(SIMD8<Float>(repeating: half(block, 2)) * float(widen(m)), mins)
                for pair in 0..<4 {
                    let d1 = SIMD8<Float>(repeating: scales[2 * pair]), min1 = SIMD8<Float>(repeating: mins[2 * pair])
                    let d2 = SIMD8<Float>(repeating: scales[2 * pair + 1]), min2 = SIMD8<Float>(repeating: mins[2 * pair + 1])
                    for k in 0..<4 {
                        let q = bytes8(block, 16 + 32 * pair + 8 * k)
                        store(d1 * float(q & 0x0F) - min1, out + 64 * pair + 8 * k)
                        store(d2 * float(q &>> 4) - min2, out + 64 * pair + 32 + 8 * k)
                    }
                }
            }
        }
    }

    /// A K-quant block's 12 bytes of 6-bit scales and mins as 8 bytes each: ggml's
    /// get_scale_min_k4 for sub-blocks j = 0…7, on 32-bit words as ggml's vec_dot does it.
    /// Sub-blocks 0–3 keep their low 6 bits in bytes 0–3 (scales) and 4–7 (mins); sub-blocks 4–7
    /// have their low 4 bits in bytes 8–11 and their top 2 bits in the top bits of bytes 0–3 and 4–7.
    @inline(__always)
    static func scalesAndMins(_ q: UnsafeRawPointer) -> (SIMD8<UInt8>, SIMD8<UInt8>) {
        let w0 = UInt32(littleEndian: q.loadUnaligned(as: UInt32.self))
        let w1 = UInt32(littleEndian: q.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        let w2 = UInt32(littleEndian: q.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        let sc = UInt64(w0 & 0x3F3F_3F3F) | UInt64((w2 & 0x0F0F_0F0F) | ((w0 >> 6) & 0x0303_0303) << 4) << 32
        let m = UInt64(w1 & 0x3F3F_3F3F) | UInt64(((w2 >> 4) & 0x0F0F_0F0F) | ((w1 >> 6) & 0x0303_0303) << 4) << 32
        return (unsafeBitCast(sc.littleEndian, to: SIMD8<UInt8>.self), unsafeBitCast(m.littleEndian, to: SIMD8<UInt8>.self))
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
