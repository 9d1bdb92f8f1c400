import CBLAS

/// A projection with a low-rank adapter, as peft computes it: y = base(x) + s · B (A x̃) with
/// x̃ = dropout(x) in training passes, x otherwise. A [r, in] and B [out, r] live in the
/// TrainableParameters' values; their gradients go to the same offsets of its gradients. The
/// base is any projection — a dense fp32 matrix or quantized blocks — and stays frozen.
///
/// Shapes for n rows: x [n, in], y [n, out], u = x̃ Aᵀ [n, r]; u is recomputed in the backward
/// (n·in·r multiply-adds, small beside the base) rather than kept.
public final class LoRAProjection: Projection {
    public let base: any Projection
    public var inputs: Int { base.inputs }
    public var outputs: Int { base.outputs }
    let a: UnsafePointer<Float>, b: UnsafePointer<Float>
    let aOffset: Int, bOffset: Int
    let rank: Int
    let scale: Float
    let dropout: Float
    let layer: Int, target: Int
    unowned let pass: AdapterPass

    public init(base: any Projection, values: FloatBuffer, offsets: (a: Int, b: Int), config: LoRAConfig,
                layer: Int, target: LoRAConfig.Target, pass: AdapterPass) {
        precondition(base.inputs % 8 == 0, "LoRAConfig.problem(for:) admits inputs divisible by 8 only")
        self.base = base
        a = UnsafePointer(values.pointer + offsets.a)
        b = UnsafePointer(values.pointer + offsets.b)
        (aOffset, bOffset) = offsets
        rank = config.rank
        scale = config.scale
        dropout = Float(config.dropout)
        self.layer = layer
        self.target = LoRAConfig.Target.allCases.firstIndex(of: target)!
        self.pass = pass
    }

    private var dropsOut: Bool { pass.training && dropout > 0 }

    /// Scratch for one call: the dropout factors m [n, in] (keep / (1 − p), or 0), x̃ [n, in],
    /// u [n, r], du [n, r], t [n, in].
    private func scratch(rows n: Int) -> (m: UnsafeMutablePointer<Float>, xd: UnsafeMutablePointer<Float>, u: UnsafeMutablePointer<Float>,
                                          du: UnsafeMutablePointer<Float>, t: UnsafeMutablePointer<Float>) {
        pass.scratch.reserve(3 * n * inputs + 2 * n * rank)
        let p = pass.scratch.pointer, nx = n * inputs, nr = n * rank
        return (p, p + nx, p + 2 * nx, p + 2 * nx + nr, p + 2 * nx + 2 * nr)
    }

    /// The dropout factors of this adapter's input in this pass: m = keep / (1 − p) or 0
    /// (written to `factors` when given: the backward needs them, the forward does not).
    /// Each row's mask comes from its own stream (seeded by the adapter's key and the row's
    /// key), 16 bits per element: an element is dropped when its 16 bits fall below
    /// p · 65536, so p is rounded to a multiple of 1/65536. Returns x̃ = x ⊙ m in `xd`.
    private func dropout(_ x: UnsafePointer<Float>, factors m: UnsafeMutablePointer<Float>?, into xd: UnsafeMutablePointer<Float>, rows n: Int) {
        guard let keys = pass.rowKeys else { preconditionFailure("dropout needs the rows' keys: a training pass sets them") }
        let key = pass.maskKey(layer: layer, target: target)
        // p is rounded to a multiple of 1/65536; the kept elements are scaled by 1 / (1 − that p)
        let threshold = UInt32((Double(dropout) * 65536).rounded()), width = inputs
        let inv = Float(65536) / Float(65536 - threshold)
        parallelChunks(0..<n, chunk: 16) { _, lo, hi in
            for r in lo..<hi {
                var stream = CounterRandom.mix(key ^ keys[r])
                let mr = m.map { $0 + r * width }, xr = x + r * width, xdr = xd + r * width
                // four 16-bit draws per 64 bits (every width here is a multiple of 4)
                for j in stride(from: 0, to: width, by: 4) {
                    let bits = CounterRandom.next(&stream)
                    let draws = SIMD4<UInt32>(UInt32(truncatingIfNeeded: bits & 0xFFFF), UInt32(truncatingIfNeeded: (bits >> 16) & 0xFFFF),
                                              UInt32(truncatingIfNeeded: (bits >> 32) & 0xFFFF), UInt32(truncatingIfNeeded: bits >> 48))
                    let f = SIMD4<Float>(repeating: 0).replacing(with: inv, where: draws .>= SIMD4(repeating: threshold))
                    if let mr { UnsafeMutableRawPointer(mr + j).storeBytes(of: f, as: SIMD4<Float>.self) }
                    let xv = UnsafeRawPointer(xr + j).loadUnaligned(as: SIMD4<Float>.self)
                    UnsafeMutableRawPointer(xdr + j).storeBytes(of: xv * f, as: SIMD4<Float>.self)
                }
            }
        }
    }

