import Foundation
import ModelKernels
import TestSupport
import XCTest
@testable import Model

/// The adapters' dropout masks: ModelKernels' dropoutRow (16 elements at a time) gives the scalar
/// loop's x̃ bit for bit — the same elements kept, the same factor, the same sums when added —
/// for rows whose width ends in a part the kernel leaves to the scalar loop; and the mask keeps
/// about 1 − p of the elements, each multiplied by 1 / (1 − p).
final class DropoutMaskTests: XCTestCase {
    func testVectorRowsEqualTheScalarLoopBitForBit() throws {
        try XCTSkipUnless(VectorKernels.available, "this CPU lacks AVX2/FMA/F16C: ft-dist runs the scalar loop only")
        var rng = SplitMix64(seed: 77)
        for (rows, width, p) in [(5, 40, 0.3 as Float), (3, 64, 0.05), (4, 8, 0.5), (2, 2048, 0.05)] {
            let keys = (0..<rows).map { _ in rng.next() }
            let x = (0..<rows * width).map { _ in rng.normal() }, before = (0..<rows * width).map { _ in rng.normal() }
            keys.withUnsafeBufferPointer { keys in
                let mask = DropoutMask(key: 0xD15C_0123, rowKeys: keys.baseAddress!, dropout: p)
                for accumulate in [false, true] {
                    var vector = before, scalar = before
                    mask.apply(x, into: &vector, width: width, rows: 0, rows, accumulate: accumulate, vector: true)
                    mask.apply(x, into: &scalar, width: width, rows: 0, rows, accumulate: accumulate, vector: false)
                    XCTAssertEqual(vector.map(\.bitPattern), scalar.map(\.bitPattern), "rows \(rows) width \(width) p \(p) accumulate \(accumulate)")
                    guard !accumulate else { continue }
                    // every element is x · 1/(1 − p) or 0, and both occur in about the proportions p asks for
                    var dropped = 0
                    for i in 0..<x.count {
                        if scalar[i] == 0 { dropped += 1 } else { XCTAssertEqual(scalar[i], x[i] * mask.scale, "element \(i)") }
                    }
                    let share = Double(dropped) / Double(x.count)
                    XCTAssertEqual(share, Double(p), accuracy: 4 * (Double(p) * (1 - Double(p)) / Double(x.count)).squareRoot() + 1e-9,
                                   "rows \(rows) width \(width) p \(p): share dropped")
                    XCTAssertEqual(Double(mask.scale), 1 / (1 - Double(p)), accuracy: 1e-4)
                }
                // rows [1, rows) alone give those rows' masks: each row has its own stream
                var all = before, tail = before
                mask.apply(x, into: &all, width: width, rows: 0, rows, accumulate: false)
                mask.apply(x, into: &tail, width: width, rows: 1, rows, accumulate: false)
                XCTAssertEqual(Array(all[width...]), Array(tail[width...]))
            }
        }
    }
}
