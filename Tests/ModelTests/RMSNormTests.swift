import TestSupport
import XCTest
@testable import Model

/// RMSNorm's forward and backward (8 partial Double sums per row, rows over the BLAS threads)
/// against a plain one-accumulator Double reference, and independent of the thread count.
final class RMSNormTests: XCTestCase {
    /// The reference: one running Double sum per row, as the kernels were first written.
    private func referenceForward(_ x: [Float], _ g: [Float], rows n: Int, width c: Int, eps: Float) -> (y: [Float], rstd: [Float]) {
        var y = [Float](repeating: 0, count: n * c), rstd = [Float](repeating: 0, count: n)
        for r in 0..<n {
            var sumSq: Double = 0
            for j in 0..<c { sumSq += Double(x[r * c + j]) * Double(x[r * c + j]) }
            rstd[r] = Float(1 / (sumSq / Double(c) + Double(eps)).squareRoot())
            for j in 0..<c { y[r * c + j] = x[r * c + j] * rstd[r] * g[j] }
        }
        return (y, rstd)
    }

    private func referenceBackward(dy: [Float], x: [Float], rstd: [Float], g: [Float], rows n: Int, width c: Int)
        -> (dx: [Float], dg: [Float]) {
        var dx = [Float](repeating: 0, count: n * c), dg = [Float](repeating: 0, count: c)
        for r in 0..<n {
            let s = rstd[r]
            var dot: Double = 0
            for j in 0..<c {
                dot += Double(g[j] * dy[r * c + j]) * Double(x[r * c + j])
                dg[j] += dy[r * c + j] * x[r * c + j] * s
            }
            let k = Float(dot) * s * s * s / Float(c)
            for j in 0..<c { dx[r * c + j] = s * g[j] * dy[r * c + j] - k * x[r * c + j] }
        }
        return (dx, dg)
    }

    private func random(_ count: Int, _ rng: inout SplitMix64, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in rng.normal() * scale }
    }

    /// Widths with and without an 8-lane tail, a residual-sized row (norms in the thousands),
    /// row counts that run inline and that split over the threads: the same values as the
    /// reference (the sums differ only in the order of exact Double additions), and bit for
    /// bit the same with 1 and 2 BLAS threads.
    func testMatchesReferenceAndIgnoresThreadCount() {
        var rng = SplitMix64(seed: 5)
        let saved = BLASThreads.count
        defer { BLASThreads.set(saved) }
        for (n, c, scale) in [(3, 640, Float(1)), (200, 256, 1), (300, 640, 400), (50, 13, 1)] {
            let x = random(n * c, &rng, scale: scale), g = random(c, &rng), dy = random(n * c, &rng)
            let expected = referenceForward(x, g, rows: n, width: c, eps: 1e-6)
            let expectedGrad = referenceBackward(dy: dy, x: x, rstd: expected.rstd, g: g, rows: n, width: c)
            var results: [[Float]] = []
            for threads in [1, 2] {
                BLASThreads.set(threads)
                var y = [Float](repeating: 0, count: n * c), rstd = [Float](repeating: 0, count: n)
                var dx = [Float](repeating: 0.5, count: n * c), dxAdded = dx, dg = [Float](repeating: 0, count: c)
                rmsNormForward(&y, &rstd, x, g, rows: n, width: c, eps: 1e-6)
                rmsNormBackward(dx: &dx, dg: &dg, dy: dy, x: x, rstd: rstd, g: g, rows: n, width: c, accumulate: false)
                rmsNormBackward(dx: &dxAdded, dg: nil, dy: dy, x: x, rstd: rstd, g: g, rows: n, width: c, accumulate: true)
                XCTAssertEqual(rstd, expected.rstd, "rstd, n \(n) c \(c)")
                XCTAssertEqual(y, expected.y, "y, n \(n) c \(c)")
                XCTAssertEqual(dg, expectedGrad.dg, "dg sums rows in order, n \(n) c \(c)")
                for i in 0..<(n * c) {
                    // k's Double dot may round differently in its last bit: |k·x| ≤ s·|g·dy| terms' scale
                    let bound = 1e-6 * (abs(expectedGrad.dx[i]) + 1e-3 * abs(x[i]) * expected.rstd[i / c])
                    XCTAssertEqual(dx[i], expectedGrad.dx[i], accuracy: bound, "dx[\(i)], n \(n) c \(c)")
                    XCTAssertEqual(dxAdded[i], 0.5 + dx[i], accuracy: 1e-6 * (1 + abs(dx[i])), "accumulated dx[\(i)]")
                }
                results.append(y + rstd + dx + dg + dxAdded)
            }
            XCTAssertEqual(results[0], results[1], "1 and 2 threads, n \(n) c \(c)")
        }
    }

    /// In place, as the block uses them: y over x in the forward, dx over dy in the backward.
    func testInPlace() {
        var rng = SplitMix64(seed: 9)
        let n = 70, c = 256
        let x = random(n * c, &rng), g = random(c, &rng), dy = random(n * c, &rng)
        var y = [Float](repeating: 0, count: n * c), rstd = [Float](repeating: 0, count: n)
        rmsNormForward(&y, &rstd, x, g, rows: n, width: c, eps: 1e-6)
        var inPlace = x
        inPlace.withUnsafeMutableBufferPointer { p in
            rmsNormForward(p.baseAddress!, nil, p.baseAddress!, g, rows: n, width: c, eps: 1e-6)
        }
        XCTAssertEqual(inPlace, y)
        var dx = [Float](repeating: 0, count: n * c), dg = [Float](repeating: 0, count: c), dgInPlace = dg
        rmsNormBackward(dx: &dx, dg: &dg, dy: dy, x: x, rstd: rstd, g: g, rows: n, width: c, accumulate: false)
        var dInPlace = dy
        dInPlace.withUnsafeMutableBufferPointer { p in
            rmsNormBackward(dx: p.baseAddress!, dg: &dgInPlace, dy: p.baseAddress!, x: x, rstd: rstd, g: g, rows: n, width: c,
                            accumulate: false)
        }
        XCTAssertEqual(dInPlace, dx)
        XCTAssertEqual(dgInPlace, dg)
    }
}
