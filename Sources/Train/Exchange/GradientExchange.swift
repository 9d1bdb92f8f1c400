import Distributed
import Foundation
import Model

/// How the ranks turn their shard gradients into one AdamW update of every replica.
///
/// Plain (one rank, `--no-host-shared-memory`, or hosts with different rank counts):
/// `MPI_Allreduce` of the whole gradient, then every rank runs AdamW over all parameters.
///
/// Host-shared (the default under mpirun): the gradient buffers of a host's ranks live in one
/// MPI-3 shared window, and the flat parameter range is cut into one slice per local rank.
///   1. reduce:  each rank sums its slice of all local gradient buffers (fixed order: local
///               rank 0 + 1 + …) into its own buffer; between hosts only that slice is
///               all-reduced, among the ranks with the same local rank, by a ring
///               (RingAllReduce: at the bandwidth bound, fp32 or bf16 on the wire).
///   2. update:  the clipping norm comes from per-chunk sums of squares (so it is the same
///               bits on every rank and for every rank count), then AdamW runs on the slice.
///   3. share:   each rank publishes its updated slice through its (now spent) gradient
///               buffer and copies the other slices into its own replica.
/// Every rank still holds all the trainable values (checked by checksum every N steps); a
/// rank's AdamW moments are current only on its slice, which `gatherToRoot` collects before
/// rank 0 writes a checkpoint. The exchange works on flat buffers of the trainable count — the
/// whole model for full fine-tuning — and owns the gradient memory, which TrainableParameters
/// lays out.
///
/// Step 1 runs after the whole backward pass, or — `overlapWithBackward` — while it runs
/// (OverlappedReduction), stage by stage as the pass reports them; between hosts of one rank
/// each, the head's gradient then travels as its factors (`headGradientFactors`).
public final class GradientExchange {
    /// Where this rank's backward pass accumulates its shard's gradient.
    public let gradients: FloatBuffer
    /// The part of the flat parameter buffer whose AdamW update this rank computes.
    public let ownedRange: Range<Int>
    /// Granularity of the slices and of the norm's partial sums (fixed by the parameter
    /// count alone, so the norm's bits do not depend on the rank count).
    public let chunk: Int
    private let window: HostSharedWindow?
    private let comm: Communicator
    private var overlapped: OverlappedReduction?

    /// How gradients travel between hosts (bf16: half the bytes, not exact; needs the ring).
    public let interHostWire: RingAllReduce.Wire
    /// The ring between hosts when the reduction runs after the backward (made when first
    /// needed: with the overlap, the overlapped reduction has its own).
    private lazy var afterBackwardRing: RingAllReduce? = window?.crossHostRing(wire: interHostWire)

    public init(count: Int, comm: Communicator, hostSharedMemory: Bool, interHostWire: RingAllReduce.Wire = .fp32) throws {
        self.comm = comm
        self.interHostWire = interHostWire
        chunk = Self.chunkSize(count: count)
        var window: HostSharedWindow?
        if hostSharedMemory && comm.size > 1 {
            // shared windows are MPI-3's; any other communicator reduces the plain way
            if let mpi = comm as? MPICommunicator {
                switch try mpi.makeHostSharedWindow(floatsPerRank: count) {
                case .success(let w): window = w
                case .failure(let why): fallbackReason = why.description
                }
            } else {
                fallbackReason = "\(comm.transport) has no shared windows"
            }
        }
        self.window = window
        if let w = window {
            gradients = FloatBuffer(wrapping: w.buffer(w.localRank), count: count)
            ownedRange = Self.slice(count: count, chunk: chunk, part: w.localRank, parts: w.localSize)
        } else {
            gradients = FloatBuffer(count: count)
            ownedRange = 0..<count
        }
    }

    deinit { overlapped?.close() }

    /// Why host shared memory was asked for but not used.
    public private(set) var fallbackReason: String?

    /// Reduce while the backward pass runs, for the gradients laid out by `trainable` (whose
    /// buffer is `gradients`). Needs host shared memory (also at one rank per host) and MPI
    /// at MPI_THREAD_SERIALIZED; otherwise `overlapFallbackReason` says why not, and the
    /// reduction runs after the backward. `.hosts` overlaps only when the ranks span several
    /// hosts: there the link is idle during the backward; on one host the shared-memory sum
    /// is work for the same cores, and running it beside the backward only slows the backward.
    public func overlapWithBackward(_ trainable: TrainableParameters, mode: OverlapMode) {
        precondition(trainable.gradients.pointer == gradients.pointer, "overlap for another gradient buffer")
        guard comm.size > 1, overlapped == nil, mode != .never else { return }
        if mode == .hosts, let w = window, w.hostCount == 1 {
            overlapFallbackReason = "one host, where the sum competes with the backward for the cores; --overlap always forces it"
            return
        }
        guard let w = window else {
            overlapFallbackReason = "it needs host shared memory"
            return
        }
        guard (comm as? MPICommunicator)?.threadsSerialized == true else {
            overlapFallbackReason = "MPI does not provide MPI_THREAD_SERIALIZED"
            return
        }
        overlapped = OverlappedReduction(window: w, ring: w.crossHostRing(wire: interHostWire), comm: comm, trainable: trainable,
                                         slices: (0..<w.localSize).map(range(ofLocalRank:)), ownedRange: ownedRange)
    }

