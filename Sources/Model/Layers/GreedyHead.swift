import ModelKernels

// Greedy decoding needs the index of the largest logit, not the logits. For a dense fp32 head
// E [V, C] (V = 262,144, 671 MB) that index is found here while reading a Q8_0 copy of E
// (178 MB) and a few exact rows, instead of all of E:
//   1. a[s, r] = Ê[r] · x[s] for every row r, from the Q8_0 copy Ê (QuantizedProjection);
//   2. |E[r] · x − a[r]| ≤ margin[r], a bound that holds for the values as computed
//      (below); every row whose a[r] + margin[r] reaches L = max_r (a[r] − margin[r]) is a
//      candidate — the row of the largest exact logit is always one, since its logit ≥ the
//      exact logit of L's row ≥ L;
//   3. the candidates' exact logits, each the same dot product in the same order as the full
//      head computes it (FewRowsLinear's `dot`), and their argmax (the first on a tie, as
//      generation's argmax).
// So the token is the one the full head gives, bit for bit — not an approximation. When the
// bound leaves too many candidates, or anything is not finite, the caller computes every
// logit instead. The bound, for x one row of C inputs:
//   E·x − Ê·x = Σ_i (E_i − Ê_i) x_i, |…| ≤ e_r · ‖x‖₁ with e_r = max_i |E[r, i] − Ê[r, i]|
//   (measured per row on the dequantized copy, so fp16's rounding of the block scale is in it);
//   fp32 rounding of either dot (sums of C products, in partial sums of 8 lanes) is below
//   ρ · Σ_i |w_i x_i| with ρ = 1e-4 (hundreds of times the worst case), and Σ_i |E_i x_i| ≤
//   A_r · ‖x‖∞, Σ_i |Ê_i x_i| ≤ (A_r + C e_r) · ‖x‖∞ with A_r = Σ_i |E[r, i]|:
//   margin[r] = e_r · (‖x‖₁ + ρ C ‖x‖∞) + A_r · 2ρ ‖x‖∞.
// The copy is made once per GemmaInference (whose weights do not change during its life): at
// load for generate and predict, else on the first step of at most fewRowsLimit rows.
// Measured: docs/DESIGN.md, "Greedy decoding reads a Q8_0 copy of a dense head".

/// Greedy decoding's tokens without every logit: GreedyHead (above) for a dense fp32 head,
/// Q8_0GreedyHead for a head in Q8_0 blocks.
protocol GreedyTokenSource: AnyObject {
    /// The index of the largest logit of each of the n rows of x [n, C] (the first on a tie),
    /// bit for bit the full head's; nil when some row needs the full head.
    func tokens(_ x: UnsafePointer<Float>, rows n: Int) -> [Int32]?
}

/// The screen for `head`, if it has one.
func greedyTokenSource(for head: any TokenEmbedding) -> (any GreedyTokenSource)? {
    if let dense = head as? DenseProjection { return GreedyHead(head: dense) }
    if let quantized = head as? QuantizedProjection { return Q8_0GreedyHead(head: quantized) }
    return nil
}

/// The greedy tokens of a few rows of final hidden states over a dense fp32 head (above).
final class GreedyHead: GreedyTokenSource {
    let head: DenseProjection
    private let screen: QuantizedProjection
    private let screenBlocks: UnsafeMutableRawPointer
    /// Per row of E: e_r (the largest quantization error) and A_r (Σ |E[r, i]|).
    private let largestError: [Float]
    private let absoluteSum: [Float]
    /// Ê · x for the rows of the call in progress [n, V].
    private let approximate = GrowableBuffer()

    /// Relative rounding allowance ρ (see above).
    static let rounding: Float = 1e-4
    /// More candidates than this and the full head is cheaper to compute than to second-guess.
    static let candidateLimit = 4096

    /// nil when the copy cannot be made faithfully (inputs not whole Q8_0 blocks, or a
    /// quantized value that is not finite).
    init?(head: DenseProjection) {
        let (v, c) = (head.outputs, head.inputs), type = GGMLType.q8_0
        guard c % type.blockElements == 0, let rowBytes = type.byteCount(elements: c) else { return nil }
        let blocks = UnsafeMutableRawPointer.allocate(byteCount: v * rowBytes, alignment: 64)
        Quantize.blocks(type, head.weight, count: v * c, into: blocks)
        var error = [Float](repeating: 0, count: v), sum = [Float](repeating: 0, count: v)
        error.withUnsafeMutableBufferPointer { e in
            sum.withUnsafeMutableBufferPointer { a in
                let (e, a) = (e.baseAddress!, a.baseAddress!)
                parallelChunks(0..<v, chunk: 4096) { _, lo, hi in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: c) { row in
                        for r in lo..<hi {
                            Dequantize.row(type: type, source: UnsafeRawBufferPointer(start: blocks + r * rowBytes, count: rowBytes),
                                           count: c, into: row.baseAddress!)
                            let w = head.weight + r * c
                            var largest: Float = 0, total: Float = 0
                            for i in 0..<c {
                                largest = max(largest, abs(w[i] - row[i]))
                                total += abs(w[i])
                            }
                            // rounded up: e and A enter a bound, so no rounding may shrink them
                            e[r] = largest.nextUp
                            a[r] = (total * (1 + Float(c) * Float.ulpOfOne)).nextUp
                        }
                    }
                }
            }
        }
        guard error.allSatisfy(\.isFinite), sum.allSatisfy(\.isFinite) else { blocks.deallocate(); return nil }
        self.head = head
        screenBlocks = blocks
        screen = QuantizedProjection(type: type, blocks: blocks, inputs: c, outputs: v, scratch: GrowableBuffer())
        largestError = error
        absoluteSum = sum
    }

    deinit { screenBlocks.deallocate() }

    /// The index of the largest logit E[r] · x[s] for each of the n rows of x [n, C] (the first
    /// on a tie), n ≤ fewRowsLimit; nil when some row needs the full head (see above).
    func tokens(_ x: UnsafePointer<Float>, rows n: Int) -> [Int32]? {
        let (v, c) = (head.outputs, head.inputs)
        guard n > 0, n <= fewRowsLimit else { return nil }
        approximate.reserve(n * v)
        let a = approximate.pointer
        screen.forward(a, x, rows: n)
        var tokens: [Int32] = []
        for s in 0..<n {
            let xs = x + s * c
            var norm1: Float = 0, largest: Float = 0
            for i in 0..<c { norm1 += abs(xs[i]); largest = max(largest, abs(xs[i])) }
            // the bound's two coefficients, rounded up
            let perError = ((norm1 * (1 + Float(c) * Float.ulpOfOne)) + Self.rounding * Float(c) * largest).nextUp
            let perSum = (2 * Self.rounding * largest).nextUp
            guard perError.isFinite, perSum.isFinite else { return nil }
            let row = a + s * v
            func margin(_ r: Int) -> Float { largestError[r] * perError + absoluteSum[r] * perSum }
            var floor = -Float.infinity
            for r in 0..<v {
                let low = row[r] - margin(r)
                guard low.isFinite else { return nil }
                floor = max(floor, low)
            }
            var best: Int32 = -1, bestLogit = -Float.infinity, candidates = 0
            for r in 0..<v where row[r] + margin(r) >= floor {
                candidates += 1
                if candidates > Self.candidateLimit { return nil }
                let logit = dot(head.weight + r * c, xs, count: c)
                guard logit.isFinite else { return nil }
                if best < 0 || logit > bestLogit { (best, bestLogit) = (Int32(r), logit) }
            }
            guard best >= 0 else { return nil }
            tokens.append(best)
        }
        return tokens
    }
}
