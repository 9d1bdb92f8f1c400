// Inference re-encodes Q5_0 tensors as Q8_0 blocks that hold the same values. Why: decoding one
// sequence multiplies every weight once per token, and the Q5_0 layers (q, k, v, gate and up
// in the 270M Q4_K_M file: 63M of its 268M weights) are bound by arithmetic — assembling each
// 5-bit value from a nibble and a bit of qh costs more instructions than the product itself —
// while the Q8_0 loop over bytes runs at the memory's speed (ModelKernels' BlockRowDots).
// Exactness: a Q5_0 element is d·(q − 16) with q − 16 in −16…15, which a Q8_0 byte holds, under
// the same fp16 d; dequantized, the values are the same floats, and the two row-dot loops
// perform the same operations in the same order (block scale factored out, the same lanes and
// partial sums), so every product, logit and token is bit for bit the Q5_0 one
// (Q5_0AsQ8_0Tests). Cost: 34 bytes instead of 22 per 32 weights (+23 MB for that
// file). Training (QLoRA) keeps the file's blocks: its products go through sgemm on
// dequantized rows, where the encoding makes no difference, and its memory is what QLoRA is for.

enum Q5_0AsQ8_0 {
    /// `blocks` Q5_0 blocks (22 bytes) at `q5` as Q8_0 blocks (34 bytes) into `q8`.
    static func reencode(_ q5: UnsafeRawPointer, blocks: Int, into q8: UnsafeMutableRawPointer) {
        for b in 0..<blocks {
            let source = q5 + 22 * b, target = q8 + 34 * b
            target.copyMemory(from: source, byteCount: 2)  // d, unchanged
            let values = (target + 2).assumingMemoryBound(to: Int8.self)
            for j in 0..<16 { (values[j], values[j + 16]) = Dequantize.q5_0Values(source, j) }
        }
    }

    /// A Q5_0 tensor of `elements` values at `q5` re-encoded into new memory (the caller's to
    /// deallocate), over the cores.
    static func reencoded(_ q5: UnsafeRawPointer, elements: Int) -> UnsafeMutableRawPointer {
        let blockCount = elements / 32
        let q8 = UnsafeMutableRawPointer.allocate(byteCount: 34 * blockCount, alignment: 64)
        parallelChunks(0..<blockCount, chunk: 4096) { _, lo, hi in reencode(q5 + 22 * lo, blocks: hi - lo, into: q8 + 34 * lo) }
        return q8
    }
}
