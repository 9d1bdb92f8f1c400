import Foundation
import Model
import TestSupport
import XCTest

/// A run interrupted and resumed follows exactly the trajectory of the uninterrupted run:
/// 20 steps straight equal 10 steps + `--resume latest` + 10 steps, at np=1 and np=2.
final class ResumeTests: XCTestCase {
    func testResumeContinuesTheExactTrajectory() throws {
        let dir = try temporaryDirectory("resume")
        let model = try TinyRun.model(in: dir)
        for ranks in [1, 2] {
            let straight = dir.appendingPathComponent("straight-np\(ranks)")
            let split = dir.appendingPathComponent("split-np\(ranks)")
            var r = try TinyRun.train(ranks: ranks, output: straight, model: model, extra: ["--max-steps", "20"])
            XCTAssertEqual(r.status, 0, r.stderr)
            r = try TinyRun.train(ranks: ranks, output: split, model: model, extra: ["--max-steps", "10"])
            XCTAssertEqual(r.status, 0, r.stderr)
            // a second fresh start into the same directory must refuse, not overwrite the run
            r = try TinyRun.train(ranks: ranks, output: split, model: model, extra: ["--max-steps", "10"])
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.stderr.contains("already holds a run"), r.stderr)
            // --max-steps is the step to stop at: the resumed invocation finishes the 20-step run
            r = try TinyRun.train(ranks: ranks, output: split, model: model, extra: ["--max-steps", "20", "--resume", "latest"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stderr.contains("resumed from"), r.stderr)

            let a = try TinyRun.losses(straight), b = try TinyRun.losses(split)
            XCTAssertEqual(a.map(\.step), Array(1...20))
            XCTAssertEqual(b.map(\.step), Array(1...20), "metrics.jsonl continues across the resume")
            for (x, y) in zip(a, b) {
                XCTAssertEqual(x.loss, y.loss, accuracy: 1e-6 * x.loss, "np=\(ranks) step \(x.step)")
                XCTAssertEqual(x.grad_norm, y.grad_norm, accuracy: 1e-6 * x.grad_norm, "np=\(ranks) step \(x.step)")
            }
            let worst = TinyRun.worstWeightDifference(try TinyRun.finalWeights(straight, steps: 20),
                                                      try TinyRun.finalWeights(split, steps: 20))
            XCTAssertLessThan(worst, 1e-6, "np=\(ranks) final parameters")
            print("resume np=\(ranks): worst parameter difference \(worst)")
        }
    }

