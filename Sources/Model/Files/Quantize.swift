/// fp32 → ggml blocks, after ggml's reference quantizers (`quantize_row_*_ref` in
/// ggml-quants.c, which llama-quantize also runs when it has no importance matrix). The
/// arithmetic is the reference's, operation for operation and in fp32, so that the same
/// values give the same bytes; block layouts are in GGMLType and Dequantize.
///
/// Every value must be finite (the export checks a tensor before it quantizes it).
public enum Quantize {
    /// `count` values (whole blocks of `type`) encoded into `out` (exactly
    /// `type.byteCount(elements: count)` bytes). Blocks are independent, so big tensors are
    /// quantized on every core; the bytes do not depend on how the work is split.
    public static func blocks(_ type: GGMLType, _ x: UnsafePointer<Float>, count: Int, into out: UnsafeMutableRawPointer) {
        precondition(count % type.blockElements == 0, "\(type.name) takes whole blocks of \(type.blockElements)")
        let n = type.blockElements, size = type.blockBytes
        switch type {
        case .f32:
            for i in 0..<count { out.storeBytes(of: x[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
        case .f16:
            for i in 0..<count { out.storeBytes(of: floatToHalf(x[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        case .bf16:
            for i in 0..<count { out.storeBytes(of: floatToBFloat16(x[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        case .q8_0, .q5_0, .q4_K, .q6_K:
            let encode: (UnsafePointer<Float>, UnsafeMutableRawPointer) -> Void =
                type == .q8_0 ? q8_0 : type == .q5_0 ? q5_0 : type == .q4_K ? KQuants.q4_K : KQuants.q6_K
            // 4,096 blocks a chunk: enough work to be worth a thread, and many chunks for big tensors
            parallelChunks(0..<(count / n), chunk: 4096) { _, lo, hi in
                for b in lo..<hi { encode(x + b * n, out + b * size) }
            }
        }
    }

    /// `bytes` for an export: the encoded tensor is decoded again, a chunk at a time, and must
    /// hold only finite values — fp16 ends at 65,504, and the fp16 scales of the block types
    /// overflow for values some hundred times larger — else the export stops with a message
    /// naming the tensor, not a file whose weights are infinite.
    public static func checkedBytes(_ type: GGMLType, _ x: UnsafePointer<Float>, count: Int, tensor: String, file: String) throws -> [UInt8] {
        let encoded = bytes(type, x, count: count)
        let chunk = 1 << 20   // a multiple of every block size
        var decoded = [Float](repeating: 0, count: min(chunk, count))
        try encoded.withUnsafeBytes { raw in
            for start in stride(from: 0, to: count, by: chunk) {
                let n = min(chunk, count - start), byteStart = type.byteCount(elements: start)!
                let piece = UnsafeRawBufferPointer(rebasing: raw[byteStart..<(byteStart + type.byteCount(elements: n)!)])
                try decoded.withUnsafeMutableBufferPointer { out in
                    Dequantize.row(type: type, source: piece, count: n, into: out.baseAddress!)
                    if let i = (0..<n).first(where: { !out[$0].isFinite }) {
                        let biggest = (0..<count).reduce(Float(0)) { max($0, abs(x[$1])) }
                        throw ModelFileError(file: file, "tensor \(tensor) does not fit \(type.name): element \(start + i) (\(x[start + i])) becomes \(out[i]) (the tensor's largest magnitude is \(biggest)); export it as bf16 or f32")
                    }
                }
            }
        }
        return encoded
    }

    /// `count` values (whole blocks) as `type`, returned as bytes.
    public static func bytes(_ type: GGMLType, _ x: UnsafePointer<Float>, count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: type.byteCount(elements: count)!) { buffer, initialized in
            blocks(type, x, count: count, into: UnsafeMutableRawPointer(buffer.baseAddress!))
            initialized = buffer.count
        }
    }

    /// Q8_0, 32 values: d = max|x| / 127 stored as fp16, q = round(x / d) as int8 (the
    /// division uses the fp32 d; dequantization the fp16 one).
    static func q8_0(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
        var amax: Float = 0
        for j in 0..<32 { amax = max(amax, abs(x[j])) }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        out.storeBytes(of: floatToHalf(d).littleEndian, as: UInt16.self)
        for j in 0..<32 {
            out.storeBytes(of: Int8(clampedInt((x[j] * id).rounded(.toNearestOrAwayFromZero), -127, 127)), toByteOffset: 2 + j, as: Int8.self)
        }
    }

    /// Q5_0, 32 values: d = (the value of largest magnitude) / −16, q = x/d + 16 truncated
    /// (after adding 16.5) to 0…31; low nibbles in qs, fifth bits in the 32-bit qh.
    static func q5_0(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
        var amax: Float = 0, maxValue: Float = 0
        for j in 0..<32 where amax < abs(x[j]) {
            amax = abs(x[j])
            maxValue = x[j]
        }
        let d = maxValue / -16
        let id: Float = d != 0 ? 1 / d : 0
        out.storeBytes(of: floatToHalf(d).littleEndian, as: UInt16.self)
        var qh: UInt32 = 0
        for j in 0..<16 {
            // C's (int8_t)(v + 16.5f) truncates toward zero; |x·id| ≤ 16, so v + 16.5 > 0
            let xi0 = UInt8(clampedInt(x[j] * id + 16.5, 0, 31))
            let xi1 = UInt8(clampedInt(x[j + 16] * id + 16.5, 0, 31))
            out.storeBytes(of: (xi0 & 0x0F) | ((xi1 & 0x0F) << 4), toByteOffset: 6 + j, as: UInt8.self)
            qh |= UInt32((xi0 & 0x10) >> 4) << UInt32(j)
            qh |= UInt32((xi1 & 0x10) >> 4) << UInt32(j + 16)
        }
        out.storeBytes(of: qh.littleEndian, toByteOffset: 2, as: UInt32.self)
    }
}

/// `v` truncated toward zero and clamped to lo…hi, NaN as 0 — C's float-to-int conversion
/// for every value the reference meets, and no trap for the rest: a block whose largest value
/// is so small that 1/d overflows (its fp16 d is 0, so any q dequantizes to 0).
@inline(__always)
func clampedInt(_ v: Float, _ lo: Int, _ hi: Int) -> Int {
    guard !v.isNaN else { return 0 }
    if v <= Float(lo) { return lo }
    if v >= Float(hi) { return hi }
    return Int(v)
}

/// float → bfloat16 rounded to nearest even, NaN kept a (quiet) NaN — as gguf-py and
/// PyTorch convert.
public func floatToBFloat16(_ f: Float) -> UInt16 {
    let n = f.bitPattern
    if n & 0x7FFF_FFFF > 0x7F80_0000 { return UInt16(truncatingIfNeeded: ((n & 0xFFFF_0000) | (64 << 16)) >> 16) }
    return UInt16(truncatingIfNeeded: (n &+ (0x7FFF + ((n >> 16) & 1))) >> 16)
}
