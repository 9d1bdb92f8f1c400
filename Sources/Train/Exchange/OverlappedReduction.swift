import Distributed
import Foundation
import Model

/// The gradient exchange run while the backward pass continues (by default when the ranks
/// span several hosts, `--overlap always` on one; `--no-overlap` reduces after the whole
/// backward instead).
///
/// The last backward pass of a step reports each stage as it ends (BackwardProgress: the
/// head's gradients first — for full fine-tuning the tied embedding's dense gradient, 63% of
/// all floats — then layer 17 … 0). A communication thread takes the stages in that order:
///   1. waits until every rank of the host has finished the stage (their progress counters
///      in the shared window; polled with growing sleeps);
///   2. sums its share of the stage — each stage's ranges cut into one piece per local rank —
///      over the host's gradient buffers (local rank 0 + 1 + …, the order of the
///      non-overlapped path) into the buffer of the rank whose AdamW slice holds it;
///   3. sums that piece between hosts with a ring (RingAllReduce), among the ranks with the
///      same local rank, which took the same piece.
/// The input-embedding rows, added after layer 0, would change the already-sent embedding
/// gradient: they go to a small buffer of their own (rows of the global batch's distinct
/// tokens, known to every rank), all-reduced at the end and added to the owners' slices.
/// `finish()` waits for the thread and leaves `gradients[ownedRange]` of every rank holding
/// the sum, as the non-overlapped reduction does.
///
/// The head as factors (`factoredHead`: one rank per host, several hosts, full fine-tuning):
/// the tied embedding's dense gradient dE = Σ dlogitsᵀ · x has the rank of the global batch's
/// label rows (≈112), so instead of its 168M floats the hosts exchange the rows of dlogits
/// [M, V] and x [M, C] — 29M floats for the 168M, each host's share sent once round the
/// ring's all-gather (RingAllReduce.gather) — and each multiplies
/// them on arrival, dE = Σ_r G_rᵀ X_r in rank order: the same products as the dense path's,
/// within summation order. The head's stage then sends only the final norm's gradient
/// densely. Every pass of the step hands its factors and its input-embedding rows here
/// (HeadGradientFactors), so the dense embedding region stays zero until the product
/// overwrites it. With several ranks per host the factors would first have
/// to meet in shared memory; there the dense path runs.
///
/// Progress: Open MPI makes no asynchronous progress for TCP (open-mpi/ompi #9759, #8436), so
/// the communication thread drives it with nonblocking requests and `MPI_Testall` polls; MPI
/// runs at MPI_THREAD_SERIALIZED, and the main thread makes no MPI call between a step's
/// first reported stage and `finish()`'s wait. Blocking collectives on that thread would
/// spin a core that the backward pass needs; polls with sleeps leave it to the backward.
final class OverlappedReduction: BackwardProgress, HeadGradientFactors {
    private let window: HostSharedWindow
    private let comm: Communicator
    private let ring: RingAllReduce?
    private let stages: [[Range<Int>]]
    private let peers: [UnsafeMutablePointer<Float>]
    /// The AdamW slices of the local ranks (whose buffer receives a sum).
    private let slices: [Range<Int>]
    private let ownedRange: Range<Int>
    private let embedding: ParameterTensor?
    /// Whether the head's gradient travels as its factors (above).
    let factoredHead: Bool
    /// The ranges each stage sends densely (with the factored head, stage 0 without the embedding).
    private let denseStages: [[Range<Int>]]

    // state shared with the communication thread, under `condition`
    private let condition = NSCondition()
    private var announced = 0
    private var processed = 0
    private var failure: Error?
    private var closed = false
    /// Stages published by this rank before the current step (the peers' counters grow alike).
    private var stepBase: Int64 = 0

    // input-embedding rows of the step: token → row of `rows`
    private var rowOfToken: [Int32: Int] = [:]
    private var rowTokens: [Int32] = []
    private let rows = GrowableBuffer()

    // the factored head's rows of the step, one block per rank in rank order: rank r's
    // dlogits [m_r, V] then its x [m_r, C]
    private let factors = GrowableBuffer()
    private var labelRows: [Int] = []
    private var blockStarts: [Int] = []
    private var appendedFactorRows = 0
    /// The blocks as the ring's all-gather moves them: each rank's in its segment of every piece.
    private let gathered = GrowableBuffer()