    /// Why the overlap was asked for but not used.
    public private(set) var overlapFallbackReason: String?

    /// What the step's last backward pass reports its stages to (nil: no overlap).
    public var backwardProgress: BackwardProgress? { overlapped }

    /// What every pass of a step hands the head's gradient to, as its factors (nil: the head
    /// adds dE itself). OverlappedReduction says when.
    public var headGradientFactors: HeadGradientFactors? {
        overlapped?.factoredHead == true ? overlapped : nil
    }

    /// Before a step's passes: the tokens of the whole global batch (with overlap, the
    /// input-embedding rows of these tokens are reduced apart) and the label rows of each
    /// rank's shard (rank order; the layout of the head's factors).
    public func beginStep(tokens: [Int32], labelRows: [Int]) {
        overlapped?.begin(tokens: tokens, labelRows: labelRows)
    }

    /// "MPI_Allreduce", "host shared memory (2 ranks per host × 1 host)", or at one rank
    /// "one rank, nothing to exchange".
    public var description: String {
        if comm.size == 1 { return "one rank, nothing to exchange" }
        let timing = overlapped != nil ? ", overlapped with the backward" + (overlapped!.factoredHead ? " (the head's gradient as its factors)" : "")
            : ", after the backward" + (overlapFallbackReason.map { " (no overlap: \($0))" } ?? "")
        guard let w = window else {
            return "MPI_Allreduce" + (fallbackReason.map { " (no host shared memory: \($0))" } ?? "") + timing
                + (interHostWire == .bf16 ? " (fp32: bf16 between hosts needs host shared memory)" : "")
        }
        let wire = interHostWire == .bf16 ? " in bf16" : ""
        let between = w.hostCount > 1 ? ", ring between hosts\(wire)" : ""
        return "host shared memory (\(w.localSize) rank(s) per host × \(w.hostCount) host(s)\(between))" + timing
    }

    /// 1 Mi floats for the real model; smaller for tiny models so that every rank still owns
    /// a slice: the power of two nearest above count/256, within 1 Ki…1 Mi.
    static func chunkSize(count: Int) -> Int {
        var chunk = 1024
        while chunk < (1 << 20) && chunk * 256 < count { chunk *= 2 }
        return chunk
    }

    /// Slice `part` of `parts` of 0..<count, cut at chunk boundaries.
    static func slice(count: Int, chunk: Int, part: Int, parts: Int) -> Range<Int> {
        let chunks = (count + chunk - 1) / chunk
        let lo = min(count, chunks * part / parts * chunk), hi = min(count, chunks * (part + 1) / parts * chunk)
        return lo..<hi
    }

    private func range(ofLocalRank r: Int) -> Range<Int> {
        Self.slice(count: gradients.count, chunk: chunk, part: r, parts: window?.localSize ?? 1)
    }

    /// After this, `gradients[ownedRange]` holds the sum over all ranks.
    public func reduce() throws {
        if let overlapped {
            try overlapped.finish()
            return
        }
        guard let w = window else {
            try comm.allReduceSum(gradients.buffer)
            return
        }
        try w.synchronize()  // every local rank has finished its backward pass
        if w.localSize > 1 {
            let peers = (0..<w.localSize).map { w.buffer($0) }
            let mine = w.buffer(w.localRank)
            parallelChunks(ownedRange) { _, lo, hi in Self.sum(peers, lo..<hi, into: mine) }
        }
        try afterBackwardRing?.sum(w.buffer(w.localRank), ownedRange)
    }

