import ModelKernels

// Greedy decoding over a head kept in Q8_0 blocks (a GGUF's token_embd under `--weights
// quantized`) needs the index of the largest logit, not the logits. The full head's logit of row
// r is the fp32 row dot of the dequantized row with x (BlockRowDots.swift), ALU-bound at 6.0 ms
// a token for the 178 MB head on 2 cores. Here, for one row of x:
//   1. x̂ = dx_b · xq per block b of 32, xq = round(x / dx_b) within ±127, dx_b = max|x_b| / 127
//      (as llama.cpp quantizes activations to Q8_0);
//   2. a[r] = Σ_b d_rb · dx_b · Σ_i q_rbi · xq_bi, multiplied in 8-bit integers (KernelsInC's
//      IntegerRowDots.c: at the memory's speed, 4.8 ms), with margin[r] in the same pass;
//   3. |logit[r] − a[r]| ≤ margin[r] (below), so every row whose a[r] + margin[r] reaches L =
//      max_r (a[r] − margin[r]) is a candidate, and the row of the largest logit is one of them
//      (its logit ≥ the logit of L's row ≥ L);
//   4. the candidates' logits, each computed exactly as the full head computes it (the same row
//      dot), and their argmax, the first on a tie as generation's argmax.
// So the token is the full head's, bit for bit. When the bound leaves more than
// GreedyHead.candidateLimit candidates, or anything is not finite, the caller computes every
// logit instead. The bound: every |Ê_i| ≤ 128 · |d_rb| for i in block b, so
//   |Ê·x − Ê·x̂|            ≤ Σ_b |d_rb| · 128 · ‖x_b − x̂_b‖₁,
//   fp32 rounding of logit[r] ≤ ρ · Σ_i |Ê_i x_i| ≤ Σ_b |d_rb| · 128 · ρ ‖x_b‖₁,
//   fp32 rounding of a[r]     ≤ Σ_b |d_rb| · 128 · ρ ‖x̂_b‖₁  (the integer sums are exact),
// with ρ = GreedyHead.rounding (1e-4; both sums are shallow trees — per lane one multiply-add
// per block, then 8 lanes — whose rounding is below ≈2e-6 of Σ|terms| for 20 blocks; the
// comparisons after it round monotonically), so margin[r] = Σ_b |d_rb| · e_b with
//   e_b = 128 · (‖x_b − x̂_b‖₁ + ρ (‖x_b‖₁ + ‖x̂_b‖₁)) · (1 + 1e-4),
// the last factor for the fp32 rounding of that sum itself. ρ is relative: it assumes no
// product underflows or overflows fp32, which holds for RMSNorm's outputs against real weights
// (anything infinite or NaN falls back to the full head). Measured: docs/DESIGN.md, "Greedy
// decoding screens a Q8_0 head in 8-bit integers".

/// The greedy token of one row of final hidden states over a Q8_0 head (above).
final class Q8_0GreedyHead: GreedyTokenSource {
    let head: QuantizedProjection
    private let blocks: Int
    /// a and margin of every row, for the call in progress [V].
    private let approximate = GrowableBuffer()
    private let margin = GrowableBuffer()
    /// x̂ of the call in progress: values [C], dx and e per block [C / 32].
    private var values: [Int8]
    private var scales: [Float]
    private var errors: [Float]
    private var candidates: [Int32]
    /// Per chunk of rows: the largest a − margin, and whether all its values were finite.
    private var floors: [Float]
    private var finite: [Bool]
    private let chunk: Int