    init(window: HostSharedWindow, ring: RingAllReduce?, comm: Communicator, trainable: TrainableParameters,
         slices: [Range<Int>], ownedRange: Range<Int>) {
        self.window = window
        self.comm = comm
        self.ring = ring
        stages = trainable.backwardStages
        peers = (0..<window.localSize).map { window.buffer($0) }
        self.slices = slices
        self.ownedRange = ownedRange
        embedding = trainable.embeddingTensor
        factoredHead = embedding != nil && window.localSize == 1 && ring != nil
        // one rank per host: the ring's ranks are the world's (crossHost is split in world-rank order)
        precondition(!factoredHead || ring!.rank == comm.rank, "the ring's rank order is not the world's")
        if factoredHead, let e = embedding {
            let dense = e.offset..<(e.offset + e.count)
            denseStages = stages.enumerated().map { stage, ranges in
                stage != 0 ? ranges : ranges.flatMap { r in
                    [r.lowerBound..<max(r.lowerBound, min(r.upperBound, dense.lowerBound)),
                     min(r.upperBound, max(r.lowerBound, dense.upperBound))..<r.upperBound].filter { !$0.isEmpty }
                }
            }
        } else {
            denseStages = stages
        }
        let thread = Thread { [self] in run() }
        thread.name = "ft-dist gradient exchange"
        thread.start()
    }

    /// Before a step's passes: the distinct tokens of the global batch (their input-embedding
    /// rows are reduced apart from the rest of the embedding gradient) and the label rows of
    /// every rank's shard (the factored head's layout).
    func begin(tokens: [Int32], labelRows: [Int]) {
        condition.lock()
        precondition(announced == 0 && processed == 0, "begin() while a step's exchange is running")
        condition.unlock()
        guard let e = embedding else { return }
        if factoredHead {
            precondition(labelRows.count == comm.size, "label rows for \(labelRows.count) of \(comm.size) ranks")
            let (v, c) = (e.shape[0], e.shape[1])
            self.labelRows = labelRows
            blockStarts = labelRows.indices.map { labelRows[..<$0].reduce(0, +) * (v + c) }
            appendedFactorRows = 0
            factors.reserve(max(1, labelRows.reduce(0, +) * (v + c)))
        }
        rowTokens = Array(Set(tokens)).sorted()
        rowOfToken = Dictionary(uniqueKeysWithValues: rowTokens.enumerated().map { ($1, $0) })
        let width = e.shape[1]
        rows.reserve(max(1, rowTokens.count * width))
        rows.pointer.initialize(repeating: 0, count: rowTokens.count * width)
    }

    // MARK: BackwardProgress (main thread)

    func stageFinished(_ stage: Int) {
        condition.lock()
        precondition(stage == announced, "stage \(stage) reported after \(announced) of \(stages.count)")
        announced += 1
        // after this rank's gradient stores of the stage (release: the peers see them)
        window.publishProgress(stepBase + Int64(announced))
        condition.signal()
        condition.unlock()
    }

    func append(dlogits: UnsafePointer<Float>, x: UnsafePointer<Float>, rows count: Int) {
        guard let e = embedding, factoredHead else { preconditionFailure("head factors without a factored head") }
        let own = labelRows[comm.rank]
        precondition(appendedFactorRows + count <= own, "the head gave \(appendedFactorRows + count) label rows, the shard has \(own)")
        let (v, c) = (e.shape[0], e.shape[1]), block = factors.pointer + blockStarts[comm.rank]
        (block + appendedFactorRows * v).update(from: dlogits, count: count * v)
        (block + own * v + appendedFactorRows * c).update(from: x, count: count * c)
        appendedFactorRows += count
    }

    func embeddingRowGradient(token: Int32) -> UnsafeMutablePointer<Float> {
        guard let row = rowOfToken[token], let e = embedding else {
            preconditionFailure("token \(token) is not in the global batch given to begin()")
        }
        return rows.pointer + row * e.shape[1]
    }

    // MARK: the step's end (main thread)

    /// Report the stages no pass reported (an empty shard), wait for the thread, then reduce
    /// the input-embedding rows. Afterwards `gradients[ownedRange]` holds the global sum.
    func finish() throws {
        condition.lock()
        let reported = announced
        condition.unlock()
        for stage in reported..<stages.count { stageFinished(stage) }
        if factoredHead {
            precondition(appendedFactorRows == labelRows[comm.rank],
                         "the head gave \(appendedFactorRows) label rows, the shard has \(labelRows[comm.rank])")
            condition.lock()
            while processed < 1 && failure == nil { condition.wait() }
            let failed = failure
            condition.unlock()
            // the layers' exchange goes on in the thread meanwhile
            if failed == nil { multiplyHeadFactors() }
        }
        condition.lock()
        while processed < stages.count && failure == nil { condition.wait() }
        let failed = failure
        announced = 0
        processed = 0
        stepBase += Int64(stages.count)
        condition.unlock()
        if let failed { throw failed }
        // the sums other local ranks wrote into this rank's slice become visible
        try window.synchronize()
        try reduceEmbeddingRows()
        rowTokens = []
        rowOfToken = [:]
    }

