import CBLAS
import TestSupport
import XCTest
@testable import Model

/// Decoding's products (a few rows of x, W streamed once) against sgemm's.
final class FewRowsLinearTests: XCTestCase {
    /// Every row count the few-rows path takes, with widths that leave 8-lane and 32-lane
    /// tails and output counts that leave a short last chunk: within fp32 summation-order
    /// error of sgemm, and the one linearForward dispatches to for those row counts.
    func testFewRowsEqualsSgemmToSummationOrder() {
        var rng = SplitMix64(seed: 11)
        for (inputs, outputs) in [(640, 130), (37, 65), (8, 1), (1024, 256)] {
            let w = FloatBuffer(count: outputs * inputs), x = FloatBuffer(count: fewRowsLimit * inputs)
            for i in 0..<w.count { w[i] = rng.normal() }
            for i in 0..<x.count { x[i] = rng.normal() }
            for rows in 1...fewRowsLimit {
                let reference = FloatBuffer(count: rows * outputs), streamed = FloatBuffer(count: rows * outputs)
                let dispatched = FloatBuffer(count: rows * outputs)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outputs), Int32(inputs),
                            1, x.pointer, Int32(inputs), w.pointer, Int32(inputs), 0, reference.pointer, Int32(outputs))
                linearForwardFewRows(streamed.pointer, x.pointer, w.pointer, rows: rows, inputs: inputs, outputs: outputs)
                linearForward(dispatched.pointer, x.pointer, w.pointer, rows: rows, inputs: inputs, outputs: outputs)
                // summation-order error: a few ulps of Σ|w·x| ≈ 0.64·inputs for unit normals
                let bound = 1e-6 * Float(inputs)
                for i in 0..<reference.count {
                    XCTAssertEqual(streamed[i], reference[i], accuracy: bound, "inputs \(inputs) outputs \(outputs) rows \(rows) [\(i)]")
                }
                XCTAssertEqual(dispatched.array, streamed.array, "linearForward takes the few-rows path for \(rows) rows")
            }
        }
    }

    /// Several projections of one x split over the cores as one list (q, k, v; gate, up):
    /// decoding's few rows and a prompt's column tiles (one transposition of x for all of them)
    /// are bit-identical to each projection's own forward, with segment ends that the chunks cut
    /// across and short last six-row groups (65 and 17 outputs); each forward is within
    /// summation-order error of sgemm; and more rows than the column tiles take fall back to
    /// each projection's own forward (sgemm).
    func testGroupedProjectionsEqualSeparateOnes() {
        var rng = SplitMix64(seed: 23)
        let inputs = 40, outputs = [65, 17, 130]
        let weights = outputs.map { o -> FloatBuffer in
            let w = FloatBuffer(count: o * inputs)
            for i in 0..<w.count { w[i] = rng.normal() }
            return w
        }
        let x = FloatBuffer(count: (columnTilesLimit + 1) * inputs)
        for i in 0..<x.count { x[i] = rng.normal() }
        let projections = zip(weights, outputs).map { DenseProjection(weight: $0.pointer, inputs: inputs, outputs: $1) }
        for rows in [1, fewRowsLimit, fewRowsLimit + 1, fewRowsLimit + 3, 17, columnTilesLimit, columnTilesLimit + 1] {
            let separate = outputs.map { FloatBuffer(count: rows * $0) }, grouped = outputs.map { FloatBuffer(count: rows * $0) }
            for (j, o) in outputs.enumerated() {
                projections[j].forward(separate[j].pointer, x.pointer, rows: rows)
                let reference = FloatBuffer(count: rows * o)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(o), Int32(inputs),
                            1, x.pointer, Int32(inputs), weights[j].pointer, Int32(inputs), 0, reference.pointer, Int32(o))
                for i in 0..<reference.count {
                    XCTAssertEqual(separate[j][i], reference[i], accuracy: 1e-6 * Float(inputs), "rows \(rows), projection \(j) [\(i)]")
                }
            }
            projectSharingInput(x.pointer, zip(projections, grouped).map { ($0, $1.pointer) }, rows: rows)
            for j in outputs.indices { XCTAssertEqual(grouped[j].array, separate[j].array, "rows \(rows), projection \(j)") }
        }
    }

    /// The dot product against a Double reference, across the 32-, 8- and 1-element loops.
    func testDotAgainstDouble() {
        var rng = SplitMix64(seed: 5)
        for count in [1, 7, 8, 31, 32, 33, 100, 640] {
            let a = (0..<count).map { _ in rng.normal() }, b = (0..<count).map { _ in rng.normal() }
            let exact = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let got = a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in dot(pa.baseAddress!, pb.baseAddress!, count: count) } }
            XCTAssertEqual(Double(got), exact, accuracy: 1e-5 * max(1, Double(count).squareRoot()), "count \(count)")
        }
    }
}
