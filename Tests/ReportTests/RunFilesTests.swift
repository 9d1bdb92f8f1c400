import Foundation
import TestSupport
import XCTest
@testable import Report

/// The run directory's schema: the names it gives, and which checkpoints and resumes it finds.
final class RunFilesTests: XCTestCase {
    func testNamesAndPaths() {
        let files = RunFiles("/runs/a")
        XCTAssertEqual(files.metricsPath, "/runs/a/metrics.jsonl")
        XCTAssertEqual(files.validationPath, "/runs/a/validation.jsonl")
        XCTAssertEqual(files.runConfigPath, "/runs/a/run_config.json")
        XCTAssertEqual(files.testMetricsPath, "/runs/a/eval-test/metrics.json")
        XCTAssertEqual(RunFiles.checkpoint(step: 200), "checkpoint-000200")
        XCTAssertEqual(RunFiles.temporaryCheckpoint(step: 7), ".tmp-checkpoint-000007")
        XCTAssertEqual(RunFiles.resumeConfig(afterStep: 12), "run_config.resume-12.json")
    }

    /// Only complete checkpoints count (trainer_state.json is written last), oldest first;
    /// half-written ones are listed apart, for removal.
    func testFindsCompleteCheckpointsAndResumes() throws {
        let dir = try temporaryDirectory("run-files")
        let files = RunFiles(dir.path)
        XCTAssertFalse(files.holdsRun)
        let fm = FileManager.default
        for (step, complete) in [(20, true), (3, true), (40, false)] {
            let c = dir.appendingPathComponent(RunFiles.checkpoint(step: step))
            try fm.createDirectory(at: c, withIntermediateDirectories: true)
            if complete { try Data("{}".utf8).write(to: c.appendingPathComponent(RunFiles.checkpointState)) }
        }
        try fm.createDirectory(at: dir.appendingPathComponent(RunFiles.temporaryCheckpoint(step: 60)), withIntermediateDirectories: true)
        try fm.createDirectory(at: dir.appendingPathComponent("checkpoint-later"), withIntermediateDirectories: true)
        XCTAssertEqual(files.checkpoints.map(\.step), [3, 20])
        XCTAssertEqual(files.checkpoints.last?.path, dir.appendingPathComponent("checkpoint-000020").path)
        XCTAssertEqual(files.temporaryCheckpoints, [dir.appendingPathComponent(".tmp-checkpoint-000060").path])
        XCTAssertTrue(files.holdsRun)
        for step in [30, 4] {
            try Data(#"{"resumedFrom": "/x/checkpoint-\#(step)", "startedAt": "t\#(step)"}"#.utf8)
                .write(to: dir.appendingPathComponent(RunFiles.resumeConfig(afterStep: step)))
        }
        XCTAssertEqual(files.resumeConfigs.map(\.step), [4, 30])
        XCTAssertEqual(files.readResumes(), [RunResume(step: 4, checkpoint: "/x/checkpoint-4", startedAt: "t4"),
                                            RunResume(step: 30, checkpoint: "/x/checkpoint-30", startedAt: "t30")])
    }
}
