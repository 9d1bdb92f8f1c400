#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

// Vectorised exp and tanh for the elementwise kernels (GELU, softmax). libm's expf/tanhf
// are scalar calls and dominated the non-matmul time. Range reduction and polynomial follow
// Cephes' expf: relative error ≈ 2 ulp, far below what the parity tests resolve.

public typealias Float8 = SIMD8<Float>

/// Lane-wise IEEE square root. `SIMD8<Float>.squareRoot()` compiles to eight scalar `sqrtf`
/// calls on x86-64 (it keeps libm's errno path), which made AdamW twice as slow as its memory
/// traffic; SSE's `sqrtps` is exact too and takes 4 lanes at once.
@inlinable @inline(__always)
public func sqrt8(_ x: Float8) -> Float8 {
    #if arch(x86_64)
    return onHalves(x, x) { a, _ in _mm_sqrt_ps(a) }
    #else
    return x.squareRoot()
    #endif
}

/// Lane-wise min and max. The generic `pointwiseMin`/`pointwiseMax` are not inlined into
/// our kernels; each call compares eight lanes one by one in a separate function (2–3% of a
/// step's samples in `perf`). SSE's `minps`/`maxps` take 4 lanes at once; like the generic
/// ones they return the bound when `x` is NaN — but a NaN `bound` comes out as NaN, so the
/// value that may be NaN goes first.
@inlinable @inline(__always)
public func min8(_ x: Float8, _ bound: Float8) -> Float8 {
    #if arch(x86_64)
    return onHalves(x, bound, _mm_min_ps)
    #else
    return pointwiseMin(x, bound)
    #endif
}

@inlinable @inline(__always)
public func max8(_ x: Float8, _ bound: Float8) -> Float8 {
    #if arch(x86_64)
    return onHalves(x, bound, _mm_max_ps)
    #else
    return pointwiseMax(x, bound)
    #endif
}

/// An SSE instruction applied to both 4-lane halves of 8 lanes (the build targets baseline
/// x86-64, where `Float8` is two SSE registers).
@inlinable @inline(__always)
func onHalves(_ x: Float8, _ y: Float8, _ op: (SIMD4<Float>, SIMD4<Float>) -> SIMD4<Float>) -> Float8 {
    Float8(lowHalf: op(x.lowHalf, y.lowHalf), highHalf: op(x.highHalf, y.highHalf))
}

private let log2e: Float = 1.44269504088896341
private let ln2Hi: Float = 0.693359375
private let ln2Lo: Float = -2.12194440e-4
private let roundingMagic: Float = 12_582_912  // 1.5 · 2²³
private let roundingMagicBits = SIMD8<Int32>(repeating: Int32(bitPattern: roundingMagic.bitPattern))

@inline(__always)
public func exp8(_ xIn: Float8) -> Float8 {
    let x = min8(max8(xIn, Float8(repeating: -87.3)), Float8(repeating: 88.7))
    // round to nearest with the 1.5·2²³ trick: plain SSE2, and n's integer sits in the low bits
    let shifted = x * log2e + roundingMagic
    let n = shifted - roundingMagic
    let r = x - n * ln2Hi - n * ln2Lo
    var p = Float8(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    p = p * r * r + r + Float(1)
    // 2^n from the exponent bits
    let bits = (unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- roundingMagicBits &+ 127) &<< 23
    return p * unsafeBitCast(bits, to: Float8.self)
}

/// tanh(y) = sign(y) · (1 − e^(−2|y|)) / (1 + e^(−2|y|)); its absolute error (≈1e-7) is what
/// GELU sees, as it uses 1 + tanh.
@inline(__always)
public func tanh8(_ y: Float8) -> Float8 {
    let magnitude = y.replacing(with: -y, where: y .< 0)
    let e = exp8(Float(-2) * magnitude)
    let t = (Float(1) - e) / (Float(1) + e)
    return t.replacing(with: -t, where: y .< 0)
}

/// Scalar versions for tails of arrays.
@inline(__always)
public func fastExp(_ x: Float) -> Float { exp8(Float8(repeating: x))[0] }
@inline(__always)
public func fastTanh(_ x: Float) -> Float { tanh8(Float8(repeating: x))[0] }

@inlinable @inline(__always)
func load8(_ p: UnsafePointer<Float>) -> Float8 {
    UnsafeRawPointer(p).loadUnaligned(as: Float8.self)
}

@inlinable @inline(__always)
func store8(_ v: Float8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Float8.self)
}

extension SIMD8 where Scalar == Float {
    /// Unaligned 8-float load and store, for kernels outside this module (inlinable: AdamW,
    /// the gradient norm and the host reduction call them for every 8 floats).
    @inlinable @inline(__always) public static func load(_ p: UnsafePointer<Float>) -> Float8 { load8(p) }
    @inlinable @inline(__always) public static func load(_ p: UnsafeMutablePointer<Float>) -> Float8 { load8(p) }
    @inlinable @inline(__always) public func store(_ p: UnsafeMutablePointer<Float>) { store8(self, p) }
}
