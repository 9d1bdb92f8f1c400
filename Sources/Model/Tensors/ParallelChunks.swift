import Foundation

/// The one way work is spread over the cores outside BLAS: `range` cut into contiguous
/// chunks of a fixed size (the last may be shorter), run by Dispatch's concurrentPerform.
/// Fixed sizes make the chunk boundaries — and the order in which per-chunk results are
/// combined — the same on every rank whatever its core count (AdamW, the gradient norm and the
/// replica checksum rely on that). A single chunk runs inline: a thread hand-off would cost
/// more than it saves. `body(index, lo, hi)` gets the chunk's index and bounds.
///
/// `threads` (default: the process's BLAS threads, i.e. its share of the cores): with one,
/// the chunks run in order on the caller's thread. An MPI rank that shares the cores with
/// other ranks gets one BLAS thread, and Dispatch's pool — a thread per core of the machine —
/// would put two threads of every rank on the same cores.
public func parallelChunks(_ range: Range<Int>, chunk: Int = 1 << 20, threads: Int = BLASThreads.count,
                           _ body: (_ index: Int, _ lo: Int, _ hi: Int) -> Void) {
    let n = range.count
    guard n > 0 else { return }
    let chunks = (n + chunk - 1) / chunk
    if chunks == 1 { body(0, range.lowerBound, range.upperBound); return }
    func run(_ c: Int) {
        let lo = range.lowerBound + c * chunk
        body(c, lo, min(lo + chunk, range.upperBound))
    }
    if threads <= 1 {
        for c in 0..<chunks { run(c) }
    } else {
        DispatchQueue.concurrentPerform(iterations: chunks, execute: run)
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
