import Report

// Exact port of CPython's `random.Random(seed)` (Modules/_randommodule.c + Lib/random.py)
// for the parts the batch order needs: seeding from an int, getrandbits, _randbelow and
// shuffle. Why a port rather than any good RNG: the reference trajectory's batches are
// `random.Random(42).shuffle(range(10003))`, and matching its losses step for step needs
// the very same permutation.

/// Mersenne Twister MT19937 with CPython's seeding and sampling.
public struct PythonRandom: Sendable {
    private static let n = 624, m = 397
    private static let matrixA: UInt32 = 0x9908_B0DF
    private static let upperMask: UInt32 = 0x8000_0000, lowerMask: UInt32 = 0x7FFF_FFFF

    private var mt = [UInt32](repeating: 0, count: 624)
    private var index = 625

    /// `random.Random(seed)` for an int seed. CPython seeds with |seed| split into 32-bit
    /// words, least significant first (42 → [42], 0 → [0], 2^32 → [0, 1]).
    public init(seed: Int) {
        let m = UInt64(seed.magnitude)
        let low = UInt32(truncatingIfNeeded: m), high = UInt32(truncatingIfNeeded: m >> 32)
        self.init(key: high == 0 ? [low] : [low, high])
    }

    /// MT19937 `init_by_array(key)`; CPython uses it for every int seed.
    public init(key: [UInt32]) {
        let key = key.isEmpty ? [0] : key
        initGenrand(19_650_218)
        let n = Self.n
        var i = 1, j = 0
        for _ in 0..<max(n, key.count) {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) &* 1_664_525)) &+ key[j] &+ UInt32(truncatingIfNeeded: j)
            i += 1; j += 1
            if i >= n { mt[0] = mt[n - 1]; i = 1 }
            if j >= key.count { j = 0 }
        }
        for _ in 0..<(n - 1) {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) &* 1_566_083_941)) &- UInt32(truncatingIfNeeded: i)
            i += 1
            if i >= n { mt[0] = mt[n - 1]; i = 1 }
        }
        mt[0] = 0x8000_0000  // MSB is 1, assuring a non-zero initial array
    }

    private mutating func initGenrand(_ s: UInt32) {
        mt[0] = s
        for i in 1..<Self.n {
            mt[i] = 1_812_433_253 &* (mt[i - 1] ^ (mt[i - 1] >> 30)) &+ UInt32(i)
        }
        index = Self.n
    }

    /// Regenerates the 624 words of state (the "twist").
    private mutating func twist() {
        let n = Self.n, m = Self.m
        func mix(_ a: UInt32, _ b: UInt32, _ c: UInt32) -> UInt32 {
            let y = (a & Self.upperMask) | (b & Self.lowerMask)
            return c ^ (y >> 1) ^ ((y & 1) != 0 ? Self.matrixA : 0)
        }
        for k in 0..<(n - m) { mt[k] = mix(mt[k], mt[k + 1], mt[k + m]) }
        for k in (n - m)..<(n - 1) { mt[k] = mix(mt[k], mt[k + 1], mt[k + m - n]) }
        mt[n - 1] = mix(mt[n - 1], mt[0], mt[m - 1])
        index = 0
    }

    /// Next tempered 32-bit output (`genrand_uint32`).
    public mutating func nextUInt32() -> UInt32 {
        if index >= Self.n { twist() }
        var y = mt[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// `random.random()`: a double in [0, 1) from 53 random bits.
    public mutating func random() -> Double {
        let a = UInt64(nextUInt32() >> 5), b = UInt64(nextUInt32() >> 6)
        return Double(a * 67_108_864 + b) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `random.getrandbits(k)` for 0 ≤ k ≤ 64. Words are filled least significant first;
    /// the last (partial) word keeps the top bits of its output.
    public mutating func getrandbits(_ k: Int) throws -> UInt64 {
        guard (0...64).contains(k) else { throw MessageError.invalidArgument("getrandbits(\(k)): k must be in 0...64") }
        return bits(k)
    }

    /// `random._randbelow(n)` (the getrandbits rejection sampler) for 1 ≤ n ≤ 2^63-1.
    public mutating func randbelow(_ n: Int) throws -> Int {
        guard n >= 1 else { throw MessageError.invalidArgument("randbelow(\(n)): n must be positive") }
        return below(n)
    }

    /// `random.shuffle(x)`: Fisher-Yates from the back, j = _randbelow(i + 1).
    public mutating func shuffle<T>(_ x: inout [T]) {
        guard x.count > 1 else { return }
        for i in stride(from: x.count - 1, through: 1, by: -1) {
            let j = below(i + 1)
            x.swapAt(i, j)
        }
    }

    // Unchecked cores (arguments validated by the callers above).
    private mutating func bits(_ k: Int) -> UInt64 {
        if k == 0 { return 0 }  // CPython ≥ 3.9 returns 0 without consuming output
        if k <= 32 { return UInt64(nextUInt32() >> UInt32(32 - k)) }
        let low = UInt64(nextUInt32())
        let high = UInt64(nextUInt32() >> UInt32(64 - k))
        return low | (high << 32)
    }

    private mutating func below(_ n: Int) -> Int {
        let k = Int.bitWidth - n.leadingZeroBitCount  // n.bit_length()
        var r = bits(k)
        while r >= UInt64(n) { r = bits(k) }
        return Int(r)
    }
}
