import CMPI
import Foundation

/// MPI through OpenMPI's C API. Errors are returned (MPI_ERRORS_RETURN) and turned into
/// Swift errors naming the operation; a dead peer is reported by mpirun, which then ends the job.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    private let comm: MPI_Comm
    private var finalized = false
    /// MPI may be called from several threads, one at a time (MPI_THREAD_SERIALIZED).
    public let threadsSerialized: Bool
    /// Shared windows made through this communicator, freed (collectively) in `finalize()`.
    private var windows: [HostSharedWindow] = []

    /// True when this process was started by mpirun/orterun (or another PMIx launcher).
    public static var launchedByMPI: Bool {
        let env = ProcessInfo.processInfo.environment
        return env["OMPI_COMM_WORLD_SIZE"] != nil || env["PMIX_RANK"] != nil || env["PMI_RANK"] != nil
    }

    public init() throws {
        var provided: Int32 = 0
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 {
            // serialized: the gradient exchange's communication thread calls MPI during the
            // backward pass, never at the same time as the main thread
            let rc = MPI_Init_thread(nil, nil, ftdist_thread_serialized(), &provided)
            guard rc == ftdist_success() else { throw CommunicatorError("MPI_Init_thread failed (code \(rc))") }
        } else {
            MPI_Query_thread(&provided)
        }
        threadsSerialized = provided >= ftdist_thread_serialized()
        comm = ftdist_comm_world()
        MPI_Comm_set_errhandler(comm, ftdist_errors_return())
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(comm, &r)
        MPI_Comm_size(comm, &s)
        rank = Int(r)
        size = Int(s)
    }

    deinit { finalize() }

    public func finalize() {
        guard !finalized else { return }
        finalized = true
        for w in windows { w.free() }
        windows = []
        var done: Int32 = 0
        MPI_Finalized(&done)
        if done == 0 { MPI_Finalize() }
    }

    public var transport: String {
        var len: Int32 = 0
        var buf = [CChar](repeating: 0, count: 4096)
        MPI_Get_library_version(&buf, &len)
        let first = String(cString: buf).split(separator: ",").first.map(String.init) ?? "MPI"
        return "MPI (\(first))"
    }

    private func check(_ rc: Int32, _ what: String) throws {
        try checkMPI(rc, "\(what) failed on rank \(rank)")
    }

    /// The gradient (268M floats) goes in chunks of 16M floats: OpenMPI's large-message
    /// algorithms allocate temporary buffers as large as the message, which would add up to
    /// 1 GB to every rank's peak memory; 64 MB chunks keep that small at no measurable cost.
    public static let allReduceChunk = 1 << 24

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        guard let base = buffer.baseAddress else { return }
        try allReduceSumInChunks(base, 0..<buffer.count, over: comm, name: "MPI_Allreduce(sum)", check: check)
    }

    public func allReduceSum(_ values: inout [Double]) throws {
        let n = Int32(values.count)
        try values.withUnsafeMutableBufferPointer { b in
            try check(MPI_Allreduce(ftdist_in_place(), b.baseAddress, n, ftdist_double(), ftdist_op_sum(), comm), "MPI_Allreduce(sum doubles)")
        }
    }

    public func allReduceMax(_ values: inout [Double]) throws {
        let n = Int32(values.count)
        try values.withUnsafeMutableBufferPointer { b in
            try check(MPI_Allreduce(ftdist_in_place(), b.baseAddress, n, ftdist_double(), ftdist_op_max(), comm), "MPI_Allreduce(max doubles)")
        }
    }

    public func broadcast(_ bytes: inout [UInt8], root: Int) throws {
        var count = Int64(bytes.count)
        try check(MPI_Bcast(&count, 1, ftdist_int64(), Int32(root), comm), "MPI_Bcast(length)")
        if rank != root { bytes = [UInt8](repeating: 0, count: Int(count)) }
        guard count > 0 else { return }
        try bytes.withUnsafeMutableBytes { b in
            try check(MPI_Bcast(b.baseAddress, Int32(count), ftdist_byte(), Int32(root), comm), "MPI_Bcast")
        }
    }

    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws {
        var offset = 0
        while offset < buffer.count {
            let n = min(buffer.count - offset, 1 << 30)
            try check(MPI_Bcast(buffer.baseAddress! + offset, Int32(n), ftdist_float(), Int32(root), comm), "MPI_Bcast(\(n) floats)")
            offset += n
        }
    }

    public func abort(code: Int32) -> Never {
        MPI_Abort(comm, code)
        exit(code)
    }

    /// One buffer of `floatsPerRank` floats per rank that the ranks of a host share
    /// (collective), or why there is none. Freed by `finalize()`.
    public func makeHostSharedWindow(floatsPerRank: Int) throws -> Result<HostSharedWindow, CommunicatorError> {
        let made = try HostSharedWindow.make(world: comm, worldRank: rank, floatsPerRank: floatsPerRank, check: check)
        if case .success(let w) = made { windows.append(w) }
        return made
    }

    /// A ring over all ranks (RingAllReduce), rounds of `piece` floats.
    public func ring(piece: Int = RingAllReduce.defaultPiece, wire: RingAllReduce.Wire = .fp32) -> RingAllReduce {
        RingAllReduce(comm: comm, rank: rank, size: size, piece: piece, wire: wire)
    }

    public func barrier() throws {
        try check(MPI_Barrier(comm), "MPI_Barrier")
    }

    public func gather(_ bytes: [UInt8], root: Int) throws -> [[UInt8]]? {
        var myCount = Int32(bytes.count)
        var counts = [Int32](repeating: 0, count: size)
        try check(MPI_Gather(&myCount, 1, ftdist_int32(), &counts, 1, ftdist_int32(), Int32(root), comm), "MPI_Gather(lengths)")
        var displacements = [Int32](repeating: 0, count: size)
        if rank == root { for i in 1..<max(size, 1) { displacements[i] = displacements[i - 1] + counts[i - 1] } }
        let total = rank == root ? Int(counts.reduce(0, +)) : 0
        var all = [UInt8](repeating: 0, count: max(total, 1))
        var mine = bytes
        try mine.withUnsafeMutableBytes { sb in
            try all.withUnsafeMutableBytes { rb in
                try check(MPI_Gatherv(sb.baseAddress, myCount, ftdist_byte(), rb.baseAddress, &counts, &displacements,
                                      ftdist_byte(), Int32(root), comm), "MPI_Gatherv")
            }
        }
        guard rank == root else { return nil }
        return (0..<size).map { Array(all[Int(displacements[$0])..<Int(displacements[$0] + counts[$0])]) }
    }
}

