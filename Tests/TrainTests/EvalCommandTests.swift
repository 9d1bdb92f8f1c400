import Foundation
import TestSupport
import Train
import XCTest

/// `ft-dist eval` end to end on the tiny model: a checkpoint evaluates and writes the whole
/// report; a damaged checkpoint, a model that is not Gemma 3 and a missing split are clear errors.
final class EvalCommandTests: XCTestCase {
    func testEvaluatesACheckpointAndRejectsBadInput() throws {
        let dir = try temporaryDirectory("eval")
        let model = try TinyRun.model(in: dir)
        let run = dir.appendingPathComponent("run")
        let checkpoint = try TinyRun.checkpoint(model: model, output: run, steps: 2)
        // a small CSV split of our own, with a quoted comma
        let csv = dir.appendingPathComponent("mine.csv")
        try "text,category\n\"Where is my card, please?\",card_arrival\nI was charged twice,transaction_charged_twice\n"
            .write(to: csv, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("report")
        var r = try Launch.mpirun(ranks: 2, ["eval", "--model", checkpoint, "--data", TestPaths.dataDir.path, "--split", csv.path,
                                         "--output", out.path, "--max-new-tokens", "4"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for file in ["metrics.json", "predictions.jsonl", "confusion.csv", "confusion.svg", "report.md"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(file).path), file)
        }
        let predictions = try String(contentsOf: out.appendingPathComponent("predictions.jsonl"), encoding: .utf8)
        XCTAssertEqual(predictions.split(separator: "\n").count, 2, "both ranks' predictions gathered on rank 0")
        XCTAssertTrue(predictions.contains("Where is my card, please?"))

        r = try Launch.ftdist(["eval", "--model", checkpoint, "--data", TestPaths.dataDir.path, "--split", "validation"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--split must be test, train or a .csv file"), r.stderr)

        // an --output that cannot become a directory is refused before the evaluation
        r = try Launch.ftdist(["eval", "--model", checkpoint, "--data", TestPaths.dataDir.path, "--split", csv.path,
                               "--output", csv.appendingPathComponent("report").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("\(csv.path) is a file, not a directory"), r.stderr)

        r = try Launch.ftdist(["eval", "--model", "/etc/passwd", "--data", TestPaths.dataDir.path, "--limit", "1"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("not a GGUF file"), r.stderr)

        // without its optimizer file (only resuming needs the moments) the checkpoint still
        // evaluates, with model.safetensors' norms, and says so: the same predictions here
        let lean = dir.appendingPathComponent("lean").path
        try FileManager.default.copyItem(atPath: checkpoint, toPath: lean)
        try FileManager.default.removeItem(atPath: lean + "/optimizer.safetensors")
        let leanOut = dir.appendingPathComponent("lean-report")
        r = try Launch.ftdist(["eval", "--model", lean, "--data", TestPaths.dataDir.path, "--split", csv.path,
                               "--output", leanOut.path, "--max-new-tokens", "4"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("\(lean)/optimizer.safetensors is missing"), r.stderr)
        let leanPredictions = try String(contentsOf: leanOut.appendingPathComponent("predictions.jsonl"), encoding: .utf8)
        XCTAssertEqual(leanPredictions.split(separator: "\n").sorted(), predictions.split(separator: "\n").sorted())

        // damage the weights: the checkpoint's checksum catches it
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: checkpoint + "/model.safetensors"))
        try handle.seek(toOffset: try handle.seekToEnd() - 4096)  // inside the tensor data
        try handle.write(contentsOf: Data(repeating: 0x3F, count: 32))
        try handle.close()
        r = try Launch.ftdist(["eval", "--model", checkpoint, "--data", TestPaths.dataDir.path, "--split", csv.path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("damaged"), r.stderr)

        // a config that is not Gemma 3
        try #"{"model_type": "llama"}"#.write(toFile: checkpoint + "/config.json", atomically: true, encoding: .utf8)
        r = try Launch.ftdist(["eval", "--model", checkpoint, "--data", TestPaths.dataDir.path, "--split", csv.path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("expected gemma3_text"), r.stderr)
    }
}
