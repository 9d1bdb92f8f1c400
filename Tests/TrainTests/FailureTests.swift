import Foundation
import Report
import TestSupport
import XCTest

/// A lost rank ends the whole job quickly and loudly; a stop signal leaves a final checkpoint;
/// either way the run resumes from its last complete checkpoint.
final class FailureTests: XCTestCase {
    /// Start a long tiny-model run under mpirun in the background.
    private func startRun(ranks: Int, output: URL, model: String, resume: Bool = false) throws -> (Process, URL) {
        let log = output.deletingLastPathComponent().appendingPathComponent("\(output.lastPathComponent)-\(UUID().uuidString).log")
        let p = try startLogged("/usr/bin/mpirun", Launch.mpirunArguments(ranks: ranks) + [TestPaths.binary, "train", "--model", model,
                                "--data", TestPaths.dataDir.path, "--output", output.path, "--save-steps", "10", "--no-final-eval",
                                "--lr", "1e-3"] + (resume ? ["--resume", "latest"] : []),
                                log: log, environment: ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"])
        return (p, log)
    }

    /// Start `executable` with stdout and stderr into a new file `log`, no stdin, `environment` over ours.
    private func startLogged(_ executable: String, _ arguments: [String], log: URL, environment: [String: String] = [:]) throws -> Process {
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let handle = try FileHandle(forWritingTo: log)
        p.standardOutput = handle
        p.standardError = handle
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Polls `done` every `interval` seconds until it holds or `timeout` seconds have passed;
    /// returns whether it held.
    @discardableResult
    private func waitUntil(timeout: Double, every interval: Double = 0.05, _ done: () -> Bool) -> Bool {
        let start = Date()
        while Date().timeIntervalSince(start) < timeout {
            if done() { return true }
            Thread.sleep(forTimeInterval: interval)
        }
        return done()
    }

    private func waitForCheckpoint(_ output: URL, atLeast step: Int, timeout: Double = 120) {
        let reached = waitUntil(timeout: timeout, every: 0.1) { checkpointSteps(output).contains { $0 >= step } }
        if !reached { XCTFail("no checkpoint ≥ \(step) in \(output.path) after \(timeout) s") }
    }

    /// The steps of the checkpoints in a run directory.
    private func checkpointSteps(_ output: URL) -> [Int] {
        ((try? FileManager.default.contentsOfDirectory(atPath: output.path)) ?? [])
            .filter { $0.hasPrefix("checkpoint-") }.compactMap { Int($0.dropFirst(11)) }
    }

    /// Pids of the ft-dist ranks training into `output`, by rank (from their environment).
    private func rankPids(output: URL) -> [Int: Int32] {
        var ranks: [Int: Int32] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry),
                  let cmd = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8),
                  cmd.contains(output.path), cmd.hasPrefix(TestPaths.binary),
                  let env = try? String(contentsOfFile: "/proc/\(pid)/environ", encoding: .utf8) else { continue }
            for v in env.split(separator: "\0") where v.hasPrefix("OMPI_COMM_WORLD_RANK=") {
                if let r = Int(v.dropFirst(21)) { ranks[r] = pid }
            }
        }
        return ranks
    }

    func testKilledRankEndsTheJobAndTheRunResumes() throws {
        let dir = try temporaryDirectory("kill")
        let model = try TinyRun.model(in: dir)
        let out = dir.appendingPathComponent("run")
        let (job, log) = try startRun(ranks: 2, output: out, model: model)
        waitForCheckpoint(out, atLeast: 20)
        let pids = rankPids(output: out)
        let victim = try XCTUnwrap(pids[1], "rank 1 not found among \(pids)")
        let killedAt = Date()
        kill(victim, SIGKILL)
        waitUntil(timeout: 60) { !job.isRunning }
        let seconds = Date().timeIntervalSince(killedAt)
        XCTAssertFalse(job.isRunning, "mpirun still running 60 s after rank 1 was killed")
        if job.isRunning { job.terminate() }
        job.waitUntilExit()
        XCTAssertNotEqual(job.terminationStatus, 0)
        XCTAssertTrue(rankPids(output: out).isEmpty, "a rank survived")
        let text = try String(contentsOf: log, encoding: .utf8)
        XCTAssertTrue(text.contains("rank 1"), "the message should name the lost rank:\n\(text.suffix(800))")
        print(String(format: "SIGKILL of rank 1: every process gone after %.2f s", seconds))

        // the last complete checkpoint resumes (and trains 3 more steps: --max-steps is the step to stop at)
        let resumeStep = try XCTUnwrap(checkpointSteps(out).max())
        let r = try TinyRun.train(ranks: 2, output: out, model: model, extra: ["--resume", "latest", "--max-steps", "\(resumeStep + 3)"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("resumed from"), r.stderr)
    }

    func testSigtermWritesAFinalCheckpoint() throws {
        let dir = try temporaryDirectory("sigterm")
        let model = try TinyRun.model(in: dir)
        let out = dir.appendingPathComponent("run")
        let (job, log) = try startRun(ranks: 2, output: out, model: model)
        waitForCheckpoint(out, atLeast: 10)
        Thread.sleep(forTimeInterval: 0.5)
        job.terminate()  // SIGTERM to mpirun, which forwards it to the ranks
        waitUntil(timeout: 60) { !job.isRunning }
        XCTAssertFalse(job.isRunning)
        job.waitUntilExit()
        let text = try String(contentsOf: log, encoding: .utf8)
        // the final checkpoint is at the step where the ranks agreed to stop, past the periodic ones
        let steps = checkpointSteps(out)
        let last = try XCTUnwrap(steps.max())
        XCTAssertTrue(last % 10 != 0 || text.contains("stop requested"), "no final checkpoint: \(steps)\n\(text.suffix(600))")
        let r = try TinyRun.train(ranks: 2, output: out, model: model, extra: ["--resume", "latest", "--max-steps", "\(last + 2)"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("resumed from \(out.path)/checkpoint-" + String(format: "%06d", last)), r.stderr)
    }

    /// The launchers turn SIGTERM (and Ctrl-C) into a stop after the current step: mpirun's
    /// own handling kills the ranks within a second (Open MPI 4.1), so launch/lib/mpirun.sh
    /// passes the signal on as SIGUSR1, which mpirun forwards to every rank at once. The
    /// launcher exits 143, the final checkpoint is at the step the ranks agreed on, nothing
    /// keeps running, and the run resumes from it.
    func testTheLauncherTurnsSigtermIntoAStopWithACheckpoint() throws {
        let dir = try temporaryDirectory("launcher-stop")
        let model = try TinyRun.model(in: dir)
        let out = dir.appendingPathComponent("run")
        let log = dir.appendingPathComponent("launcher.log")
        let launcher = try startLogged("/bin/bash", [TestPaths.repoRoot.appendingPathComponent("launch/local.sh").path, "2", "train",
                                                     "--model", model, "--data", TestPaths.dataDir.path, "--output", out.path,
                                                     "--save-steps", "0", "--no-final-eval", "--lr", "1e-3"],
                                       log: log, environment: ["FTDIST_BIN": TestPaths.binary])
        let metrics = out.appendingPathComponent("metrics.jsonl")
        waitUntil(timeout: 120, every: 0.1) { ((try? String(contentsOf: metrics, encoding: .utf8))?.split(separator: "\n").count ?? 0) >= 5 }
        launcher.terminate()
        waitUntil(timeout: 60) { !launcher.isRunning }
        XCTAssertFalse(launcher.isRunning, "the launcher still runs 60 s after SIGTERM")
        if launcher.isRunning { launcher.interrupt() }
        launcher.waitUntilExit()
        let text = try String(contentsOf: log, encoding: .utf8)
        XCTAssertEqual(launcher.terminationStatus, 143, text)
        XCTAssertTrue(text.contains("stopping after the current step"), text)
        let stopped = try XCTUnwrap(checkpointSteps(out).max(), "no final checkpoint:\n\(text.suffix(800))")
        XCTAssertTrue(text.contains("writing a final checkpoint at step \(stopped)"), text)
        XCTAssertEqual(try TinyRun.losses(out).map(\.step).last, stopped, "the checkpoint is at the last step trained")
        XCTAssertTrue(rankPids(output: out).isEmpty, "a rank survived")
        let r = try TinyRun.train(ranks: 2, output: out, model: model, extra: ["--resume", "latest", "--max-steps", "\(stopped + 2)"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("resumed from \(out.path)/checkpoint-" + String(format: "%06d", stopped)), r.stderr)
    }

    /// A stop during the final test evaluation ends it after the batch being generated (the
    /// tiny model's takes ≈2 s; it used to run to its end): the last step's checkpoint is
    /// there, no report is written, the exit status is the signal's, and the same command
    /// with --resume latest runs the evaluation.
    func testAStopDuringTheFinalEvaluationEndsItAndResumeRunsIt() throws {
        let dir = try temporaryDirectory("stop-in-eval")
        let model = try TinyRun.model(in: dir)
        let out = dir.appendingPathComponent("run")
        let log = dir.appendingPathComponent("train.log")
        let flags = ["train", "--model", model, "--data", TestPaths.dataDir.path, "--output", out.path,
                     "--epochs", "1", "--batch-size", "2000", "--save-steps", "0", "--lr", "1e-3"]
        let train = try startLogged(TestPaths.binary, flags, log: log)
        waitUntil(timeout: 120, every: 0.01) {
            !train.isRunning || ((try? String(contentsOf: log, encoding: .utf8)) ?? "").contains("evaluating the test split")
        }
        train.terminate()
        train.waitUntilExit()
        let text = try String(contentsOf: log, encoding: .utf8)
        XCTAssertEqual(train.terminationStatus, 128 + SIGTERM, text)
        XCTAssertTrue(text.contains("stop requested during the final evaluation: step 6 is saved"), text)
        XCTAssertFalse(text.contains("test accuracy"), text)
        XCTAssertEqual(checkpointSteps(out), [6])
        XCTAssertFalse(FileManager.default.fileExists(atPath: RunFiles(out.path).testMetricsPath), "no report of a stopped evaluation")
        let r = try Launch.ftdist(flags + ["--resume", "latest"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue((r.stdout + r.stderr).contains("test accuracy"), r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: RunFiles(out.path).testMetricsPath))
    }

    /// An error on rank 0 alone (its run directory cannot be created: a file is in the way)
    /// while rank 1 waits in a collective must end the whole job with the error, not hang —
    /// in particular nothing collective (such as freeing the shared gradient window) may
    /// run while rank 0 unwinds to MPI_Abort.
    func testAnErrorOnRankZeroAloneEndsTheJob() throws {
        let dir = try temporaryDirectory("fail-rank0")
        let model = try TinyRun.model(in: dir)
        let blocker = dir.appendingPathComponent("not-a-directory")
        try Data("x".utf8).write(to: blocker)
        let r = try Launch.mpirun(ranks: 2, ["train", "--model", model, "--data", TestPaths.dataDir.path,
                                             "--output", blocker.appendingPathComponent("run").path, "--max-steps", "3"],
                                  timeout: 120)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertLessThan(r.seconds, 60, "the job should end within seconds, not wait for the timeout")
        XCTAssertTrue((r.stdout + r.stderr).contains("not-a-directory"), "the error should name the path:\n\(r.stderr.suffix(800))")
    }
}
