import Foundation
import XCTest
import Report
import TestSupport
import Train

final class BatchPlanTests: XCTestCase {
    func testBanking77StepCounts() throws {
        let plan = try BatchPlan(exampleCount: 10_003, globalBatchSize: 16, epochs: 3, seed: 42)
        XCTAssertEqual(plan.stepsPerEpoch, 626)
        XCTAssertEqual(plan.totalSteps, 1_878)
        XCTAssertEqual(plan.epoch(ofStep: 625), 0)
        XCTAssertEqual(plan.epoch(ofStep: 626), 1)
        XCTAssertEqual(plan.epoch(ofStep: 1_877), 2)
        XCTAssertEqual(try BatchPlan(exampleCount: 16, epochs: 1, seed: 0).stepsPerEpoch, 1)
        XCTAssertEqual(try BatchPlan(exampleCount: 17, epochs: 2, seed: 0).totalSteps, 4)
    }

    func testBatchesMatchReferenceAndCoverEachEpoch() throws {
        var plan = try BatchPlan(exampleCount: 10_003, globalBatchSize: 16, epochs: 3, seed: 42)
        let reference = try PythonRandomTests.referenceStepIndices()
        for s in 0..<4 { XCTAssertEqual(try plan.globalBatch(step: s), reference[s], "step \(s + 1)") }

        for epoch in 0..<3 {
            var seen: [Int] = []
            var sizes: [Int] = []
            for step in (epoch * 626)..<((epoch + 1) * 626) {
                let batch = try plan.globalBatch(step: step)
                sizes.append(batch.count)
                seen += batch
            }
            XCTAssertEqual(sizes.filter { $0 == 16 }.count, 625)
            XCTAssertEqual(sizes.last, 3)
            XCTAssertEqual(seen.sorted(), Array(0..<10_003), "epoch \(epoch) is a permutation")
            XCTAssertEqual(seen, try plan.order(epoch: epoch))
        }
        // Epoch k uses seed 42 + k (CPython 3.11.7 values).
        XCTAssertEqual(try plan.globalBatch(step: 625), [4506, 409, 1824])
        XCTAssertEqual(try plan.globalBatch(step: 626),
                       [361, 9425, 2982, 1507, 6007, 6594, 3355, 7591, 3314, 7904, 5988, 4339, 7606, 5813, 2412, 7929])
        XCTAssertEqual(try plan.globalBatch(step: 1_251), [2358, 4687, 631])
        XCTAssertEqual(try plan.globalBatch(step: 1_252),
                       [3367, 6809, 5218, 708, 2845, 4529, 3874, 1765, 5420, 9407, 6819, 3253, 9309, 8662, 9605, 7016])
        // Out-of-order access still works (the cache is refilled).
        XCTAssertEqual(try plan.globalBatch(step: 0), reference[0])
    }

