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
    /// The ring of the overlapped gradient exchange (RingAllReduce) over all ranks, with fp32
    /// and with bf16 on the wire (the values are small integers, exact in bf16), in rounds of
    /// 4,099 floats so that segments are uneven and rounds many (nil: not under MPI).
    public var ringAllReduceCorrect: Bool? = nil
    /// The ring's all-gather alone (RingAllReduce.gather, the factored head's), fp32 and bf16:
    /// each rank's segments reach every rank, the others' stale values overwritten.
    public var ringGatherCorrect: Bool? = nil
    /// The same floats summed by the ring in its own pieces (fp32 on the wire), after a
    /// barrier: its speed beside `allReduceSeconds`.
    public var ringAllReduceSeconds: Double? = nil
    /// The CPU time (user + system) rank 0's process spent during that ring: what the ring
    /// would take from a backward pass running beside it.
    public var ringCPUSeconds: Double? = nil

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

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

        var ringOK: Bool?, ringGatherOK: Bool?, ringSeconds: Double?, ringCPUSeconds: Double?
        if let mpi = comm as? MPICommunicator {
            try comm.barrier()
            let t = Date(), cpu = Self.cpuSeconds()
            try mpi.ring().sum(buffer.baseAddress!, 0..<n)
            ringSeconds = Date().timeIntervalSince(t)
            ringCPUSeconds = Self.cpuSeconds() - cpu
            var wrong = 0.0
            for wire in RingAllReduce.Wire.allCases {
                for i in 0..<n { buffer[i] = Float((comm.rank + 1) * (i % 7)) }
                try mpi.ring(piece: 4099, wire: wire).sum(buffer.baseAddress!, 0..<n)
                if !(0..<n).allSatisfy({ buffer[$0] == Float(ranksSum * ($0 % 7)) }) { wrong = 1 }
            }
            var flags = [wrong]
            try comm.allReduceMax(&flags)
            ringOK = flags[0] == 0
            // gather: segment s of every piece comes from the rank that owns it, as (owner + 1) · (i mod 7)
            var gatherWrong = 0.0
            for wire in RingAllReduce.Wire.allCases {
                let ring = mpi.ring(piece: 4099, wire: wire)
                let pieces = (n + ring.piece - 1) / ring.piece
                let owner = { (i: Int) -> Int in
                    let k = i / ring.piece, piece = min(ring.piece, n - k * ring.piece)
                    let s = (0..<comm.size).first { ring.segmentRange($0, ofPieceOf: piece).contains(i - k * ring.piece) }!
                    return (0..<comm.size).first { ring.gatheredSegment(of: $0) == s }!
                }
                for i in 0..<n { buffer[i] = owner(i) == comm.rank ? Float((comm.rank + 1) * (i % 7)) : -1 }
                try ring.gather(buffer.baseAddress!, 0..<n)
                if pieces > 0, !(0..<n).allSatisfy({ buffer[$0] == Float((owner($0) + 1) * ($0 % 7)) }) { gatherWrong = 1 }
            }
            var gatherFlags = [gatherWrong]
            try comm.allReduceMax(&gatherFlags)
            ringGatherOK = gatherFlags[0] == 0
        }

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
                               allReduceFloats: n, allReduceSeconds: seconds, ringAllReduceCorrect: ringOK,
                               ringGatherCorrect: ringGatherOK, ringAllReduceSeconds: ringSeconds, ringCPUSeconds: ringCPUSeconds)
    }
}
