import XCTest
#if canImport(FoundationXML)
import FoundationXML  // XMLParser lives here on Linux (tests only; the library needs just Foundation)
#endif
@testable import Report

/// Collects the character data of every <text> element and counts elements; parse errors fail.
private final class SVGTextCollector: NSObject, XMLParserDelegate {
    var texts: [String] = []
    var elementCounts: [String: Int] = [:]
    var rootAttributes: [String: String] = [:]
    private var current: String?

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
                qualifiedName: String?, attributes: [String: String] = [:]) {
        if elementCounts.isEmpty { rootAttributes = attributes }
        elementCounts[name, default: 0] += 1
        if name == "text" { current = "" }
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) { current? += string }
    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "text", let c = current { texts.append(c); current = nil }
    }

    static func parse(_ svg: String, file: StaticString = #filePath, line: UInt = #line) -> SVGTextCollector {
        let collector = SVGTextCollector()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = collector
        let ok = parser.parse()
        XCTAssertTrue(ok, "SVG is not well-formed XML: \(String(describing: parser.parserError))", file: file, line: line)
        return collector
    }
}

/// The 77 Banking77 intent names when the shared data is present, otherwise synthetic names of
/// similar length, and a plausible confusion: mostly 40 on the diagonal, a few errors.
enum SyntheticBanking77 {
    static func intents() -> [String] {
        let url = URL(fileURLWithPath: "/work/shared/data/banking77/categories.json")
        if let data = try? Data(contentsOf: url),
           let names = try? JSONDecoder().decode([String].self, from: data), names.count == 77 {
            return names
        }
        return (0..<77).map { "intent_\($0)_" + String(repeating: "x", count: $0 % 40) }
    }

    /// Deterministic LCG so the picture is the same every run.
    static func predictions(intents: [String]) -> [Prediction] {
        var state: UInt64 = 0x2545F4914F6CDD1D
        func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
        var out: [Prediction] = []
        for (g, gold) in intents.enumerated() {
            for j in 0..<40 {
                let r = next(100)
                let generated: String
                if r < 88 {
                    generated = " " + gold
                } else if r < 97 {
                    // Errors cluster on a few "neighbour" intents, like real confusions do.
                    let offsets = [1, 2, 5, 76, 13]
                    generated = " " + intents[(g + offsets[next(g % 3 == 0 ? 2 : 5)]) % intents.count]
                } else if r < 99 {
                    generated = " " + intents[next(intents.count)]
                } else {
                    generated = " not_an_intent"
                }
                out.append(Prediction(text: "\(gold) #\(j)", gold: gold, generated: generated))
            }
        }
        // One heavy confusion so the red scale reaches its dark end.
        for j in 0..<12 {
            out.append(Prediction(text: "extra \(j)", gold: intents[3], generated: " " + intents[0]))
        }
        return out
    }
}

final class ConfusionMatrixSVGTests: XCTestCase {
    func testSmallMatrixIsWellFormedAndLabelled() throws {
        let m = try EvaluationMetrics(intents: EvalFixture.intents, predictions: EvalFixture.predictions)
        let svg = ConfusionMatrixSVG.render(m.confusion, title: "Test & <matrix>")
        let parsed = SVGTextCollector.parse(svg)
        XCTAssertEqual(parsed.rootAttributes["xmlns"], "http://www.w3.org/2000/svg")
        for name in EvalFixture.intents {
            // Once as column label, once as row label.
            XCTAssertEqual(parsed.texts.filter { $0 == name }.count, 2, name)
        }
        XCTAssertTrue(parsed.texts.contains("Test & <matrix>"), "title escaped and parsed back")
        XCTAssertTrue(parsed.texts.contains("(invalid)"))
        XCTAssertTrue(parsed.texts.contains { $0.hasPrefix("predicted intent") })
        XCTAssertTrue(parsed.texts.contains { $0.hasPrefix("gold intent") })
        XCTAssertTrue(parsed.texts.contains("Legend"))
        // Nonzero cells: 6 in the grid + 1 invalid; each has a rect with a tooltip.
        XCTAssertEqual(parsed.elementCounts["title"], 7)
        XCTAssertTrue(svg.contains("<title>alpha → beta: 1</title>"))
        XCTAssertTrue(svg.contains("<title>gamma → (invalid output): 1</title>"))
        XCTAssertEqual(ConfusionMatrixSVG.render(m.confusion, title: "Test & <matrix>"), svg, "deterministic")
    }

