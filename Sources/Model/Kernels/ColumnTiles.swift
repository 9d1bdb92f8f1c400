// y[n, o] = x[n, i] · W[o, i]ᵀ for a prompt's rows (5 to 64 of them): six rows of W at a time,
// held in L1, against x transposed to columns. For each input k, six weights are broadcast
// and multiplied with 16 columns of xᵀ (two 8-lane registers): 12 accumulators, 12 fused
// multiply-adds per 8 loads, so the loop is bound by the FMA units, not by loads. W is read
// from memory once per product — sgemm at these sizes spends a pass packing W and then
// computes with the same FMA units. (Measured on this machine, 2 threads, a 40-token prompt
// through the 270M model: 87–99 ms instead of 110–126 through sgemm on the Q4_K_M file,
// ≈95 GFLOP/s per core in this loop.) Rounding differs from sgemm's (one FMA per term, in
// the order of k); the values are the same products.

/// Rows of W per tile: 6 broadcasts + 2 column loads + 12 accumulators fit the 16 vector registers.
public let columnTileRows = 6

extension VectorKernels {
    /// The row length of xᵀ for `rows` rows of x: rows rounded up to whole 8-lane registers.
    public static func transposedColumns(rows: Int) -> Int { (rows + 7) / 8 * 8 }

    /// xT[k · columns + s] = x[s · inputs + k] for s < rows, 0 for rows ≤ s < columns, for the
    /// inputs k in `inputRange` (all of them by default), so
    /// that several threads can share one transposition. Blocks of 8 rows × 8 inputs are
    /// transposed in registers (read along x's rows, written along xT's): a scalar loop spent
    /// 6 ms of a 40-token prompt's 85 here, on one core.
    @inline(never)
    public static func transpose(_ x: UnsafePointer<Float>, rows: Int, inputs: Int,
                                 into xT: UnsafeMutablePointer<Float>, columns: Int, inputRange: Range<Int>? = nil) {
        let range = inputRange ?? 0..<inputs
        let wholeInputs = range.lowerBound + range.count / 8 * 8, wholeRows = rows / 8 * 8
        var k = range.lowerBound
        while k < wholeInputs {
            var s = 0
            while s < wholeRows {
                let p = x + s * inputs + k
                var r = (load8(p), load8(p + inputs), load8(p + 2 * inputs), load8(p + 3 * inputs),
                         load8(p + 4 * inputs), load8(p + 5 * inputs), load8(p + 6 * inputs), load8(p + 7 * inputs))
                r = unshuffle(unshuffle(unshuffle(r)))
                let q = xT + k * columns + s
                store(r.0, q); store(r.1, q + columns); store(r.2, q + 2 * columns); store(r.3, q + 3 * columns)
                store(r.4, q + 4 * columns); store(r.5, q + 5 * columns); store(r.6, q + 6 * columns); store(r.7, q + 7 * columns)
                s += 8
            }
            for j in k..<k + 8 { transposeColumn(x, j, from: wholeRows, rows: rows, inputs: inputs, into: xT + j * columns, columns: columns) }
            k += 8
        }
        for j in wholeInputs..<range.upperBound { transposeColumn(x, j, from: 0, rows: rows, inputs: inputs, into: xT + j * columns, columns: columns) }
    }

    /// column[s] = x[s · inputs + k] for first ≤ s < rows, 0 for rows ≤ s < columns.
    @inline(__always)
    private static func transposeColumn(_ x: UnsafePointer<Float>, _ k: Int, from first: Int, rows: Int, inputs: Int,
                                        into column: UnsafeMutablePointer<Float>, columns: Int) {
        for s in first..<rows { column[s] = x[s * inputs + k] }
        for s in rows..<columns { column[s] = 0 }
    }

    typealias Block8 = (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>,
                        SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)

    /// The 64 elements of an 8 × 8 block (row-major across the eight registers) with the even
    /// ones first, then the odd ones: element index bits rotated right by one. Three times
    /// rotate by three, which swaps row and column: the transpose.
    @inline(__always)
    private static func unshuffle(_ r: Block8) -> Block8 {
        let a = SIMD16(lowHalf: r.0, highHalf: r.1), b = SIMD16(lowHalf: r.2, highHalf: r.3)
        let c = SIMD16(lowHalf: r.4, highHalf: r.5), d = SIMD16(lowHalf: r.6, highHalf: r.7)
        return (a.evenHalf, b.evenHalf, c.evenHalf, d.evenHalf, a.oddHalf, b.oddHalf, c.oddHalf, d.oddHalf)
    }

