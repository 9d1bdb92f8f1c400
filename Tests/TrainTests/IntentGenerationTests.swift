import Distributed
import Foundation
import Model
import Report
import TestSupport
import XCTest
@testable import Train

/// Batched intent generation (eval, validation, predict): the shared template prefix, the
/// batch size and the weights' form change the speed, never the predictions.
final class IntentGenerationTests: XCTestCase {
    func testCommonPrefixLength() {
        XCTAssertEqual(IntentGeneration.commonPrefixLength([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]]), 2)
        XCTAssertEqual(IntentGeneration.commonPrefixLength([[1, 2, 3], [1, 2, 3]]), 2, "every prompt keeps its last token")
        XCTAssertEqual(IntentGeneration.commonPrefixLength([[1, 2], [3, 2]]), 0)
        XCTAssertEqual(IntentGeneration.commonPrefixLength([[7]]), 0)
        XCTAssertEqual(IntentGeneration.commonPrefixLength([]), 0)
    }

    /// 40 Banking77 test messages on the tiny model: whole prompts one at a time (today's
    /// path before the prefix was shared), and the shared prefix at batch sizes 1, 7 and 40,
    /// with and without the early stop: the same generated text for every example.
    func testSharedPrefixAndBatchSizeLeaveThePredictionsUnchanged() throws {
        let dir = try temporaryDirectory("intent-generation")
        let loaded = try ModelSource.load(try TinyRun.model(in: dir))
        let intents = try IntentList.load(TrainingData.files(in: TestPaths.dataDir.path).intents)
        let rows = Array(try Banking77.load(csv: TrainingData.files(in: TestPaths.dataDir.path).test, intents: intents)[..<40])
        for stopEarly in [true, false] {
            func predictions(batch: Int, share: Bool) throws -> [String] {
                var e = Evaluator(weights: loaded.weights, tokenizer: loaded.tokenizer, template: loaded.template, comm: SingleProcessCommunicator())
                e.batchSize = batch
                e.maxNewTokens = 12
                e.intentNames = intents.names
                e.stopWhenNoIntentCanFollow = stopEarly
                e.sharePromptPrefix = share
                return try e.predict(rows)!.map(\.generated)
            }
            let reference = try predictions(batch: 1, share: false)
            XCTAssertGreaterThan(Set(reference).count, 1, "the tiny model's outputs differ between messages")
            for batch in [1, 7, 40] {
                XCTAssertEqual(try predictions(batch: batch, share: true), reference, "batch \(batch), early stop \(stopEarly)")
            }
        }
    }

    /// A stop request ends an evaluation between batches: `shouldStop` is asked before each
    /// batch, and once it says true `predict` throws EvaluationStopped (on every rank, which
    /// agree first) instead of returning predictions for some of the examples.
    func testAStopRequestEndsTheEvaluationBetweenBatches() throws {
        let dir = try temporaryDirectory("evaluation-stop")
        let loaded = try ModelSource.load(try TinyRun.model(in: dir))
        let intents = try IntentList.load(TrainingData.files(in: TestPaths.dataDir.path).intents)
        let rows = Array(try Banking77.load(csv: TrainingData.files(in: TestPaths.dataDir.path).test, intents: intents)[..<20])
        var e = Evaluator(weights: loaded.weights, tokenizer: loaded.tokenizer, template: loaded.template, comm: SingleProcessCommunicator())
        e.batchSize = 5
        e.maxNewTokens = 4
        var asked = 0
        e.shouldStop = { asked += 1; return asked > 2 }
        var generated = 0
        XCTAssertThrowsError(try e.predict(rows) { done, _ in generated = done }) { XCTAssertTrue($0 is EvaluationStopped, "\($0)") }
        XCTAssertEqual(asked, 3, "asked before each batch until it said stop")
        XCTAssertEqual(generated, 10, "two batches of 5 generated, then the stop")
        e.shouldStop = { false }
        XCTAssertEqual(try e.predict(rows)?.count, 20, "no stop: every example")
    }

    /// --weights quantized: a quantized GGUF keeps its own blocks, an F32 one is quantized at
    /// load into the blocks `export --type q4_k_m` writes; either way the logits are those of
    /// the fp32 model of the same blocks, within fp32 summation error.
    func testQuantizedWeightsKeepTheFilesBlocksOrQuantizeAtLoad() throws {
        let dir = try temporaryDirectory("inference-weights")
        let q8 = try TinyGemma.write(to: dir.appendingPathComponent("q8.gguf").path, quantized: true)
        let f32 = try TinyRun.model(in: dir)
        let prompt: [Int32] = [2, 265, 270, 266, 280, 271, 298, 299]
        func logits(_ loaded: LoadedModel) throws -> [Float] {
            try GemmaInference(weights: loaded.weights).forward([prompt], caches: [KVCache(config: loaded.base.config, capacity: 8)], logits: .all)
        }
        let keptBlocks = try ModelSource.load(q8, weights: .quantized)
        XCTAssertNotNil((keptBlocks.base as? QuantizedGemma)?.file, "a quantized GGUF's own blocks")
        let fp32 = try ModelSource.load(q8, weights: .fp32)
        XCTAssertTrue(fp32.base is GemmaModel)
        let (a, b) = (try logits(keptBlocks), try logits(fp32))
        let scale = b.map(abs).max()!
        for i in a.indices { XCTAssertEqual(a[i], b[i], accuracy: 1e-5 * scale) }

        // quantized at load: the blocks `export --type q4_k_m` writes, so the fp32 model of that
        // export gives the same logits
        let quantizedAtLoad = try ModelSource.load(f32, weights: .quantized)
        XCTAssertNil((quantizedAtLoad.base as! QuantizedGemma).file, "an F32 file is quantized at load")
        let exported = dir.appendingPathComponent("q4_k_m.gguf").path
        let r = try Launch.ftdist(["export", f32, "--type", "q4_k_m", "--output", exported])
        XCTAssertEqual(r.status, 0, r.stderr)
        let (c, d) = (try logits(quantizedAtLoad), try logits(try ModelSource.load(exported)))
        let exportScale = d.map(abs).max()!
        for i in c.indices { XCTAssertEqual(c[i], d[i], accuracy: 1e-5 * exportScale) }
        XCTAssertGreaterThan(zip(c, try logits(try ModelSource.load(f32))).map { abs($0 - $1) }.max()!, 0, "quantization changed the values")
    }

    /// `predict` reads stdin in batches: the same lines at --batch-size 1 and 3 as at the
    /// default, --timing reports on stderr, and --weights takes only fp32 or quantized.
    func testPredictBatchesStdinAndReportsTiming() throws {
        let dir = try temporaryDirectory("predict-batches")
        let model = try TinyRun.model(in: dir)
        let input = "where is my card\nI lost my phone\n\nrefund please\nmy top up failed\n"
        let base = ["predict", "--model", model, "--data", TestPaths.dataDir.path]
        let reference = try Launch.ftdist(base, stdin: input)
        XCTAssertEqual(reference.status, 0, reference.stderr)
        XCTAssertEqual(reference.stdout.split(separator: "\n", omittingEmptySubsequences: false).count, 6)
        for batch in ["1", "3"] {
            let r = try Launch.ftdist(base + ["--batch-size", batch, "--timing"], stdin: input)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stdout, reference.stdout, "batch size \(batch)")
            XCTAssertTrue(r.stderr.contains("5 messages in") && r.stderr.contains("ms per step"), r.stderr)
        }
        let quantized = try Launch.ftdist(base + ["--weights", "quantized"], stdin: input)
        XCTAssertEqual(quantized.status, 0, quantized.stderr)
        XCTAssertEqual(quantized.stdout.split(separator: "\n", omittingEmptySubsequences: false).count, 6)
        let bad = try Launch.ftdist(base + ["--weights", "int3"], stdin: input)
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--weights"), bad.stderr)
        XCTAssertEqual(bad.stdout, "")
    }
}
