import Foundation
import ModelKernels
import TestSupport
import XCTest
@testable import Model

/// ModelKernels' vector loops against the scalar reference: the dequantized values bit for bit,
/// the fp32 row dots bit for bit, and the block row dots (scale applied once per block) within
/// fp32 rounding of an exact sum — on random blocks of every format, over several blocks per row.
final class VectorKernelsTests: XCTestCase {
    static let formats: [(GGMLType, VectorKernels.BlockFormat)] = [(.q8_0, .q8_0), (.q5_0, .q5_0), (.q4_K, .q4_K), (.q6_K, .q6_K)]

    /// `blocks` blocks of random bytes whose fp16 scales are finite, with random signs and
    /// exponent fields in `exponents` (0…29, the default: subnormals up to 2^14 — the scalar code
    /// converts them itself, the vector code with F16C).
    func randomBlocks(_ type: GGMLType, blocks: Int, exponents: ClosedRange<Int> = 0...29, rng: inout SplitMix64) -> [UInt8] {
        let blockBytes = type.byteCount(elements: type.blockElements)!
        var bytes = (0..<blocks * blockBytes).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let scaleOffsets: [Int] = type == .q4_K ? [0, 2] : type == .q6_K ? [208] : [0]
        for b in 0..<blocks {
            for offset in scaleOffsets {
                let exponent = exponents.lowerBound + rng.int(exponents.count)  // never 31: inf or NaN
                let half = UInt16(rng.int(2)) << 15 | UInt16(exponent) << 10 | UInt16(rng.int(1024))
                bytes[b * blockBytes + offset] = UInt8(half & 0xFF)
                bytes[b * blockBytes + offset + 1] = UInt8(half >> 8)
            }
        }
        return bytes
    }

