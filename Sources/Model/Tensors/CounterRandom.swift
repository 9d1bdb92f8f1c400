/// Random numbers that are a pure function of a key: `bits(key, index)` mixes both with
/// SplitMix64's finalizer. No state and no order: every rank, thread and pass that asks for the
/// same (key, index) gets the same number, so an adapter's initial values and a dropout mask
/// never depend on how the work was split.
public enum CounterRandom {
    @inline(__always)
    public static func mix(_ z0: UInt64) -> UInt64 {
        var z = z0 &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A key made of several parts (seed, step, layer, …).
    @inline(__always)
    public static func key(_ parts: UInt64...) -> UInt64 { parts.reduce(0x5851_F42D_4C95_7F2D) { mix($0 ^ $1) } }

    @inline(__always)
    public static func bits(_ key: UInt64, _ index: Int) -> UInt64 { mix(key ^ mix(UInt64(bitPattern: Int64(index)))) }

    /// Uniform in [0, 1) with 24 random bits (every value exact in fp32).
    @inline(__always)
    public static func uniform(_ key: UInt64, _ index: Int) -> Float { Float(bits(key, index) >> 40) * 0x1p-24 }

    /// The Weyl sequence's increment γ (2⁶⁴ / φ): `next` adds it to the state before mixing.
    public static let weyl: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// The next 64 bits of a stream that `state` seeds (a Weyl sequence through a short
    /// mixer): cheap enough for one draw per few elements of a dropout mask. Draw j mixes
    /// state₀ + (j + 1)·γ, so ModelKernels' dropoutRow computes four draws at once.
    @inline(__always)
    public static func next(_ state: inout UInt64) -> UInt64 {
        state &+= weyl
        var z = state
        z = (z ^ (z >> 32)) &* 0xD6E8_FEB8_6659_FD93
        return z ^ (z >> 32)
    }
}