    /// dE = Σ over the ranks, in rank order, of G_rᵀ X_r (the summed factors), into this rank's
    /// buffer — with one rank per host its slice is the whole gradient. One product per rank,
    /// each added onto the sum so far: at 2 hosts, when every rank's shard is one pass, the
    /// same bits as each rank's own product summed by the ring.
    private func multiplyHeadFactors() {
        guard let e = embedding else { return }
        let (v, c) = (e.shape[0], e.shape[1]), dE = peers[window.localRank] + e.offset
        var written = false
        for (r, m) in labelRows.enumerated() where m > 0 || (r == labelRows.count - 1 && !written) {
            let g = factors.pointer + blockStarts[r]
            weightGradientFromFactors(dE, dy: g, x: g + m * v, rows: m, inputs: c, outputs: v, accumulate: written)
            written = written || m > 0
        }
    }

    /// Every rank's block of factors to every rank: each rank's block laid into its segment of
    /// whole pieces of the ring (as many as the longest block needs), the ring's all-gather,
    /// the blocks read back out.
    private func gatherHeadFactors(_ ring: RingAllReduce) throws {
        let width = factorRowWidth, piece = ring.piece
        let lengths = labelRows.map { $0 * width }
        let capacity = labelRows.indices.map { ring.segmentRange(ring.gatheredSegment(of: $0), ofPieceOf: piece).count }
        let pieces = labelRows.indices.map { (lengths[$0] + capacity[$0] - 1) / capacity[$0] }.max() ?? 0
        guard pieces > 0 else { return }
        gathered.reserve(pieces * piece)
        func move(_ r: Int, intoRing: Bool) {
            let segment = ring.segmentRange(ring.gatheredSegment(of: r), ofPieceOf: piece)
            var done = 0, k = 0
            while done < lengths[r] {
                let n = min(segment.count, lengths[r] - done)
                let slot = gathered.pointer + k * piece + segment.lowerBound, block = factors.pointer + blockStarts[r] + done
                if intoRing { slot.update(from: block, count: n) } else { block.update(from: slot, count: n) }
                done += n
                k += 1
            }
        }
        move(comm.rank, intoRing: true)
        try ring.gather(gathered.pointer, 0..<(pieces * piece))
        // this rank's own block too: with bf16 on the wire the ring rounded it, as every host has it
        for r in labelRows.indices { move(r, intoRing: false) }
    }

    private func reduceEmbeddingRows() throws {
        guard let e = embedding, !rowTokens.isEmpty else { return }
        let width = e.shape[1]
        try comm.allReduceSum(UnsafeMutableBufferPointer(start: rows.pointer, count: rowTokens.count * width))
        let mine = peers[window.localRank]
        for (row, token) in rowTokens.enumerated() {
            let lo = e.offset + Int(token) * width
            let part = (lo..<(lo + width)).clamped(to: ownedRange)
            for i in part { mine[i] += rows.pointer[row * width + (i - lo)] }
        }
    }

    /// Ends the communication thread (the exchange is going away).
    func close() {
        condition.lock()
        closed = true
        condition.signal()
        condition.unlock()
    }

    // MARK: the communication thread

    private func run() {
        while true {
            condition.lock()
            while processed >= announced && !closed { condition.wait() }
            if closed { condition.unlock(); return }
            let stage = processed, target = stepBase + Int64(stage + 1)
            condition.unlock()
            do {
                waitForLocalRanks(target)
                if stage == 0 && factoredHead, let ring { try gatherHeadFactors(ring) }
                for range in denseStages[stage] { try reduce(range) }
                condition.lock()
                processed += 1
                condition.broadcast()
                condition.unlock()
            } catch {
                condition.lock()
                failure = error
                condition.broadcast()
                condition.unlock()
                // the step fails on every rank (MPI errors end the job); nothing more to do
                return
            }
        }
    }

    /// Floats per factor row: a row of dlogits and a row of x.
    private var factorRowWidth: Int { embedding.map { $0.shape[0] + $0.shape[1] } ?? 0 }

    /// Polls with growing sleeps (PollBackoff): a rank that finished early (a short or empty
    /// shard) must not take the cores its peers' backward passes need.
    private func waitForLocalRanks(_ target: Int64) {
        for peer in 0..<window.localSize where peer != window.localRank {
            var backoff = PollBackoff()
            while window.progress(of: peer) < target { backoff.sleep() }
        }
    }

    /// This local rank's piece of `range`: summed over the host into the owners' buffers,
    /// then between hosts.
    private func reduce(_ range: Range<Int>) throws {
        let n = range.count, parts = window.localSize, j = window.localRank
        let piece = (range.lowerBound + n * j / parts)..<(range.lowerBound + n * (j + 1) / parts)
        for (owner, slice) in slices.enumerated() {
            let part = piece.clamped(to: slice)
            guard !part.isEmpty else { continue }
            let out = peers[owner]
            if parts > 1 { GradientExchange.sum(peers, part, into: out) }
            try ring?.sum(out, part)
        }
    }
}
