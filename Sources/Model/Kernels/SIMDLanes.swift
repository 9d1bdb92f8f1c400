// What the vector loops share: loads and conversions of 8 lanes, Q5_0's fifth bits. Internal
// to ModelKernels and always inlined, so they are compiled with this module's CPU flags only.

@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

/// The fp16 at p + offset as fp32 (exact): F16C's conversion. Intel macOS has no Float16 type;
/// there the kernels are never called (`available` is false), and this only has to compile.
@inline(__always)
func half(_ p: UnsafeRawPointer, _ offset: Int = 0) -> Float {
    let bits = UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    #if os(macOS) && arch(x86_64)
    let sign: Float = bits & 0x8000 != 0 ? -1 : 1
    let exponent = Int((bits >> 10) & 0x1F), mantissa = Float(bits & 0x3FF)
    if exponent == 0 { return sign * mantissa * 0x1p-24 }
    if exponent == 31 { return mantissa == 0 ? sign * .infinity : .nan }
    return sign * (1 + mantissa / 1024) * Float(sign: .plus, exponent: exponent - 15, significand: 1)
    #else
    return Float(Float16(bitPattern: bits))
    #endif
}

@inline(__always)
func bytes8(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD8<UInt32> {
    widen(p.loadUnaligned(fromByteOffset: offset, as: SIMD8<UInt8>.self))
}

// The conversions between lane types, written lane by lane: LLVM turns each into one instruction
// (vpmovzxbd, vpmovsxbd, vpmovzxwd, vcvtdq2ps). The standard library's generic
// SIMD8(truncatingIfNeeded:) and SIMD8<Float>(_:) compile to the same instructions, but the
// optimizer left them as out-of-line calls in some of the loops below — a call, with vzeroupper,
// for every 8 elements: 4 per Q5_0 block and 7 per 32 Q6_K elements in dequantization.

/// Eight bytes zero-extended to 32-bit lanes.
@inline(__always)
func widen(_ v: SIMD8<UInt8>) -> SIMD8<UInt32> {
    SIMD8(UInt32(v[0]), UInt32(v[1]), UInt32(v[2]), UInt32(v[3]), UInt32(v[4]), UInt32(v[5]), UInt32(v[6]), UInt32(v[7]))
}

/// Eight signed bytes sign-extended to 32-bit lanes.
@inline(__always)
func widen(_ v: SIMD8<Int8>) -> SIMD8<Int32> {
    SIMD8(Int32(v[0]), Int32(v[1]), Int32(v[2]), Int32(v[3]), Int32(v[4]), Int32(v[5]), Int32(v[6]), Int32(v[7]))
}

/// Eight 16-bit lanes zero-extended to 32 bits.
@inline(__always)
func widen(_ v: SIMD8<UInt16>) -> SIMD8<Int32> {
    SIMD8(Int32(v[0]), Int32(v[1]), Int32(v[2]), Int32(v[3]), Int32(v[4]), Int32(v[5]), Int32(v[6]), Int32(v[7]))
}

@inline(__always)
func float(_ v: SIMD8<Int32>) -> SIMD8<Float> {
    SIMD8(Float(v[0]), Float(v[1]), Float(v[2]), Float(v[3]), Float(v[4]), Float(v[5]), Float(v[6]), Float(v[7]))
}

/// The same bits read as Int32, then converted (every caller's lanes are small integers).
@inline(__always)
func float(_ v: SIMD8<UInt32>) -> SIMD8<Float> { float(unsafeBitCast(v, to: SIMD8<Int32>.self)) }

@inline(__always)
func float(_ v: SIMD8<Int8>) -> SIMD8<Float> { float(widen(v)) }

/// a·b + c·d over 8 lanes, one product rounded then fused with the other.
@inline(__always)
func twoProducts(_ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>, _ d: SIMD8<Float>) -> SIMD8<Float> {
    var s = a * b
    s.addProduct(c, d)
    return s
}

/// Q5_0's fifth bits, ready to be OR-ed with 8 nibbles: entry `byte` holds, for lane l,
/// 0x4B00_0000 | ((byte >> l) & 1) << 4 — the bits of the float 2²³ + 16·bit — so that
/// `table[byte] | nibbles`, read as floats, is 2²³ + q exactly (q = nibble | bit << 4), and
/// subtracting 2²³ + 16 leaves q − 16. One load, one OR and one subtraction per 8 elements,
/// all whole-register operations; shifting qh per lane and converting integers instead compiles,
/// through Swift's SIMD types, into scalarised code (measured 1.9–4 G weights/s against 11 for
/// Q8_0's plain sign extension).
let q5FifthBits: [SIMD8<UInt32>] = (0..<256).map { byte in
    var v = SIMD8<UInt32>()
    for lane in 0..<8 { v[lane] = 0x4B00_0000 | UInt32((byte >> lane) & 1) << 4 }
    return v
}

/// The values q − 16 of Q5_0 elements 8k ..< 8k + 8 (k = 0...3) as fp32, from their nibbles and
/// byte k of qh (see q5FifthBits).
@inline(__always)
func q5Values(_ nibbles: SIMD8<UInt8>, _ qh: UInt32, _ k: Int, _ table: UnsafePointer<SIMD8<UInt32>>) -> SIMD8<Float> {
    let bits = widen(nibbles) | table[Int((qh >> UInt32(8 * k)) & 0xFF)]
    return unsafeBitCast(bits, to: SIMD8<Float>.self) - 8_388_624
}

/// 4·(q − 32) for the 128 elements of one half of a Q6_K block (64 bytes of ql, 32 of qh), as
/// signed bytes into `out`: elements 0–31, 32–63, 64–95, 96–127 of the half in order. (ggml's
/// layout: element l of quarter j has 4 low bits from a nibble of ql[l] (j = 0, 2) or
/// ql[32 + l] (j = 1, 3), low nibble first, and 2 high bits from bits 2j, 2j + 1 of qh[l].)
/// The 6-bit q sits in bits 2–7 of its byte with its top bit flipped — q − 32 in two's
/// complement, times 4 — so that a sign extension gives the value with no subtraction, and the
/// bytes are assembled 32 per instruction (in 32-bit lanes: the masks drop the bits that
/// cross bytes) before being widened 8 at a time. Callers fold the 4 into the scale, a power of
/// two: the products and sums are those of q − 32, scaled by 4, exactly.
@inline(__always)
func q6TimesFour(_ ql: UnsafeRawPointer, _ qh: UnsafeRawPointer, into out: UnsafeMutableRawPointer) {
    let a = ql.loadUnaligned(as: SIMD8<UInt32>.self), c = ql.loadUnaligned(fromByteOffset: 32, as: SIMD8<UInt32>.self)
    let h = qh.loadUnaligned(as: SIMD8<UInt32>.self)
    let low: SIMD8<UInt32> = .init(repeating: 0x3C3C_3C3C), high: SIMD8<UInt32> = .init(repeating: 0xC0C0_C0C0)
    let flip: SIMD8<UInt32> = .init(repeating: 0x8080_8080)
    out.storeBytes(of: ((a &<< 2) & low) | ((h &<< 6) & high) ^ flip, as: SIMD8<UInt32>.self)
    out.storeBytes(of: ((c &<< 2) & low) | ((h &<< 4) & high) ^ flip, toByteOffset: 32, as: SIMD8<UInt32>.self)
    out.storeBytes(of: ((a &>> 2) & low) | ((h &<< 2) & high) ^ flip, toByteOffset: 64, as: SIMD8<UInt32>.self)
    out.storeBytes(of: ((c &>> 2) & low) | (h & high) ^ flip, toByteOffset: 96, as: SIMD8<UInt32>.self)
}

/// The 8 signed bytes at p + offset as fp32.
@inline(__always)
func float8(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD8<Float> {
    float(p.loadUnaligned(fromByteOffset: offset, as: SIMD8<Int8>.self))
}

/// 16 bytes' low and high nibbles, split in the byte lanes of one 128-bit register. (Splitting
/// them after widening to 32-bit lanes lets LLVM narrow the masks back to bytes and scalarise.)
@inline(__always)
func nibbles16(_ p: UnsafeRawPointer, _ offset: Int) -> (low: SIMD16<UInt8>, high: SIMD16<UInt8>) {
    let q = p.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt8>.self)
    return (q & 0x0F, (q &>> 4) & 0x0F)
}

/// Stores 8 lanes at y.
@inline(__always)
func store(_ v: SIMD8<Float>, _ y: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(y).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// Σ_b d_b · s_b over a row's blocks, `block(b)` giving (s_b, d_b): two blocks per iteration into
/// two partial sums. (A plain loop over blocks is taken apart by LLVM's loop vectorizer, which
/// then vectorizes across blocks instead: measured 2× slower for Q5_0.)
@inline(__always)
func sumOverBlocks(_ blocks: Int, _ block: (Int) -> (SIMD8<Float>, SIMD8<Float>)) -> Float {
    var even = SIMD8<Float>(), odd = SIMD8<Float>()
    var b = 0
    while b + 2 <= blocks {
        let (s0, d0) = block(b), (s1, d1) = block(b + 1)
        even.addProduct(s0, d0)
        odd.addProduct(s1, d1)
        b += 2
    }
    if b < blocks {
        let (s, d) = block(b)
        even.addProduct(s, d)
    }
    return (even + odd).sum()
}
