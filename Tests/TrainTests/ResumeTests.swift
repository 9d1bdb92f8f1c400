import Foundation
import Model
import TestSupport
import XCTest

/// A run interrupted and resumed follows exactly the trajectory of the uninterrupted run:
/// 20 steps straight equal 10 steps + `--resume latest` + 10 steps, at np=1 and np=2.
final class ResumeTests: XCTestCase {
    func testResumeContinuesTheExactTrajectory() throws {
        let dir = try TestPaths.temporaryDirectory("resume")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try TinyGemma.write(to: dir.appendingPathComponent("tiny.gguf").path)
        for ranks in [1, 2] {
            let straight = dir.appendingPathComponent("straight-np\(ranks)")
            let split = dir.appendingPathComponent("split-np\(ranks)")
            var r = try DataParallelTests.tinyRun(ranks: ranks, output: straight, model: model, extra: ["--max-steps", "20"])
            XCTAssertEqual(r.status, 0, r.stderr)
            r = try DataParallelTests.tinyRun(ranks: ranks, output: split, model: model, extra: ["--max-steps", "10"])
            XCTAssertEqual(r.status, 0, r.stderr)
            // a second fresh start into the same directory must refuse, not overwrite the run
            r = try DataParallelTests.tinyRun(ranks: ranks, output: split, model: model, extra: ["--max-steps", "10"])
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.stderr.contains("already holds a run"), r.stderr)
            r = try DataParallelTests.tinyRun(ranks: ranks, output: split, model: model, extra: ["--max-steps", "10", "--resume", "latest"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stderr.contains("resumed from"), r.stderr)

            let a = try DataParallelTests.losses(straight), b = try DataParallelTests.losses(split)
            XCTAssertEqual(a.map(\.step), Array(1...20))
            XCTAssertEqual(b.map(\.step), Array(1...20), "metrics.jsonl continues across the resume")
            for (x, y) in zip(a, b) {
                XCTAssertEqual(x.loss, y.loss, accuracy: 1e-6 * x.loss, "np=\(ranks) step \(x.step)")
                XCTAssertEqual(x.grad_norm, y.grad_norm, accuracy: 1e-6 * x.grad_norm, "np=\(ranks) step \(x.step)")
            }
            let pa = try DataParallelTests.finalWeights(straight, steps: 20).parameters
            let pb = try DataParallelTests.finalWeights(split, steps: 20).parameters
            var worst: Float = 0
            for i in 0..<pa.count { worst = max(worst, abs(pa[i] - pb[i])) }
            XCTAssertLessThan(worst, 1e-6, "np=\(ranks) final parameters")
            print("resume np=\(ranks): worst parameter difference \(worst)")
        }
    }

    /// Half-written and damaged checkpoints are never resumed from.
    func testDamagedOrPartialCheckpointsAreRejected() throws {
        let dir = try TestPaths.temporaryDirectory("damaged")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try TinyGemma.write(to: dir.appendingPathComponent("tiny.gguf").path)
        let out = dir.appendingPathComponent("run")
        var r = try DataParallelTests.tinyRun(ranks: 1, output: out, model: model, extra: ["--max-steps", "3", "--save-steps", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let fm = FileManager.default
        // keep-checkpoints 2: steps 2 and 3 remain
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: out.path).filter { $0.hasPrefix("checkpoint-") }.sorted(),
                       ["checkpoint-000002", "checkpoint-000003"])
        // a leftover temporary directory (a crash while saving) is not a checkpoint
        try fm.createDirectory(at: out.appendingPathComponent(".tmp-checkpoint-000009"), withIntermediateDirectories: true)
        // damage the newest weights: resume must refuse with a clear message
        let weights = out.appendingPathComponent("checkpoint-000003/model.safetensors")
        let handle = try FileHandle(forUpdating: weights)
        try handle.seek(toOffset: 4096)
        try handle.write(contentsOf: Data(repeating: 0x7F, count: 64))
        try handle.close()
        r = try Launch.ftdist(["train", "--model", model, "--data", TestPaths.dataDir.path, "--output", out.path,
                               "--resume", "latest", "--max-steps", "1", "--no-final-eval"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("checkpoint-000003"), r.stderr)
        XCTAssertTrue(r.stderr.contains("damaged"), r.stderr)
        // a truncated file is named as such
        try Data().write(to: out.appendingPathComponent("checkpoint-000003/optimizer.safetensors"))
        r = try Launch.ftdist(["train", "--model", model, "--data", TestPaths.dataDir.path, "--output", out.path,
                               "--resume", out.appendingPathComponent("checkpoint-000003").path, "--max-steps", "1"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("optimizer.safetensors"), r.stderr)
        // resuming with other training flags (here the learning rate) would not continue the same trajectory
        let previous = out.appendingPathComponent("checkpoint-000002").path
        r = try Launch.ftdist(["train", "--model", model, "--data", TestPaths.dataDir.path, "--output", out.path,
                               "--resume", previous, "--max-steps", "1", "--no-final-eval"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("different training flags"), r.stderr)
        // the previous checkpoint still resumes
        r = try Launch.ftdist(["train", "--model", model, "--data", TestPaths.dataDir.path, "--output", out.path,
                               "--resume", previous, "--max-steps", "1", "--lr", "1e-3", "--save-steps", "0", "--no-final-eval"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("resumed from"), r.stderr)
    }
}