    /// out[i] = peers[0][i] + peers[1][i] + … for i in `range` (in that order, so that every
    /// way of cutting the range gives the same bits).
    static func sum(_ peers: [UnsafeMutablePointer<Float>], _ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            var s = Float8.load(peers[0] + i)
            for p in 1..<peers.count { s += Float8.load(peers[p] + i) }
            s.store(out + i)
            i += 8
        }
        while i < range.upperBound {
            var s = peers[0][i]
            for p in 1..<peers.count { s += peers[p][i] }
            out[i] = s
            i += 1
        }
    }

    /// L2 norm of the summed gradient, the same bits on every rank.
    public func globalNorm() throws -> Double {
        guard let w = window else { return GradientClipping.globalNorm(gradients, chunk: chunk) }
        let chunks = (gradients.count + chunk - 1) / chunk
        // every chunk is filled by exactly one rank (on the first host) and zero elsewhere, so
        // the all-reduce adds only exact zeros to each value
        var squares = [Double](repeating: 0, count: chunks)
        if w.hostIndex == 0 {
            let owned = (ownedRange.lowerBound / chunk)..<((ownedRange.upperBound + chunk - 1) / chunk)
            let mine = GradientClipping.chunkSquares(gradients, chunk: chunk, chunks: owned)
            for (k, c) in owned.enumerated() { squares[c] = mine[k] }
        }
        try comm.allReduceSum(&squares)
        return squares.reduce(0, +).squareRoot()
    }

    /// Where AdamW should also store the new parameters of `ownedRange` (this rank's spent
    /// gradient buffer) when other local ranks will copy them; nil when nobody needs them.
    public var publishTarget: UnsafeMutablePointer<Float>? {
        guard let w = window, w.localSize > 1 else { return nil }
        return gradients.pointer
    }

    /// After AdamW updated `trainable.values[ownedRange]` (and stored them at
    /// `publishTarget`): make every local replica whole again.
    public func shareUpdatedValues(of trainable: TrainableParameters) throws {
        try gatherSlices(of: trainable.values, toEveryRank: true, published: true)
    }

    /// Before rank 0 writes a checkpoint: complete its copy of per-slice state (the AdamW
    /// moments), which other local ranks updated.
    public func gatherToRoot(_ buffers: [FloatBuffer]) throws {
        for b in buffers { try gatherSlices(of: b, toEveryRank: false, published: false) }
    }

    /// Root's `buffer` (per-slice state read from a checkpoint: the AdamW moments) to every
    /// rank. With host sharing a non-root rank keeps only its owned slice; the pieces go
    /// through a 64 MB scratch, so the rest of its buffer never becomes resident.
    public func broadcastOwnedSlices(_ buffer: FloatBuffer) throws {
        // the same decision on every rank (local sizes agree across hosts)
        guard let w = window, w.localSize > 1 else {
            try comm.broadcast(buffer.buffer, root: 0)
            return
        }
        let piece = 1 << 24
        let scratch = comm.rank == 0 ? nil : FloatBuffer(count: piece, zeroed: false)
        var offset = 0
        while offset < buffer.count {
            let n = min(piece, buffer.count - offset)
            let target = scratch?.pointer ?? buffer.pointer + offset
            try comm.broadcast(UnsafeMutableBufferPointer(start: target, count: n), root: 0)
            let keep = ownedRange.clamped(to: offset..<(offset + n))
            if let scratch, !keep.isEmpty {
                memcpy(buffer.pointer + keep.lowerBound, scratch.pointer + (keep.lowerBound - offset),
                       keep.count * MemoryLayout<Float>.stride)
            }
            offset += n
        }
    }

    /// Each rank publishes `buffer[ownedRange]` in the owned slice of its spent gradient buffer;
    /// then the receivers copy the other slices. The gradient buffers hold garbage afterwards.
    private func gatherSlices(of buffer: FloatBuffer, toEveryRank: Bool, published: Bool) throws {
        guard let w = window, w.localSize > 1 else { return }
        precondition(buffer.count == gradients.count)
        if !published { copy(from: buffer.pointer, to: gradients.pointer, ownedRange) }
        try w.synchronize()
        if toEveryRank || comm.rank == 0 {
            for peer in 0..<w.localSize where peer != w.localRank {
                copy(from: w.buffer(peer), to: buffer.pointer, range(ofLocalRank: peer))
            }
        }
        // no rank may overwrite its gradient buffer (next step) while another still reads it
        try w.synchronize()
    }

    /// The whole summed gradient on every rank, as `MPI_Allreduce` would leave it (for
    /// `ft-dist bench`, which times this beside a plain `MPI_Allreduce`). With the head as
    /// factors this is the last step's exchange again — its factors gathered and multiplied,
    /// the dense rest summed, the input-embedding rows not — so the time is what a step's
    /// exchange costs, and the embedding region holds the last step's head product.
    public func allReduceWholeGradient() throws {
        try reduce()
        // the sums are already where gatherSlices reads them (each rank's owned slice of its
        // buffer); the other slices of our buffer held our shard's gradient, already summed
        try gatherSlices(of: gradients, toEveryRank: true, published: true)
    }

    private func copy(from source: UnsafeMutablePointer<Float>, to destination: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
        parallelChunks(range) { _, lo, hi in
            memcpy(destination + lo, source + lo, (hi - lo) * MemoryLayout<Float>.stride)
        }
    }
}

/// When the gradient exchange runs beside the backward pass.
public enum OverlapMode: String, Codable, Sendable, CaseIterable {
    /// When the ranks span several hosts (the default): the link works while the cores compute.
    case hosts
    /// Always, one host included (for comparison: there it costs the backward what it saves).
    case always
    /// Never: reduce after the whole backward.
    case never
}
