import Foundation
import Model
import ModelKernels
import TestSupport
@testable import Train
import XCTest

/// `ft-dist generate --logits-output`: the prompt's logits at every position, raw fp32, as
/// GemmaInference computes them (what bench/check_hf_checkpoint.py compares with transformers).
final class TextGeneratorTests: XCTestCase {
    /// Streaming prints what each token adds, compared as bytes: the second half of a flag (or
    /// a combining accent) changes the last Character, which stopped all further output when
    /// the text was compared as Characters (`generate` printed " 🇬" of 16 tokens).
    func testStreamedTextPrintsCharactersThatSpanTokens() {
        var stream = StreamedText()
        XCTAssertEqual(stream.update("Flags: 🇬"), "Flags: 🇬")
        XCTAssertEqual(stream.update("Flags: 🇬🇧"), "🇧")
        XCTAssertEqual(stream.update("Flags: 🇬🇧 cafe"), " cafe")
        XCTAssertEqual(stream.update("Flags: 🇬🇧 cafe\u{301}"), "\u{301}")
        XCTAssertNil(stream.update("Flags: 🇬🇧 cafe\u{301}\u{FFFD}"))   // a character's bytes still to come
        XCTAssertEqual(stream.update("Flags: 🇬🇧 cafe\u{301}\u{1F600}"), "\u{1F600}")
        XCTAssertNil(stream.update("Flags: 🇬🇧 cafe\u{301}\u{1F600}"))
        XCTAssertEqual(stream.finish("Flags: 🇬🇧 cafe\u{301}\u{1F600}!\u{FFFD}"), "!\u{FFFD}")
        XCTAssertEqual(String(decoding: stream.printed, as: UTF8.self), "Flags: 🇬🇧 cafe\u{301}\u{1F600}!\u{FFFD}")
    }

    func testLogitsOutputHoldsEveryPositionsLogits() throws {
        let dir = try temporaryDirectory("logits")
        let model = try TinyRun.model(in: dir)
        let file = dir.appendingPathComponent("logits.f32").path
        let r = try Launch.ftdist(["generate", "--model", model, "--prompt", "abc ab", "--logits-output", file])
        XCTAssertEqual(r.status, 0, r.stderr)
        let ids = r.stdout.split(whereSeparator: \.isWhitespace).compactMap { Int32($0) }
        let generator = try TextGenerator(modelPath: model)
        XCTAssertEqual(ids, [generator.tokenizer.bos] + generator.tokenizer.encode("abc ab"))
        let vocab = generator.weights.config.vocabSize
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        XCTAssertEqual(data.count, ids.count * vocab * 4)
        let written = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let cache = KVCache(config: generator.weights.config, capacity: ids.count)
        let expected = try GemmaInference(weights: generator.weights).forward([ids], caches: [cache], logits: .all)
        XCTAssertEqual(written.map(\.bitPattern), expected.map(\.bitPattern))
        let bad = try Launch.ftdist(["generate", "--model", model, "--prompt", "a", "--logits-output", dir.appendingPathComponent("no/x").path])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("does not exist"), bad.stderr)
        let underFile = try Launch.ftdist(["generate", "--model", model, "--prompt", "a", "--logits-output", URL(fileURLWithPath: file).appendingPathComponent("x").path])
        XCTAssertTrue(underFile.stderr.contains("\(file) is a file, not a directory"), underFile.stderr)
        let empty = try Launch.ftdist(["generate", "--model", model, "--prompt", "a", "--logits-output", ""])
        XCTAssertNotEqual(empty.status, 0)
        XCTAssertTrue(empty.stderr.contains("names no file"), empty.stderr)
    }

    /// Without the vector kernels (FTDIST_VECTOR_KERNELS=0: the scalar code a CPU without AVX2
    /// runs) `generate` continues a prompt with the same 12 tokens, on fp32 weights (the same
    /// products, bit for bit, VectorKernelsTests) and on quantized blocks (the block loop
    /// rounds differently; these tokens have no near-ties).
    func testTheScalarFallbackGeneratesTheSameTokens() throws {
        try XCTSkipUnless(VectorKernels.available, "no vector kernels on this CPU: both runs would be the scalar code")
        let dir = try temporaryDirectory("scalar-fallback")
        let model = try TinyRun.model(in: dir)
        for weights in ["fp32", "quantized"] {
            let arguments = ["generate", "--model", model, "--prompt", "abc ab", "--max-new-tokens", "12", "--weights", weights]
            let vector = try Launch.ftdist(arguments)
            let scalar = try Launch.ftdist(arguments, environment: ["FTDIST_VECTOR_KERNELS": "0"])
            XCTAssertEqual(vector.status, 0, vector.stderr)
            XCTAssertEqual(scalar.status, 0, scalar.stderr)
            XCTAssertFalse(vector.stdout.isEmpty)
            XCTAssertEqual(scalar.stdout, vector.stdout, weights)
        }
    }
}
