/// One example. `row` is the 0-based data row (header excluded), the index the batch
/// order and the reference trajectory use.
public struct LabeledText: Equatable, Sendable {
    public let text: String
    public let intent: String
    public let intentIndex: Int
    public let row: Int

    public init(text: String, intent: String, intentIndex: Int, row: Int) {
        self.text = text
        self.intent = intent
        self.intentIndex = intentIndex
        self.row = row
    }
}
