import Foundation

/// Rotary position embedding in the "rotate half" form over head vectors of width d:
/// for i < d/2, θ = pos · base^(−2i/d), out[i] = x[i]cosθ − x[i+d/2]sinθ,
/// out[i+d/2] = x[i+d/2]cosθ + x[i]sinθ. The angle is formed in fp32 as PyTorch does.
public struct RoPETable {
    public let base: Float
    public let headDim: Int
    public private(set) var positions = 0
    private var cosTable: [Float] = []  // [positions, d/2]
    private var sinTable: [Float] = []
    private let inverseFrequency: [Float]

    public init(base: Float, headDim: Int) {
        self.base = base
        self.headDim = headDim
        let half = headDim / 2
        // torch: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), in fp32
        inverseFrequency = (0..<half).map { i in 1 / powf(base, Float(2 * i) / Float(headDim)) }
    }

    /// Make sure positions 0..<n are tabulated.
    public mutating func reserve(_ n: Int) {
        guard n > positions else { return }
        let half = headDim / 2
        let newCount = max(n, positions * 2, 256)
        cosTable.reserveCapacity(newCount * half)
        sinTable.reserveCapacity(newCount * half)
        for p in positions..<newCount {
            for i in 0..<half {
                let theta = Float(p) * inverseFrequency[i]
                cosTable.append(cos(theta))
                sinTable.append(sin(theta))
            }
        }
        positions = newCount
    }

    /// Rotate `rows` rows of `heads` head vectors in place; row r has position pos[r].
    /// `inverse` rotates by −θ: the backward pass of a rotation is its transpose.
    func apply(_ x: UnsafeMutablePointer<Float>, rows: Int, heads: Int, positions pos: UnsafePointer<Int32>,
               inverse: Bool = false) {
        let half = headDim / 2
        cosTable.withUnsafeBufferPointer { cosT in
            sinTable.withUnsafeBufferPointer { sinT in
                for r in 0..<rows {
                    let c = cosT.baseAddress! + Int(pos[r]) * half
                    let s = sinT.baseAddress! + Int(pos[r]) * half
                    for h in 0..<heads {
                        let v = x + (r * heads + h) * headDim
                        for i in 0..<half {
                            let a = v[i], b = v[i + half]
                            let si = inverse ? -s[i] : s[i]
                            v[i] = a * c[i] - b * si
                            v[i + half] = b * c[i] + a * si
                        }
                    }
                }
            }
        }
    }
}
