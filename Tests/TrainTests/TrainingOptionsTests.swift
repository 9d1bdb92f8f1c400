import Foundation
import TestSupport
@testable import Train
import XCTest

final class TrainingOptionsTests: XCTestCase {
    func testRoundTripsThroughJSON() throws {
        var o = TrainingOptions(modelPath: "m.gguf", dataDir: "data", output: "runs/x")
        o.epochs = 2; o.lr = 1e-4; o.maxSteps = 7; o.hostSharedMemory = false; o.evalSteps = 313
        let back = try JSONDecoder().decode(TrainingOptions.self, from: try JSONEncoder().encode(o))
        XCTAssertEqual(back, o)
    }

    /// A trainer_state.json written before a field existed (here: the options of the
    /// session-1 checkpoints, which have neither `hostSharedMemory` nor `maxSteps`) still
    /// decodes, with the recipe's defaults for what is missing.
    func testOptionsOfOlderCheckpointsDecodeWithDefaults() throws {
        let old = """
        {"modelPath":"models/gemma-3-270m-q4_k_m.gguf","dataDir":"data/banking77","output":"runs/ft200",
         "epochs":3,"batchSize":16,"lr":5e-05,"scheduler":"cosine","warmupSteps":0,"weightDecay":0,"maxGradNorm":1,
         "seed":42,"promptTemplate":"Classify the banking customer message into one of 77 intents.\\nMessage: {text}\\nIntent:",
         "saveSteps":200,"keepCheckpoints":2,"checkReplicasSteps":50,"evalSteps":100,"holdout":0,"evalSamples":385,
         "finalEval":true,"evalMaxNewTokens":24,"sharePrefix":false}
        """
        let o = try JSONDecoder().decode(TrainingOptions.self, from: Data(old.utf8))
        XCTAssertEqual(o.evalSteps, 100)
        XCTAssertFalse(o.sharePrefix, "present fields keep their values")
        XCTAssertTrue(o.hostSharedMemory, "a missing field takes its default")
        XCTAssertNil(o.maxSteps)
        XCTAssertEqual(o.trajectoryKey(), TrainingOptions(modelPath: "", dataDir: "", output: "").trajectoryKey())
        XCTAssertThrowsError(try JSONDecoder().decode(TrainingOptions.self, from: Data(#"{"epochs":3}"#.utf8)),
                             "the paths are required")
    }

    /// Resume names the flags that differ from the run's: every option of the trajectory key,
    /// changed alone, changes the key and is named with both values; options outside the key
    /// (paths, checkpoint cadence) change neither.
    func testTrajectoryDifferencesNameEveryFlagOfTheKey() {
        var run = TrainingOptions(modelPath: "m", dataDir: "d", output: "o")
        run.method = .lora
        let changes: [(String, (inout TrainingOptions) -> Void)] = [
            ("--method qlora (the run: lora)", { $0.method = .qlora }),
            ("--lora-rank 8 (the run: 16)", { $0.lora.rank = 8 }),
            ("--lora-alpha 16.0 (the run: 32.0)", { $0.lora.alpha = 16 }),
            ("--lora-dropout 0.1 (the run: 0.05)", { $0.lora.dropout = 0.1 }),
            ("--lora-targets q_proj,v_proj (the run: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj)", { $0.lora.targets = [.q, .v] }),
            ("--rslora on (the run: off)", { $0.lora.rsLoRA = true }),
            ("--epochs 2 (the run: 3)", { $0.epochs = 2 }),
            ("--batch-size 8 (the run: 16)", { $0.batchSize = 8 }),
            ("--lr 0.001 (the run: 5e-05)", { $0.lr = 1e-3 }),
            ("--scheduler linear (the run: cosine)", { $0.scheduler = .linear }),
            ("--warmup-steps 10 (the run: 0)", { $0.warmupSteps = 10 }),
            ("--weight-decay 0.01 (the run: 0.0)", { $0.weightDecay = 0.01 }),
            ("--max-grad-norm 0.5 (the run: 1.0)", { $0.maxGradNorm = 0.5 }),
            ("--seed 7 (the run: 42)", { $0.seed = 7 }),
            ("--prompt-template \"Q: {text}\" (the run: ", { $0.promptTemplate = "Q: {text}" }),
            ("--holdout 100 (the run: 0)", { $0.holdout = 100 }),
        ]
        for (expected, change) in changes {
            var here = run
            change(&here)
            XCTAssertNotEqual(here.trajectoryKey(), run.trajectoryKey(), expected)
            let differences = here.trajectoryDifferences(from: run)
            XCTAssertEqual(differences.count, 1, "\(expected): \(differences)")
            XCTAssertTrue(differences.first?.hasPrefix(expected) == true, "\(expected): \(differences)")
        }
        var here = run
        (here.modelPath, here.output, here.saveSteps, here.evalSteps, here.maxSteps) = ("other", "elsewhere", 5, 10, 3)
        XCTAssertEqual(here.trajectoryKey(), run.trajectoryKey())
        XCTAssertEqual(here.trajectoryDifferences(from: run), [])
    }

    /// Flags that only the data or the model can refute: a global batch larger than the
    /// training split, and --max-new-tokens beyond the model's context; one message, a
    /// non-zero exit, no run directory.
    func testTrainRefusesWhatTheDataOrTheModelCannotHold() throws {
        let dir = try temporaryDirectory("train-bad")
        let model = try TinyRun.model(in: dir)
        for (flags, message) in [(["--batch-size", "20000"], "--batch-size 20000 is larger than the 10003 training examples"),
                                 (["--max-new-tokens", "100000000"], "context"),
                                 (["--epochs", "99999999999"], "--epochs must be between 1 and 10000")] {
            let out = dir.appendingPathComponent("run")
            let r = try Launch.ftdist(["train", "--model", model, "--data", TestPaths.dataDir.path, "--output", out.path] + flags)
            XCTAssertNotEqual(r.status, 0, "\(flags)")
            XCTAssertTrue(r.stderr.contains(message), "\(flags): \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("Fatal error"), "\(flags)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "\(flags): nothing may be written")
        }
        // an --output that cannot become the run directory is said before the model loads
        let file = dir.appendingPathComponent("a-file")
        try Data("x".utf8).write(to: file)
        let dangling = dir.appendingPathComponent("dangling")
        try FileManager.default.createSymbolicLink(atPath: dangling.path, withDestinationPath: dir.appendingPathComponent("nowhere").path)
        for (output, message) in [(file.appendingPathComponent("run").path, "\(file.path) is a file, not a directory"),
                                  (dangling.path, "\(dangling.path) is a symbolic link to nothing")] {
            let r = try Launch.ftdist(["train", "--model", model, "--data", TestPaths.dataDir.path, "--output", output])
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.stderr.contains("--output \(output): \(message)"), r.stderr)
            XCTAssertFalse(r.stderr.contains("model and data loaded"), "refused before the load: \(r.stderr)")
        }
    }

    /// A run directory's start without a checkpoint (killed during its first save) is no dead
    /// end: both a fresh start and --resume latest say what to do; and a checkpoint refuses to
    /// continue on other training examples (another --data), which would change the batches
    /// and the schedule.
    func testRunDirectoryStatesThatCannotContinueSaySo() throws {
        let dir = try temporaryDirectory("train-states")
        let model = try TinyRun.model(in: dir)
        let out = dir.appendingPathComponent("run")
        var r = try TinyRun.train(ranks: 1, output: out, model: model, extra: ["--max-steps", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        // other data: train.csv without its last rows
        let other = dir.appendingPathComponent("data")
        try FileManager.default.copyItem(at: TestPaths.dataDir, to: other)
        let train = other.appendingPathComponent("train.csv")
        // bytes, not Characters: the file's CRLF is one Character, which a split at "\n" passes over
        let lines = try Data(contentsOf: train).split(separator: 0x0A, omittingEmptySubsequences: false)
        try Data(lines.prefix(3001).joined(separator: [0x0A]) + [0x0A]).write(to: train)
        r = try Launch.ftdist(["train", "--model", model, "--data", other.path, "--output", out.path, "--resume", "latest",
                               "--max-steps", "3", "--lr", "1e-3", "--save-steps", "0", "--no-final-eval"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("was trained on other training examples (10003"), r.stderr)

        for name in try FileManager.default.contentsOfDirectory(atPath: out.path) where name.hasPrefix("checkpoint-") {
            try FileManager.default.removeItem(at: out.appendingPathComponent(name))
        }
        r = try TinyRun.train(ranks: 1, output: out, model: model, extra: ["--max-steps", "2"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("stopped before its first checkpoint (nothing in it can be resumed); remove it"), r.stderr)
        r = try TinyRun.train(ranks: 1, output: out, model: model, extra: ["--max-steps", "2", "--resume", "latest"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("stopped before its first checkpoint: remove the directory"), r.stderr)
    }
}
