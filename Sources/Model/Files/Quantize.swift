/// fp32 → ggml blocks, after ggml's reference quantizers (`quantize_row_*_ref`,
/// ggml-quants.c). Q8_0 so far: each block of 32 values stores d = max|x| / 127 as fp16 and
/// q = round(x / d) as int8 (the division uses the fp32 d; dequantization the fp16 one).
public enum Quantize {
    /// `count` values (a multiple of 32) as Q8_0 blocks appended to `out`.
    public static func q8_0(_ x: UnsafePointer<Float>, count: Int, into out: inout [UInt8]) {
        precondition(count % 32 == 0, "Q8_0 takes whole blocks of 32")
        for b in 0..<(count / 32) {
            let v = x + 32 * b
            var amax: Float = 0
            for j in 0..<32 { amax = max(amax, abs(v[j])) }
            let d = amax / 127
            let id: Float = d != 0 ? 1 / d : 0
            let h = floatToHalf(d)
            out.append(UInt8(truncatingIfNeeded: h))
            out.append(UInt8(truncatingIfNeeded: h >> 8))
            for j in 0..<32 { out.append(UInt8(bitPattern: Int8((v[j] * id).rounded(.toNearestOrAwayFromZero)))) }
        }
    }
}
