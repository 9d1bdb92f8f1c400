import Foundation

// Gemma's MLP activation: a = gelu_tanh(gate) ⊙ up, with
// gelu_tanh(x) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).

private let geluC: Float = 0.7978845608028654
private let geluK: Float = 0.044715

@inline(__always)
func geluTanh(_ x: Float) -> Float {
    0.5 * x * (1 + tanhf(geluC * (x + geluK * x * x * x)))
}

/// a[i] = gelu(gate[i]) · up[i] for n values.
@inline(__always)
func gatedGeluForward(_ a: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count n: Int) {
    for i in 0..<n { a[i] = geluTanh(gate[i]) * up[i] }
}

/// From da: dgate = da·up·gelu'(gate), dup = da·gelu(gate). Written over the gate/up gradients.
@inline(__always)
func gatedGeluBackward(dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>, da: UnsafePointer<Float>,
                       gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count n: Int) {
    for i in 0..<n {
        let x = gate[i]
        let inner = geluC * (x + geluK * x * x * x)
        let t = tanhf(inner)
        let gelu = 0.5 * x * (1 + t)
        let dInner = geluC * (1 + 3 * geluK * x * x)
        let dGelu = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dInner
        dgate[i] = da[i] * up[i] * dGelu
        dup[i] = da[i] * gelu
    }
}
