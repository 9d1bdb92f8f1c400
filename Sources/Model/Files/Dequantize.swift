import ModelKernels

// Dequantization of the ggml block formats present in Gemma GGUF files to fp32.
// Formulas follow ggml's `dequantize_row_*` (ggml-quants.c); block layouts in GGMLType.

public enum Dequantize {
    /// Convert `count` elements of `type` stored in `source` to fp32: the block formats through
    /// ModelKernels' vector loops when the CPU has their instructions, else `scalarRow`. Both give
    /// the same bits (VectorKernelsTests).
    public static func row(type: GGMLType, source: UnsafeRawBufferPointer, count: Int,
                           into y: UnsafeMutablePointer<Float>) {
        if let format = type.vectorFormat, VectorKernels.available {
            return VectorKernels.dequantize(format, source.baseAddress!, blocks: count / format.blockElements, into: y)
        }
        scalarRow(type: type, source: source, count: count, into: y)
    }

    /// The reference: one element at a time, as ggml's C.
    public static func scalarRow(type: GGMLType, source: UnsafeRawBufferPointer, count: Int,
                                 into y: UnsafeMutablePointer<Float>) {
        let x = source.baseAddress!
        let blocks = count / type.blockElements
        switch type {
        case .f32:
            #if _endian(little)
            UnsafeMutableRawPointer(y).copyMemory(from: x, byteCount: 4 * count)
            #else
            for i in 0..<count { y[i] = Float(bitPattern: UInt32(littleEndian: x.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            #endif
        case .f16:
            for i in 0..<count { y[i] = halfToFloat(x.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .bf16:
            for i in 0..<count { y[i] = Float(bitPattern: UInt32(x.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
        case .q8_0:
            for b in 0..<blocks { q8_0(x + b * 34, y + b * 32) }
        case .q5_0:
            for b in 0..<blocks { q5_0(x + b * 22, y + b * 32) }
        case .q4_K:
            for b in 0..<blocks { q4_K(x + b * 144, y + b * 256) }
        case .q6_K:
            for b in 0..<blocks { q6_K(x + b * 210, y + b * 256) }
        }
    }

    /// Q8_0: y = d * q for 32 signed bytes.
    static func q8_0(_ block: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = halfToFloat(block.loadUnaligned(as: UInt16.self))
        let qs = (block + 2).assumingMemoryBound(to: Int8.self)
        for j in 0..<32 { y[j] = Float(qs[j]) * d }
    }

    /// Q5_0: 5-bit values (low nibble in qs, fifth bit in the 32-bit qh), offset by 16.
    /// Element j uses the low nibble of qs[j] and bit j of qh; element j+16 the high nibble and bit j+16.
    static func q5_0(_ block: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = halfToFloat(block.loadUnaligned(as: UInt16.self))
        for j in 0..<16 {
            let (x0, x1) = q5_0Values(block, j)
            y[j] = Float(x0) * d
            y[j + 16] = Float(x1) * d
        }
    }

    /// Elements j and j + 16 (j < 16) of a Q5_0 block as q − 16, within −16…15.
    @inline(__always)
    static func q5_0Values(_ block: UnsafeRawPointer, _ j: Int) -> (Int8, Int8) {
        let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        let qs = block.load(fromByteOffset: 6 + j, as: UInt8.self)
        let h0 = UInt8(truncatingIfNeeded: ((qh >> UInt32(j)) << 4) & 0x10)
        let h1 = UInt8(truncatingIfNeeded: (qh >> UInt32(j + 12)) & 0x10)
        return (Int8((qs & 0x0F) | h0) - 16, Int8((qs >> 4) | h1) - 16)
    }

    /// The 6-bit scale and min of sub-block j of a K-quant block (ggml's get_scale_min_k4).
    @inline(__always)
    static func scaleMin(_ j: Int, _ q: UnsafePointer<UInt8>) -> (UInt8, UInt8) {
        if j < 4 { return (q[j] & 63, q[j + 4] & 63) }
        return ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }

    /// Q4_K: 8 sub-blocks of 32 nibbles, each y = d*scale*q - dmin*min.
    static func q4_K(_ block: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = halfToFloat(block.loadUnaligned(as: UInt16.self))
        let dmin = halfToFloat(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        let scales = (block + 4).assumingMemoryBound(to: UInt8.self)
        var q = (block + 16).assumingMemoryBound(to: UInt8.self)
        var out = y
        var s = 0
        for _ in 0..<4 {
            let (sc1, m1) = scaleMin(s, scales)
            let (sc2, m2) = scaleMin(s + 1, scales)
            let d1 = d * Float(sc1), min1 = dmin * Float(m1)
            let d2 = d * Float(sc2), min2 = dmin * Float(m2)
            for l in 0..<32 { out[l] = d1 * Float(q[l] & 0xF) - min1 }
            for l in 0..<32 { out[32 + l] = d2 * Float(q[l] >> 4) - min2 }
            q += 32
            out += 64
            s += 2
        }
    }

    /// Q6_K: 6-bit values (4 low bits in ql, 2 high bits in qh) minus 32, 16 int8 scales.
    static func q6_K(_ block: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        var ql = block.assumingMemoryBound(to: UInt8.self)
        var qh = (block + 128).assumingMemoryBound(to: UInt8.self)
        var sc = (block + 192).assumingMemoryBound(to: Int8.self)
        let d = halfToFloat(block.loadUnaligned(fromByteOffset: 208, as: UInt16.self))
        var out = y
        for _ in 0..<2 {
            for l in 0..<32 {
                let s = l / 16
                let q1 = Int32((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32
                let q2 = Int32((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32
                let q3 = Int32((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32
                let q4 = Int32((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32
                out[l] = d * Float(sc[s]) * Float(q1)
                out[l + 32] = d * Float(sc[s + 2]) * Float(q2)
                out[l + 64] = d * Float(sc[s + 4]) * Float(q3)
                out[l + 96] = d * Float(sc[s + 6]) * Float(q4)
            }
            out += 128
            ql += 64
            qh += 32
            sc += 8
        }
    }
}

extension GGMLType {
    /// The block format of ModelKernels' vector loops for this type (nil: scalar code only).
    var vectorFormat: VectorKernels.BlockFormat? {
        switch self {
        case .q8_0: return .q8_0
        case .q5_0: return .q5_0
        case .q4_K: return .q4_K
        case .q6_K: return .q6_K
        case .f32, .f16, .bf16: return nil
        }
    }
}

/// IEEE half → float, exact for every half including subnormals, inf and NaN.
@inline(__always)
public func halfToFloat(_ raw: UInt16) -> Float {
    let h = UInt16(littleEndian: raw)
    let sign = UInt32(h & 0x8000) << 16
    let exponent = Int32((h >> 10) & 0x1F)
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0 {
        // zero or subnormal: mantissa * 2^-24
        let magnitude = Float(mantissa) * 5.960464477539063e-8
        return sign != 0 ? -magnitude : magnitude
    }
    if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
    return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
}

/// float → IEEE half with round-to-nearest-even (for the GGUF writer and tests).
public func floatToHalf(_ f: Float) -> UInt16 {
    let bits = f.bitPattern
    let sign = UInt16((bits >> 16) & 0x8000)
    if f.isNaN { return sign | 0x7E00 }
    let a = abs(f)
    if a >= 65520 { return sign | 0x7C00 }
    if a < 6.103515625e-05 {  // subnormal half: round a / 2^-24 to an integer
        let m = (a / 5.960464477539063e-8).rounded(.toNearestOrEven)
        return sign | UInt16(m)
    }
    let e = Int32((bits >> 23) & 0xFF) - 127 + 15
    var m = bits & 0x7F_FFFF
    var exp = UInt32(e)
    // round mantissa from 23 to 10 bits, ties to even
    let rest = m & 0x1FFF
    m >>= 13
    if rest > 0x1000 || (rest == 0x1000 && (m & 1) == 1) {
        m += 1
        if m == 0x400 { m = 0; exp += 1 }
    }
    return sign | UInt16(exp << 10) | UInt16(m)
}
