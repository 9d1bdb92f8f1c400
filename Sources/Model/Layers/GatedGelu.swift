import Foundation

// Gemma's MLP activation: a = gelu_tanh(gate) ⊙ up, with
// gelu_tanh(x) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
// Vectorised (8 lanes, FastMath) and spread over the cores: it is the largest elementwise
// cost of a step (2048 values per token and layer, three times per training step).

private let geluC: Float = 0.7978845608028654
private let geluK: Float = 0.044715
/// 8-lane blocks per parallel chunk: a pass's ≈100k blocks split over the cores, a single
/// token's 256 run inline.
private let elementwiseChunk = 1 << 15

@inline(__always)
func geluTanh(_ x: Float) -> Float {
    0.5 * x * (1 + fastTanh(geluC * (x + geluK * x * x * x)))
}

/// 8-lane blocks per chunk on generation's spinning workers, which cost microseconds to start:
/// a 40-token prompt's 10,240 blocks in 10 chunks (in one, the other core waited through ≈5% of
/// the prompt), a single token's 256 inline.
private let generationChunk = 1 << 10

/// a[i] = gelu(gate[i]) · up[i] for n values (a may alias gate). `onSpinningWorkers`: generation's
/// worker pool (hotParallelChunks) rather than Dispatch. Elementwise: the chunks do not change
/// the values.
func gatedGeluForward(_ a: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count n: Int,
                      onSpinningWorkers: Bool = false) {
    let blocks = 0..<(n / 8)
    let body: (Int, Int, Int) -> Void = { _, lo, hi in
        for b in lo..<hi {
            let i = b * 8
            let x = load8(gate + i)
            let t = tanh8(geluC * (x + geluK * x * x * x))
            store8(Float(0.5) * x * (Float(1) + t) * load8(up + i), a + i)
        }
    }
    if onSpinningWorkers {
        hotParallelChunks(blocks, chunk: generationChunk, body)
    } else {
        parallelChunks(blocks, chunk: elementwiseChunk, body)
    }
    for i in (n / 8 * 8)..<n { a[i] = geluTanh(gate[i]) * up[i] }
}

/// From da: dgate = da·up·gelu'(gate), dup = da·gelu(gate). Written over the gate/up gradients.
func gatedGeluBackward(dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>, da: UnsafePointer<Float>,
                       gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count n: Int) {
    @inline(__always) func lanes(_ x: Float8, _ u: Float8, _ d: Float8) -> (Float8, Float8) {
        let t = tanh8(geluC * (x + geluK * x * x * x))
        let one = Float8(repeating: 1)
        let gelu = 0.5 * x * (one + t)
        let dInner = geluC * (one + 3 * geluK * x * x)
        let dGelu = 0.5 * (one + t) + 0.5 * x * (one - t * t) * dInner
        return (d * u * dGelu, d * gelu)
    }
    parallelChunks(0..<(n / 8), chunk: elementwiseChunk) { _, lo, hi in
        for b in lo..<hi {
            let i = b * 8
            let (dg, du) = lanes(load8(gate + i), load8(up + i), load8(da + i))
            store8(dg, dgate + i)
            store8(du, dup + i)
        }
    }
    for i in (n / 8 * 8)..<n {
        let (dg, du) = lanes(Float8(repeating: gate[i]), Float8(repeating: up[i]), Float8(repeating: da[i]))
        dgate[i] = dg[0]
        dup[i] = du[0]
    }
}
