import Foundation

/// `ft-dist doctor`: proves the collectives work on this launch (values checked exactly) and
/// measures the all-reduce bandwidth — the first thing to run on a new cluster.
public struct CollectiveCheck: Codable {
    public var rank: Int
    public var size: Int
    public var transport: String
    public var hosts: [String]
    public var allReduceCorrect: Bool
    public var broadcastCorrect: Bool
    public var gatherCorrect: Bool
    public var allReduceFloats: Int
    public var allReduceSeconds: Double

    /// Run on every rank; the returned value is complete on rank 0.
    public static func run(_ comm: Communicator, floats: Int = 1 << 20) throws -> CollectiveCheck {
        // all-reduce: rank r contributes (r + 1) · (i mod 7); small integers are exact in fp32
        let n = max(floats, 1)
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        defer { buffer.deallocate() }
        for i in 0..<n { buffer[i] = Float((comm.rank + 1) * (i % 7)) }
        try comm.barrier()
        let start = Date()
        try comm.allReduceSum(buffer)
        let seconds = Date().timeIntervalSince(start)
        let ranksSum = comm.size * (comm.size + 1) / 2
        var ok = (0..<n).allSatisfy { buffer[$0] == Float(ranksSum * ($0 % 7)) }
        var flags = [ok ? 0.0 : 1.0]
        try comm.allReduceMax(&flags)
        ok = flags[0] == 0

        var bytes: [UInt8] = comm.isRoot ? Array("broadcast from rank 0".utf8) : []
        try comm.broadcast(&bytes, root: 0)
        var bcastOK = [String(decoding: bytes, as: UTF8.self) == "broadcast from rank 0" ? 0.0 : 1.0]
        try comm.allReduceMax(&bcastOK)

        let host = ProcessInfo.processInfo.hostName
        let gathered = try comm.gather(Array("\(comm.rank)@\(host)".utf8), root: 0)
        let names = gathered?.map { String(decoding: $0, as: UTF8.self) } ?? []
        let gatherOK = comm.isRoot ? names.enumerated().allSatisfy { $0.element.hasPrefix("\($0.offset)@") } && names.count == comm.size : true
        return CollectiveCheck(rank: comm.rank, size: comm.size, transport: comm.transport,
                               hosts: names.map { String($0.split(separator: "@", maxSplits: 1).last ?? "") },
                               allReduceCorrect: ok, broadcastCorrect: bcastOK[0] == 0, gatherCorrect: gatherOK,
                               allReduceFloats: n, allReduceSeconds: seconds)
    }
}
