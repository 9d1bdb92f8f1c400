import Foundation

/// Size-1 communicator: `ft-dist train` started without mpirun. Every collective is the identity.
public final class SingleProcessCommunicator: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var transport: String { "single process" }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    public func allReduceSum(_ values: inout [Double]) throws {}
    public func allReduceMax(_ values: inout [Double]) throws {}
    public func broadcast(_ bytes: inout [UInt8], root: Int) throws {}
    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws {}
    public func barrier() throws {}
    public func gather(_ bytes: [UInt8], root: Int) throws -> [[UInt8]]? { [bytes] }
    public func abort(code: Int32) -> Never { exit(code) }
    public func finalize() {}
}
