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
/// Progress: Open MPI makes no asynchronous progress for TCP (open-mpi/ompi #9759, #8436), so
/// the communication thread drives it with nonblocking requests and `MPI_Testall` polls; MPI
/// runs at MPI_THREAD_SERIALIZED, and the main thread makes no MPI call between a step's
/// first reported stage and `finish()`'s wait. Blocking collectives on that thread would
/// spin a core that the backward pass needs; polls with sleeps leave it to the backward.
final class OverlappedReduction: BackwardProgress {
    private let window: HostSharedWindow
    private let comm: Communicator
    private let ring: RingAllReduce?
    private let stages: [[Range<Int>]]
    private let peers: [UnsafeMutablePointer<Float>]
    /// The AdamW slices of the local ranks (whose buffer receives a sum).
    private let slices: [Range<Int>]
    private let ownedRange: Range<Int>
    private let embedding: ParameterTensor?

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
        let thread = Thread { [self] in run() }
        thread.name = "ft-dist gradient exchange"
        thread.start()
    }

    /// Before a step's passes: the distinct tokens of the global batch (their input-embedding
    /// rows are reduced apart from the rest of the embedding gradient).
    func begin(tokens: [Int32]) {
        condition.lock()
        precondition(announced == 0 && processed == 0, "begin() while a step's exchange is running")
        condition.unlock()
        guard embedding != nil else { return }
        rowTokens = Array(Set(tokens)).sorted()
        rowOfToken = Dictionary(uniqueKeysWithValues: rowTokens.enumerated().map { ($1, $0) })
        let width = embedding!.shape[1]
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
                for range in stages[stage] { try reduce(range) }
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