    /// Half-written and damaged checkpoints are never resumed from.
    func testDamagedOrPartialCheckpointsAreRejected() throws {
        let dir = try temporaryDirectory("damaged")
        let model = try TinyRun.model(in: dir)
        let out = dir.appendingPathComponent("run")
        var r = try TinyRun.train(ranks: 1, output: out, model: model, extra: ["--max-steps", "3", "--save-steps", "1"])
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
                               "--resume", "latest", "--max-steps", "1", "--lr", "1e-3", "--no-final-eval"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("checkpoint-000003"), r.stderr)
        XCTAssertTrue(r.stderr.contains("damaged"), r.stderr)
        // a truncated file is named as such
        try Data().write(to: out.appendingPathComponent("checkpoint-000003/optimizer.safetensors"))
        r = try Launch.ftdist(["train", "--model", model, "--data", TestPaths.dataDir.path, "--output", out.path,
                               "--resume", out.appendingPathComponent("checkpoint-000003").path, "--max-steps", "1", "--lr", "1e-3"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("optimizer.safetensors"), r.stderr)
        // resuming with other training flags (here the learning rate) would not continue the same trajectory
        let previous = out.appendingPathComponent("checkpoint-000002").path
        r = try Launch.ftdist(["train", "--model", model, "--data", TestPaths.dataDir.path, "--output", out.path,
                               "--resume", previous, "--max-steps", "1", "--no-final-eval"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("different training flags (--lr 5e-05 (the run: 0.001))"), r.stderr)
        // the previous checkpoint still resumes
        r = try Launch.ftdist(["train", "--model", model, "--data", TestPaths.dataDir.path, "--output", out.path,
                               "--resume", previous, "--max-steps", "3", "--lr", "1e-3", "--save-steps", "0", "--no-final-eval"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("resumed from"), r.stderr)

        // damaged AdamW moments are refused too: a NaN (which the next step would have spread
        // into every adapter it touches, and into a checkpoint that verifies), or any changed
        // value (trainer_state.json records their checksum)
        for (name, value) in [("nan", Float.nan), ("changed", Float(0.5))] {
            let copy = dir.appendingPathComponent("moments-\(name)/checkpoint-000002")
            try fm.createDirectory(at: copy.deletingLastPathComponent(), withIntermediateDirectories: true)
            try fm.copyItem(at: URL(fileURLWithPath: previous), to: copy)
            let optimizer = copy.appendingPathComponent("optimizer.safetensors")
            let bytes = try Data(contentsOf: optimizer)
            let headerLength = bytes.prefix(8).withUnsafeBytes { Int($0.loadUnaligned(as: UInt64.self)) }
            let handle = try FileHandle(forUpdating: optimizer)
            try handle.seek(toOffset: UInt64(8 + headerLength))   // exp_avg's first value
            try handle.write(contentsOf: withUnsafeBytes(of: value.bitPattern.littleEndian) { Data($0) })
            try handle.close()
            r = try Launch.ftdist(["train", "--model", model, "--data", TestPaths.dataDir.path, "--output", out.path,
                                   "--resume", copy.path, "--max-steps", "3", "--lr", "1e-3", "--save-steps", "0", "--no-final-eval"])
            XCTAssertNotEqual(r.status, 0, name)
            XCTAssertTrue(r.stderr.contains(name == "nan" ? "exp_avg holds nan at element 0" : "the moments do not match the checksum"), r.stderr)
        }
    }

    /// `--max-steps N` is the step to stop at, counted from the start of the run: a run stopped
    /// early (here: after its step-2 checkpoint) and resumed with the same command finishes at
    /// step N, not N steps later; the same command once more has nothing left to do.
    func testMaxStepsIsTheStepToStopAtAcrossResumes() throws {
        let dir = try temporaryDirectory("max-steps")
        let model = try TinyRun.model(in: dir)
        let out = dir.appendingPathComponent("run")
        let command = ["--max-steps", "6", "--save-steps", "2", "--resume", "latest"]
        var r = try TinyRun.train(ranks: 1, output: out, model: model, extra: ["--max-steps", "2", "--save-steps", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try TinyRun.losses(out).map(\.step), [1, 2])
        r = try TinyRun.train(ranks: 1, output: out, model: model, extra: command)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("resumed from"), r.stderr)
        XCTAssertEqual(try TinyRun.losses(out).map(\.step), Array(1...6), "the resumed run stops at step 6")
        r = try TinyRun.train(ranks: 1, output: out, model: model, extra: command)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("step 6 reached already: --max-steps 6 is the step to stop at"), r.stderr)
        XCTAssertEqual(try TinyRun.losses(out).map(\.step), Array(1...6), "nothing more is trained")
        let names = try FileManager.default.contentsOfDirectory(atPath: out.path)
        XCTAssertTrue(names.contains("run_config.resume-2.json"), "the resume that trained is recorded: \(names)")
        XCTAssertFalse(names.contains("run_config.resume-6.json"), "an invocation with nothing to train leaves no resume behind")
    }

    /// Resuming from an earlier checkpoint abandons the run's later steps: an invocation with
    /// nothing to train touches nothing; one that trains rewrites the history from there and
    /// removes the later checkpoints when it writes its own (keeping the new one, which the
    /// pruning by name used to delete), so `--resume latest` continues the new history.
    func testResumingFromAnEarlierCheckpointAbandonsTheLaterSteps() throws {
        let dir = try temporaryDirectory("resume-earlier")
        let model = try TinyRun.model(in: dir)
        let out = dir.appendingPathComponent("run")
        func checkpoints() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: out.path).filter { $0.hasPrefix("checkpoint-") }.sorted()
        }
        var r = try TinyRun.train(ranks: 1, output: out, model: model, extra: ["--max-steps", "3", "--save-steps", "1", "--keep-checkpoints", "3"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try checkpoints(), ["checkpoint-000001", "checkpoint-000002", "checkpoint-000003"])
        let first = out.appendingPathComponent("checkpoint-000001").path

        // nothing to train: no trace, the metrics of steps 2 and 3 stay
        r = try TinyRun.train(ranks: 1, output: out, model: model, extra: ["--max-steps", "1", "--resume", first])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("step 1 reached already"), r.stderr)
        XCTAssertEqual(try TinyRun.losses(out).map(\.step), [1, 2, 3])

        // a torn last line (a run killed while appending) is dropped by the next resume
        let metrics = out.appendingPathComponent("metrics.jsonl")
        let handle = try FileHandle(forWritingTo: metrics)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"step\":4,\"loss\":".utf8))
        try handle.close()

        r = try TinyRun.train(ranks: 1, output: out, model: model,
                              extra: ["--max-steps", "2", "--save-steps", "1", "--keep-checkpoints", "1", "--resume", first])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("abandons (it continues from step 1): checkpoint-000002, checkpoint-000003"), r.stderr)
        XCTAssertEqual(try checkpoints(), ["checkpoint-000002"], "the new step-2 checkpoint is kept, the stale step 3 removed")
        XCTAssertEqual(try TinyRun.losses(out).map(\.step), [1, 2])
        XCTAssertFalse(try String(contentsOf: metrics, encoding: .utf8).contains("\"step\":4"), "the torn line is gone")
        r = try TinyRun.train(ranks: 1, output: out, model: model, extra: ["--max-steps", "3", "--resume", "latest"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("checkpoint-000002: step 2"), r.stderr)
        XCTAssertEqual(try TinyRun.losses(out).map(\.step), [1, 2, 3])

        // a checkpoint whose trainer_state.json disagrees with its directory's step is refused
        let moved = out.appendingPathComponent("checkpoint-000007")
        try FileManager.default.copyItem(at: out.appendingPathComponent("checkpoint-000003"), to: moved)
        r = try TinyRun.train(ranks: 1, output: out, model: model, extra: ["--max-steps", "8", "--resume", moved.path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("step 3 is not the step 7 of its directory's name"), r.stderr)
    }
}
