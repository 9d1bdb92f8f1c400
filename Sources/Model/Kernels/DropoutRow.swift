// LoRA's dropout masks (Model/Adapters/DropoutMask.swift) 16 elements at a time, with the same draws
// as DropoutMask's scalar loop: one 64-bit number per 4 elements from CounterRandom.next's stream,
// element 4j + k kept when bits 16k ..< 16k + 16 of draw j reach the threshold, kept elements
// multiplied by the same factor — so either gives the same x̃, bit for bit. The stream is a Weyl
// sequence (draw j mixes state₀ + (j + 1)·γ), so four consecutive draws are one vector of states,
// and on little-endian x86-64 and arm64 their 16-bit pieces, read as sixteen UInt16, are already in
// element order. (Built without AVX2, Model's scalar loop spent ≈1.5 ns per element.)

private let weyl: UInt64 = 0x9E37_79B9_7F4A_7C15
private let mixer: UInt64 = 0xD6E8_FEB8_6659_FD93

/// The factors (kept: `scale`, dropped: 0) of 16 elements of a row from their four draws, whose
/// Weyl states are `states`.
@inline(__always)
private func factors16(_ states: SIMD4<UInt64>, threshold: SIMD8<Int32>, scale: Float) -> (SIMD8<Float>, SIMD8<Float>) {
    var z = states ^ (states &>> 32)
    z = z &* SIMD4(repeating: mixer)
    z ^= z &>> 32
    let pieces = unsafeBitCast(z, to: SIMD16<UInt16>.self)
    let low = widen(pieces.lowHalf), high = widen(pieces.highHalf)
    let zero = SIMD8<Float>(), kept = SIMD8<Float>(repeating: scale)
    return (zero.replacing(with: kept, where: low .>= threshold), zero.replacing(with: kept, where: high .>= threshold))
}

@inline(__always)
private func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

extension VectorKernels {
    /// One row of a dropout mask applied: out[i] = x[i] · m[i] for i in 0..<width (a multiple of
    /// 16), or out[i] += x[i] · m[i] with `accumulate`; m[i] is `scale` or 0 as described above,
    /// `stream` the row's stream state before its first draw, `threshold` the draw below which
    /// an element is dropped (at most 65536: every element).
    @inline(never)
    public static func dropoutRow(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, width: Int, stream: UInt64,
                                  threshold: UInt32, scale: Float, accumulate: Bool) {
        let t = SIMD8<Int32>(repeating: Int32(truncatingIfNeeded: min(threshold, 65536)))
        var states = SIMD4<UInt64>(repeating: stream) &+ SIMD4<UInt64>(1, 2, 3, 4) &* SIMD4(repeating: weyl)
        let advance = SIMD4<UInt64>(repeating: 4 &* weyl)
        var i = 0
        while i < width {
            let (m0, m1) = factors16(states, threshold: t, scale: scale)
            var y0 = load8(x + i) * m0, y1 = load8(x + i + 8) * m1
            if accumulate {
                y0 = load8(out + i) + y0
                y1 = load8(out + i + 8) + y1
            }
            store8(y0, out + i)
            store8(y1, out + i + 8)
            states &+= advance
            i += 16
        }
    }
}
