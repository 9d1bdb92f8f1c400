import Foundation
import Model
import TestSupport
import XCTest

/// Data parallelism must not change the trajectory: the tiny model trained for 20 steps by
/// 1, 2, 3 and 4 ranks (uneven shards of the global batch of 16 included) gives the same loss
/// at every step and the same final parameters.
final class DataParallelTests: XCTestCase {
    func testOneToFourRanksFollowTheSameTrajectory() throws {
        let dir = try temporaryDirectory("dp")
        let model = try TinyRun.model(in: dir)
        var runs: [[TinyRun.Record]] = []
        var weights: [GemmaModel] = []
        for ranks in 1...4 {
            let out = dir.appendingPathComponent("np\(ranks)")
            let r = try TinyRun.train(ranks: ranks, output: out, model: model, extra: ["--max-steps", "20"])
            XCTAssertEqual(r.status, 0, "np=\(ranks): \(r.stderr)")
            if ranks > 1 {
                XCTAssertTrue((r.stdout + r.stderr).contains("gradients: host shared memory (\(ranks) rank(s) per host × 1 host(s))"),
                              "np=\(ranks) should reduce through host shared memory: \(r.stdout)")
            }
            runs.append(try TinyRun.losses(out))
            weights.append(try TinyRun.finalWeights(out, steps: 20))
        }
        XCTAssertEqual(runs[0].count, 20)
        XCTAssertLessThan(runs[0].last!.loss, runs[0].first!.loss, "the tiny model should learn")
        for ranks in 2...4 {
            XCTAssertEqual(runs[ranks - 1].count, 20)
            for (a, b) in zip(runs[0], runs[ranks - 1]) {
                XCTAssertEqual(a.step, b.step)
                XCTAssertLessThan(abs(a.loss - b.loss) / a.loss, 1e-5, "np=\(ranks) step \(a.step): \(b.loss) vs \(a.loss)")
            }
            let worstLoss = TinyRun.worstRelativeLossDifference(runs[0], runs[ranks - 1])
            let worstParam = TinyRun.worstWeightDifference(weights[0], weights[ranks - 1])
            XCTAssertLessThan(worstParam, 1e-5, "np=\(ranks): final parameters")
            print("np=\(ranks) vs np=1: worst loss relative difference \(worstLoss), worst parameter difference \(worstParam)")
        }
    }

    /// The host-shared reduction (sliced AdamW) and the plain MPI_Allreduce (full AdamW on
    /// every rank), both after the backward (the overlapped one: OverlapTests), are the same
    /// arithmetic: bit-identical at np=2 (a sum of two is the same
    /// either way round), and within rounding of the summation order at np=3.
    func testHostSharedReductionEqualsPlainAllReduce() throws {
        let dir = try temporaryDirectory("dp-shm")
        let model = try TinyRun.model(in: dir)
        for ranks in [2, 3] {
            var runs: [[TinyRun.Record]] = []
            var weights: [GemmaModel] = []
            for shared in [true, false] {
                let out = dir.appendingPathComponent("np\(ranks)-\(shared)")
                let r = try TinyRun.train(ranks: ranks, output: out, model: model,
                                         extra: ["--max-steps", "12", "--no-overlap"] + (shared ? [] : ["--no-host-shared-memory"]))
                XCTAssertEqual(r.status, 0, "np=\(ranks) shared=\(shared): \(r.stderr)")
                XCTAssertTrue((r.stdout + r.stderr).contains(shared ? "gradients: host shared memory" : "gradients: MPI_Allreduce"))
                runs.append(try TinyRun.losses(out))
                weights.append(try TinyRun.finalWeights(out, steps: 12))
            }
            XCTAssertEqual(runs[0].count, 12)
            XCTAssertEqual(runs[1].count, 12)
            let worstLoss = TinyRun.worstRelativeLossDifference(runs[0], runs[1])
            let worstParam = TinyRun.worstWeightDifference(weights[0], weights[1])
            if ranks == 2 {
                XCTAssertEqual(worstLoss, 0, "np=2: losses must be identical")
                XCTAssertEqual(worstParam, 0, "np=2: parameters must be identical")
            } else {
                XCTAssertLessThan(worstLoss, 1e-6)
                XCTAssertLessThan(worstParam, 1e-6)
            }
            print("np=\(ranks) host-shared vs MPI_Allreduce: worst loss relative difference \(worstLoss), worst parameter difference \(worstParam)")
        }
    }

    /// When the shared-memory backing directory cannot hold the buffers (a container's small
    /// /dev/shm; here a directory that does not exist), the run falls back to MPI_Allreduce
    /// and says why, instead of dying of SIGBUS on first touch.
    func testFallsBackToAllReduceWithoutUsableSharedMemory() throws {
        let dir = try temporaryDirectory("dp-noshm")
        let model = try TinyRun.model(in: dir)
        let out = dir.appendingPathComponent("run")
        let r = try Launch.mpirun(ranks: 2, ["train", "--model", model, "--data", TestPaths.dataDir.path, "--output", out.path,
                                             "--save-steps", "0", "--no-final-eval", "--max-steps", "3"],
                                  environment: ["OMPI_MCA_osc_sm_backing_directory": dir.appendingPathComponent("missing").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue((r.stdout + r.stderr).contains("gradients: MPI_Allreduce (no host shared memory: \(dir.appendingPathComponent("missing").path) lacks"),
                      r.stdout + r.stderr)
        XCTAssertEqual(try TinyRun.losses(out).count, 3)
    }
}
