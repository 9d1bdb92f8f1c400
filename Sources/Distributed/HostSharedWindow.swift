import CMPI
import Foundation

/// One float buffer per rank in memory that every rank of the same host can read and write
/// (MPI-3 shared memory: `MPI_Comm_split_type(SHARED)` + `MPI_Win_allocate_shared`).
///
/// The ranks of a host reduce their gradients through it with plain loads and stores — each
/// rank sums one slice of everybody's buffer — instead of sending 1 GB through MPI's
/// point-to-point path, which copies every byte through bounce buffers. Between hosts only
/// the slices travel, over `crossHost`: the ranks with the same local rank on every host.
///
/// Rules of use (the unified memory model with one passive-target epoch for the window's
/// lifetime): write your own buffer or slices agreed on, call `synchronize()` on every local
/// rank, then read what the others wrote.
public final class HostSharedWindow {
    /// This rank's index among the ranks of its host, and how many ranks the host runs.
    public let localRank: Int
    public let localSize: Int
    /// Index of this rank's host among all hosts (its rank in `crossHost`), and host count.
    public let hostIndex: Int
    public let hostCount: Int
    private var window: MPI_Win?
    private var local: MPI_Comm?
    private var crossHost: MPI_Comm?
    private let buffers: [UnsafeMutablePointer<Float>]
    /// One 64-byte line after each rank's floats: its progress counter (`publishProgress`).
    private let counters: [UnsafeMutablePointer<Int64>]

    /// Where Open MPI keeps the window's backing file (its `osc_sm_backing_directory`).
    public static var backingDirectory: String {
        ProcessInfo.processInfo.environment["OMPI_MCA_osc_sm_backing_directory"] ?? "/dev/shm"
    }

    /// Collective over `world`. Returns a reason instead of a window (on every rank alike) when
    /// the hosts run different numbers of ranks — slice ownership would then differ between
    /// hosts — or when some host's /dev/shm cannot hold its ranks' buffers (a container's
    /// default 64 MB would end in SIGBUS on first touch, not in an error). The caller then
    /// falls back to a plain all-reduce. On an error the communicators made so far are freed
    /// again.
    static func make(world: MPI_Comm, worldRank: Int, floatsPerRank count: Int,
                     check: (Int32, String) throws -> Void) throws -> Result<HostSharedWindow, CommunicatorError> {
        var local: MPI_Comm?
        try check(MPI_Comm_split_type(world, ftdist_comm_type_shared(), Int32(worldRank), ftdist_info_null(), &local),
                  "MPI_Comm_split_type(shared)")
        var crossHost: MPI_Comm?
        do {
            try splitIntoSimulatedHosts(&local, check: check)
            var window: MPI_Win?
            var localRank: Int32 = 0, localSize: Int32 = 0
            MPI_Comm_rank(local, &localRank)
            MPI_Comm_size(local, &localSize)
            let padded = (count + 15) / 16 * 16
            let bytes = MPI_Aint((padded + 16) * MemoryLayout<Float>.stride)
            if let reason = try unavailability(world: world, localSize: Int(localSize), bytes: Int64(bytes), check: check) {
                MPI_Comm_free(&local)
                return .failure(reason)
            }
            try check(MPI_Comm_split(world, localRank, Int32(worldRank), &crossHost), "MPI_Comm_split(cross-host)")
            var hostIndex: Int32 = 0, hostCount: Int32 = 0
            MPI_Comm_rank(crossHost, &hostIndex)
            MPI_Comm_size(crossHost, &hostCount)

            // non-contiguous: each rank's buffer starts on its own pages (first touched by its owner)
            var info: MPI_Info?
            MPI_Info_create(&info)
            MPI_Info_set(info, "alloc_shared_noncontig", "true")
            var base: UnsafeMutableRawPointer?
            let rc = MPI_Win_allocate_shared(bytes, Int32(MemoryLayout<Float>.stride), info, local, &base, &window)
            MPI_Info_free(&info)
            try check(rc, "MPI_Win_allocate_shared(\(bytes) bytes per rank)")
            MPI_Win_set_errhandler(window, ftdist_errors_return())
            var buffers: [UnsafeMutablePointer<Float>] = []
            var counters: [UnsafeMutablePointer<Int64>] = []
            for peer in 0..<Int(localSize) {
                var size: MPI_Aint = 0
                var unit: Int32 = 0
                var peerBase: UnsafeMutableRawPointer?
                try check(MPI_Win_shared_query(window, Int32(peer), &size, &unit, &peerBase), "MPI_Win_shared_query(\(peer))")
                guard let peerBase, size >= bytes else { throw CommunicatorError("shared window of local rank \(peer) is missing or short") }
                buffers.append(peerBase.bindMemory(to: Float.self, capacity: count))
                let counter = (peerBase + padded * MemoryLayout<Float>.stride).bindMemory(to: Int64.self, capacity: 1)
                if peer == Int(localRank) { counter.pointee = 0 }
                counters.append(counter)
            }
            try check(MPI_Win_lock_all(ftdist_mode_nocheck(), window), "MPI_Win_lock_all")
            return .success(HostSharedWindow(localRank: Int(localRank), localSize: Int(localSize), hostIndex: Int(hostIndex),
                                             hostCount: Int(hostCount), window: window, local: local,
                                             crossHost: crossHost, buffers: buffers, counters: counters))
        } catch {
            // The communicators are ours to free (Open MPI frees them without waiting for the
            // other ranks). A window that was allocated is not: MPI_Win_free is a barrier, and
            // a rank failing alone would wait there instead of reaching MPI_Abort.
            if crossHost != nil { MPI_Comm_free(&crossHost) }
            if local != nil { MPI_Comm_free(&local) }
            throw error
        }
    }

