import CMPI
import Foundation

/// In-place sum of a float range over the H ranks of a communicator, as a ring: a
/// reduce-scatter (H−1 steps: send one segment to the right neighbour, receive another from
/// the left and add it) then an all-gather (H−1 steps: pass the finished segments on). Each
/// rank sends and receives 2·(H−1)/H of the range — the bandwidth bound of an all-reduce —
/// and sends and receives at the same time, so a full-duplex link is used both ways.
///
/// The range goes round in pieces, several in flight at once: a large message over TCP
/// starts with a handshake (Open MPI's rendezvous), and on a loaded link that round trip
/// waits behind the queued data — with one message at a time the link would idle for it at
/// every step. With `inFlight` pieces, one piece's handshake runs while another's data flows.
///
/// Written for a communication thread that runs beside the backward pass: nonblocking
/// point-to-point messages polled with `MPI_Testall` and short sleeps. Open MPI makes no
/// progress on its own (no progress thread for the TCP transport), and a blocking call would
/// spin a core that the backward pass needs.
///
/// The sums are the same bits on every rank (each segment is summed once along the ring and
/// then copied) and depend only on H and the piece size, not on timing. One caller at a time.
public final class RingAllReduce {
    public let rank: Int
    public let size: Int
    private let comm: MPI_Comm?
    /// Floats per piece, and pieces in flight at once: 2 MB pieces, 8 at a time, came within
    /// 1.06× of the ring bound over a 1 Gbit/s link whose queue holds 100 ms (tc tbf), where
    /// one 8 MB piece at a time took 1.75× (ft-dist doctor over launch/netns-two-hosts.sh).
    public static let defaultPiece = 1 << 19
    public let piece: Int
    public let inFlight: Int
    /// How values travel: fp32, or bf16 (half the bytes; partial sums are rounded to bf16 at
    /// every hop and added in fp32 — not exact, off by default).
    public enum Wire: String, Codable, Sendable, CaseIterable {
        case fp32, bf16
        public var bytes: Int { self == .fp32 ? 4 : 2 }
    }
    public let wire: Wire
    /// How polls wait while no message completes (between two polls the sockets' buffers
    /// keep the link busy).
    public var polls = PollBackoff()

    /// One piece going round: where it is, which step it is at, its messages and scratch.
    private final class Piece {
        var x: UnsafeMutablePointer<Float>
        var n: Int
        var step = 0
        var tag: Int32 = 0
        var requests = [ftdist_request_null(), ftdist_request_null()]
        let send: UnsafeMutableRawPointer
        let receive: UnsafeMutableRawPointer
        init(bytes: Int) {
            x = UnsafeMutablePointer(bitPattern: 64)!
            n = 0
            send = .allocate(byteCount: bytes, alignment: 64)
            receive = .allocate(byteCount: bytes, alignment: 64)
        }
        deinit {
            send.deallocate()
            receive.deallocate()
        }
    }
    private let slots: [Piece]
    /// Distinguishes the messages of pieces in flight: tag = (sequence mod `sequences`) ×
    /// `steps` + step, below 2^14 (MPI guarantees tags up to 32767).
    private var sequence = 0
    private let sequences: Int
    /// Messages of one piece: H−1 reduce-scatter steps, then H−1 all-gather steps.
    private let steps: Int

    init(comm: MPI_Comm?, rank: Int, size: Int, piece: Int = RingAllReduce.defaultPiece, inFlight: Int = 8, wire: Wire = .fp32) {
        steps = 2 * (size - 1)
        sequences = max(1, (1 << 14) / max(steps, 1))
        // more pieces in flight than distinct tags would let two of them share a tag
        let inFlight = min(inFlight, sequences)
        precondition(piece > 0 && inFlight > 0)
        self.comm = comm
        self.rank = rank
        self.size = size
        self.piece = piece
        self.inFlight = inFlight
        self.wire = wire
        let segmentBytes = (piece / max(size, 1) + 1) * 4
        slots = (0..<inFlight).map { _ in Piece(bytes: segmentBytes) }
    }

    /// `base[range]` becomes the sum over the ranks of everybody's `base[range]`. Every rank
    /// calls it with ranges of the same length, in the same order.
    public func sum(_ base: UnsafeMutablePointer<Float>, _ range: Range<Int>) throws {
        try run(base, range, firstStep: 0)
    }

    /// The all-gather half alone: in every piece of `base[range]` (pieces of `piece` floats
    /// from the range's start) each rank holds one segment, `gatheredSegment(of:)`, and
    /// afterwards every rank holds all of them — (H−1)/H of the range sent and received per
    /// rank, half of what `sum` moves. With bf16 on the wire every segment is rounded to
    /// bf16, its owner's copy included. Every rank calls it with ranges of the same length.
    public func gather(_ base: UnsafeMutablePointer<Float>, _ range: Range<Int>) throws {
        try run(base, range, firstStep: size - 1)
    }

