import Foundation
import Model
import TestSupport
import XCTest

/// Data parallelism must not change the trajectory: the tiny model trained for 20 steps by
/// 1, 2, 3 and 4 ranks (uneven shards of the global batch of 16 included) gives the same loss
/// at every step and the same final parameters.
final class DataParallelTests: XCTestCase {
    struct Record: Decodable { var step: Int; var loss: Double; var grad_norm: Double }

    static func tinyRun(ranks: Int, output: URL, model: String, extra: [String] = []) throws -> Launch.Result {
        try Launch.mpirun(ranks: ranks, ["train", "--model", model, "--data", TestPaths.dataDir.path,
                                         "--output", output.path, "--save-steps", "0", "--no-final-eval",
                                         "--check-replicas-steps", "5", "--lr", "1e-3"] + extra, timeout: 600)
    }

    static func losses(_ dir: URL) throws -> [Record] {
        let text = try String(contentsOf: dir.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Record.self, from: Data($0.utf8)) }
    }

    static func finalWeights(_ dir: URL, steps: Int) throws -> GemmaModel {
        try GemmaModel(hfDirectory: dir.appendingPathComponent("checkpoint-" + String(format: "%06d", steps)).path)
    }

    func testOneToFourRanksFollowTheSameTrajectory() throws {
        let dir = try TestPaths.temporaryDirectory("dp")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try TinyGemma.write(to: dir.appendingPathComponent("tiny.gguf").path)
        var runs: [[Record]] = []
        var weights: [GemmaModel] = []
        for ranks in 1...4 {
            let out = dir.appendingPathComponent("np\(ranks)")
            let r = try Self.tinyRun(ranks: ranks, output: out, model: model, extra: ["--max-steps", "20"])
            XCTAssertEqual(r.status, 0, "np=\(ranks): \(r.stderr)")
            if ranks > 1 {
                XCTAssertTrue((r.stdout + r.stderr).contains("gradients: host shared memory (\(ranks) rank(s) per host × 1 host(s))"),
                              "np=\(ranks) should reduce through host shared memory: \(r.stdout)")
            }
            runs.append(try Self.losses(out))
            weights.append(try Self.finalWeights(out, steps: 20))
        }
        XCTAssertEqual(runs[0].count, 20)
        XCTAssertLessThan(runs[0].last!.loss, runs[0].first!.loss, "the tiny model should learn")
        for ranks in 2...4 {
            XCTAssertEqual(runs[ranks - 1].count, 20)
            var worstLoss = 0.0
            for (a, b) in zip(runs[0], runs[ranks - 1]) {
                XCTAssertEqual(a.step, b.step)
                let rel = abs(a.loss - b.loss) / a.loss
                worstLoss = max(worstLoss, rel)
                XCTAssertLessThan(rel, 1e-5, "np=\(ranks) step \(a.step): \(b.loss) vs \(a.loss)")
            }
            let p0 = weights[0].parameters, p = weights[ranks - 1].parameters
            var worstParam: Float = 0
            for i in 0..<p0.count { worstParam = max(worstParam, abs(p0[i] - p[i])) }
            XCTAssertLessThan(worstParam, 1e-5, "np=\(ranks): final parameters")
            print("np=\(ranks) vs np=1: worst loss relative difference \(worstLoss), worst parameter difference \(worstParam)")
        }
    }

    /// The host-shared reduction (sliced AdamW) and the plain MPI_Allreduce (full AdamW on
    /// every rank) are the same arithmetic: bit-identical at np=2 (a sum of two is the same
    /// either way round), and within rounding of the summation order at np=3.
    func testHostSharedReductionEqualsPlainAllReduce() throws {
        let dir = try TestPaths.temporaryDirectory("dp-shm")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try TinyGemma.write(to: dir.appendingPathComponent("tiny.gguf").path)
        for ranks in [2, 3] {
            var runs: [[Record]] = []
            var weights: [GemmaModel] = []
            for shared in [true, false] {
                let out = dir.appendingPathComponent("np\(ranks)-\(shared)")
                let r = try Self.tinyRun(ranks: ranks, output: out, model: model,
                                         extra: ["--max-steps", "12"] + (shared ? [] : ["--no-host-shared-memory"]))
                XCTAssertEqual(r.status, 0, "np=\(ranks) shared=\(shared): \(r.stderr)")
                XCTAssertTrue((r.stdout + r.stderr).contains(shared ? "gradients: host shared memory" : "gradients: MPI_Allreduce"))
                runs.append(try Self.losses(out))
                weights.append(try Self.finalWeights(out, steps: 12))
            }
            XCTAssertEqual(runs[0].count, 12)
            XCTAssertEqual(runs[1].count, 12)
            var worstLoss = 0.0, worstParam: Float = 0
            for (a, b) in zip(runs[0], runs[1]) { worstLoss = max(worstLoss, abs(a.loss - b.loss) / a.loss) }
            let p0 = weights[0].parameters, p1 = weights[1].parameters
            for i in 0..<p0.count { worstParam = max(worstParam, abs(p0[i] - p1[i])) }
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
        let dir = try TestPaths.temporaryDirectory("dp-noshm")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try TinyGemma.write(to: dir.appendingPathComponent("tiny.gguf").path)
        let out = dir.appendingPathComponent("run")
        let r = try Launch.mpirun(ranks: 2, ["train", "--model", model, "--data", TestPaths.dataDir.path, "--output", out.path,
                                             "--save-steps", "0", "--no-final-eval", "--max-steps", "3"],
                                  environment: ["OMPI_MCA_osc_sm_backing_directory": dir.appendingPathComponent("missing").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue((r.stdout + r.stderr).contains("gradients: MPI_Allreduce (no host shared memory: \(dir.appendingPathComponent("missing").path) lacks"),
                      r.stdout + r.stderr)
        XCTAssertEqual(try Self.losses(out).count, 3)
    }
}
