import Foundation
import ModelKernels
import TestSupport
import XCTest
@testable import Model

/// The quantized base of QLoRA: the same values as the dequantized fp32 model, in every product.
final class QuantizedProjectionTests: XCTestCase {
    /// Q8_0 after ggml's reference: d = max|x|/127 (stored as fp16), q = round(x/d).
    func testQ8_0MatchesTheReferenceQuantizer() {
        var x = [Float](repeating: 0, count: 64)
        for j in 0..<32 { x[j] = Float(j) - 15.5 }          // max |x| = 15.5
        x[40] = -3.25
        let bytes = x.withUnsafeBufferPointer { Quantize.bytes(.q8_0, $0.baseAddress!, count: 64) }
        XCTAssertEqual(bytes.count, 2 * 34)
        XCTAssertEqual(UInt16(bytes[0]) | UInt16(bytes[1]) << 8, floatToHalf(15.5 / 127))
        let d = Float(15.5) / 127
        XCTAssertEqual(Int8(bitPattern: bytes[2]), -127)
        XCTAssertEqual(Int8(bitPattern: bytes[2 + 31]), 127)
        for j in 0..<32 { XCTAssertEqual(Int8(bitPattern: bytes[2 + j]), Int8((x[j] * (1 / d)).rounded(.toNearestOrAwayFromZero)), "q[\(j)]") }
        // the second block: all zero but one value, which maps to ±127
        XCTAssertEqual(Int8(bitPattern: bytes[34 + 2 + 8]), -127)
        var back = [Float](repeating: 0, count: 64)
        bytes.withUnsafeBytes { raw in back.withUnsafeMutableBufferPointer { Dequantize.row(type: .q8_0, source: raw, count: 64, into: $0.baseAddress!) } }
        for j in 0..<64 { XCTAssertEqual(back[j], x[j], accuracy: 0.5 * 15.5 / 127 + 1e-3, "round trip \(j)") }
    }

    /// Decoding's few-row forward dequantizes each row and takes the same dot products as the
    /// fp32 few-row path on the dequantized matrix: bit-identical results for 2 up to the limit
    /// rows, on the tiny model's Q8_0 file and on the same model quantized at load in the Q4_K_M
    /// mixture (Q5_0/Q8_0 at these widths). A single row (one decoding sequence) goes through
    /// ModelKernels' block loop, which applies each block's scale once: the same values, rounded
    /// differently, so within fp32 summation error of the exact sum (1e-5 of Σ|w·x|).
    func testFewRowsForwardIsBitIdenticalToTheDequantizedMatrix() throws {
        var rng = SplitMix64(seed: 9)
        var types = Set<String>()
        try forEachTinyQuantizedBase { base in
            let w = base.weights(trainable: nil, seed: 0)
            for p in [w.layers[0].q, w.layers[1].down, w.layers[0].gate, w.embedding as any Projection] {
                let q = p as! QuantizedProjection
                types.insert(q.type.name)
                let dense = dequantizedMatrix(q)
                let x = FloatBuffer(count: fewRowsLimit * q.inputs)
                for i in 0..<x.count { x[i] = rng.normal() }
                for rows in 1...fewRowsLimit {
                    let y1 = FloatBuffer(count: rows * q.outputs), y2 = FloatBuffer(count: rows * q.outputs)
                    linearForward(y1.pointer, x.pointer, dense.pointer, rows: rows, inputs: q.inputs, outputs: q.outputs)
                    q.forward(y2.pointer, x.pointer, rows: rows)
                    if rows > 1 || !q.hasVectorRowDots {
                        XCTAssertEqual(y1.array, y2.array, "\(q.type.name), rows \(rows)")
                        continue
                    }
                    for r in 0..<q.outputs {
                        var exact = 0.0, magnitude = 0.0
                        for e in 0..<q.inputs {
                            let term = Double(dense[r * q.inputs + e]) * Double(x[e])
                            exact += term
                            magnitude += abs(term)
                        }
                        XCTAssertEqual(Double(y2[r]), exact, accuracy: 1e-5 * magnitude, "\(q.type.name), one row, output \(r)")
                    }
                }
            }
        }
        XCTAssertGreaterThan(types.count, 1, "more than one block type checked: \(types)")
    }

