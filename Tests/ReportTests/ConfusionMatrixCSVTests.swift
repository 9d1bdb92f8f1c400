import XCTest
@testable import Report

final class ConfusionMatrixCSVTests: XCTestCase {
    func testExactContentForThreeClasses() throws {
        let m = try EvaluationMetrics(intents: EvalFixture.intents, predictions: EvalFixture.predictions)
        let expected = """
        gold\\predicted,alpha,beta,gamma,(invalid)
        alpha,3,1,0,0
        beta,0,2,1,0
        gamma,1,0,1,1

        """
        XCTAssertEqual(ConfusionMatrixCSV.render(m.confusion), expected)
    }

    func testNamesNeedingQuotesAreQuoted() {
        let matrix = ConfusionMatrix(labels: ["plain", "a,b", "say \"hi\"", " pad"],
                                     counts: [[1, 0, 0, 0], [0, 2, 0, 0], [0, 0, 3, 0], [0, 0, 0, 4]],
                                     invalidCounts: [0, 0, 0, 5])
        let expected = #"""
        gold\predicted,plain,"a,b","say ""hi"""," pad",(invalid)
        plain,1,0,0,0,0
        "a,b",0,2,0,0,0
        "say ""hi""",0,0,3,0,0
        " pad",0,0,0,4,5

        """#
        XCTAssertEqual(ConfusionMatrixCSV.render(matrix), expected)
        XCTAssertEqual(ConfusionMatrixCSV.field("x\r\ny"), "\"x\r\ny\"")
        XCTAssertEqual(ConfusionMatrixCSV.field("card_arrival"), "card_arrival")
    }
}
