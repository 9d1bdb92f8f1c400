import CBLAS
import Foundation

/// OpenBLAS's thread count for this process (ranks × threads should not exceed the cores).
public enum BLASThreads {
    public static var count: Int { Int(openblas_get_num_threads()) }

    public static func set(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }

    /// OPENBLAS_NUM_THREADS when set (OpenBLAS reads it itself), else the cores divided among
    /// the ranks on this host (Open MPI's OMPI_COMM_WORLD_LOCAL_SIZE). Returns the count.
    @discardableResult
    public static func configureForRank() -> Int {
        let env = ProcessInfo.processInfo.environment
        if let v = env["OPENBLAS_NUM_THREADS"], let n = Int(v), n > 0 { return count }
        let local = Int(env["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? 1
        set(max(1, ProcessInfo.processInfo.activeProcessorCount / max(local, 1)))
        return count
    }

    /// Runs `body` with OpenBLAS on one thread: for the many small products of the adapters
    /// (rank 16), where waking and joining the other threads costs more than the arithmetic.
    @inline(__always)
    public static func singleThreaded<T>(_ body: () throws -> T) rethrows -> T {
        let n = count
        if n == 1 { return try body() }
        set(1)
        defer { set(n) }
        return try body()
    }
}
