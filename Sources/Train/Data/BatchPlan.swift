import Report

// Which training rows go into which step, and which rank takes which of them.
//
// One Python-compatible shuffle of 0..<n per epoch with seed `seed + epoch` (epoch
// 0-based, so epoch 0 with seed 42 is the reference's `random.Random(42).shuffle`).
// Each epoch is cut into consecutive global batches of `globalBatchSize`; the last one is
// partial (10,003 = 625·16 + 3), never padded or dropped, so each row is seen once per
// epoch. Every rank computes the same plan from the same arguments: no communication.
// Within a global batch, the trainer gives each rank a share of about equal work
// (`balancedShard`; `shardRange`'s contiguous cut by count with --no-balance-shards).

public struct BatchPlan: Sendable {
    public let exampleCount: Int
    public let globalBatchSize: Int
    public let epochs: Int
    public let seed: Int

    // The order of the epoch last asked for: steps are visited in order, so one shuffle
    // per epoch instead of one per step.
    private var cachedEpoch = -1
    private var cachedOrder: [Int] = []

    public init(exampleCount: Int, globalBatchSize: Int = 16, epochs: Int, seed: Int) throws {
        guard exampleCount >= 1 else { throw MessageError.invalidArgument("exampleCount \(exampleCount) must be ≥ 1") }
        guard globalBatchSize >= 1 else { throw MessageError.invalidArgument("globalBatchSize \(globalBatchSize) must be ≥ 1") }
        guard epochs >= 1 else { throw MessageError.invalidArgument("epochs \(epochs) must be ≥ 1") }
        // Negative seeds are refused: CPython would seed with |seed|, making -1 and 1 equal.
        guard seed >= 0, seed <= Int.max - epochs else { throw MessageError.invalidArgument("seed \(seed) must be in 0...Int.max-epochs") }
        self.exampleCount = exampleCount
        self.globalBatchSize = globalBatchSize
        self.epochs = epochs
        self.seed = seed
        guard !stepsPerEpoch.multipliedReportingOverflow(by: epochs).overflow else {
            throw MessageError.invalidArgument("epochs \(epochs) is more steps than can be counted")
        }
    }

    /// ceil(n / B): 626 for 10,003 rows and B = 16.
    public var stepsPerEpoch: Int { exampleCount / globalBatchSize + (exampleCount % globalBatchSize == 0 ? 0 : 1) }

    /// stepsPerEpoch · epochs: 1,878 for 3 epochs of Banking77.
    public var totalSteps: Int { stepsPerEpoch * epochs }

    /// The row order of `epoch` (0-based): `random.Random(seed + epoch).shuffle(list(range(n)))`.
    public func order(epoch: Int) throws -> [Int] {
        guard (0..<epochs).contains(epoch) else { throw MessageError.invalidArgument("epoch \(epoch) not in 0..<\(epochs)") }
        var rng = PythonRandom(seed: seed + epoch)
        var rows = Array(0..<exampleCount)
        rng.shuffle(&rows)
        return rows
    }

    /// The 0-based epoch a 0-based global step belongs to.
    public func epoch(ofStep step: Int) -> Int { step / stepsPerEpoch }

    /// Rows of the 0-based global `step`, in order; the last batch of an epoch may be short.
    public mutating func globalBatch(step: Int) throws -> [Int] {
        guard (0..<totalSteps).contains(step) else { throw MessageError.invalidArgument("step \(step) not in 0..<\(totalSteps)") }
        let epoch = epoch(ofStep: step)
        if epoch != cachedEpoch {
            cachedOrder = try order(epoch: epoch)
            cachedEpoch = epoch
        }
        let start = (step % stepsPerEpoch) * globalBatchSize
        return Array(cachedOrder[start..<min(start + globalBatchSize, exampleCount)])
    }

    /// Rank `rank`'s part of a batch of `count` rows split over `size` ranks: contiguous,
    /// sizes differ by at most one, the first `count % size` ranks take the extra row
    /// (16 over 3 → 6, 5, 5; 3 over 4 → 1, 1, 1, 0).
    public static func shardRange(count: Int, rank: Int, size: Int) throws -> Range<Int> {
        guard size >= 1 else { throw MessageError.invalidArgument("size \(size) must be ≥ 1") }
        guard (0..<size).contains(rank) else { throw MessageError.invalidArgument("rank \(rank) not in 0..<\(size)") }
        guard count >= 0 else { throw MessageError.invalidArgument("count \(count) must be ≥ 0") }
        let base = count / size, extra = count % size
        let start = rank * base + min(rank, extra)
        return start..<(start + base + (rank < extra ? 1 : 0))
    }

    /// Rank `rank`'s part of a batch whose examples cost `costs` (any unit), cut so that the
    /// ranks' totals are as even as a greedy cut makes them: the examples, costliest first
    /// (ties: the earlier one), each go to the rank with the least so far (ties: the lower
    /// rank) — Graham's longest-processing-time rule, within 4/3 of the best cut. Returns
    /// indices into the batch, ascending. Every rank computes the same cut from the same
    /// costs, so nothing travels; any cut sums to the same gradient, up to summation order.
    public static func balancedShard(costs: [Double], rank: Int, size: Int) throws -> [Int] {
        guard (0..<max(size, 1)).contains(rank) else { throw MessageError.invalidArgument("rank \(rank) not in 0..<\(size)") }
        return try balancedShards(costs: costs, size: size)[rank]
    }

    /// Every rank's part of the cut `balancedShard` describes, in rank order (one pass).
    public static func balancedShards(costs: [Double], size: Int) throws -> [[Int]] {
        guard size >= 1 else { throw MessageError.invalidArgument("size \(size) must be ≥ 1") }
        var load = [Double](repeating: 0, count: size)
        var shards = [[Int]](repeating: [], count: size)
        for i in costs.indices.sorted(by: { costs[$0] > costs[$1] || (costs[$0] == costs[$1] && $0 < $1) }) {
            let r = load.indices.min { load[$0] < load[$1] || (load[$0] == load[$1] && $0 < $1) }!
            load[r] += costs[i]
            shards[r].append(i)
        }
        return shards.map { $0.sorted() }
    }

    /// Rank `rank`'s contiguous slice of `batch` (see `shardRange`).
    public static func shard(_ batch: [Int], rank: Int, size: Int) throws -> [Int] {
        Array(batch[try shardRange(count: batch.count, rank: rank, size: size)])
    }
}
