import Foundation
import XCTest
@testable import Model

/// parallelChunks: fixed chunk bounds whoever runs them; with one thread (an MPI rank's share
/// of the cores) the chunks run in order on the caller's thread, never on Dispatch's pool.
final class ParallelChunksTests: XCTestCase {
    private final class Record: @unchecked Sendable {
        let lock = NSLock()
        var calls: [(index: Int, lo: Int, hi: Int, onCaller: Bool)] = []
        func add(_ c: Int, _ lo: Int, _ hi: Int, _ onCaller: Bool) { lock.lock(); calls.append((c, lo, hi, onCaller)); lock.unlock() }
    }

    private func run(threads: Int?) -> [(index: Int, lo: Int, hi: Int, onCaller: Bool)] {
        let record = Record(), caller = pthread_self()
        let body: (Int, Int, Int) -> Void = { c, lo, hi in
            if threads != 2 { usleep(200) }  // long enough for a pool thread to take a chunk if one were used
            record.add(c, lo, hi, pthread_equal(pthread_self(), caller) != 0)
        }
        if let threads { parallelChunks(5..<48, chunk: 10, threads: threads, body) } else { parallelChunks(5..<48, chunk: 10, body) }
        return record.calls
    }

    private let expectedBounds = [(0, 5, 15), (1, 15, 25), (2, 25, 35), (3, 35, 45), (4, 45, 48)]

    func testOneThreadRunsInOrderOnTheCaller() {
        let calls = run(threads: 1)
        XCTAssertEqual(calls.map { [$0.index, $0.lo, $0.hi] }, expectedBounds.map { [$0.0, $0.1, $0.2] })
        XCTAssertTrue(calls.allSatisfy(\.onCaller))
    }

    func testSeveralThreadsRunEveryChunkOnceWithTheSameBounds() {
        let calls = run(threads: 2).sorted { $0.index < $1.index }
        XCTAssertEqual(calls.map { [$0.index, $0.lo, $0.hi] }, expectedBounds.map { [$0.0, $0.1, $0.2] })
    }

    /// The default is the process's BLAS thread count.
    func testDefaultFollowsTheBLASThreads() {
        let saved = BLASThreads.count
        defer { BLASThreads.set(saved) }
        BLASThreads.set(1)
        let calls = run(threads: nil)
        XCTAssertEqual(calls.map(\.index), [0, 1, 2, 3, 4])
        XCTAssertTrue(calls.allSatisfy(\.onCaller))
    }
}