    /// A prompt's rows (more than decoding's few, up to the column tiles' limit) dequantize six
    /// weight rows at a time into a thread's buffer and multiply them there: bit-identical to
    /// the column tiles of the dequantized fp32 matrix — alone and grouped as q, k, v — for
    /// Q8_0 and the Q4_K_M mixture's types, with short last groups (the tiny model's 77-row v
    /// and embedding).
    func testPromptRowsEqualTheDequantizedProduct() throws {
        try XCTSkipUnless(VectorKernels.available, "column tiles need AVX2/FMA: this CPU takes sgemm")
        var rng = SplitMix64(seed: 10)
        var types = Set<String>()
        try forEachTinyQuantizedBase { base in
            let w = base.weights(trainable: nil, seed: 0)
            let layer = w.layers[0]
            var denseCopies: [FloatBuffer] = []
            func dequantized(_ p: any Projection) -> DenseProjection {
                let q = p as! QuantizedProjection
                types.insert(q.type.name)
                let dense = dequantizedMatrix(q)
                denseCopies.append(dense)
                return DenseProjection(weight: dense.pointer, inputs: q.inputs, outputs: q.outputs)
            }
            for rows in [fewRowsLimit + 1, 13, columnTilesLimit] {
                for p in [layer.q, w.layers[1].down, layer.gate, w.embedding as any Projection] {
                    let d = dequantized(p)
                    let x = FloatBuffer(count: rows * p.inputs)
                    for i in 0..<x.count { x[i] = rng.normal() }
                    let y1 = FloatBuffer(count: rows * p.outputs), y2 = FloatBuffer(count: rows * p.outputs)
                    d.forward(y1.pointer, x.pointer, rows: rows)
                    p.forward(y2.pointer, x.pointer, rows: rows)
                    XCTAssertEqual(y2.array, y1.array, "\((p as! QuantizedProjection).type.name) \(p.outputs)×\(p.inputs), rows \(rows)")
                }
                let qkv = [layer.q, layer.k, layer.v], dense = qkv.map(dequantized)
                let x = FloatBuffer(count: rows * layer.q.inputs)
                for i in 0..<x.count { x[i] = rng.normal() }
                let grouped = qkv.map { FloatBuffer(count: rows * $0.outputs) }, separate = qkv.map { FloatBuffer(count: rows * $0.outputs) }
                projectSharingInput(x.pointer, zip(qkv, grouped).map { ($0, $1.pointer) }, rows: rows)
                for (d, y) in zip(dense, separate) { d.forward(y.pointer, x.pointer, rows: rows) }
                for j in 0..<3 { XCTAssertEqual(grouped[j].array, separate[j].array, "q, k, v grouped, rows \(rows), projection \(j)") }
            }
            withExtendedLifetime(denseCopies) {}
        }
        XCTAssertGreaterThan(types.count, 1, "more than one block type checked: \(types)")
    }

