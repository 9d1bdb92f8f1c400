/// One example. `row` is the 0-based data row (header excluded), the index the batch
/// order and the reference trajectory use; `line` its 1-based line in the CSV file, for
/// messages (nil when it came from elsewhere).
public struct LabeledText: Equatable, Sendable {
    public let text: String
    public let intent: String
    public let intentIndex: Int
    public let row: Int
    public let line: Int?

    public init(text: String, intent: String, intentIndex: Int, row: Int, line: Int? = nil) {
        self.text = text
        self.intent = intent
        self.intentIndex = intentIndex
        self.row = row
        self.line = line
    }
}
