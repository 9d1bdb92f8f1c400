import Foundation

/// The one way work is spread over the cores outside BLAS: `range` cut into contiguous
/// chunks of a fixed size (the last may be shorter), run by Dispatch's concurrentPerform.
/// Fixed sizes make the chunk boundaries — and the order in which per-chunk results are
/// combined — the same on every rank whatever its core count (AdamW, the gradient norm and the
/// replica checksum rely on that). A single chunk runs inline: a thread hand-off would cost
/// more than it saves. `body(index, lo, hi)` gets the chunk's index and bounds.
public func parallelChunks(_ range: Range<Int>, chunk: Int = 1 << 20, _ body: (_ index: Int, _ lo: Int, _ hi: Int) -> Void) {
    let n = range.count
    guard n > 0 else { return }
    let chunks = (n + chunk - 1) / chunk
    if chunks == 1 { body(0, range.lowerBound, range.upperBound); return }
    DispatchQueue.concurrentPerform(iterations: chunks) { c in
        let lo = range.lowerBound + c * chunk
        body(c, lo, min(lo + chunk, range.upperBound))
    }
}

/// One result per chunk of `0..<count`, in chunk order (combine them in that order for a
/// result that does not depend on the core count).
public func parallelChunkResults<T>(_ count: Int, chunk: Int = 1 << 20, initial: T, _ body: (_ index: Int, _ lo: Int, _ hi: Int) -> T) -> [T] {
    var results = [T](repeating: initial, count: (count + chunk - 1) / chunk)
    results.withUnsafeMutableBufferPointer { out in
        let o = out.baseAddress!
        parallelChunks(0..<count, chunk: chunk) { c, lo, hi in o[c] = body(c, lo, hi) }
    }
    return results
}