    /// The segment of each piece that `rank` contributes to `gather`: the one the
    /// reduce-scatter would have left finished there.
    public func gatheredSegment(of rank: Int) -> Int { (rank + 1) % size }

    /// Where segment `s` of a piece of `n` floats lies within the piece.
    public func segmentRange(_ s: Int, ofPieceOf n: Int) -> Range<Int> { segment(s, of: n) }

    /// Pieces from step `firstStep` on: 0 sums (reduce-scatter, then all-gather), H−1 only gathers.
    private func run(_ base: UnsafeMutablePointer<Float>, _ range: Range<Int>, firstStep: Int) throws {
        guard size > 1, !range.isEmpty else { return }
        var next = range.lowerBound
        var active: [Piece] = []
        var free = slots
        var backoff = polls
        while next < range.upperBound || !active.isEmpty {
            while next < range.upperBound, let p = free.popLast() {
                p.x = base + next
                p.n = min(piece, range.upperBound - next)
                p.step = firstStep
                p.tag = Int32((sequence % sequences) * steps)
                sequence += 1
                next += p.n
                try post(p)
                active.append(p)
            }
            var progressed = false
            for p in active {
                var done: Int32 = 0
                try checkMPI(MPI_Testall(2, &p.requests, &done, ftdist_statuses_ignore()), "MPI_Testall(ring)")
                guard done != 0 else { continue }
                progressed = true
                finish(p)
                p.step += 1
                if p.step < steps { try post(p) }
            }
            let finished = active.filter { $0.step == steps }
            if !finished.isEmpty {
                active.removeAll { $0.step == steps }
                free += finished
            }
            if progressed { backoff.reset() } else { backoff.sleep() }
        }
    }

    /// Segment s of a piece of n floats.
    private func segment(_ s: Int, of n: Int) -> Range<Int> {
        (n * s / size)..<(n * (s + 1) / size)
    }

    /// The segments a piece sends and receives at `step`: reduce-scatter for steps < H−1
    /// (after step k this rank holds k + 2 ranks' sum of segment rank − k − 1; at the end,
    /// all of segment rank + 1), then all-gather (passing the finished segments on).
    private func segments(_ p: Piece) -> (send: Range<Int>, receive: Range<Int>) {
        let k = p.step, h = size
        if k < h - 1 {
            return (segment((rank - k + h) % h, of: p.n), segment((rank - k - 1 + 2 * h) % h, of: p.n))
        }
        let g = k - (h - 1)
        return (segment((rank + 1 - g + h) % h, of: p.n), segment((rank - g + h) % h, of: p.n))
    }

    private func post(_ p: Piece) throws {
        if p.step == size - 1 && wire == .bf16 {
            // bf16 on the wire: the finished segment is rounded here too, so that every host
            // ends with the same values
            for i in segment((rank + 1) % size, of: p.n) { p.x[i] = Self.bf16Rounded(p.x[i]) }
        }
        let (send, receive) = segments(p)
        let width = wire.bytes, right = Int32((rank + 1) % size), left = Int32((rank + size - 1) % size)
        var source = UnsafeMutableRawPointer(p.x + send.lowerBound)
        if wire == .bf16 {
            let out = p.send.assumingMemoryBound(to: UInt16.self), x = p.x + send.lowerBound
            for i in 0..<send.count { out[i] = Self.bf16Bits(x[i]) }
            source = p.send
        }
        let tag = p.tag + Int32(p.step)
        try checkMPI(MPI_Irecv(p.receive, Int32(receive.count * width), ftdist_byte(), left, tag, comm, &p.requests[0]),
                     "MPI_Irecv(ring, \(receive.count) values from \(left))")
        try checkMPI(MPI_Isend(source, Int32(send.count * width), ftdist_byte(), right, tag, comm, &p.requests[1]),
                     "MPI_Isend(ring, \(send.count) values to \(right))")
    }

    /// A step's messages are done: add (reduce-scatter) or place (all-gather) what came in.
    private func finish(_ p: Piece) {
        let receive = segments(p).receive
        let target = p.x + receive.lowerBound, count = receive.count
        let adding = p.step < size - 1
        switch wire {
        case .fp32:
            let r = p.receive.assumingMemoryBound(to: Float.self)
            if adding { for i in 0..<count { target[i] += r[i] } } else { target.update(from: r, count: count) }
        case .bf16:
            let r = p.receive.assumingMemoryBound(to: UInt16.self)
            if adding {
                for i in 0..<count { target[i] += Float(bitPattern: UInt32(r[i]) << 16) }
            } else {
                for i in 0..<count { target[i] = Float(bitPattern: UInt32(r[i]) << 16) }
            }
        }
    }

    /// x rounded to the nearest bfloat16 (ties to even), as a Float.
    @inline(__always) static func bf16Rounded(_ x: Float) -> Float {
        Float(bitPattern: UInt32(bf16Bits(x)) << 16)
    }

    @inline(__always) static func bf16Bits(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if x.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x40 }
        return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }
}