    /// y[s · outputs + r] = Σ_k w[r · inputs + k] · xT[k · columns + s] for r < count, s < rows:
    /// `w` holds `columnTileRows` rows of W (those from `count` on are read and their sums
    /// dropped), xT is `transpose`'s layout with `columns` a multiple of 8.
    @inline(never)
    public static func rowsTimesColumns(_ y: UnsafeMutablePointer<Float>, outputs: Int,
                                        _ w: UnsafePointer<Float>, count: Int,
                                        _ xT: UnsafePointer<Float>, columns: Int, rows: Int, inputs: Int) {
        let w0 = w, w1 = w + inputs, w2 = w + 2 * inputs, w3 = w + 3 * inputs, w4 = w + 4 * inputs, w5 = w + 5 * inputs
        var c = 0
        while c + 16 <= columns {
            var a0 = SIMD8<Float>(), b0 = SIMD8<Float>(), a1 = SIMD8<Float>(), b1 = SIMD8<Float>()
            var a2 = SIMD8<Float>(), b2 = SIMD8<Float>(), a3 = SIMD8<Float>(), b3 = SIMD8<Float>()
            var a4 = SIMD8<Float>(), b4 = SIMD8<Float>(), a5 = SIMD8<Float>(), b5 = SIMD8<Float>()
            var p = xT + c
            for k in 0..<inputs {
                let lo = load8(p), hi = load8(p + 8)
                var v = SIMD8<Float>(repeating: w0[k]); a0.addProduct(v, lo); b0.addProduct(v, hi)
                v = SIMD8<Float>(repeating: w1[k]); a1.addProduct(v, lo); b1.addProduct(v, hi)
                v = SIMD8<Float>(repeating: w2[k]); a2.addProduct(v, lo); b2.addProduct(v, hi)
                v = SIMD8<Float>(repeating: w3[k]); a3.addProduct(v, lo); b3.addProduct(v, hi)
                v = SIMD8<Float>(repeating: w4[k]); a4.addProduct(v, lo); b4.addProduct(v, hi)
                v = SIMD8<Float>(repeating: w5[k]); a5.addProduct(v, lo); b5.addProduct(v, hi)
                p += columns
            }
            storeTile(a0, a1, a2, a3, a4, a5, y, outputs: outputs, count: count, from: c, rows: rows)
            storeTile(b0, b1, b2, b3, b4, b5, y, outputs: outputs, count: count, from: c + 8, rows: rows)
            c += 16
        }
        if c < columns {
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>()
            var a3 = SIMD8<Float>(), a4 = SIMD8<Float>(), a5 = SIMD8<Float>()
            var p = xT + c
            for k in 0..<inputs {
                let lo = load8(p)
                a0.addProduct(SIMD8<Float>(repeating: w0[k]), lo)
                a1.addProduct(SIMD8<Float>(repeating: w1[k]), lo)
                a2.addProduct(SIMD8<Float>(repeating: w2[k]), lo)
                a3.addProduct(SIMD8<Float>(repeating: w3[k]), lo)
                a4.addProduct(SIMD8<Float>(repeating: w4[k]), lo)
                a5.addProduct(SIMD8<Float>(repeating: w5[k]), lo)
                p += columns
            }
            storeTile(a0, a1, a2, a3, a4, a5, y, outputs: outputs, count: count, from: c, rows: rows)
        }
    }

    /// y[s · outputs + r] = s_r[s − first] for r < count and the columns first ..< first + 8
    /// that are rows of x (s < rows). (Six arguments, not an array: this module allocates nothing.)
    @inline(__always)
    private static func storeTile(_ s0: SIMD8<Float>, _ s1: SIMD8<Float>, _ s2: SIMD8<Float>, _ s3: SIMD8<Float>,
                                  _ s4: SIMD8<Float>, _ s5: SIMD8<Float>, _ y: UnsafeMutablePointer<Float>,
                                  outputs: Int, count: Int, from first: Int, rows: Int) {
        for s in first..<min(first + 8, rows) {
            let lane = s - first, out = y + s * outputs
            out[0] = s0[lane]
            if count > 1 { out[1] = s1[lane] }
            if count > 2 { out[2] = s2[lane] }
            if count > 3 { out[3] = s3[lane] }
            if count > 4 { out[4] = s4[lane] }
            if count > 5 { out[5] = s5[lane] }
        }
    }
}
