import Foundation
import Model

/// A 64-bit fingerprint of a float buffer's exact bits, computed on all cores: ranks compare
/// it to prove their replicas are identical (any drift changes it).
public enum ParameterChecksum {
    public static func of(_ buffer: FloatBuffer) -> UInt64 {
        let words = UnsafeRawPointer(buffer.pointer).assumingMemoryBound(to: UInt32.self)
        let partial = parallelChunkResults(buffer.count, initial: UInt64(0)) { c, lo, hi -> UInt64 in
            // four independent lanes keep the multiply chain from serialising
            var h0: UInt64 = 0xCBF2_9CE4_8422_2325, h1 = h0 ^ 1, h2 = h0 ^ 2, h3 = h0 ^ 3
            var i = lo
            while i + 4 <= hi {
                h0 = (h0 ^ UInt64(words[i])) &* 0x100_0000_01B3
                h1 = (h1 ^ UInt64(words[i + 1])) &* 0x100_0000_01B3
                h2 = (h2 ^ UInt64(words[i + 2])) &* 0x100_0000_01B3
                h3 = (h3 ^ UInt64(words[i + 3])) &* 0x100_0000_01B3
                i += 4
            }
            while i < hi { h0 = (h0 ^ UInt64(words[i])) &* 0x100_0000_01B3; i += 1 }
            return (h0 &+ h1 &* 3 &+ h2 &* 5 &+ h3 &* 7) ^ UInt64(c)
        }
        return partial.enumerated().reduce(UInt64(buffer.count)) { ($0 ^ $1.element) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64($1.offset) }
    }

    public static func hex(_ v: UInt64) -> String { String(format: "%016llx", v) }
}
