import Foundation
import Synchronization
import XCTest
@testable import Model

/// Decoding's spinning workers: every chunk runs exactly once with parallelChunks' bounds,
/// region after region (the workers' spin, sleep and wake-up paths), and a region started while
/// another runs falls back to Dispatch instead of waiting or mixing the two.
@available(macOS 15.0, *)
final class SpinningWorkersTests: XCTestCase {
    private var blasThreads = 1

    override func setUp() {
        blasThreads = BLASThreads.count
        BLASThreads.set(2)  // the workers serve only a process whose BLAS uses several threads
    }

    override func tearDown() { BLASThreads.set(blasThreads) }

    /// Chunk c of range r with chunk size k covers [r.lo + c·k, min(r.lo + (c+1)·k, r.hi)), as
    /// parallelChunks cuts it; counted per index, so a chunk run twice or never shows.
    func testEveryChunkRunsOnceWithParallelChunksBounds() {
        for (range, chunk) in [(0..<1, 4), (3..<1000, 64), (0..<262_144, 512), (10..<17, 2), (0..<640, 640)] {
            let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: range.upperBound)
            counts.initialize(repeating: 0)
            defer { counts.deallocate() }
            let chunks = Mutex<[Int: Range<Int>]>([:])
            hotParallelChunks(range, chunk: chunk) { c, lo, hi in
                for i in lo..<hi { counts[i] += 1 }
                chunks.withLock { $0[c] = lo..<hi }
            }
            XCTAssertEqual(Array(counts[range]), [Int](repeating: 1, count: range.count), "\(range) by \(chunk)")
            XCTAssertEqual(Array(counts[0..<range.lowerBound]), [Int](repeating: 0, count: range.lowerBound))
            var expected: [Int: Range<Int>] = [:]
            for (c, lo) in stride(from: range.lowerBound, to: range.upperBound, by: chunk).enumerated() {
                expected[c] = lo..<min(lo + chunk, range.upperBound)
            }
            XCTAssertEqual(chunks.withLock { $0 }, expected, "\(range) by \(chunk)")
        }
    }

    /// Thousands of regions back to back, and regions separated by pauses longer than the
    /// workers' spin (so they sleep and must be woken): sums stay exact.
    func testRegionsAfterSpinningAndAfterSleeping() {
        let values = (0..<4096).map { Int64($0 * 7 + 1) }
        let expected = values.reduce(0, +)
        for round in 0..<3000 {
            if round % 1000 == 999 { usleep(UInt32(SpinningWorkers.spinSeconds * 4e6)) }
            let partial = UnsafeMutableBufferPointer<Int64>.allocate(capacity: 64)
            partial.initialize(repeating: 0)
            hotParallelChunks(0..<values.count, chunk: 64) { c, lo, hi in
                var s: Int64 = 0
                for i in lo..<hi { s += values[i] }
                partial[c] = s
            }
            XCTAssertEqual(partial.reduce(0, +), expected, "round \(round)")
            partial.deallocate()
        }
    }

    /// A region started inside a running one (another caller) does not wait for the workers:
    /// it runs through parallelChunks and its chunks still run once.
    func testANestedRegionFallsBackToDispatch() {
        let inner = Atomic<Int>(0)
        let outer = Atomic<Int>(0)
        hotParallelChunks(0..<8, chunk: 1) { _, _, _ in
            outer.wrappingAdd(1, ordering: .relaxed)
            hotParallelChunks(0..<100, chunk: 10) { _, lo, hi in inner.wrappingAdd(hi - lo, ordering: .relaxed) }
        }
        XCTAssertEqual(outer.load(ordering: .relaxed), 8)
        XCTAssertEqual(inner.load(ordering: .relaxed), 800)
    }

    /// With more than one core the pool, not Dispatch, runs a region, and its workers do take
    /// chunks: slow chunks are spread over more than the calling thread.
    func testTheWorkersTakeChunks() throws {
        try XCTSkipIf(ProcessInfo.processInfo.activeProcessorCount < 2, "one core: no workers")
        let threads = Mutex<Set<UInt>>([])
        hotParallelChunks(0..<2, chunk: 1) { _, _, _ in }  // makes the pool
        let pool = try XCTUnwrap(SpinningWorkers.shared)
        let before = pool.regionsRun.load(ordering: .relaxed)
        hotParallelChunks(0..<8, chunk: 1) { _, _, _ in
            usleep(2000)
            threads.withLock { _ = $0.insert(UInt(pthread_self())) }
        }
        XCTAssertEqual(pool.regionsRun.load(ordering: .relaxed), before + 1, "the pool ran the region")
        XCTAssertGreaterThan(threads.withLock { $0.count }, 1)
        // with BLAS on one thread (an MPI rank's share) the region goes to Dispatch
        BLASThreads.set(1)
        hotParallelChunks(0..<8, chunk: 1) { _, _, _ in }
        XCTAssertEqual(pool.regionsRun.load(ordering: .relaxed), before + 1, "not the pool")
    }
}
