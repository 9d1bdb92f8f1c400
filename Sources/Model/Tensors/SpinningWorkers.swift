import Foundation
import Synchronization

/// `parallelChunks` for decoding's matrix-vector products, where a token runs 73 parallel
/// regions of 0.03–8 ms each: Dispatch hands every region to a worker it wakes through a futex
/// and puts back to sleep after (measured 6–9 µs per region here, and ≈8% of the cycles of a
/// quantized decode spent in futex calls). These workers instead spin on a generation counter
/// for up to `spinSeconds` after their last region, so the next region of the same token finds
/// them awake; after that they sleep on a condition variable and cost nothing. Chunks are
/// claimed from an atomic counter; boundaries are fixed, so results are the same as with
/// `parallelChunks` whoever runs a chunk. Only one region runs at a time: a call made while
/// another is running (another thread, or nested) goes through `parallelChunks` instead, and
/// so does every call of a process whose BLAS runs on one thread — an MPI rank sharing the
/// cores with other ranks, where a spinning worker would take a core another rank needs.
func hotParallelChunks(_ range: Range<Int>, chunk: Int, _ body: (_ index: Int, _ lo: Int, _ hi: Int) -> Void) {
    let n = range.count
    guard n > 0 else { return }
    let chunks = (n + chunk - 1) / chunk
    if chunks == 1 { body(0, range.lowerBound, range.upperBound); return }
    if BLASThreads.count > 1, #available(macOS 15.0, *), let pool = SpinningWorkers.shared, pool.tryRun(count: chunks, { c in
        let lo = range.lowerBound + c * chunk
        body(c, lo, min(lo + chunk, range.upperBound))
    }) {
        return
    }
    parallelChunks(range, chunk: chunk, body)
}

@available(macOS 15.0, *)
final class SpinningWorkers: @unchecked Sendable {
    /// One worker per BLAS thread beyond the caller's (BLASThreads: the cores this process may
    /// use; an MPI rank gets its share), made at the first region; nil with one thread.
    static let shared: SpinningWorkers? = {
        let workers = min(ProcessInfo.processInfo.activeProcessorCount, BLASThreads.count) - 1
        return workers > 0 ? SpinningWorkers(workers: workers) : nil
    }()

    /// How long an idle worker keeps spinning before it sleeps: longer than the serial work
    /// between two regions of a token (attention, norms: tens of µs), short enough that a
    /// finished generation leaves no core busy.
    static let spinSeconds = 0.0005

    /// One region: chunks 0..<count, claimed one at a time by whoever is free.
    private final class Region: @unchecked Sendable {
        /// Cleared by the caller once every chunk is done; only read after claiming a chunk,
        /// which cannot happen by then.
        var body: ((Int) -> Void)?
        let count: Int
        let next = Atomic<Int>(0)
        let completed = Atomic<Int>(0)

        init(count: Int, body: @escaping (Int) -> Void) {
            self.count = count
            self.body = body
        }

        func work() {
            while true {
                let c = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if c >= count { return }
                body!(c)
                completed.wrappingAdd(1, ordering: .releasing)
            }
        }
    }

    /// Regions run by this pool (tests check that it, and not Dispatch, ran them).
    let regionsRun = Atomic<Int>(0)
    private let generation = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let condition = NSCondition()
    private var current: Region?  // guarded by `condition`

    private init(workers: Int) {
        for i in 0..<workers {
            let thread = Thread { [unowned self] in self.workerLoop() }
            thread.name = "ft-dist decode worker \(i)"
            thread.start()
        }
    }

    /// Runs body(0..<count) over the caller and the workers; false (nothing run) when another
    /// region is running.
    func tryRun(count: Int, _ body: (Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { body in
            let region = Region(count: count, body: body)
            condition.lock()
            current = region
            condition.unlock()
            generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                condition.lock()
                condition.broadcast()
                condition.unlock()
            }
            region.work()
            var polls = 0
            while region.completed.load(ordering: .acquiring) < count {
                polls += 1
                if polls % 1024 == 0 { sched_yield() }  // a worker was descheduled: let it run
            }
            region.body = nil
        }
        regionsRun.wrappingAdd(1, ordering: .relaxed)
        return true
    }

    private func workerLoop() {
        var seen = 0
        while true {
            var g = generation.load(ordering: .acquiring)
            if g == seen {
                let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(Self.spinSeconds * 1e9)
                var polls = 0
                while g == seen {
                    polls += 1
                    if polls % 256 == 0, DispatchTime.now().uptimeNanoseconds > deadline {
                        condition.lock()
                        sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
                        while generation.load(ordering: .sequentiallyConsistent) == seen { condition.wait() }
                        sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                        condition.unlock()
                    }
                    g = generation.load(ordering: .acquiring)
                }
            }
            seen = g
            condition.lock()
            let region = current
            condition.unlock()
            region?.work()
        }
    }
}
