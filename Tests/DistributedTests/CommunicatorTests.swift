import Distributed
import Foundation
import TestSupport
import XCTest

final class CommunicatorTests: XCTestCase {
    func testSingleProcessCollectivesAreTheIdentity() throws {
        let comm = SingleProcessCommunicator()
        XCTAssertEqual(comm.rank, 0)
        XCTAssertEqual(comm.size, 1)
        var values = [1.5, -2.0]
        try comm.allReduceSum(&values)
        XCTAssertEqual(values, [1.5, -2.0])
        var floats: [Float] = [3, 4]
        try floats.withUnsafeMutableBufferPointer { try comm.allReduceSum($0) }
        XCTAssertEqual(floats, [3, 4])
        XCTAssertEqual(try comm.gather([7, 8], root: 0), [[7, 8]])
        XCTAssertEqual(try comm.broadcast("x"), "x")
        let check = try CollectiveCheck.run(comm, floats: 1000)
        XCTAssertTrue(check.allReduceCorrect && check.broadcastCorrect && check.gatherCorrect)
    }

    /// Exact all-reduce, ring all-reduce, broadcast and gather through OpenMPI's C API for 1 to
    /// 4 ranks.
    func testMPICollectivesAreExactForOneToFourRanks() throws {
        for ranks in 1...4 {
            let r = try Launch.mpirun(ranks: ranks, ["doctor", "--json", "--floats", "100003"], timeout: 120)
            XCTAssertEqual(r.status, 0, "np=\(ranks): \(r.stderr)")
            let line = try XCTUnwrap(r.stdout.split(separator: "\n").last, "np=\(ranks) printed nothing: \(r.stderr)")
            let check = try JSONDecoder().decode(CollectiveCheck.self, from: Data(line.utf8))
            XCTAssertEqual(check.size, ranks)
            XCTAssertTrue(check.transport.hasPrefix("MPI"), check.transport)
            XCTAssertEqual(check.hosts.count, ranks)
            XCTAssertTrue(check.allReduceCorrect, "np=\(ranks)")
            XCTAssertTrue(check.broadcastCorrect, "np=\(ranks)")
            XCTAssertTrue(check.gatherCorrect, "np=\(ranks)")
            XCTAssertEqual(check.ringAllReduceCorrect, true, "np=\(ranks): the ring (RingAllReduce) over 100,003 floats in rounds of 4,099")
            XCTAssertEqual(check.ringGatherCorrect, true, "np=\(ranks): the ring's all-gather over 100,003 floats in pieces of 4,099")
        }
    }

    /// Started without mpirun, ft-dist is a size-1 run that needs no MPI runtime.
    func testBareLaunchIsSingleProcess() throws {
        let r = try Launch.ftdist(["doctor", "--json", "--floats", "10"], timeout: 60)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("\"transport\":\"single process\""), r.stdout)
    }

    /// Polls wait twice as long after each idle poll, up to the maximum, and briefly again
    /// after progress.
    func testPollBackoffDoublesUpToItsMaximumAndResets() {
        var backoff = PollBackoff(minimum: 0.000_001, maximum: 0.000_004)
        XCTAssertEqual(backoff.next, 0.000_001)
        var waits: [Double] = []
        for _ in 0..<4 {
            backoff.sleep()
            waits.append(backoff.next)
        }
        XCTAssertEqual(waits, [0.000_002, 0.000_004, 0.000_004, 0.000_004])
        backoff.reset()
        XCTAssertEqual(backoff.next, 0.000_001)
        XCTAssertEqual(PollBackoff().minimum, 0.000_05)
        XCTAssertEqual(PollBackoff().maximum, 0.001)
    }
}
