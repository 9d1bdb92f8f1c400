import KernelsInC

// Greedy decoding's integer screen of a Q8_0 head (Model/Layers/Q8_0GreedyHead.swift): the
// loops are KernelsInC's (IntegerRowDots.c), in C because AVX2's byte multiply-adds have no
// counterpart among Swift's SIMD operations.

extension VectorKernels {
    /// Whether q8_0IntegerRowDots runs AVX2's byte multiply-adds (x86-64); elsewhere it is a
    /// plain C loop, and greedy decoding computes every logit instead.
    public static let integerRowDotsAreVectorized = q8_0IntegerRowDotsAreVectorized() != 0

    /// For r in `rows` of a Q8_0 matrix (rows `rowBytes` apart at w, `blocks` blocks each) and x
    /// quantized per block of 32 (values xValues [32 · blocks], |value| ≤ 127, scales xScales
    /// [blocks]): approximate[r] = Σ_b d_rb · xScales[b] · Σ_i q_rbi · xValues_bi, with the inner
    /// sums exact, and bound[r] = Σ_b |d_rb| · xErrors[b]. Returns the largest approximate[r] −
    /// bound[r] (−infinity for no rows), and whether every value written is finite.
    @inline(never)
    public static func q8_0IntegerRowDots(_ approximate: UnsafeMutablePointer<Float>, bound: UnsafeMutablePointer<Float>,
                                          _ w: UnsafeRawPointer, rowBytes: Int, xValues: UnsafePointer<Int8>,
                                          xScales: UnsafePointer<Float>, xErrors: UnsafePointer<Float>, blocks: Int,
                                          rows: Range<Int>) -> (floor: Float, finite: Bool) {
        var notFinite: Int32 = 0
        let floor = KernelsInC.q8_0IntegerRowDots(approximate, bound, w, rowBytes, xValues, xScales, xErrors, blocks,
                                       rows.lowerBound, rows.upperBound, &notFinite)
        return (floor, notFinite == 0)
    }

    /// The rows r in 0..<count, in increasing order, with approximate[r] + bound[r] ≥ floor: the
    /// first `capacity` into `rows`; returns how many there are.
    @inline(never)
    public static func rowsReaching(_ floor: Float, approximate: UnsafePointer<Float>, bound: UnsafePointer<Float>, count: Int,
                                    into rows: UnsafeMutablePointer<Int32>, capacity: Int) -> Int {
        KernelsInC.rowsReaching(approximate, bound, count, floor, rows, capacity)
    }
}
