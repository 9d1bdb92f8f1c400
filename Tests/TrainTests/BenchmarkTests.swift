import Foundation
import TestSupport
import Train
import XCTest

/// `ft-dist bench` on the tiny model: the report's figures must be the medians of what the
/// steps recorded, and its parts must fit inside the step they split.
final class BenchmarkTests: XCTestCase {
    static func median(_ v: [Double]) -> Double {
        let s = v.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    func bench(ranks: Int, extra: [String] = []) throws -> (BenchmarkReport, String) {
        let dir = try temporaryDirectory("bench")
        let model = try TinyRun.model(in: dir)
        let json = dir.appendingPathComponent("bench.json")
        let args = ["bench", "--model", model, "--data", TestPaths.dataDir.path, "--steps", "5", "--json", json.path] + extra
        let r = ranks == 1 ? try Launch.ftdist(args, timeout: 300) : try Launch.mpirun(ranks: ranks, args, timeout: 300)
        XCTAssertEqual(r.status, 0, r.stderr)
        let report = try JSONDecoder().decode(BenchmarkReport.self, from: Data(contentsOf: json))
        return (report, r.stdout)
    }

    func checkConsistency(_ b: BenchmarkReport, ranks: Int) {
        XCTAssertEqual(b.ranks, ranks)
        XCTAssertEqual(b.steps, 5)
        XCTAssertEqual(b.stepSeconds.count, 5)
        // the first step is a warm-up, outside the medians
        XCTAssertEqual(b.medianStepSeconds, Self.median(Array(b.stepSeconds.dropFirst())), accuracy: 1e-12)
        let s = b.medianSplit
        for (name, v) in [("forward", s.forward), ("head", s.head), ("backward", s.backward), ("exchange", s.allReduce),
                          ("wait", s.wait), ("norm", s.gradNorm), ("adamW", s.adamW), ("other", s.other)] {
            XCTAssertGreaterThanOrEqual(v, 0, name)
            XCTAssertLessThanOrEqual(v, b.stepSeconds.max()!, "\(name) cannot exceed the longest step")
        }
        XCTAssertGreaterThan(s.forward + s.head + s.backward, 0)
        // prefix sharing only removes rows: computed work never exceeds the useful work
        XCTAssertGreaterThan(b.computedGFLOPPerStep, 0)
        XCTAssertLessThanOrEqual(b.computedGFLOPPerStep, b.usefulGFLOPPerStep * (1 + 1e-9))
        XCTAssertEqual(b.usefulGFLOPPerSecond, b.usefulGFLOPPerStep / b.medianStepSeconds, accuracy: 1e-9)
        XCTAssertGreaterThan(b.sgemmPeakGFLOPPerSecond, 0)
        XCTAssertEqual(b.peakRSSBytesPerRank.count, ranks)
        XCTAssertTrue(b.peakRSSBytesPerRank.allSatisfy { $0 > 0 })
    }

    func testSingleRankReportIsTheMedianOfItsSteps() throws {
        let (b, text) = try bench(ranks: 1)
        checkConsistency(b, ranks: 1)
        XCTAssertEqual(b.medianSplit.wait, 0, "one rank waits for nobody")
        XCTAssertEqual(b.gradientExchange, "one rank, nothing to exchange")
        XCTAssertNil(b.exchangeAllReduceSeconds)
        XCTAssertNil(b.plainMPIAllReduceSeconds)
        XCTAssertTrue(text.contains(String(format: "seconds per global batch of 16  %.3f", b.medianStepSeconds)), text)
        XCTAssertFalse(text.contains("longest wait"), text)
        XCTAssertNil(b.medianSplit.adapters, "full fine-tuning has no adapters")
    }

    /// With adapters, the split names their share of forward + backward.
    func testLoRAReportsItsAdapters() throws {
        let (b, text) = try bench(ranks: 1, extra: ["--method", "lora", "--lora-rank", "4"])
        checkConsistency(b, ranks: 1)
        let adapters = try XCTUnwrap(b.medianSplit.adapters)
        XCTAssertGreaterThan(adapters, 0)
        XCTAssertLessThan(adapters, b.stepSeconds.max()!)
        XCTAssertTrue(text.contains(String(format: "the adapters' own work (dropout, rank-r products): %.3f s", adapters)), text)
    }

    /// A --json path that cannot be written fails before the steps, not after minutes of them.
    func testMissingJSONDirectoryFailsBeforeTheFirstStep() throws {
        let dir = try temporaryDirectory("bench-json")
        let model = try TinyRun.model(in: dir)
        let json = dir.appendingPathComponent("missing/bench.json").path
        for ranks in [1, 2] {
            let args = ["bench", "--model", model, "--data", TestPaths.dataDir.path, "--steps", "3", "--json", json]
            let r = ranks == 1 ? try Launch.ftdist(args, timeout: 120) : try Launch.mpirun(ranks: ranks, args, timeout: 120)
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.stderr.contains("--json \(json): directory \(dir.appendingPathComponent("missing").path) does not exist"), r.stderr)
            XCTAssertFalse(r.stderr.contains("bench step 1"), "np=\(ranks) should stop before the steps: \(r.stderr)")
        }
    }