    /// Forward, input gradient and embedding rows of quantized blocks equal those of the
    /// dequantized fp32 matrix (to summation order), and nothing is written to the gradients.
    func testQuantizedProjectionEqualsTheDequantizedDenseOne() throws {
        let path = try TinyGemma.write(quantized: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let gguf = try GGUFFile(path: path)
        let dense = try GemmaModel(gguf: gguf)
        let quantized = try QuantizedGemma(gguf: gguf)
        let dw = GemmaWeights(model: dense), qw = quantized.weights(trainable: nil, seed: 0)
        var rng = SplitMix64(seed: 3)
        let rows = 5
        for (d, q) in [(dw.layers[0].q, qw.layers[0].q), (dw.layers[1].down, qw.layers[1].down),
                       (dw.embedding as any Projection, qw.embedding as any Projection)] {
            XCTAssertTrue(q is QuantizedProjection)
            let x = FloatBuffer(count: rows * d.inputs), dy = FloatBuffer(count: rows * d.outputs)
            for i in 0..<x.count { x[i] = rng.normal() }
            for i in 0..<dy.count { dy[i] = rng.normal() }
            let y1 = FloatBuffer(count: rows * d.outputs), y2 = FloatBuffer(count: rows * d.outputs)
            d.forward(y1.pointer, x.pointer, rows: rows)
            q.forward(y2.pointer, x.pointer, rows: rows)
            let dx1 = FloatBuffer(count: x.count), dx2 = FloatBuffer(count: x.count), g = FloatBuffer(count: 4)
            d.backward(dx: dx1.pointer, dy: dy.pointer, x: x.pointer, rows: rows, accumulate: false, gradients: g.pointer)
            q.backward(dx: dx2.pointer, dy: dy.pointer, x: x.pointer, rows: rows, accumulate: false, gradients: g.pointer)
            for (a, b) in [(y1, y2), (dx1, dx2)] {
                let scale = a.array.map(abs).max()!
                for i in 0..<a.count { XCTAssertEqual(a[i], b[i], accuracy: 1e-5 * scale) }
            }
            XCTAssertEqual(g.array, [0, 0, 0, 0], "a quantized base is frozen")
        }
        let row1 = FloatBuffer(count: dense.config.hidden), row2 = FloatBuffer(count: dense.config.hidden)
        dw.embedding.embed(77, scale: 2, into: row1.pointer)
        qw.embedding.embed(77, scale: 2, into: row2.pointer)
        XCTAssertEqual(row1.array, row2.array, "the same dequantized values")
        XCTAssertEqual(qw.finalNorm.g[3], dw.finalNorm.g[3])
    }

    /// Across chunks of 7 rows (the real head has 20 chunks): y's columns, dy's columns and the
    /// accumulation into a pre-filled dx line up.
    func testChunkedProductsLineUp() throws {
        let path = try TinyGemma.write(quantized: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let gguf = try GGUFFile(path: path)
        // the weights (and the model they point into) must outlive the projection taken from them
        let weights = GemmaWeights(model: try GemmaModel(gguf: gguf))
        defer { withExtendedLifetime(weights) {} }
        let dense = weights.layers[1].gate
        let info = gguf.tensor(named: "blk.1.ffn_gate.weight")!
        let chunked = QuantizedProjection(type: info.type, blocks: gguf.rawData(info).baseAddress!, inputs: dense.inputs,
                                          outputs: dense.outputs, scratch: GrowableBuffer(), rowsPerChunk: 7)
        var rng = SplitMix64(seed: 9)
        let rows = columnTilesLimit + 3  // more than a prompt's column tiles take: the chunked sgemm path
        let x = FloatBuffer(count: rows * dense.inputs), dy = FloatBuffer(count: rows * dense.outputs)
        for i in 0..<x.count { x[i] = rng.normal() }
        for i in 0..<dy.count { dy[i] = rng.normal() }
        let y1 = FloatBuffer(count: dy.count), y2 = FloatBuffer(count: dy.count)
        dense.forward(y1.pointer, x.pointer, rows: rows)
        chunked.forward(y2.pointer, x.pointer, rows: rows)
        let dx1 = FloatBuffer(count: x.count), dx2 = FloatBuffer(count: x.count), g = FloatBuffer(count: 1)
        for i in 0..<x.count { dx1[i] = 0.5; dx2[i] = 0.5 }
        dense.backward(dx: dx1.pointer, dy: dy.pointer, x: x.pointer, rows: rows, accumulate: true, gradients: g.pointer)
        chunked.backward(dx: dx2.pointer, dy: dy.pointer, x: x.pointer, rows: rows, accumulate: true, gradients: g.pointer)
        for (a, b) in [(y1, y2), (dx1, dx2)] {
            for i in 0..<a.count { XCTAssertEqual(a[i], b[i], accuracy: 1e-4, "index \(i)") }
        }
        XCTAssertNotEqual(dx2[0], 0.5, "accumulated, not left alone")
    }

    /// A base with fp32 projections has nothing to keep quantized: QLoRA refuses it by name.
    func testAnUnquantizedBaseIsRefused() throws {
        let path = try TinyGemma.write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertThrowsError(try QuantizedGemma(gguf: GGUFFile(path: path))) { error in
            XCTAssertTrue("\(error)".contains("not quantized") && "\(error)".contains("--method lora"), "\(error)")
        }
    }

    /// body(base) for the tiny model's Q8_0 file and the same model quantized at load in the
    /// Q4_K_M mixture (the file stays mapped while body runs).
    private func forEachTinyQuantizedBase(_ body: (QuantizedGemma) throws -> Void) throws {
        let path = try TinyGemma.write(quantized: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let gguf = try GGUFFile(path: path)
        for base in [try QuantizedGemma(gguf: gguf), QuantizedGemma(quantizing: try GemmaModel(gguf: gguf))] { try body(base) }
    }

    /// W as fp32 [outputs, inputs], every row dequantized.
    private func dequantizedMatrix(_ q: QuantizedProjection) -> FloatBuffer {
        let dense = FloatBuffer(count: q.outputs * q.inputs)
        for r in 0..<q.outputs {
            Dequantize.row(type: q.type, source: UnsafeRawBufferPointer(start: q.blocks + r * q.rowBytes, count: q.rowBytes),
                           count: q.inputs, into: dense.pointer + r * q.inputs)
        }
        return dense
    }
}
