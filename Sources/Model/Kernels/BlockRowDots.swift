// y[r] = W[r] · x for one row of x — a single decoding sequence — straight from W's ggml blocks.
// Each group of 8 quantized values is widened and converted in registers and multiplied with x
// there; the block's scale is applied once per block (ggml's vec_dot does the same), not once per
// element: Σ_e (d·q_e)·x_e is computed as d·Σ_e q_e·x_e, and a K-quant's min term as
// min·Σ_e x_e. That halves the arithmetic per weight, which is what lets the 262,144 × 640 head
// run at the memory's speed on 2 cores (measured 6.6–7.4 ms instead of 16 ms per token). The
// values are the dequantized weights exactly; only rounding differs from the fp32 product
// (within 1e-5 of Σ|w·x|, VectorKernelsTests). Unlike llama.cpp, x stays fp32: nothing is
// quantized to 8 bits (greedy decoding's screen of a Q8_0 head does quantize x, in
// IntegerRowDots.swift, and then recomputes its few candidates here). Each row's successors are
// prefetched 2 KB ahead (KernelsInC.h): without it the head's pass took 7.2 instead of 6.0 ms.

import KernelsInC

extension VectorKernels {
    /// The block formats with a vector loop.
    public enum BlockFormat {
        case q8_0, q5_0, q4_K, q6_K
        /// Elements per block.
        public var blockElements: Int { self == .q8_0 || self == .q5_0 ? 32 : 256 }
    }

    /// Dequantizes `blocks` blocks of `format` at x into y.
    public static func dequantize(_ format: BlockFormat, _ x: UnsafeRawPointer, blocks: Int, into y: UnsafeMutablePointer<Float>) {
        switch format {
        case .q8_0: dequantizeQ8_0(x, blocks: blocks, into: y)
        case .q5_0: dequantizeQ5_0(x, blocks: blocks, into: y)
        case .q4_K: dequantizeQ4_K(x, blocks: blocks, into: y)
        case .q6_K: dequantizeQ6_K(x, blocks: blocks, into: y)
        }
    }

