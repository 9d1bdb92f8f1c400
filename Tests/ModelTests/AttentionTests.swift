import TestSupport
import XCTest
@testable import Model

/// attentionForward against a plain Double reference: several query rows (the sgemm path) and
/// one query row (decoding's direct loops over the cache), with grouped kv heads and a sliding
/// window that hides keys.
final class AttentionTests: XCTestCase {
    /// out [Tq, H·D] from the definition: softmax over the visible keys of scale · q·k, times v.
    private func reference(q: [Float], k: [Float], v: [Float], qPos: [Int32], kPos: [Int32], shape s: AttentionShape) -> [Double] {
        let tq = qPos.count, tk = kPos.count, hd = s.heads * s.headDim, kd = s.kvHeads * s.headDim
        var out = [Double](repeating: 0, count: tq * hd)
        for i in 0..<tq {
            for h in 0..<s.heads {
                let g = h / (s.heads / s.kvHeads)
                let keys = (0..<tk).filter { kPos[$0] <= qPos[i] && (s.window == 0 || Int(qPos[i] - kPos[$0]) < s.window) }
                let scores = keys.map { j in
                    Double(s.scale) * (0..<s.headDim).reduce(0.0) { $0 + Double(q[i * hd + h * s.headDim + $1]) * Double(k[j * kd + g * s.headDim + $1]) }
                }
                let m = scores.max()!, e = scores.map { Foundation.exp($0 - m) }, sum = e.reduce(0, +)
                for (n, j) in keys.enumerated() {
                    for d in 0..<s.headDim { out[i * hd + h * s.headDim + d] += e[n] / sum * Double(v[j * kd + g * s.headDim + d]) }
                }
            }
        }
        return out
    }

    private func attention(q: [Float], k: [Float], v: [Float], qPos: [Int32], kPos: [Int32], shape s: AttentionShape) -> [Float] {
        var out = [Float](repeating: .nan, count: qPos.count * s.heads * s.headDim)
        var probs = [Float](repeating: .nan, count: s.heads * qPos.count * kPos.count)
        attentionForward(out: &out, probs: &probs, q: q, k: k, v: v, qPos: qPos, kPos: kPos, tq: qPos.count, tk: kPos.count, shape: s)
        return out
    }

    func testOneQueryAndManyQueriesMatchTheDefinition() {
        var rng = SplitMix64(seed: 91)
        for (heads, kvHeads, headDim, window) in [(4, 1, 256, 0), (4, 2, 20, 0), (2, 2, 13, 3), (4, 1, 32, 5)] {
            let s = AttentionShape(heads: heads, kvHeads: kvHeads, headDim: headDim, scale: 1 / Float(headDim).squareRoot(), window: window)
            let tk = 9, kd = kvHeads * headDim, hd = heads * headDim
            let k = (0..<tk * kd).map { _ in rng.normal() }, v = (0..<tk * kd).map { _ in rng.normal() }
            let kPos = (0..<Int32(tk)).map { $0 }
            // every query sees a different set of keys: the first only key 0, the last all (or a window)
            let qPos: [Int32] = [0, 4, 8]
            let q = (0..<qPos.count * hd).map { _ in rng.normal() * 2 }
            let many = attention(q: q, k: k, v: v, qPos: qPos, kPos: kPos, shape: s)
            let expected = reference(q: q, k: k, v: v, qPos: qPos, kPos: kPos, shape: s)
            for (i, p) in qPos.enumerated() {
                let one = attention(q: Array(q[i * hd..<(i + 1) * hd]), k: k, v: v, qPos: [p], kPos: kPos, shape: s)
                for e in 0..<hd {
                    let want = expected[i * hd + e]
                    XCTAssertEqual(Double(many[i * hd + e]), want, accuracy: 1e-5 * max(1, abs(want)), "\(s), query \(i), element \(e): several rows")
                    XCTAssertEqual(Double(one[e]), want, accuracy: 1e-5 * max(1, abs(want)), "\(s), query \(i), element \(e): one row")
                }
            }
        }
    }
}
