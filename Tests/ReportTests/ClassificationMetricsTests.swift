import XCTest
@testable import Report

/// Hand-made fixtures shared by the evaluation tests.
enum EvalFixture {
    static let intents = ["alpha", "beta", "gamma"]

    /// 10 predictions over 3 classes (the model emits a leading space, as Gemma does):
    ///
    ///   gold alpha (4): alpha, alpha, alpha, beta
    ///   gold beta  (3): beta, beta, gamma
    ///   gold gamma (3): gamma, alpha, "gamm" (invalid)
    ///
    ///   confusion [gold][pred]   alpha beta gamma | invalid
    ///        alpha                 3    1    0   |   0
    ///        beta                  0    2    1   |   0
    ///        gamma                 1    0    1   |   1
    static let predictions: [Prediction] = [
        ("a1", "alpha", " alpha"), ("a2", "alpha", " alpha"), ("a3", "alpha", " alpha"), ("a4", "alpha", " beta"),
        ("b1", "beta", " beta"), ("b2", "beta", " beta"), ("b3", "beta", " gamma"),
        ("c1", "gamma", " gamma"), ("c2", "gamma", " alpha"), ("c3", "gamma", " gamm"),
    ].map { Prediction(text: $0.0, gold: $0.1, generated: $0.2) }
}