    func testDiagonalAndErrorCellsUseDifferentScales() throws {
        let matrix = ConfusionMatrix(labels: ["a", "b"], counts: [[4, 1], [0, 2]], invalidCounts: [0, 0])
        let svg = ConfusionMatrixSVG.render(matrix)
        // a→a: 4 of the 5 gold-a examples → blue(0.8); b→b: 2 of 2 → darkest blue (1.0);
        // a→b: the only error cell → start of the red scale.
        XCTAssertEqual(ConfusionMatrixSVG.blue(1), "#08306b")
        XCTAssertEqual(svg.components(separatedBy: "fill=\"#08306b\"><title>").count - 1, 1)
        XCTAssertTrue(svg.contains("fill=\"\(ConfusionMatrixSVG.blue(0.8))\"><title>a → a: 4"))
        XCTAssertTrue(svg.contains("fill=\"\(ConfusionMatrixSVG.red(ConfusionMatrixSVG.errorShade(1, max: 1)))\"><title>a → b: 1"))
        XCTAssertNotEqual(ConfusionMatrixSVG.red(0.15), ConfusionMatrixSVG.blue(0.15))
    }

    func testColourHelpers() {
        XCTAssertEqual(ConfusionMatrixSVG.hex2(0), "00")
        XCTAssertEqual(ConfusionMatrixSVG.hex2(255), "ff")
        XCTAssertEqual(ConfusionMatrixSVG.blue(0), "#c6dbef")
        XCTAssertEqual(ConfusionMatrixSVG.red(1), "#b10026")
        XCTAssertEqual(ConfusionMatrixSVG.errorShade(1, max: 9), 0.15, accuracy: 1e-12)
        XCTAssertEqual(ConfusionMatrixSVG.errorShade(9, max: 9), 1, accuracy: 1e-12)
        XCTAssertEqual(ConfusionMatrixSVG.errorLegendCounts(max: 12), [1, 4, 7, 9, 12])
        XCTAssertEqual(ConfusionMatrixSVG.errorLegendCounts(max: 2), [1, 2])
        XCTAssertEqual(ConfusionMatrixSVG.fmt(12.35), "12.4")
        XCTAssertEqual(ConfusionMatrixSVG.fmt(-3), "-3")
        XCTAssertEqual(ConfusionMatrixSVG.xml("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;")
    }

    /// The full-size picture: all 77 names present, geometry within the legibility limits.
    /// Also leaves the SVG in the temporary directory so it can be rasterised and inspected
    /// (`rsvg-convert $TMPDIR/ft-dist-confusion-77.svg -o confusion.png`).
    func test77ClassPicture() throws {
        let intents = SyntheticBanking77.intents()
        let preds = SyntheticBanking77.predictions(intents: intents)
        let m = try EvaluationMetrics(intents: intents, predictions: preds)
        let svg = ConfusionMatrixSVG.render(m.confusion, title: "Banking77 (synthetic): confusion matrix")
        let parsed = SVGTextCollector.parse(svg)
        for name in intents {
            XCTAssertEqual(parsed.texts.filter { $0 == name }.count, 2, name)
        }
        XCTAssertGreaterThanOrEqual(ConfusionMatrixSVG.labelFont, 9)
        XCTAssertGreaterThanOrEqual(ConfusionMatrixSVG.cell, 12)
        let width = Int(parsed.rootAttributes["width"] ?? "") ?? 0
        XCTAssertGreaterThan(width, 77 * ConfusionMatrixSVG.cell)
        let out = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("ft-dist-confusion-77.svg")
        try Data(svg.utf8).write(to: out)
    }
}