    /// Why the ranks cannot share memory per host (the same answer on every rank), or nil:
    /// hosts with different rank counts, or a host whose backing directory lacks room for
    /// `localSize` buffers of `bytes` (with Open MPI's page rounding and its own transport:
    /// 1% + 64 MB of headroom).
    private static func unavailability(world: MPI_Comm, localSize: Int, bytes: Int64,
                                       check: (Int32, String) throws -> Void) throws -> CommunicatorError? {
        let needed = bytes * Int64(localSize) * 101 / 100 + (64 << 20)
        let free = freeBytes(backingDirectory) ?? 0  // unreadable: nothing free
        // [max local size, −min local size, max shortfall of /dev/shm]
        var mine: [Int64] = [Int64(localSize), -Int64(localSize), max(0, needed - free)]
        var agreed = [Int64](repeating: 0, count: 3)
        try check(MPI_Allreduce(&mine, &agreed, 3, ftdist_int64(), ftdist_op_max(), world), "MPI_Allreduce(host shapes)")
        if agreed[0] != -agreed[1] {
            return CommunicatorError("the hosts run different numbers of ranks (\(-agreed[1])…\(agreed[0]))")
        }
        if agreed[2] > 0 {
            return CommunicatorError(String(format: "%@ lacks %.1f GB on some host (this host: %.1f GB free, %.1f GB needed)",
                                            backingDirectory, Double(agreed[2]) / 1e9, Double(free) / 1e9, Double(needed) / 1e9))
        }
        return nil
    }

    private static func freeBytes(_ path: String) -> Int64? {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { return nil }
        return Int64(st.f_bavail) * Int64(st.f_frsize)
    }

    /// Tests and benchmarks of the cross-host path on one machine: with
    /// FTDIST_SIMULATED_HOST_RANKS=k the ranks of a machine form "hosts" of k ranks each (in
    /// world-rank order); they still share memory within such a host, and between them the
    /// cross-host path runs as it would between machines (over Open MPI's shared-memory
    /// transport instead of a network).
    private static func splitIntoSimulatedHosts(_ local: inout MPI_Comm?, check: (Int32, String) throws -> Void) throws {
        guard let text = ProcessInfo.processInfo.environment["FTDIST_SIMULATED_HOST_RANKS"] else { return }
        guard let k = Int(text), k > 0 else { throw CommunicatorError("FTDIST_SIMULATED_HOST_RANKS must be a positive integer, not '\(text)'") }
        var localRank: Int32 = 0
        MPI_Comm_rank(local, &localRank)
        var part: MPI_Comm?
        try check(MPI_Comm_split(local, localRank / Int32(k), localRank, &part), "MPI_Comm_split(simulated hosts)")
        MPI_Comm_free(&local)
        local = part
    }

    private init(localRank: Int, localSize: Int, hostIndex: Int, hostCount: Int, window: MPI_Win?,
                 local: MPI_Comm?, crossHost: MPI_Comm?, buffers: [UnsafeMutablePointer<Float>],
                 counters: [UnsafeMutablePointer<Int64>]) {
        self.localRank = localRank
        self.localSize = localSize
        self.hostIndex = hostIndex
        self.hostCount = hostCount
        self.window = window
        self.local = local
        self.crossHost = crossHost
        self.buffers = buffers
        self.counters = counters
    }

    /// Collective over the host: freeing a window is a barrier inside Open MPI. So it is not
    /// done in `deinit` — a rank unwinding from an error would wait there for peers that wait
    /// elsewhere, instead of reaching `MPI_Abort` — but by `MPICommunicator.finalize()`, which
    /// only the successful paths reach.
    func free() {
        guard window != nil else { return }
        MPI_Win_unlock_all(window)
        MPI_Win_free(&window)
        MPI_Comm_free(&crossHost)
        MPI_Comm_free(&local)
        window = nil
    }

    /// The buffer of local rank `peer` (this rank's own is `buffer(localRank)`).
    public func buffer(_ peer: Int) -> UnsafeMutablePointer<Float> { buffers[peer] }

    /// Memory barrier among the ranks of this host: every store any of them made before the
    /// call is visible to all of them after it.
    public func synchronize() throws {
        try check(MPI_Win_sync(window), "MPI_Win_sync")
        try check(MPI_Barrier(local), "MPI_Barrier(host)")
        try check(MPI_Win_sync(window), "MPI_Win_sync")
    }

    /// A ring over the ranks with the same local rank on every host (nil with one host): the
    /// sum of the slices between hosts.
    public func crossHostRing(wire: RingAllReduce.Wire = .fp32) -> RingAllReduce? {
        hostCount > 1 ? RingAllReduce(comm: crossHost, rank: hostIndex, size: hostCount, wire: wire) : nil
    }

    /// Publish this rank's progress (a count that only grows) to the other ranks of the host,
    /// with every store made before it.
    public func publishProgress(_ value: Int64) {
        ftdist_store_release(counters[localRank], value)
    }

    /// The progress local rank `peer` published last; its stores before that are visible.
    public func progress(of peer: Int) -> Int64 {
        ftdist_load_acquire(counters[peer])
    }

    private func check(_ rc: Int32, _ what: String) throws {
        try checkMPI(rc, "\(what) failed on local rank \(localRank)")
    }
}
