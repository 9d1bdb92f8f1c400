import Foundation
import TestSupport
import XCTest
@testable import Model

final class GatedGeluTests: XCTestCase {
    /// a = gelu_tanh(gate) · up, checked against the formula in Double (FastMath's tanh: ≈1e-7
    /// absolute in 1 + tanh), for a count with an 8-lane tail; on generation's spinning workers
    /// the values are the same bits as through Dispatch, and the pool (not Dispatch) ran them
    /// when there is more than one thread.
    func testGatedGeluMatchesTheFormulaOnEitherWorkers() throws {
        var rng = SplitMix64(seed: 31)
        let n = 40 * 2048 + 5  // a 40-token prompt's activations and a tail
        let gate = (0..<n).map { _ in 3 * rng.normal() }, up = (0..<n).map { _ in rng.normal() }
        var viaDispatch = [Float](repeating: .nan, count: n), viaWorkers = [Float](repeating: .nan, count: n)
        gatedGeluForward(&viaDispatch, gate: gate, up: up, count: n)
        let pool = ProcessInfo.processInfo.activeProcessorCount > 1 && BLASThreads.count > 1 ? SpinningWorkers.shared : nil
        let before = pool?.regionsRun.load(ordering: .relaxed) ?? 0
        gatedGeluForward(&viaWorkers, gate: gate, up: up, count: n, onSpinningWorkers: true)
        if let pool { XCTAssertEqual(pool.regionsRun.load(ordering: .relaxed), before + 1, "the spinning workers ran it") }
        XCTAssertEqual(viaWorkers.map(\.bitPattern), viaDispatch.map(\.bitPattern))
        for i in 0..<n {
            let x = Double(gate[i])
            let exact = 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))) * Double(up[i])
            XCTAssertEqual(Double(viaDispatch[i]), exact, accuracy: 1e-6 * (abs(x * Double(up[i])) + 1e-6), "element \(i)")
        }
    }
}
