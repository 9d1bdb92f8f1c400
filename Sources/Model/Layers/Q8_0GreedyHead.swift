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
    /// Rows per chunk of the parallel pass, and the number of chunks.
    private let chunk: Int, chunks: Int
    /// a and margin of every row [V], for the call in progress.
    private let approximate: FloatBuffer, margin: FloatBuffer
    /// x̂ of the call in progress: values [C], dx and e per block [C / 32].
    private let values: UnsafeMutablePointer<Int8>
    private let scales: FloatBuffer, errors: FloatBuffer
    /// Per chunk of rows: the largest a − margin, NaN when one of the chunk's values is not finite.
    private let floors: FloatBuffer
    /// The candidate rows of the call in progress [GreedyHead.candidateLimit].
    private let candidates: UnsafeMutablePointer<Int32>

    /// nil unless `head` is Q8_0 blocks and this CPU runs ModelKernels (its full-head row dots
    /// are then the vector ones the candidates recompute) with AVX2's byte multiply-adds.
    init?(head: QuantizedProjection) {
        guard head.type == .q8_0, head.hasVectorRowDots, VectorKernels.integerRowDotsAreVectorized else { return nil }
        self.head = head
        blocks = head.inputs / 32
        chunk = fewRowsChunk(outputs: head.outputs)
        chunks = (head.outputs + chunk - 1) / chunk
        approximate = FloatBuffer(count: head.outputs, zeroed: false)
        margin = FloatBuffer(count: head.outputs, zeroed: false)
        values = .allocate(capacity: head.inputs)
        scales = FloatBuffer(count: blocks, zeroed: false)
        errors = FloatBuffer(count: blocks, zeroed: false)
        floors = FloatBuffer(count: chunks, zeroed: false)
        candidates = .allocate(capacity: GreedyHead.candidateLimit)
    }

    deinit {
        values.deallocate()
        candidates.deallocate()
    }

    func tokens(_ x: UnsafePointer<Float>, rows n: Int) -> [Int32]? {
        // several rows: the full head reads each weight row once for all of them
        guard n == 1, Self.quantize(x, count: head.inputs, values: values, scales: scales.pointer, errors: errors.pointer) else {
            return nil
        }
        let (a, m, floors) = (approximate.pointer, margin.pointer, floors.pointer)
        hotParallelChunks(0..<head.outputs, chunk: chunk) { c, lo, hi in
            let (floor, finite) = VectorKernels.q8_0IntegerRowDots(
                a, bound: m, head.blocks, rowBytes: head.rowBytes, xValues: values, xScales: scales.pointer,
                xErrors: errors.pointer, blocks: blocks, rows: lo..<hi)
            floors[c] = finite ? floor : .nan
        }
        var floor = -Float.infinity
        for c in 0..<chunks {
            guard !floors[c].isNaN else { return nil }
            floor = max(floor, floors[c])
        }
        guard floor.isFinite else { return nil }
        let count = VectorKernels.rowsReaching(floor, approximate: a, bound: m, count: head.outputs, into: candidates,
                                               capacity: GreedyHead.candidateLimit)
        guard count > 0, count <= GreedyHead.candidateLimit else { return nil }
        var best: Int32 = -1, bestLogit = -Float.infinity
        for r in UnsafeBufferPointer(start: candidates, count: count) {
            let logit = head.vectorRowDot(row: Int(r), x)
            guard logit.isFinite else { return nil }
            if best < 0 || logit > bestLogit { (best, bestLogit) = (r, logit) }
        }
        return [best]
    }

    /// x [count] as 8-bit values per block of 32 (above): scales[b] = dx_b, values within ±127,
    /// errors[b] = e_b, summed in Double and rounded up. false when x is not finite.
    static func quantize(_ x: UnsafePointer<Float>, count c: Int, values: UnsafeMutablePointer<Int8>,
                         scales: UnsafeMutablePointer<Float>, errors: UnsafeMutablePointer<Float>) -> Bool {
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