    func testShardSizes() throws {
        func sizes(_ count: Int, _ n: Int) throws -> [Int] {
            try (0..<n).map { try BatchPlan.shard(Array(0..<count), rank: $0, size: n).count }
        }
        // 16 rows: hand-computed sizes for every N in 1...16.
        let expected16: [[Int]] = [
            [16], [8, 8], [6, 5, 5], [4, 4, 4, 4], [4, 3, 3, 3, 3], [3, 3, 3, 3, 2, 2],
            [3, 3, 2, 2, 2, 2, 2], [2, 2, 2, 2, 2, 2, 2, 2], [2, 2, 2, 2, 2, 2, 2, 1, 1],
            [2, 2, 2, 2, 2, 2, 1, 1, 1, 1], [2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1],
            [2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1], [2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
            [2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], [2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
            [Int](repeating: 1, count: 16),
        ]
        // 3 rows (the last Banking77 batch).
        let expected3: [[Int]] = [
            [3], [2, 1], [1, 1, 1], [1, 1, 1, 0], [1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0],
            [1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0, 0, 0], [1, 1, 1] + [Int](repeating: 0, count: 6),
            [1, 1, 1] + [Int](repeating: 0, count: 7), [1, 1, 1] + [Int](repeating: 0, count: 8),
            [1, 1, 1] + [Int](repeating: 0, count: 9), [1, 1, 1] + [Int](repeating: 0, count: 10),
            [1, 1, 1] + [Int](repeating: 0, count: 11), [1, 1, 1] + [Int](repeating: 0, count: 12),
            [1, 1, 1] + [Int](repeating: 0, count: 13),
        ]
        for n in 1...16 {
            XCTAssertEqual(try sizes(16, n), expected16[n - 1], "16 rows over \(n)")
            XCTAssertEqual(try sizes(3, n), expected3[n - 1], "3 rows over \(n)")
        }
    }

    func testShardsAreContiguousInOrder() throws {
        let batch = [8148, 5565, 7262, 760, 3780, 1772, 6928, 2680, 8262, 6819, 6877, 2400, 9832, 6083, 4109, 3087]
        XCTAssertEqual(try BatchPlan.shard(batch, rank: 0, size: 3), [8148, 5565, 7262, 760, 3780, 1772])
        XCTAssertEqual(try BatchPlan.shard(batch, rank: 1, size: 3), [6928, 2680, 8262, 6819, 6877])
        XCTAssertEqual(try BatchPlan.shard(batch, rank: 2, size: 3), [2400, 9832, 6083, 4109, 3087])
        XCTAssertEqual(try BatchPlan.shard([4506, 409, 1824], rank: 3, size: 4), [])
        XCTAssertEqual(try BatchPlan.shard([4506, 409, 1824], rank: 2, size: 4), [1824])
        XCTAssertEqual(try BatchPlan.shardRange(count: 16, rank: 1, size: 3), 6..<11)
        for n in 1...16 {
            let parts = try (0..<n).map { try BatchPlan.shard(batch, rank: $0, size: n) }
            XCTAssertEqual(Array(parts.joined()), batch)
        }
    }

    func testInvalidArgumentsThrow() throws {
        func assertInvalid(_ body: @autoclosure () throws -> Any, _ line: UInt = #line) {
            XCTAssertThrowsError(try body(), line: line) { XCTAssertTrue(($0 as? MessageError)?.message.hasPrefix("invalid argument:") == true, "\($0)", line: line) }
        }
        assertInvalid(try BatchPlan.shard([1, 2], rank: 0, size: 0))
        assertInvalid(try BatchPlan.shard([1, 2], rank: 2, size: 2))
        assertInvalid(try BatchPlan.shard([1, 2], rank: -1, size: 2))
        assertInvalid(try BatchPlan(exampleCount: 0, epochs: 1, seed: 0))
        assertInvalid(try BatchPlan(exampleCount: 5, globalBatchSize: 0, epochs: 1, seed: 0))
        assertInvalid(try BatchPlan(exampleCount: 5, epochs: 0, seed: 0))
        assertInvalid(try BatchPlan(exampleCount: 5, epochs: 1, seed: -1))
        var plan = try BatchPlan(exampleCount: 5, globalBatchSize: 2, epochs: 2, seed: 0)
        assertInvalid(try plan.globalBatch(step: 6))
        assertInvalid(try plan.globalBatch(step: -1))
        assertInvalid(try plan.order(epoch: 2))
        XCTAssertEqual(try plan.globalBatch(step: 5).count, 1)
    }

    /// Balanced shards: every example on exactly one rank, each rank's indices ascending, and
    /// the greedy rule's guarantee (the busiest rank exceeds the least busy one by at most the
    /// costliest example) on random costs; a case worked by hand.
    func testBalancedShardsPartitionTheBatchEvenly() throws {
        // one long example against ten short ones: 10 | 1+1+…+1 (the ties go to the lower rank)
        let costs: [Double] = [1, 1, 1, 10, 1, 1, 1, 1, 1, 1, 1]
        XCTAssertEqual(try BatchPlan.balancedShard(costs: costs, rank: 0, size: 2), [3])
        XCTAssertEqual(try BatchPlan.balancedShard(costs: costs, rank: 1, size: 2), [0, 1, 2, 4, 5, 6, 7, 8, 9, 10])
        var rng = SplitMix64(seed: 17)
        for trial in 0..<50 {
            let count = rng.int(21), size = 1 + rng.int(4)
            let costs = (0..<count).map { _ in Double(20 + rng.int(101)) }
            let shares = try (0..<size).map { try BatchPlan.balancedShard(costs: costs, rank: $0, size: size) }
            XCTAssertEqual(try BatchPlan.balancedShards(costs: costs, size: size), shares, "trial \(trial): all ranks' cut at once")
            XCTAssertEqual(shares.flatMap { $0 }.sorted(), Array(0..<count), "trial \(trial): a partition")
            for share in shares { XCTAssertEqual(share, share.sorted()) }
            let loads = shares.map { $0.reduce(0) { $0 + costs[$1] } }
            XCTAssertLessThanOrEqual(loads.max()! - loads.min()!, costs.max() ?? 0, "trial \(trial): \(loads)")
        }
        XCTAssertThrowsError(try BatchPlan.balancedShard(costs: [1], rank: 2, size: 2))
        XCTAssertThrowsError(try BatchPlan.balancedShard(costs: [1], rank: 0, size: 0))
        XCTAssertThrowsError(try BatchPlan.balancedShards(costs: [1], size: 0))
    }
}
