import Foundation

/// Split `0..<count` into contiguous chunks and run them on all cores. Elementwise kernels
/// use it so the second core is not idle between matmuls; below `minChunk` items per
/// chunk the work runs inline (thread hand-off would cost more than it saves).
public func parallelRanges(_ count: Int, minChunk: Int = 1 << 15, _ body: (Range<Int>) -> Void) {
    guard count > 0 else { return }
    let workers = ProcessInfo.processInfo.activeProcessorCount
    let chunks = max(1, min(workers * 4, count / max(minChunk, 1)))
    if chunks == 1 { body(0..<count); return }
    let size = (count + chunks - 1) / chunks
    DispatchQueue.concurrentPerform(iterations: chunks) { c in
        let lo = c * size
        if lo < count { body(lo..<min(lo + size, count)) }
    }
}
