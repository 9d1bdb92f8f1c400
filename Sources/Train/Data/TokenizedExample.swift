import Model

/// One tokenized example. Targets are `ids[promptLength...]` (intent tokens + <eos>).
public struct TokenizedExample: Equatable, Sendable {
    public let ids: [Int32]
    /// Number of leading prompt tokens, <bos> included.
    public let promptLength: Int
    /// 0-based data row of the source example.
    public let row: Int
    public let intentIndex: Int

    public init(ids: [Int32], promptLength: Int, row: Int, intentIndex: Int) {
        self.ids = ids
        self.promptLength = promptLength
        self.row = row
        self.intentIndex = intentIndex
    }

    /// The tokens the loss is computed on.
    public var targets: [Int32] { Array(ids[promptLength...]) }

    /// Per position: ids[t] for t ≥ promptLength, else PromptTemplate.ignoreLabel (-100).
    public var labels: [Int32] {
        ids.indices.map { $0 >= promptLength ? ids[$0] : PromptTemplate.ignoreLabel }
    }
}

extension LabelMaskedBatch {
    /// A batch of tokenized examples with −100 on the prompt positions.
    public init(_ examples: [TokenizedExample]) {
        self.init(tokens: examples.map(\.ids), labels: examples.map(\.labels))
    }
}
