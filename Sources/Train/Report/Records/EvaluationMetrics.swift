import Foundation

// Classification metrics for generative intent classification.
//
// The model answers with the intent name as text, so a "prediction" is a string that may or
// may not be one of the known intents. Everything here is derived from (gold, generated) only:
// the generated text is normalised (leading spaces dropped, see `Prediction.normalizedLabel`)
// and looked up in the intent list; anything not found is an *invalid* output. Invalid outputs
// count as errors (they lower recall and accuracy) but never as a prediction of any class, so
// they do not change any class's precision; they are kept in a separate per-gold-class column.
// This is exactly what scikit-learn reports when the invalid outputs are mapped to an extra
// label that is excluded from `labels=`.

public enum EvaluationError: Error, Equatable, CustomStringConvertible {
    case noIntents
    case duplicateIntent(String)
    case unknownGoldIntent(String)

    public var description: String {
        switch self {
        case .noIntents: return "evaluation needs at least one intent name"
        case .duplicateIntent(let name): return "intent name listed twice: \(name)"
        case .unknownGoldIntent(let name): return "gold label is not in the intent list: \(name)"
        }
    }
}

/// Precision/recall/F1 of one intent.
public struct IntentMetrics: Codable, Equatable, Sendable {
    public var intent: String
    /// TP / (valid outputs naming this intent); 0 when it was never predicted.
    public var precision: Double
    /// TP / support; 0 when the class has no examples.
    public var recall: Double
    /// Harmonic mean of precision and recall; 0 when both are 0.
    public var f1: Double
    /// Number of examples whose gold label is this intent.
    public var support: Int
    /// Number of valid outputs naming this intent.
    public var predicted: Int
    /// Outputs for this gold class that were not an intent name.
    public var invalid: Int
}

/// An off-diagonal confusion cell.
public struct ConfusedPair: Codable, Equatable, Sendable {
    public var gold: String
    public var predicted: String
    public var count: Int
}

/// All evaluation numbers, serialised as `metrics.json`.
public struct EvaluationMetrics: Codable, Equatable, Sendable {
    public var examples: Int
    public var correct: Int
    /// correct / examples.
    public var accuracy: Double
    /// Unweighted mean of per-intent F1 over *all* listed intents (sklearn `average="macro"`,
    /// `zero_division=0`): an intent never predicted has precision 0 and hence F1 0.
    public var macroF1: Double
    /// Mean of per-intent precision / recall over all listed intents, same convention.
    public var macroPrecision: Double
    public var macroRecall: Double
    /// Support-weighted mean of per-intent F1 (sklearn `average="weighted"`).
    public var weightedF1: Double
    /// Outputs that are not an intent name after dropping leading spaces.
    public var invalid: Int
    /// invalid / examples.
    public var invalidRate: Double
    /// Per intent, in class-index order.
    public var perIntent: [IntentMetrics]
    /// The most frequent (gold, predicted) errors among valid outputs: count descending, then
    /// gold name, then predicted name ascending (byte order), so the list is deterministic.
    public var topConfusions: [ConfusedPair]
    public var confusion: ConfusionMatrix

    /// How many pairs `topConfusions` keeps.
    public static let topConfusionLimit = 10

    /// - Parameters:
    ///   - intents: the intent names, index = class index (77 for Banking77).
    ///   - predictions: one entry per evaluated example; `generated` is the raw model output.
    /// - Throws: `EvaluationError` for an empty/duplicated intent list or an unknown gold label.
    public init(intents: [String], predictions: [Prediction]) throws {
        guard !intents.isEmpty else { throw EvaluationError.noIntents }
        var index: [String: Int] = [:]
        for (i, name) in intents.enumerated() {
            guard index[name] == nil else { throw EvaluationError.duplicateIntent(name) }
            index[name] = i
        }

        let k = intents.count
        var counts = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        var invalidCounts = [Int](repeating: 0, count: k)
        for p in predictions {
            guard let g = index[p.gold] else { throw EvaluationError.unknownGoldIntent(p.gold) }
            if let q = index[Prediction.normalizedLabel(p.generated)] {
                counts[g][q] += 1
            } else {
                invalidCounts[g] += 1
            }
        }
        let matrix = ConfusionMatrix(labels: intents, counts: counts, invalidCounts: invalidCounts)

        // Rates are 0 on an empty input rather than NaN, so the JSON stays valid.
        func ratio(_ a: Int, _ b: Int) -> Double { b == 0 ? 0 : Double(a) / Double(b) }

        var perIntent: [IntentMetrics] = []
        perIntent.reserveCapacity(k)
        for c in 0..<k {
            let tp = counts[c][c]
            let support = matrix.support(c)
            let predicted = matrix.predictedCount(c)
            let precision = ratio(tp, predicted)
            let recall = ratio(tp, support)
            let f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
            perIntent.append(IntentMetrics(intent: intents[c], precision: precision, recall: recall,
                                           f1: f1, support: support, predicted: predicted,
                                           invalid: invalidCounts[c]))
        }

        var pairs: [ConfusedPair] = []
        for g in 0..<k {
            for q in 0..<k where q != g && counts[g][q] > 0 {
                pairs.append(ConfusedPair(gold: intents[g], predicted: intents[q], count: counts[g][q]))
            }
        }
        pairs.sort(by: ConfusedPair.ranksBefore)

        let n = predictions.count
        let correct = (0..<k).reduce(0) { $0 + counts[$1][$1] }
        let invalid = invalidCounts.reduce(0, +)
        self.examples = n
        self.correct = correct
        self.accuracy = ratio(correct, n)
        self.macroF1 = perIntent.reduce(0) { $0 + $1.f1 } / Double(k)
        self.macroPrecision = perIntent.reduce(0) { $0 + $1.precision } / Double(k)
        self.macroRecall = perIntent.reduce(0) { $0 + $1.recall } / Double(k)
        self.weightedF1 = n == 0 ? 0 : perIntent.reduce(0) { $0 + Double($1.support) * $1.f1 } / Double(n)
        self.invalid = invalid
        self.invalidRate = ratio(invalid, n)
        self.perIntent = perIntent
        self.topConfusions = Array(pairs.prefix(EvaluationMetrics.topConfusionLimit))
        self.confusion = matrix
    }

    /// Pretty JSON with sorted keys: stable across runs, diff-friendly.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(self)
        data.append(0x0A)
        return data
    }
}

extension ConfusedPair {
    /// Count descending, then gold, then predicted ascending (String `<` is a total order).
    static func ranksBefore(_ a: ConfusedPair, _ b: ConfusedPair) -> Bool {
        if a.count != b.count { return a.count > b.count }
        if a.gold != b.gold { return a.gold < b.gold }
        return a.predicted < b.predicted
    }
}