    /// Foundation's file errors reach the user as "path: reason", not as an NSError dump.
    func testAFailedJSONWriteNamesTheFileAndTheReason() throws {
        let dir = try temporaryDirectory("bench-proc")
        let model = try TinyRun.model(in: dir)
        // /proc exists and passes the early check, but refuses new files
        let json = "/proc/ftdist-bench-test.json"
        let r = try Launch.ftdist(["bench", "--model", model, "--data", TestPaths.dataDir.path, "--steps", "2", "--json", json],
                                  timeout: 120)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("ft-dist: error: \(json): "), r.stderr)
        XCTAssertFalse(r.stderr.contains("NSCocoaErrorDomain"), r.stderr)
    }

    func testTwoRanksReportTheExchangeBesidePlainAllReduce() throws {
        let (b, text) = try bench(ranks: 2)
        checkConsistency(b, ranks: 2)
        XCTAssertEqual(b.blasThreadsPerRank, 1)
        XCTAssertTrue(b.gradientExchange.hasPrefix("host shared memory (2 rank(s) per host × 1 host(s)), after the backward"),
                      b.gradientExchange)
        // the exposed exchange: rank 0's exchange beyond its wait, never more than the exchange
        let exposed = try XCTUnwrap(b.medianSplit.exposedExchange)
        XCTAssertGreaterThanOrEqual(exposed, 0)
        XCTAssertLessThanOrEqual(exposed, b.stepSeconds.max()!)
        XCTAssertTrue(text.contains(String(format: "exposed communication (exchange beyond compute and wait, rank 0): %.3f s", exposed)), text)
        XCTAssertNotNil(b.networkBytesPerStep, "the network counters should be read under mpirun")
        XCTAssertGreaterThan(b.exchangeAllReduceSeconds ?? 0, 0)
        XCTAssertGreaterThan(b.plainMPIAllReduceSeconds ?? 0, 0)
        XCTAssertTrue(text.contains(String(format: "longest wait of a rank for the slowest one: %.3f s", b.medianSplit.wait)), text)
        XCTAssertTrue(text.contains("plain MPI_Allreduce (same run)"), text)
    }

    /// The bytes a host sent come from the kernel's per-interface counters, loopback excluded.
    func testNetworkCountersSumTheTransmittedBytesOfEveryInterfaceButLoopback() {
        let text = """
        Inter-|   Receive                                                |  Transmit
         face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
            lo: 5000      50    0    0    0     0          0         0     5000      50    0    0    0     0       0          0
        ftd-v1: 123456   100    0    0    0     0          0         0  987654321   200    0    0    0     0       0          0
          eth0: 42        1    0    0    0     0          0         0     1000       3    0    0    0     0       0          0
        """
        XCTAssertEqual(NetworkCounters.bytesSent(procNetDev: text), 987_655_321)
        XCTAssertNil(NetworkCounters.bytesSent(procNetDev: "nothing here"))
        XCTAssertNotNil(NetworkCounters.bytesSent(), "/proc/net/dev should be readable on Linux")
    }
}