    func scalar(_ type: GGMLType, _ bytes: [UInt8], count: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: count)
        bytes.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { Dequantize.scalarRow(type: type, source: src, count: count, into: $0.baseAddress!) }
        }
        return out
    }

    override func setUpWithError() throws {
        try XCTSkipUnless(VectorKernels.available, "this CPU lacks AVX2/FMA/F16C: ft-dist runs the scalar code")
    }

    func testDequantizationEqualsTheScalarCodeBitForBit() {
        var rng = SplitMix64(seed: 21)
        for (type, format) in Self.formats {
            let blocks = 9, count = blocks * type.blockElements
            let bytes = randomBlocks(type, blocks: blocks, rng: &rng)
            var vector = [Float](repeating: .nan, count: count)
            bytes.withUnsafeBytes { src in
                vector.withUnsafeMutableBufferPointer { VectorKernels.dequantize(format, src.baseAddress!, blocks: blocks, into: $0.baseAddress!) }
            }
            let reference = scalar(type, bytes, count: count)
            XCTAssertEqual(vector.map(\.bitPattern), reference.map(\.bitPattern), "\(type.name)")
            // Dequantize.row takes the vector loop on this CPU
            var viaRow = [Float](repeating: .nan, count: count)
            bytes.withUnsafeBytes { src in
                viaRow.withUnsafeMutableBufferPointer { Dequantize.row(type: type, source: src, count: count, into: $0.baseAddress!) }
            }
            XCTAssertEqual(viaRow.map(\.bitPattern), reference.map(\.bitPattern), "\(type.name) through Dequantize.row")
        }
    }

    /// Each output is Σ w·x over the dequantized row; the block loop applies the scale once per
    /// block (and a K-quant's min term through Σ x), so it may round differently, never by more
    /// than fp32 summation error: |error| ≤ 1e-5 · Σ|w·x|. Scales stay within a factor 4 of 1
    /// (exponent fields 14…16), so no block or min term dwarfs the others and a wrong element,
    /// scale or min is off by about a term, ≈ Σ|w·x| / inputs ≥ 4e-4 of the sum.
    func testBlockRowDotsEqualTheExactSumWithinRounding() {
        var rng = SplitMix64(seed: 22)
        for (type, format) in Self.formats {
            for blocksPerRow in [1, 2, 3, 8] {
                let inputs = blocksPerRow * type.blockElements, rows = 37
                let rowBytes = type.byteCount(elements: inputs)!
                let bytes = randomBlocks(type, blocks: rows * blocksPerRow, exponents: 14...16, rng: &rng)
                let x = (0..<inputs).map { _ in rng.normal() }
                var y = [Float](repeating: .nan, count: rows)
                bytes.withUnsafeBytes { w in
                    y.withUnsafeMutableBufferPointer { out in
                        VectorKernels.rowDots(format, out.baseAddress!, w.baseAddress!, rowBytes: rowBytes, x, inputs: inputs, rows: 0..<rows)
                    }
                }
                for r in 0..<rows {
                    let w = scalar(type, Array(bytes[r * rowBytes..<(r + 1) * rowBytes]), count: inputs)
                    let exact = zip(w, x).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                    let magnitude = zip(w, x).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) }
                    XCTAssertEqual(Double(y[r]), exact, accuracy: 1e-5 * magnitude + 1e-30, "\(type.name), \(blocksPerRow) blocks, row \(r)")
                }
            }
        }
    }

    /// Rows other than the first are reached through `rowBytes`, and only the rows asked for
    /// are written.
    func testBlockRowDotsWriteOnlyTheirRows() {
        var rng = SplitMix64(seed: 23)
        for (type, format) in Self.formats {
            let inputs = 2 * type.blockElements, rows = 10
            let rowBytes = type.byteCount(elements: inputs)!
            let bytes = randomBlocks(type, blocks: rows * 2, rng: &rng)
            let x = (0..<inputs).map { _ in rng.normal() }
            var all = [Float](repeating: .nan, count: rows), part = [Float](repeating: -7, count: rows)
            bytes.withUnsafeBytes { w in
                all.withUnsafeMutableBufferPointer {
                    VectorKernels.rowDots(format, $0.baseAddress!, w.baseAddress!, rowBytes: rowBytes, x, inputs: inputs, rows: 0..<rows)
                }
                part.withUnsafeMutableBufferPointer {
                    VectorKernels.rowDots(format, $0.baseAddress!, w.baseAddress!, rowBytes: rowBytes, x, inputs: inputs, rows: 3..<7)
                }
            }
            XCTAssertEqual(Array(part[3..<7]).map(\.bitPattern), Array(all[3..<7]).map(\.bitPattern), "\(type.name)")
            XCTAssertEqual(Array(part[0..<3]) + Array(part[7...]), [Float](repeating: -7, count: 6), "\(type.name)")
        }
    }

    /// A prompt's column tiles: xᵀ holds x's columns with zero padding to whole registers, and
    /// every output of six weight rows × up to 64 rows of x is within fp32 rounding of the exact
    /// sum (each term a fused multiply-add, in the order of k: a few ulps of Σ|w·x|), for row
    /// counts that leave 16-column tiles, an 8-column tail and partial registers, widths with and
    /// without 8-element tails, and every count of live weight rows; nothing else in y is written.
    func testColumnTilesEqualTheExactSumWithinRounding() {
        var rng = SplitMix64(seed: 25)
        for inputs in [640, 37] {
            let w = (0..<columnTileRows * inputs).map { _ in rng.normal() }
            for rows in [5, 8, 17, 40, 64] {
                let columns = VectorKernels.transposedColumns(rows: rows)
                XCTAssertTrue(columns % 8 == 0 && columns >= rows && columns < rows + 8, "\(rows) rows, \(columns) columns")
                let x = (0..<rows * inputs).map { _ in rng.normal() }
                var xT = [Float](repeating: .nan, count: inputs * columns)
                VectorKernels.transpose(x, rows: rows, inputs: inputs, into: &xT, columns: columns)
                for k in 0..<inputs {
                    for s in 0..<columns { XCTAssertEqual(xT[k * columns + s], s < rows ? x[s * inputs + k] : 0, "xT[\(k), \(s)]") }
                }
                // in pieces of 16 inputs (as threads share it), the last one short: the same xT
                var pieces = [Float](repeating: .nan, count: inputs * columns)
                for k0 in stride(from: 0, to: inputs, by: 16) {
                    VectorKernels.transpose(x, rows: rows, inputs: inputs, into: &pieces, columns: columns,
                                            inputRange: k0..<min(k0 + 16, inputs))
                }
                XCTAssertEqual(pieces.map(\.bitPattern), xT.map(\.bitPattern), "\(rows) rows × \(inputs) inputs in pieces")
                let outputs = 9, offset = 2  // y rows wider than the tile, the tile's outputs from 2 on
                for count in 1...columnTileRows {
                    var y = [Float](repeating: -7, count: rows * outputs)
                    y.withUnsafeMutableBufferPointer {
                        VectorKernels.rowsTimesColumns($0.baseAddress! + offset, outputs: outputs, w, count: count,
                                                       xT, columns: columns, rows: rows, inputs: inputs)
                    }
                    for s in 0..<rows {
                        for o in 0..<outputs {
                            let r = o - offset
                            guard r >= 0, r < count else { XCTAssertEqual(y[s * outputs + o], -7, "y[\(s), \(o)] written"); continue }
                            var exact = 0.0, magnitude = 0.0
                            for k in 0..<inputs {
                                let term = Double(w[r * inputs + k]) * Double(x[s * inputs + k])
                                exact += term
                                magnitude += abs(term)
                            }
                            XCTAssertEqual(Double(y[s * outputs + o]), exact, accuracy: 1e-6 * magnitude,
                                           "inputs \(inputs), rows \(rows), count \(count), y[\(s), \(o)]")
                        }
                    }
                }
            }
        }
    }

    /// The fp32 row dots are FewRowsLinear's `dot`, bit for bit, for widths that are and are not
    /// multiples of 32 and 8.
    func testFP32RowDotsEqualTheScalarBuildsDot() {
        var rng = SplitMix64(seed: 24)
        for inputs in [640, 1024, 37, 8, 3] {
            let outputs = 11, n = 3
            let w = (0..<outputs * inputs).map { _ in rng.normal() }, x = (0..<n * inputs).map { _ in rng.normal() }
            var y = [Float](repeating: .nan, count: n * outputs)
            VectorKernels.rowDots(&y, outputs: outputs, x, n: n, w, inputs: inputs, rowStride: inputs, rows: 0..<outputs)
            // one row at a time, as the quantized few-row path calls it: row 0 of y + r
            var single = [Float](repeating: .nan, count: n * outputs)
            w.withUnsafeBufferPointer { wp in
                single.withUnsafeMutableBufferPointer { out in
                    for r in 0..<outputs {
                        rowDots(out.baseAddress! + r, outputs: outputs, x, n: n, wp.baseAddress! + r * inputs, inputs: inputs, rows: 0..<1)
                    }
                }
            }
            for s in 0..<n {
                for r in 0..<outputs {
                    let reference = w.withUnsafeBufferPointer { wp in x.withUnsafeBufferPointer { dot(wp.baseAddress! + r * inputs, $0.baseAddress! + s * inputs, count: inputs) } }
                    XCTAssertEqual(y[s * outputs + r].bitPattern, reference.bitPattern, "inputs \(inputs), row \(r), x \(s)")
                    XCTAssertEqual(single[s * outputs + r].bitPattern, reference.bitPattern, "one row, inputs \(inputs)")
                }
            }
        }
    }

    /// Decoding attention's loops: dot products with rows `rowStride` apart are FewRowsLinear's
    /// `dot` bit for bit, and the weighted row sums are the scalar loop's (a product, then an add,
    /// in the keys' order), for widths with and without an 8-lane tail.
    func testStridedRowDotsAndWeightedRowSumsEqualScalarLoops() {
        var rng = SplitMix64(seed: 25)
        for (width, stride) in [(256, 512), (20, 40), (13, 13)] {
            let n = 4, keys = 7
            let k = (0..<keys * stride).map { _ in rng.normal() }, q = (0..<n * width).map { _ in rng.normal() }
            var p = [Float](repeating: .nan, count: n * keys)
            VectorKernels.rowDots(&p, outputs: keys, q, n: n, k, inputs: width, rowStride: stride, rows: 0..<keys)
            for h in 0..<n {
                for j in 0..<keys {
                    let reference = k.withUnsafeBufferPointer { kp in q.withUnsafeBufferPointer { dot(kp.baseAddress! + j * stride, $0.baseAddress! + h * width, count: width) } }
                    XCTAssertEqual(p[h * keys + j].bitPattern, reference.bitPattern, "width \(width), head \(h), key \(j)")
                }
            }
            var out = [Float](repeating: .nan, count: n * width), reference = [Float](repeating: 0, count: n * width)
            VectorKernels.weightedRowSums(&out, p, n: n, k, rows: keys, width: width, rowStride: stride)
            for j in 0..<keys {
                for h in 0..<n {
                    for d in 0..<width { reference[h * width + d] += p[h * keys + j] * k[j * stride + d] }
                }
            }
            XCTAssertEqual(out.map(\.bitPattern), reference.map(\.bitPattern), "width \(width)")
        }
    }

    /// The integer screen's rows (Q8_0GreedyHead): approximate[r] equals Σ_b d · dx · Σ q · xq
    /// computed in integers, within fp32 rounding, bound[r] equals Σ_b |d| · xErrors[b], and the
    /// floor is the largest difference. Random blocks (every int8 value, −128 included, random
    /// signs of the scale, subnormal and zero scales) and rows of −128 and of alternating ±127
    /// against ±127 values, where a 16-bit pair sum would saturate if q went in signed; 13 and
    /// 20 blocks per row (groups of 8, pairs and a last single block).
    func testIntegerRowDotsEqualTheIntegerSumWithinRounding() {
        var rng = SplitMix64(seed: 17)
        for blocks in [13, 20] {
            let rows = 7
            var bytes = randomBlocks(.q8_0, blocks: rows * blocks, exponents: 0...20, rng: &rng)
            // a zero scale and a negative subnormal one (F16C's conversion of both)
            (bytes[3 * 34], bytes[3 * 34 + 1], bytes[(blocks + 9) * 34], bytes[(blocks + 9) * 34 + 1]) = (0, 0, 0x01, 0x80)
            for b in 0..<blocks {
                for i in 0..<32 {
                    bytes[(5 * blocks + b) * 34 + 2 + i] = 0x80
                    bytes[(6 * blocks + b) * 34 + 2 + i] = UInt8(bitPattern: i % 2 == 0 ? 127 : -127)
                }
            }
            var values = (0..<32 * blocks).map { _ in Int8(rng.int(255) - 127) }
            for i in 0..<32 { values[i] = i % 2 == 0 ? -127 : 127 }
            let scales = (0..<blocks).map { _ in Float(rng.uniform() * 0.01 + 0.001) }
            let errors = (0..<blocks).map { _ in Float(rng.uniform()) }
            var y = [Float](repeating: .nan, count: rows + 1), bound = y
            let (floor, finite) = bytes.withUnsafeBytes { w in
                VectorKernels.q8_0IntegerRowDots(&y, bound: &bound, w.baseAddress!, rowBytes: 34 * blocks, xValues: values,
                                                 xScales: scales, xErrors: errors, blocks: blocks, rows: 0..<rows)
            }
            XCTAssertTrue(finite)
            XCTAssertTrue(y[rows].isNaN && bound[rows].isNaN, "nothing written beyond the rows")
            var largest = -Float.infinity
            for r in 0..<rows {
                var exact = 0.0, magnitude = 0.0, expectedBound = 0.0
                for b in 0..<blocks {
                    let block = r * blocks + b
                    let d = Double(Float(Float16(bitPattern: UInt16(bytes[block * 34]) | UInt16(bytes[block * 34 + 1]) << 8)))
                    var sum = 0
                    for i in 0..<32 { sum += Int(Int8(bitPattern: bytes[block * 34 + 2 + i])) * Int(values[32 * b + i]) }
                    exact += d * Double(scales[b]) * Double(sum)
                    magnitude += abs(d * Double(scales[b]) * Double(sum))
                    expectedBound += abs(d) * Double(errors[b])
                }
                XCTAssertEqual(Double(y[r]), exact, accuracy: magnitude * 1e-6, "\(blocks) blocks, row \(r)")
                XCTAssertEqual(Double(bound[r]), expectedBound, accuracy: expectedBound * 1e-6, "\(blocks) blocks, row \(r)")
                largest = max(largest, y[r] - bound[r])
            }
            XCTAssertEqual(floor, largest)
        }
    }

    /// rowsReaching: the rows with approximate + bound ≥ floor in order, at counts that are not
    /// multiples of the vector width, the first `capacity` of more; a NaN never reaches.
    func testRowsReachingListsTheRowsInOrder() {
        var rng = SplitMix64(seed: 23)
        for count in [1, 8, 37, 1000] {
            var a = (0..<count).map { _ in Float(rng.normal()) }, m = (0..<count).map { _ in Float(rng.uniform()) }
            if count > 3 { (a[2], m[3]) = (.nan, .nan) }
            let floor: Float = 0.8
            let expected = (0..<count).filter { a[$0] + m[$0] >= floor }.map(Int32.init)
            for capacity in [count, 2] {
                var rows = [Int32](repeating: -1, count: capacity)
                let found = VectorKernels.rowsReaching(floor, approximate: a, bound: m, count: count, into: &rows, capacity: capacity)
                XCTAssertEqual(found, expected.count, "\(count) rows")
                XCTAssertEqual(Array(rows.prefix(min(found, capacity))), Array(expected.prefix(capacity)), "\(count) rows, capacity \(capacity)")
            }
        }
    }
}