/// In-place `MPI_Allreduce(SUM)` of `base[range]` over `comm`, in pieces of
/// `MPICommunicator.allReduceChunk` floats.
func allReduceSumInChunks(_ base: UnsafeMutablePointer<Float>, _ range: Range<Int>, over comm: MPI_Comm?, name: String,
                          check: (Int32, String) throws -> Void) throws {
    var offset = range.lowerBound
    while offset < range.upperBound {
        let n = min(range.upperBound - offset, MPICommunicator.allReduceChunk)
        try check(MPI_Allreduce(ftdist_in_place(), base + offset, Int32(n), ftdist_float(), ftdist_op_sum(), comm),
                  "\(name), \(n) floats")
        offset += n
    }
}

/// Throws `failure: <MPI's error string>` unless `rc` is MPI_SUCCESS.
func checkMPI(_ rc: Int32, _ failure: @autoclosure () -> String) throws {
    guard rc != ftdist_success() else { return }
    var len: Int32 = 0
    var buf = [CChar](repeating: 0, count: 1024)
    MPI_Error_string(rc, &buf, &len)
    throw CommunicatorError("\(failure()): \(String(cString: buf))")
}

/// The communicator for this process: MPI when started by mpirun, otherwise single-process
/// (so a bare `ft-dist train` needs no MPI runtime at all).
public func makeCommunicator() throws -> Communicator {
    MPICommunicator.launchedByMPI ? try MPICommunicator() : SingleProcessCommunicator()
}
