import Foundation

/// Collective operations between the ranks of a data-parallel run. Every rank calls the
/// same operations in the same order; buffers are summed in place.
public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// Human-readable description of the transport ("single process", "MPI (OpenMPI …)").
    var transport: String { get }
    /// Sum `buffer` over all ranks, in place, on every rank.
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws
    func allReduceSum(_ values: inout [Double]) throws
    /// Maximum over ranks, for agreement checks (e.g. "did any rank fail?").
    func allReduceMax(_ values: inout [Double]) throws
    /// Copy root's bytes to every rank (lengths may differ before the call).
    func broadcast(_ bytes: inout [UInt8], root: Int) throws
    /// Copy root's floats to every rank (same count everywhere).
    func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws
    func barrier() throws
    /// Every rank's bytes, in rank order, on root (nil on the other ranks).
    func gather(_ bytes: [UInt8], root: Int) throws -> [[UInt8]]?
    /// End every rank of the job now (after an error on some ranks only, the others would
    /// otherwise wait forever in their next collective).
    func abort(code: Int32) -> Never
    /// Leave the collective world for good (MPI_Finalize); nothing for a single process.
    /// Called once a command's work is done on every rank.
    func finalize()
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }

    /// Broadcast a string from root (configuration agreement, checkpoint paths).
    public func broadcast(_ string: String, root: Int = 0) throws -> String {
        var bytes = Array(string.utf8)
        try broadcast(&bytes, root: root)
        return String(decoding: bytes, as: UTF8.self)
    }
}
