import Foundation
import Model
import TestSupport
import Report
import Train
import XCTest

/// `ft-dist predict` (and `eval`) as a user runs them: one output line per message whatever the
/// model generates, the prompt template of the checkpoint's own run, and — without --model —
/// the newest checkpoint of the default run directory, named on stderr.
final class PredictCommandTests: XCTestCase {
    /// A tiny model that generates only newlines and tabs: the final norm keeps dimension 0
    /// alone, and the tied embedding rows of <0x0A> and <0x09> are ±100 there (every other
    /// row is ≈0.15), so whatever the sign of that dimension the greedy token is one of the two.
    static func whitespaceModel(in dir: URL) throws -> String {
        let newline = 4 + 0x0A, tab = 4 + 0x09  // TinyGemma: 4 specials, then <0x00>…<0xFF>
        let hidden = TinyGemma.config().hidden
        return try TinyGemma.write(to: dir.appendingPathComponent("whitespace.gguf").path) { tensor, values in
            if tensor.ggufName == "output_norm.weight" {
                for i in values.indices { values[i] = i == 0 ? 1 : 0 }
            } else if tensor.ggufName == "token_embd.weight" {
                for (row, sign) in [(newline, Float(1)), (tab, Float(-1))] {
                    for j in 0..<hidden { values[row * hidden + j] = j == 0 ? 100 * sign : 0 }
                }
            }
        }
    }

    func testOneLinePerMessageWhateverTheGeneration() throws {
        let dir = try temporaryDirectory("predict-lines")
        let model = try Self.whitespaceModel(in: dir)
        let input = "where is my card\nI lost my phone\n\nrefund please\n"
        let base = ["predict", "--model", model, "--data", TestPaths.dataDir.path]
        var r = try Launch.ftdist(base, stdin: input)
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        XCTAssertEqual(lines.count, 4, "one line per message, the empty one included:\n\(r.stdout)")
        for line in lines {
            XCTAssertTrue(line.hasSuffix("\t(not an intent)"), String(line))
            let generated = line.dropLast("\t(not an intent)".count)
            XCTAssertTrue(generated.contains("\\n") || generated.contains("\\t"), "escaped whitespace: \(line)")
            XCTAssertFalse(generated.contains("\t"), "no raw tab inside the generation: \(line)")
        }
        r = try Launch.ftdist(base + ["--json"], stdin: input)
        XCTAssertEqual(r.status, 0, r.stderr)
        let objects = try r.stdout.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(objects.map { $0["text"] as! String }, ["where is my card", "I lost my phone", "", "refund please"])
        XCTAssertTrue((objects[0]["intent"] as! String).contains("\n") || (objects[0]["intent"] as! String).contains("\t"),
                      "the JSON keeps the generation as it is")
        r = try Launch.ftdist(base + ["--top-k", "3"], stdin: input)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.split(separator: "\n").count, 4, r.stdout)
        XCTAssertTrue(r.stdout.split(separator: "\n").allSatisfy { $0.split(separator: "\t").count == 3 }, r.stdout)
        // refused with what is wrong: more intents than there are, a message too long for the
        // context (named by its place, before any work), stdin that is a directory
        r = try Launch.ftdist(base + ["--top-k", "78"], stdin: input)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--top-k 78 is more than the 77 intents"), r.stderr)
        let context = TinyGemma.config().contextLength
        r = try Launch.ftdist(base, stdin: "short\n" + String(repeating: "ab ", count: context) + "\nshort\n")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("message 2: its prompt has"), r.stderr)
        XCTAssertEqual(r.stdout, "", "nothing is generated")
        r = try Launch.ftdist(base, stdinPath: dir)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("cannot read stdin: it is a directory"), r.stderr)
    }

    /// A checkpoint trained with --prompt-template is prompted with that template by eval and
    /// predict; without --model they take the newest checkpoint of the default run directory.
    func testCheckpointsArePromptedWithTheirRunsTemplate() throws {
        let dir = try temporaryDirectory("predict-template")
        let model = try TinyRun.model(in: dir)
        let run = dir.appendingPathComponent("run")
        let template = "Q: {text}\nA:"
        var r = try TinyRun.train(ranks: 1, output: run, model: model, extra: ["--max-steps", "2", "--prompt-template", template])
        XCTAssertEqual(r.status, 0, r.stderr)
        let checkpoint = run.appendingPathComponent("checkpoint-000002").path
        let loaded = try ModelSource.load(checkpoint, tokenizerGGUF: model)
        XCTAssertEqual(loaded.template.template, template)
        // what greedy generation gives under each template, computed here
        func generated(_ text: String, _ t: PromptTemplate) throws -> String {
            let prompt = [loaded.tokenizer.bos] + loaded.tokenizer.encode(t.prompt(for: text))
            let ids = try GemmaInference(weights: loaded.weights).generateGreedy([prompt], maxNewTokens: 24, stopToken: loaded.tokenizer.eos)[0]
            return loaded.tokenizer.decode(ids)
        }
        let message = "my card has not arrived"
        let own = try generated(message, try PromptTemplate(template)), other = try generated(message, try PromptTemplate())
        XCTAssertNotEqual(own, other, "the two templates must lead to different generations for this test to mean anything")

        let environment = ["FTDIST_MODEL": model, "FTDIST_RUN": run.path]
        r = try Launch.ftdist(["predict", "--data", TestPaths.dataDir.path, "--json", message], environment: environment)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("model \(checkpoint): the newest checkpoint of \(run.path)"), r.stderr)
        let answer = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(answer["intent"] as? String, Prediction.normalizedLabel(own))

        let csv = dir.appendingPathComponent("one.csv")
        try "text,category\n\(message),card_arrival\n".write(to: csv, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("eval")
        r = try Launch.ftdist(["eval", "--data", TestPaths.dataDir.path, "--split", csv.path, "--output", out.path,
                               "--full-generations"], environment: environment)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("model \(checkpoint)"), r.stderr)
        let line = try String(contentsOf: out.appendingPathComponent("predictions.jsonl"), encoding: .utf8)
        let prediction = try JSONDecoder().decode(Prediction.self, from: Data(line.split(separator: "\n")[0].utf8))
        XCTAssertEqual(prediction.generated, own)

        // no checkpoint in the default run directory: the installed model, named as such
        let empty = dir.appendingPathComponent("empty")
        r = try Launch.ftdist(["predict", "--data", TestPaths.dataDir.path, message],
                              environment: ["FTDIST_MODEL": model, "FTDIST_RUN": empty.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("model \(model): the installed pretrained model"), r.stderr)
    }
}
