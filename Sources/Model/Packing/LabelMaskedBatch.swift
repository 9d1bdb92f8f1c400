/// Sequences to train on, with HF-style labels aligned to the tokens: labels[t] is the
/// target of token t (predicted from position t − 1) or −100 where no loss is taken
/// (the prompt). Only label positions reach the 262,144-wide head.
public struct LabelMaskedBatch {
    public static let ignoreIndex: Int32 = -100
    public var tokens: [[Int32]]
    public var labels: [[Int32]]

    public init(tokens: [[Int32]], labels: [[Int32]]) {
        precondition(tokens.count == labels.count && zip(tokens, labels).allSatisfy { $0.count == $1.count },
                     "tokens and labels must have the same shapes")
        self.tokens = tokens
        self.labels = labels
    }

    /// Number of positions that carry a loss (label tokens after the first position).
    public var labelCount: Int {
        labels.reduce(0) { $0 + $1.dropFirst().filter { $0 != Self.ignoreIndex }.count }
    }

    public var tokenCount: Int { tokens.reduce(0) { $0 + $1.count } }
}