    public func forward(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows n: Int) {
        base.forward(y, x, rows: n)
        guard n > 0 else { return }
        let s = scratch(rows: n)
        var input = x
        if dropsOut { dropout(x, factors: nil, into: s.xd, rows: n); input = UnsafePointer(s.xd) }
        // u = x̃ Aᵀ [n, r];  y += s · u Bᵀ
        BLASThreads.singleThreaded {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(rank), Int32(inputs),
                        1, input, Int32(inputs), a, Int32(inputs), 0, s.u, Int32(rank))
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(outputs), Int32(rank),
                        scale, s.u, Int32(rank), b, Int32(rank), 1, y, Int32(outputs))
        }
    }

    public func backward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows n: Int,
                         accumulate: Bool, gradients: UnsafeMutablePointer<Float>) {
        guard n > 0 else { base.backward(dx: dx, dy: dy, x: x, rows: n, accumulate: accumulate, gradients: gradients); return }
        let s = scratch(rows: n)
        var input = x
        if dropsOut { dropout(x, factors: s.m, into: s.xd, rows: n); input = UnsafePointer(s.xd) }
        // everything that reads x comes before the base writes dx (dx may be x's buffer)
        BLASThreads.singleThreaded {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(rank), Int32(inputs),
                        1, input, Int32(inputs), a, Int32(inputs), 0, s.u, Int32(rank))
            // dB += s · dyᵀ u [out, r];  du = s · dy B [n, r];  dA += duᵀ x̃ [r, in]
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(outputs), Int32(rank), Int32(n),
                        scale, dy, Int32(outputs), s.u, Int32(rank), 1, gradients + bOffset, Int32(rank))
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(rank), Int32(outputs),
                        scale, dy, Int32(outputs), b, Int32(rank), 0, s.du, Int32(rank))
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(rank), Int32(inputs), Int32(n),
                        1, s.du, Int32(rank), input, Int32(inputs), 1, gradients + aOffset, Int32(inputs))
        }
        base.backward(dx: dx, dy: dy, x: x, rows: n, accumulate: accumulate, gradients: gradients)
        // dx += (du A) ⊙ m: the adapter's path back to x
        if dropsOut {
            BLASThreads.singleThreaded {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(inputs), Int32(rank),
                            1, s.du, Int32(rank), a, Int32(inputs), 0, s.t, Int32(inputs))
            }
            let t = s.t, m = s.m
            parallelChunks(0..<(n * inputs / 8), chunk: 1 << 12) { _, lo, hi in
                for i in stride(from: lo * 8, to: hi * 8, by: 8) { store8(load8(dx + i) + load8(t + i) * load8(m + i), dx + i) }
            }
        } else {
            BLASThreads.singleThreaded {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(inputs), Int32(rank),
                            1, s.du, Int32(rank), a, Int32(inputs), 1, dx, Int32(inputs))
            }
        }
    }
}
