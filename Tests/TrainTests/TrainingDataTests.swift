import Foundation
import XCTest
import Model
import TestSupport
@testable import Train

/// TrainingData: what the trainer accepts of a data directory beyond the CSV checks.
final class TrainingDataTests: XCTestCase {
    /// A data directory with Banking77's intents, `train` and `test` rows (text, category).
    private func dataDirectory(train: [(String, String)], test: [(String, String)]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ftdist-trainingdata-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: DataFixtures.banking77Dir.appendingPathComponent("categories.json"),
                                         to: dir.appendingPathComponent("categories.json"))
        for (name, rows) in [("train.csv", train), ("test.csv", test)] {
            let text = "text,category\n" + rows.map { "\"\($0.0)\",\($0.1)\n" }.joined()
            try Data(text.utf8).write(to: dir.appendingPathComponent(name))
        }
        return dir.path
    }

    /// test.csv is read only when the run uses it (the final evaluation, or validation rows
    /// without a hold-out): a data directory without it trains with --no-final-eval.
    func testTestSplitIsReadOnlyWhenUsed() throws {
        let tokenizer = try Tokenizer(gguf: GGUFFile(path: TestPaths.modelPath))
        let template = try PromptTemplate(PromptTemplate.defaultTemplate)
        let short = ("my card has not arrived", "card_arrival")
        let dir = try dataDirectory(train: [short, short, short], test: [short])
        try FileManager.default.removeItem(atPath: dir + "/test.csv")
        let data = try TrainingData(dataDir: dir, tokenizer: tokenizer, template: template, evalSamples: 5, loadTest: false)
        XCTAssertEqual(data.train.count, 3)
        XCTAssertEqual(data.test.count, 0)
        XCTAssertEqual(data.validation.count, 0)
        XCTAssertThrowsError(try TrainingData(dataDir: dir, tokenizer: tokenizer, template: template)) {
            XCTAssertTrue("\($0)".contains("test.csv"), "\($0)")
        }
        var options = TrainingOptions(modelPath: "", dataDir: dir, output: "")
        XCTAssertTrue(options.usesTestSplit, "the final evaluation")
        options.finalEval = false
        XCTAssertFalse(options.usesTestSplit)
        options.evalSteps = 10
        XCTAssertTrue(options.usesTestSplit, "validation rows from the test split")
        options.holdout = 100
        XCTAssertFalse(options.usesTestSplit, "validation rows held out of train.csv")
    }

    /// An example longer than one memory-bounded pass would form a pass of its own whose
    /// attention scratch grows with the square of its length (a 1 MB message asked for
    /// terabytes and trapped): it is refused with its file and line, before any training.
    func testExamplesLongerThanOnePassAreRefusedWithTheirLine() throws {
        let tokenizer = try Tokenizer(gguf: GGUFFile(path: TestPaths.modelPath))
        let template = try PromptTemplate(PromptTemplate.defaultTemplate)
        let short = ("my card has not arrived", "card_arrival")
        let long = (String(repeating: "card ", count: 2100), "card_arrival")
        let ok = try dataDirectory(train: [short, short], test: [short])
        XCTAssertEqual(try TrainingData(dataDir: ok, tokenizer: tokenizer, template: template).train.count, 2)

        let badTrain = try dataDirectory(train: [short, long], test: [short])
        let e = DataFixtures.expectDataError { _ = try TrainingData(dataDir: badTrain, tokenizer: tokenizer, template: template) }
        XCTAssertEqual(e?.file, badTrain + "/train.csv")
        XCTAssertEqual(e?.line, 3)
        XCTAssertTrue(e?.message.contains("at most \(TrainingData.maxExampleTokens)") ?? false, "\(String(describing: e))")

        // validation examples (from test.csv here) run the same passes for their loss
        let badTest = try dataDirectory(train: [short, short], test: [short, short, long])
        let v = DataFixtures.expectDataError {
            _ = try TrainingData(dataDir: badTest, tokenizer: tokenizer, template: template, evalSamples: 3)
        }
        XCTAssertEqual(v?.file, badTest + "/test.csv")
        XCTAssertEqual(v?.line, 4)
        // not chosen for validation: the final test evaluation generates, which reads long prompts in pieces
        XCTAssertNoThrow(try TrainingData(dataDir: badTest, tokenizer: tokenizer, template: template, evalSamples: 0))

        // the limit is exactly one pass: maxExampleTokens tokens are accepted, one more is not
        func tokens(_ words: Int) -> Int {
            let text = String(repeating: "card ", count: words) + "card"
            return template.tokenize([LabeledText(text: text, intent: "card_arrival", intentIndex: 0, row: 0)], with: tokenizer)[0].ids.count
        }
        let words = TrainingData.maxExampleTokens - tokens(0)
        XCTAssertEqual(tokens(words), TrainingData.maxExampleTokens, "each \"card \" is one token")
        let atLimit = (String(repeating: "card ", count: words) + "card", "card_arrival")
        let overLimit = (String(repeating: "card ", count: words + 1) + "card", "card_arrival")
        XCTAssertNoThrow(try TrainingData(dataDir: try dataDirectory(train: [short, atLimit], test: [short]), tokenizer: tokenizer, template: template))
        XCTAssertNotNil(DataFixtures.expectDataError {
            _ = try TrainingData(dataDir: try dataDirectory(train: [overLimit, short], test: [short]), tokenizer: tokenizer, template: template)
        })
    }
}
