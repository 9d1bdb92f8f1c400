import ModelKernels

/// One adapter's dropout mask over one pass, applied row by row: m = keep / (1 − p) or 0.
///
/// Each row's mask comes from its own stream (CounterRandom.next, seeded by the adapter's key
/// and the row's key), 16 bits per element — four elements per 64-bit draw, element 4j + k from
/// bits 16k ..< 16k + 16 of draw j. An element is dropped when its 16 bits fall below p · 65536,
/// so p is rounded to a multiple of 1/65536 and the kept elements are scaled by 1 / (1 − that p).
/// Nothing is stored: the backward asks for the same rows again and gets the same mask.
struct DropoutMask {
    let key: UInt64
    let rowKeys: UnsafePointer<UInt64>
    let threshold: UInt32
    let scale: Float

    init(key: UInt64, rowKeys: UnsafePointer<UInt64>, dropout: Float) {
        self.key = key
        self.rowKeys = rowKeys
        threshold = UInt32((Double(dropout) * 65536).rounded())
        scale = Float(65536) / Float(65536 - threshold)
    }

    /// Row r's stream state before its first draw.
    func stream(row r: Int) -> UInt64 { CounterRandom.mix(key ^ rowKeys[r]) }

    /// out[r] = src[r] ⊙ m[r] (or += with `accumulate`) for rows [lo, hi) of width `width` (a
    /// multiple of 4). ModelKernels' dropoutRow does 16 elements at a time where the CPU can;
    /// the rest of a row, and every row on other CPUs, goes through `applyScalar`, which draws
    /// the same bits and computes the same products.
    func apply(_ src: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, width: Int, rows lo: Int, _ hi: Int,
               accumulate: Bool, vector: Bool = VectorKernels.available) {
        let vectorWidth = vector ? width / 16 * 16 : 0
        for r in lo..<hi {
            let stream = stream(row: r), s = src + r * width, o = out + r * width
            if vectorWidth > 0 {
                VectorKernels.dropoutRow(s, into: o, width: vectorWidth, stream: stream, threshold: threshold, scale: scale,
                                         accumulate: accumulate)
            }
            // the kernel took one draw per 4 elements, each advancing the stream's Weyl state by γ
            applyScalar(s, into: o, from: vectorWidth, to: width, stream: stream &+ UInt64(vectorWidth / 4) &* CounterRandom.weyl,
                        accumulate: accumulate)
        }
    }

    /// Elements [from, to) of one row, `stream` the row's state before the draw of element `from`.
    func applyScalar(_ src: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, from: Int, to: Int, stream: UInt64,
                     accumulate: Bool) {
        var stream = stream
        for j in stride(from: from, to: to, by: 4) {
            let bits = CounterRandom.next(&stream)
            let draws = SIMD4<UInt32>(UInt32(truncatingIfNeeded: bits & 0xFFFF), UInt32(truncatingIfNeeded: (bits >> 16) & 0xFFFF),
                                      UInt32(truncatingIfNeeded: (bits >> 32) & 0xFFFF), UInt32(truncatingIfNeeded: bits >> 48))
            let f = SIMD4<Float>(repeating: 0).replacing(with: scale, where: draws .>= SIMD4(repeating: threshold))
            let v = UnsafeRawPointer(src + j).loadUnaligned(as: SIMD4<Float>.self) * f
            let o = UnsafeMutableRawPointer(out + j)
            o.storeBytes(of: accumulate ? o.loadUnaligned(as: SIMD4<Float>.self) + v : v, as: SIMD4<Float>.self)
        }
    }
}
