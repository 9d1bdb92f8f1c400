/// Confusion counts over the intent list (index = class index).
public struct ConfusionMatrix: Codable, Equatable, Sendable {
    /// Intent names; row `i` and column `i` both refer to `labels[i]`.
    public var labels: [String]
    /// `counts[gold][predicted]`, valid predictions only.
    public var counts: [[Int]]
    /// `invalidCounts[gold]`: outputs for that gold class that were not any intent name.
    public var invalidCounts: [Int]

    public init(labels: [String], counts: [[Int]], invalidCounts: [Int]) {
        precondition(counts.count == labels.count && invalidCounts.count == labels.count
                     && counts.allSatisfy { $0.count == labels.count },
                     "confusion matrix shape does not match its labels")
        self.labels = labels
        self.counts = counts
        self.invalidCounts = invalidCounts
    }

    /// Examples whose gold class is `row` (valid + invalid outputs).
    public func support(_ row: Int) -> Int { counts[row].reduce(0, +) + invalidCounts[row] }
    /// Valid outputs naming class `column`.
    public func predictedCount(_ column: Int) -> Int { counts.reduce(0) { $0 + $1[column] } }
    /// All examples.
    public var total: Int { counts.reduce(0) { $0 + $1.reduce(0, +) } + invalidCounts.reduce(0, +) }
}