final class ClassificationMetricsTests: XCTestCase {
    func testHandComputedThreeClassMetrics() throws {
        let m = try EvaluationMetrics(intents: EvalFixture.intents, predictions: EvalFixture.predictions)

        // accuracy = diagonal / N = (3 + 2 + 1) / 10 = 0.6
        XCTAssertEqual(m.examples, 10)
        XCTAssertEqual(m.correct, 6)
        XCTAssertEqual(m.accuracy, 0.6, accuracy: 1e-12)

        // alpha: TP 3, predicted (column sum) 3+0+1 = 4, support 4 → P 3/4, R 3/4, F1 3/4
        // beta:  TP 2, predicted 1+2+0 = 3, support 3        → P 2/3, R 2/3, F1 2/3
        // gamma: TP 1, predicted 0+1+1 = 2, support 3 (incl. the invalid output)
        //        → P 1/2, R 1/3, F1 = 2·(1/2·1/3)/(1/2+1/3) = (1/3)/(5/6) = 2/5
        let a = m.perIntent[0], b = m.perIntent[1], c = m.perIntent[2]
        XCTAssertEqual([a.intent, b.intent, c.intent], ["alpha", "beta", "gamma"])
        XCTAssertEqual(a.precision, 0.75, accuracy: 1e-12)
        XCTAssertEqual(a.recall, 0.75, accuracy: 1e-12)
        XCTAssertEqual(a.f1, 0.75, accuracy: 1e-12)
        XCTAssertEqual(b.precision, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(b.recall, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(b.f1, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(c.precision, 0.5, accuracy: 1e-12)
        XCTAssertEqual(c.recall, 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(c.f1, 0.4, accuracy: 1e-12)
        XCTAssertEqual([a.support, b.support, c.support], [4, 3, 3])
        XCTAssertEqual([a.predicted, b.predicted, c.predicted], [4, 3, 2])
        XCTAssertEqual([a.invalid, b.invalid, c.invalid], [0, 0, 1])

        // macro-F1 = (3/4 + 2/3 + 2/5) / 3 = (45 + 40 + 24) / 60 / 3 = 109/180 = 0.60556
        XCTAssertEqual(m.macroF1, 109.0 / 180, accuracy: 1e-12)
        // macro P = (3/4 + 2/3 + 1/2) / 3 = (9 + 8 + 6) / 12 / 3 = 23/36
        XCTAssertEqual(m.macroPrecision, 23.0 / 36, accuracy: 1e-12)
        // macro R = (3/4 + 2/3 + 1/3) / 3 = (9 + 8 + 4) / 12 / 3 = 21/36
        XCTAssertEqual(m.macroRecall, 21.0 / 36, accuracy: 1e-12)
        // weighted F1 = (4·3/4 + 3·2/3 + 3·2/5) / 10 = (3 + 2 + 1.2) / 10 = 0.62
        XCTAssertEqual(m.weightedF1, 0.62, accuracy: 1e-12)
        // invalid: one of ten outputs ("gamm")
        XCTAssertEqual(m.invalid, 1)
        XCTAssertEqual(m.invalidRate, 0.1, accuracy: 1e-12)

        XCTAssertEqual(m.confusion.counts, [[3, 1, 0], [0, 2, 1], [1, 0, 1]])
        XCTAssertEqual(m.confusion.invalidCounts, [0, 0, 1])
        // Three off-diagonal cells of count 1: ties broken by gold name, then predicted name.
        XCTAssertEqual(m.topConfusions, [
            ConfusedPair(gold: "alpha", predicted: "beta", count: 1),
            ConfusedPair(gold: "beta", predicted: "gamma", count: 1),
            ConfusedPair(gold: "gamma", predicted: "alpha", count: 1),
        ])
        // The metrics agree with the `correct` flags the convenience init computed.
        XCTAssertEqual(EvalFixture.predictions.filter(\.correct).count, m.correct)
    }

    func testLeadingSpacesOnlyAreStripped() throws {
        XCTAssertEqual(Prediction.normalizedLabel(" alpha"), "alpha")
        XCTAssertEqual(Prediction.normalizedLabel("alpha"), "alpha")
        XCTAssertEqual(Prediction.normalizedLabel("  alpha"), "alpha")
        XCTAssertEqual(Prediction.normalizedLabel("alpha "), "alpha ")
        XCTAssertTrue(Prediction(text: "t", gold: "alpha", generated: " alpha").correct)
        XCTAssertFalse(Prediction(text: "t", gold: "alpha", generated: " alpha\n").correct)

        let preds = [
            Prediction(text: "1", gold: "alpha", generated: "alpha"),     // valid, correct (no space)
            Prediction(text: "2", gold: "alpha", generated: " alpha "),   // trailing space: invalid
            Prediction(text: "3", gold: "alpha", generated: " Alpha"),    // case differs: invalid
            Prediction(text: "4", gold: "alpha", generated: ""),          // empty: invalid
        ]
        let m = try EvaluationMetrics(intents: EvalFixture.intents, predictions: preds)
        XCTAssertEqual(m.correct, 1)
        XCTAssertEqual(m.invalid, 3)
        XCTAssertEqual(m.invalidRate, 0.75, accuracy: 1e-12)
        XCTAssertEqual(m.confusion.invalidCounts, [3, 0, 0])
        // Invalid outputs lower recall but not precision: alpha P = 1/1, R = 1/4, F1 = 2·(1/4)/(5/4) = 0.4.
        XCTAssertEqual(m.perIntent[0].precision, 1, accuracy: 1e-12)
        XCTAssertEqual(m.perIntent[0].recall, 0.25, accuracy: 1e-12)
        XCTAssertEqual(m.perIntent[0].f1, 0.4, accuracy: 1e-12)
        XCTAssertTrue(m.topConfusions.isEmpty, "invalid outputs are not confusion pairs")
    }

    func testNeverPredictedClassHasZeroPrecisionAndCountsInMacroAverage() throws {
        // gold alpha ×2 → alpha, beta; gold beta ×2 → beta, beta; gamma never occurs nor is predicted.
        //   alpha: P 1/1, R 1/2, F1 2/3;  beta: P 2/3, R 1, F1 = 2·(2/3)/(5/3) = 4/5;  gamma: 0, 0, 0
        //   macro-F1 = (2/3 + 4/5 + 0) / 3 = 22/45; weighted = (2·2/3 + 2·4/5) / 4 = 11/15
        let preds = [
            Prediction(text: "1", gold: "alpha", generated: " alpha"),
            Prediction(text: "2", gold: "alpha", generated: " beta"),
            Prediction(text: "3", gold: "beta", generated: " beta"),
            Prediction(text: "4", gold: "beta", generated: " beta"),
        ]
        let m = try EvaluationMetrics(intents: EvalFixture.intents, predictions: preds)
        XCTAssertEqual(m.perIntent[2], IntentMetrics(intent: "gamma", precision: 0, recall: 0, f1: 0,
                                                     support: 0, predicted: 0, invalid: 0))
        XCTAssertEqual(m.perIntent[1].f1, 0.8, accuracy: 1e-12)
        XCTAssertEqual(m.macroF1, 22.0 / 45, accuracy: 1e-12)
        XCTAssertEqual(m.weightedF1, 11.0 / 15, accuracy: 1e-12)
        XCTAssertEqual(m.accuracy, 0.75, accuracy: 1e-12)

        // A class with support but never predicted: precision 0 (zero_division=0), F1 0.
        let m2 = try EvaluationMetrics(intents: EvalFixture.intents, predictions: [
            Prediction(text: "1", gold: "gamma", generated: " alpha"),
        ])
        XCTAssertEqual(m2.perIntent[2].precision, 0)
        XCTAssertEqual(m2.perIntent[2].recall, 0)
        XCTAssertEqual(m2.perIntent[0].precision, 0)
        XCTAssertEqual(m2.macroF1, 0)
        XCTAssertFalse(m2.macroF1.isNaN)
    }

    func testConfusedPairsOrderedByCountThenNamesAndCappedAtTen() throws {
        // 12 intents; error cells with distinct and tied counts.
        let intents = (0..<12).map { String(format: "i%02d", $0) }
        var preds: [Prediction] = []
        func add(_ g: Int, _ p: Int, _ n: Int) {
            for j in 0..<n { preds.append(Prediction(text: "\(g)-\(p)-\(j)", gold: intents[g], generated: " " + intents[p])) }
        }
        add(5, 1, 3)                         // count 3
        add(2, 7, 5)                         // count 5 (largest)
        add(9, 0, 3); add(1, 4, 3)           // ties at 3 with (i05,i01): order i01→i04, i05→i01, i09→i00
        add(1, 2, 3)                         // tie with same gold i01: i01→i02 before i01→i04
        for (g, p) in [3, 11, 5, 6, 7, 8, 9, 10].enumerated() { add(g, p, 1) } // eight count-1 cells
        add(3, 3, 7)                         // diagonal: never a confusion
        let m = try EvaluationMetrics(intents: intents, predictions: preds)
        let got = m.topConfusions.map { "\($0.gold)>\($0.predicted):\($0.count)" }
        XCTAssertEqual(got, [
            "i02>i07:5",
            "i01>i02:3", "i01>i04:3", "i05>i01:3", "i09>i00:3",
            // count-1 cells sorted by gold: i00>i03, i01>i11, i02>i05, i03>i06, i04>i07 ...
            "i00>i03:1", "i01>i11:1", "i02>i05:1", "i03>i06:1", "i04>i07:1",
        ])
        XCTAssertEqual(m.topConfusions.count, EvaluationMetrics.topConfusionLimit)
    }

    func testRejectsBadInput() {
        XCTAssertThrowsError(try EvaluationMetrics(intents: [], predictions: [])) {
            XCTAssertEqual($0 as? EvaluationError, .noIntents)
        }
        XCTAssertThrowsError(try EvaluationMetrics(intents: ["a", "b", "a"], predictions: [])) {
            XCTAssertEqual($0 as? EvaluationError, .duplicateIntent("a"))
        }
        XCTAssertThrowsError(try EvaluationMetrics(intents: ["a"], predictions: [Prediction(text: "", gold: "zz", generated: "a")])) {
            XCTAssertEqual($0 as? EvaluationError, .unknownGoldIntent("zz"))
        }
    }

    func testEmptyPredictionsGiveZerosNotNaN() throws {
        let m = try EvaluationMetrics(intents: EvalFixture.intents, predictions: [])
        XCTAssertEqual(m.accuracy, 0)
        XCTAssertEqual(m.macroF1, 0)
        XCTAssertEqual(m.weightedF1, 0)
        XCTAssertEqual(m.invalidRate, 0)
        XCTAssertNoThrow(try m.jsonData())
    }

    func testJSONIsPrettySortedAndRoundTrips() throws {
        let m = try EvaluationMetrics(intents: EvalFixture.intents, predictions: EvalFixture.predictions)
        let data = try m.jsonData()
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("{\n"))
        XCTAssertTrue(text.hasSuffix("}\n"))
        // Sorted keys: top-level keys appear alphabetically.
        let keys = ["accuracy", "confusion", "correct", "examples", "invalid", "invalidRate", "macroF1",
                    "macroPrecision", "macroRecall", "perIntent", "topConfusions", "weightedF1"]
        let positions = keys.map { text.range(of: "\"\($0)\" :")?.lowerBound }
        XCTAssertFalse(positions.contains(where: { $0 == nil }), text)
        XCTAssertEqual(positions.compactMap { $0 }, positions.compactMap { $0 }.sorted())
        XCTAssertEqual(try JSONDecoder().decode(EvaluationMetrics.self, from: data), m)
        XCTAssertEqual(try m.jsonData(), data, "deterministic")
    }
}
