import Foundation

// Passes over the flat 268M-float buffers (AdamW, gradient norm, replica checksum) split into
// chunks of a fixed size, so the chunk boundaries — and the order in which per-chunk results
// are combined — are the same on every rank whatever its core count.

/// Run `body(lo, hi)` over contiguous chunks of `range` on all cores.
func parallelChunks(_ range: Range<Int>, chunk: Int = 1 << 20, _ body: (Int, Int) -> Void) {
    let n = range.count
    guard n > 0 else { return }
    let chunks = (n + chunk - 1) / chunk
    DispatchQueue.concurrentPerform(iterations: chunks) { c in
        let lo = range.lowerBound + c * chunk
        body(lo, min(lo + chunk, range.upperBound))
    }
}

/// One result per chunk of `0..<count`, in chunk order; `body(chunkIndex, lo, hi)`.
func parallelChunkResults<T>(_ count: Int, chunk: Int = 1 << 20, initial: T, _ body: (Int, Int, Int) -> T) -> [T] {
    let chunks = (count + chunk - 1) / chunk
    var results = [T](repeating: initial, count: chunks)
    results.withUnsafeMutableBufferPointer { out in
        let o = out.baseAddress!
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = c * chunk
            o[c] = body(c, lo, min(lo + chunk, count))
        }
    }
    return results
}