    /// y[r] = W[r] · x for r in `rows`: W's rows start `rowBytes` apart at `w`, each `inputs`
    /// elements of `format`; x [inputs] fp32.
    @inline(never)
    public static func rowDots(_ format: BlockFormat, _ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, rowBytes: Int,
                               _ x: UnsafePointer<Float>, inputs: Int, rows: Range<Int>) {
        let blocks = inputs / format.blockElements
        /// Row r, once the bytes 2 KB beyond it are on their way (KernelsInC.h's prefetchAhead:
        /// the hardware prefetcher alone left the loops short of the memory's speed).
        @inline(__always) func row(_ r: Int) -> UnsafeRawPointer {
            let start = w + r * rowBytes
            prefetchAhead(start, rowBytes)
            return start
        }
        switch format {
        case .q8_0: for r in rows { y[r] = dotQ8_0(row(r), x, blocks: blocks) }
        case .q5_0:
            q5FifthBits.withUnsafeBufferPointer { table in
                for r in rows { y[r] = dotQ5_0(row(r), x, blocks: blocks, table.baseAddress!) }
            }
        case .q6_K:
            withUnsafeTemporaryAllocation(byteCount: 128 + 64, alignment: 32) { buffer in
                for r in rows { y[r] = dotQ6_K(row(r), x, blocks: blocks, UnsafeMutableRawPointer(buffer.baseAddress!)) }
            }
        case .q4_K:
            withBlockSums(x, inputs: inputs) { xSums in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 8) { scales in
                    for r in rows { y[r] = dotQ4_K(row(r), x, xSums, blocks: blocks, scales.baseAddress!) }
                }
            }
        }
    }

    /// body(Σ x over each 32 elements of x): the offset and min terms of every row.
    @inline(__always)
    private static func withBlockSums(_ x: UnsafePointer<Float>, inputs: Int, _ body: (UnsafePointer<Float>) -> Void) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: inputs / 32) { sums in
            let xSums = sums.baseAddress!
            for j in 0..<inputs / 32 {
                let p = x + 32 * j
                xSums[j] = ((load8(p) + load8(p + 8)) + (load8(p + 16) + load8(p + 24))).sum()
            }
            body(xSums)
        }
    }

    @inline(__always)
    private static func dotQ8_0(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        @inline(__always) func block(_ b: Int) -> (SIMD8<Float>, SIMD8<Float>) {
            let q = row + b * 34 + 2, xb = x + 32 * b
            let s = twoProducts(float(q.loadUnaligned(as: SIMD8<Int8>.self)), load8(xb),
                                float(q.loadUnaligned(fromByteOffset: 8, as: SIMD8<Int8>.self)), load8(xb + 8))
                + twoProducts(float(q.loadUnaligned(fromByteOffset: 16, as: SIMD8<Int8>.self)), load8(xb + 16),
                              float(q.loadUnaligned(fromByteOffset: 24, as: SIMD8<Int8>.self)), load8(xb + 24))
            return (s, SIMD8<Float>(repeating: half(row + b * 34)))
        }
        return sumOverBlocks(blocks, block)
    }

    @inline(__always)
    private static func dotQ5_0(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int,
                                _ table: UnsafePointer<SIMD8<UInt32>>) -> Float {
        @inline(__always) func block(_ b: Int) -> (SIMD8<Float>, SIMD8<Float>) {
            let block = row + b * 22, xb = x + 32 * b
            let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            let (low, high) = nibbles16(block, 6)
            let s = twoProducts(q5Values(low.lowHalf, qh, 0, table), load8(xb), q5Values(low.highHalf, qh, 1, table), load8(xb + 8))
                + twoProducts(q5Values(high.lowHalf, qh, 2, table), load8(xb + 16), q5Values(high.highHalf, qh, 3, table), load8(xb + 24))
            return (s, SIMD8<Float>(repeating: half(block)))
        }
        return sumOverBlocks(blocks, block)
    }

    /// `xSums[j]`: Σ x over sub-block j (32 elements) of the whole row. `scales`: 8 floats of
    /// scratch for a block's d·sc.
    @inline(__always)
    private static func dotQ4_K(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ xSums: UnsafePointer<Float>,
                                blocks: Int, _ scales: UnsafeMutablePointer<Float>) -> Float {
        var low = SIMD8<Float>(), high = SIMD8<Float>(), minTerms = SIMD8<Float>()
        for b in 0..<blocks {
            let block = row + b * 144, xb = x + 256 * b
            // the 8 scales and mins as vectors (the same products d·sc and dmin·m as one at a
            // time), kept in memory so that each is then broadcast by a load, not a shuffle
            let (sc, m) = scalesAndMins(block + 4)  // (DequantizeBlocks.swift)
            let dMin = SIMD8<Float>(repeating: half(block, 2)) * float(widen(m))
            store(SIMD8<Float>(repeating: half(block)) * float(widen(sc)), scales)
            // the min terms of all 8 sub-blocks at once: Σ_j (dmin · m_j) · Σ x over sub-block j
            minTerms.addProduct(dMin, load8(xSums + 8 * b))
            // sub-blocks 2p (low nibbles) and 2p + 1 (high nibbles) share 32 bytes; written out
            // four times rather than looped. The sums go in and out as inout arguments: a local
            // function that mutates captured variables got a dynamic exclusivity check (a
            // swift_beginAccess call) per use.
            @inline(__always) func pair(_ p: Int, _ low: inout SIMD8<Float>, _ high: inout SIMD8<Float>) {
                let q = block + 16 + 32 * p, xp = xb + 64 * p
                let a0 = bytes8(q, 0), a1 = bytes8(q, 8), a2 = bytes8(q, 16), a3 = bytes8(q, 24)
                let lo = twoProducts(float(a0 & 0x0F), load8(xp), float(a1 & 0x0F), load8(xp + 8))
                    + twoProducts(float(a2 & 0x0F), load8(xp + 16), float(a3 & 0x0F), load8(xp + 24))
                let hi = twoProducts(float(a0 &>> 4), load8(xp + 32), float(a1 &>> 4), load8(xp + 40))
                    + twoProducts(float(a2 &>> 4), load8(xp + 48), float(a3 &>> 4), load8(xp + 56))
                low.addProduct(lo, SIMD8<Float>(repeating: scales[2 * p]))
                high.addProduct(hi, SIMD8<Float>(repeating: scales[2 * p + 1]))
            }
            pair(0, &low, &high); pair(1, &low, &high); pair(2, &low, &high); pair(3, &low, &high)
        }
        return (low + high).sum() - minTerms.sum()
    }

    /// `q`: 128 bytes of scratch for a half block's values (q6TimesFour), then 16 floats for the
    /// block's scales.
    @inline(__always)
    private static func dotQ6_K(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int, _ q: UnsafeMutableRawPointer) -> Float {
        var s0 = SIMD8<Float>(), s1 = SIMD8<Float>()
        let scales = (q + 128).bindMemory(to: Float.self, capacity: 16)
        // the sums as inout arguments, not captured (see dotQ4_K)
        @inline(__always) func block(_ b: Int, _ s0: inout SIMD8<Float>, _ s1: inout SIMD8<Float>) {
            let block = row + b * 210
            // (d · scale) / 4 exactly: the bytes hold 4·(q − 32), so every sum below is 4 times
            // that of the values, exactly, and the product with the scale the same. All 16 as
            // vectors, kept in memory so that each is then broadcast by a load.
            let quarterD = SIMD8<Float>(repeating: half(block, 208) * 0.25)
            store(quarterD * float(block.loadUnaligned(fromByteOffset: 192, as: SIMD8<Int8>.self)), scales)
            store(quarterD * float(block.loadUnaligned(fromByteOffset: 200, as: SIMD8<Int8>.self)), scales + 8)
            for h in 0..<2 {
                let sc = scales + 8 * h
                let xh = x + 256 * b + 128 * h
                q6TimesFour(block + 64 * h, block + 128 + 32 * h, into: q)
                // 16 elements share a scale: l in 16·g ..< 16·g + 16 of each quarter (q1…q4).
                for g in 0..<2 {
                    let l = 16 * g
                    let q1 = twoProducts(float8(q, l), load8(xh + l), float8(q, l + 8), load8(xh + l + 8))
                    let q2 = twoProducts(float8(q, 32 + l), load8(xh + 32 + l), float8(q, 40 + l), load8(xh + 40 + l))
                    let q3 = twoProducts(float8(q, 64 + l), load8(xh + 64 + l), float8(q, 72 + l), load8(xh + 72 + l))
                    let q4 = twoProducts(float8(q, 96 + l), load8(xh + 96 + l), float8(q, 104 + l), load8(xh + 104 + l))
                    s0.addProduct(q1, SIMD8<Float>(repeating: sc[g]))
                    s1.addProduct(q2, SIMD8<Float>(repeating: sc[g + 2]))
                    s0.addProduct(q3, SIMD8<Float>(repeating: sc[g + 4]))
                    s1.addProduct(q4, SIMD8<Float>(repeating: sc[g + 6]))
                }
            }
        }
        var b = 0
        while b + 2 <= blocks { block(b, &s0, &s1); block(b + 1, &s0, &s1); b += 2 }
        if b < blocks { block(b, &s0, &s1) }
        return (s0 + s1).sum()
    }
}
