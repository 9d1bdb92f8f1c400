/// One evaluated example, as written to `predictions.jsonl`.
public struct Prediction: Codable, Equatable, Sendable {
    /// The input utterance.
    public var text: String
    /// The gold intent name.
    public var gold: String
    /// The raw model output (before normalisation).
    public var generated: String
    /// Whether the normalised output equals the gold intent name.
    public var correct: Bool

    public init(text: String, gold: String, generated: String, correct: Bool) {
        self.text = text
        self.gold = gold
        self.generated = generated
        self.correct = correct
    }

    /// Builds a prediction whose `correct` flag uses the same rule as the metrics, so the two
    /// can never disagree.
    public init(text: String, gold: String, generated: String) {
        self.init(text: text, gold: gold, generated: generated,
                  correct: Prediction.normalizedLabel(generated) == gold)
    }

    /// The label a raw output stands for: the SentencePiece tokenizer emits the answer with a
    /// leading space ("▁card_arrival" decodes to " card_arrival"), which is not part of the
    /// name. Only leading spaces are dropped; any other difference makes the output invalid.
    public static func normalizedLabel(_ generated: String) -> String {
        String(generated.drop(while: { $0 == " " }))
    }
}