    /// nil unless `head` is Q8_0 blocks and this CPU runs ModelKernels (its full-head row dots
    /// are then the vector ones the candidates recompute) with AVX2's byte multiply-adds.
    init?(head: QuantizedProjection) {
        guard head.type == .q8_0, head.hasVectorRowDots, VectorKernels.integerRowDotsAreVectorized else { return nil }
        self.head = head
        blocks = head.inputs / 32
        values = [Int8](repeating: 0, count: head.inputs)
        scales = [Float](repeating: 0, count: blocks)
        errors = [Float](repeating: 0, count: blocks)
        candidates = [Int32](repeating: 0, count: GreedyHead.candidateLimit)
        chunk = fewRowsChunk(outputs: head.outputs)
        floors = [Float](repeating: 0, count: (head.outputs + chunk - 1) / chunk)
        finite = [Bool](repeating: true, count: floors.count)
        approximate.reserve(head.outputs)
        margin.reserve(head.outputs)
    }

    func tokens(_ x: UnsafePointer<Float>, rows n: Int) -> [Int32]? {
        // several rows: the full head reads each weight row once for all of them
        guard n == 1, Self.quantize(x, count: head.inputs, values: &values, scales: &scales, errors: &errors) else { return nil }
        let (v, chunk, blocks) = (head.outputs, chunk, blocks)
        let (a, m) = (approximate.pointer, margin.pointer)
        values.withUnsafeBufferPointer { xq in
            scales.withUnsafeBufferPointer { dx in
                errors.withUnsafeBufferPointer { e in
                    floors.withUnsafeMutableBufferPointer { floors in
                        finite.withUnsafeMutableBufferPointer { finite in
                            let (floors, finite) = (floors.baseAddress!, finite.baseAddress!)
                            hotParallelChunks(0..<v, chunk: chunk) { c, lo, hi in
                                (floors[c], finite[c]) = VectorKernels.q8_0IntegerRowDots(
                                    a, bound: m, head.blocks, rowBytes: head.rowBytes, xValues: xq.baseAddress!,
                                    xScales: dx.baseAddress!, xErrors: e.baseAddress!, blocks: blocks, rows: lo..<hi)
                            }
                        }
                    }
                }
            }
        }
        guard !finite.contains(false), let floor = floors.max(), floor.isFinite else { return nil }
        let capacity = candidates.count
        return candidates.withUnsafeMutableBufferPointer { rows -> [Int32]? in
            let count = VectorKernels.rowsReaching(floor, approximate: a, bound: m, count: v, into: rows.baseAddress!, capacity: capacity)
            guard count > 0, count <= capacity else { return nil }
            var best: Int32 = -1, bestLogit = -Float.infinity
            for r in rows.prefix(count) {
                let logit = head.vectorRowDot(row: Int(r), x)
                guard logit.isFinite else { return nil }
                if best < 0 || logit > bestLogit { (best, bestLogit) = (r, logit) }
            }
            return [best]
        }
    }

    /// x [count] as 8-bit values per block of 32 (above): scales[b] = dx_b, values within ±127,
    /// errors[b] = e_b, summed in Double and rounded up. false when x is not finite.
    static func quantize(_ x: UnsafePointer<Float>, count c: Int, values: inout [Int8], scales: inout [Float],
                         errors: inout [Float]) -> Bool {
        let rho = Double(GreedyHead.rounding)
        for b in 0..<c / 32 {
            var largest: Float = 0
            for i in 32 * b ..< 32 * b + 32 {
                guard x[i].isFinite else { return false }
                largest = max(largest, abs(x[i]))
            }
            let scale = largest / 127, inverse = largest > 0 ? 127 / largest : 0
            var error = 0.0, xNorm = 0.0, xHatNorm = 0.0
            for i in 32 * b ..< 32 * b + 32 {
                let q = min(127, max(-127, (x[i] * inverse).rounded()))
                values[i] = Int8(q)
                let xHat = Double(scale) * Double(q)  // exact: a float times an integer ≤ 127
                error += abs(Double(x[i]) - xHat)
                xNorm += abs(Double(x[i]))
                xHatNorm += abs(xHat)
            }
            scales[b] = scale
            let e = Float(128 * (error + rho * (xNorm + xHatNorm)) * (1 + 1e-4)).nextUp
            guard e.isFinite else { return false }
            errors[b] = e
        }
        return true
    }
}
