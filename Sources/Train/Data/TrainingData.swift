import Foundation
import Model
import Report

/// Banking77 as the trainer sees it: the intent list, the tokenized training examples (in
/// train.csv row order, minus any hold-out) and the validation/test texts.
public struct TrainingData {
    public let intents: IntentList
    public let train: [TokenizedExample]
    public let validation: [LabeledText]
    /// `validation` tokenized as the training passes of its loss read it.
    public let tokenizedValidation: [TokenizedExample]
    /// The training examples' count and checksum, which a checkpoint records.
    public let fingerprint: TrainingDataRecord
    public let test: [LabeledText]
    public let template: PromptTemplate
    /// The special ids the examples were tokenized with (checkpoints write them to config.json).
    public let specialTokens: SpecialTokens

    public static func files(in dir: String) -> (train: URL, test: URL, intents: URL) {
        let d = URL(fileURLWithPath: dir)
        return (d.appendingPathComponent("train.csv"), d.appendingPathComponent("test.csv"),
                d.appendingPathComponent("categories.json"))
    }

    /// `loadTest` false: test.csv is neither needed nor read (no final evaluation, no
    /// validation sample from it), and `test` is empty.
    public init(dataDir: String, tokenizer: Tokenizer, template: PromptTemplate, holdout: Int = 0,
                evalSamples: Int = 0, seed: Int = 42, loadTest: Bool = true) throws {
        let f = Self.files(in: dataDir)
        intents = try IntentList.load(f.intents)
        var trainTexts = try Banking77.load(csv: f.train, intents: intents)
        test = loadTest ? try Banking77.load(csv: f.test, intents: intents) : []
        let validationFile = holdout > 0 ? f.train : f.test
        if holdout > 0 {
            guard holdout < trainTexts.count else { throw MessageError.invalidArgument("--holdout \(holdout) leaves no training rows") }
            let held = Set(Self.stratifiedSample(trainTexts, count: holdout, classes: intents.count, seed: seed).map(\.row))
            validation = trainTexts.filter { held.contains($0.row) }
            trainTexts.removeAll { held.contains($0.row) }
        } else {
            validation = Self.stratifiedSample(test, count: min(evalSamples, test.count), classes: intents.count, seed: seed)
        }
        self.template = template
        specialTokens = tokenizer.special
        train = try Self.checkLengths(template.tokenize(trainTexts, with: tokenizer), of: trainTexts, in: f.train)
        // validation's loss runs the training passes too
        tokenizedValidation = try Self.checkLengths(template.tokenize(validation, with: tokenizer), of: validation, in: validationFile)
        fingerprint = TrainingDataRecord(train)
    }

    /// The most tokens a training or validation example may have (prompt, intent and <eos>).
    /// An example longer than a pass's LabelMaskedBatch.maxRowsPerPass rows forms a pass of its
    /// own, whose attention scratch grows with the square of its length (≈1.2 GB at 2,048
    /// tokens, 0.3 TB for a 1 MB message): longer ones are refused with their line instead.
    /// Banking77's longest has 530 (train.csv line 3926).
    public static let maxExampleTokens = 4 * LabelMaskedBatch.maxRowsPerPass

    private static func checkLengths(_ examples: [TokenizedExample], of texts: [LabeledText], in file: URL) throws -> [TokenizedExample] {
        for (example, text) in zip(examples, texts) where example.ids.count > maxExampleTokens {
            throw DataError(file: file.path, line: text.line,
                            message: "the example has \(example.ids.count) tokens with the prompt template, its intent and <eos>; a training or validation example may have at most \(maxExampleTokens)")
        }
        return examples
    }

    /// `count` examples spread evenly over the classes (round-robin over classes, each class's
    /// rows in a seeded order), returned in data order. Deterministic for a seed.
    public static func stratifiedSample(_ rows: [LabeledText], count: Int, classes: Int, seed: Int) -> [LabeledText] {
        guard count > 0 else { return [] }
        var byClass = [[LabeledText]](repeating: [], count: classes)
        for r in rows { byClass[r.intentIndex].append(r) }
        var rng = PythonRandom(seed: seed)
        for c in byClass.indices { rng.shuffle(&byClass[c]) }
        var picked: [LabeledText] = []
        var depth = 0
        while picked.count < count && byClass.contains(where: { $0.count > depth }) {
            for c in byClass.indices where byClass[c].count > depth && picked.count < count { picked.append(byClass[c][depth]) }
            depth += 1
        }
        return picked.sorted { $0.row < $1.row }
    }
}
