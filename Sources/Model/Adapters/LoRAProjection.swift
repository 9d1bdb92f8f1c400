import CBLAS
import Dispatch

/// A projection with a low-rank adapter, as peft computes it: y = base(x) + s · B (A x̃) with
/// x̃ = dropout(x) in training passes, x otherwise. A [r, in] and B [out, r] live in the
/// TrainableParameters' values; their gradients go to the same offsets of its gradients. The
/// base is any projection — a dense fp32 matrix or quantized blocks — and stays frozen.
///
/// Shapes for n rows: x [n, in], y [n, out], u = x̃ Aᵀ [n, r]. A training forward keeps u
/// (n·r floats) for its backward; x̃ (n·in) is made again there from x and the mask.
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

    /// u = x̃ Aᵀ [n, r] of the last training forward, kept for its backward (`savedFor`: the
    /// pass and row count it belongs to; a backward of anything else recomputes u).
    private let savedU = GrowableBuffer()
    private var savedFor: (pass: Int, rows: Int)?

    private var dropsOut: Bool { pass.training && dropout > 0 }

    /// Scratch for one call: x̃ [n, in] (or t = du A [n, in]) and du [n, r].
    private func scratch(rows n: Int) -> (xd: UnsafeMutablePointer<Float>, du: UnsafeMutablePointer<Float>) {
        pass.scratch.reserve(n * inputs + n * rank)
        return (pass.scratch.pointer, pass.scratch.pointer + n * inputs)
    }

    /// This pass's mask of this adapter's input.
    private var mask: DropoutMask {
        guard let keys = pass.rowKeys else { preconditionFailure("dropout needs the rows' keys: a training pass sets them") }
        return DropoutMask(key: pass.maskKey(layer: layer, target: target), rowKeys: keys, dropout: dropout)
    }

    /// Runs `body` over one contiguous piece of 0..<count per BLAS thread at once, each piece's
    /// products on one thread: for the masks and for the products whose result has r columns
    /// (u, du, dB), which OpenBLAS's own threading splits worse. The products with a wide result
    /// (s·u Bᵀ, dA, du A) run whole on OpenBLAS's threads, which measured faster (docs/DESIGN.md,
    /// "LoRA and QLoRA"). A piece
    /// may take another OpenBLAS kernel than the whole, so different thread counts agree to
    /// fp32 rounding only.
    private func pieces(_ count: Int, _ body: (_ lo: Int, _ hi: Int) -> Void) {
        let threads = BLASThreads.count
        BLASThreads.singleThreaded {
            parallelChunks(0..<count, chunk: max(1, (count + threads - 1) / threads), threads: threads) { _, lo, hi in body(lo, hi) }
        }
    }

    public func forward(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows n: Int) {
        base.forward(y, x, rows: n)
        guard n > 0 else { return }
        let start = DispatchTime.now()
        defer { pass.seconds += start.secondsUntilNow }
        let s = scratch(rows: n), drops = dropsOut, mask = drops ? mask : nil
        savedU.reserve(n * rank)
        let input = drops ? UnsafePointer(s.xd) : x, u = savedU.pointer
        // per piece of rows: x̃ = dropout(x);  u = x̃ Aᵀ [n, r]
        pieces(n) { lo, hi in
            mask?.apply(x, into: s.xd, width: inputs, rows: lo, hi, accumulate: false)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(hi - lo), Int32(rank), Int32(inputs),
                        1, input + lo * inputs, Int32(inputs), a, Int32(inputs), 0, u + lo * rank, Int32(rank))
        }
        // y += s · u Bᵀ [n, out], on OpenBLAS's threads
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(outputs), Int32(rank),
                    scale, u, Int32(rank), b, Int32(rank), 1, y, Int32(outputs))
        savedFor = pass.training ? (pass.index, n) : nil
    }

    public func backward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows n: Int,
                         accumulate: Bool, gradients: UnsafeMutablePointer<Float>) {
        guard n > 0 else { base.backward(dx: dx, dy: dy, x: x, rows: n, accumulate: accumulate, gradients: gradients); return }
        let s = scratch(rows: n), drops = dropsOut, mask = drops ? mask : nil
        let input = drops ? UnsafePointer(s.xd) : x
        let gA = gradients + aOffset, gB = gradients + bOffset
        let uSaved = pass.training && savedFor.map { $0 == (pass.index, n) } == true
        savedFor = nil
        if !uSaved { savedU.reserve(n * rank) }
        let u = savedU.pointer
        var start = DispatchTime.now()
        // everything that reads x comes before the base writes dx (dx may be x's buffer)
        // per piece of rows: x̃;  u = x̃ Aᵀ [n, r] (unless the forward kept it);  du = s · dy B [n, r]
        pieces(n) { lo, hi in
            mask?.apply(x, into: s.xd, width: inputs, rows: lo, hi, accumulate: false)
            if !uSaved {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(hi - lo), Int32(rank), Int32(inputs),
                            1, input + lo * inputs, Int32(inputs), a, Int32(inputs), 0, u + lo * rank, Int32(rank))
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(hi - lo), Int32(rank), Int32(outputs),
                        scale, dy + lo * outputs, Int32(outputs), b, Int32(rank), 0, s.du + lo * rank, Int32(rank))
        }
        // per piece of B's rows: dB[o] += s · dy[:, o]ᵀ u [out, r]
        pieces(outputs) { lo, hi in
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(hi - lo), Int32(rank), Int32(n),
                        scale, dy + lo, Int32(outputs), u, Int32(rank), 1, gB + lo * rank, Int32(rank))
        }
        // dA += duᵀ x̃ [r, in], on OpenBLAS's threads
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(rank), Int32(inputs), Int32(n),
                    1, s.du, Int32(rank), input, Int32(inputs), 1, gA, Int32(inputs))
        pass.seconds += start.secondsUntilNow
        base.backward(dx: dx, dy: dy, x: x, rows: n, accumulate: accumulate, gradients: gradients)
        start = DispatchTime.now()
        defer { pass.seconds += start.secondsUntilNow }
        // dx += (du A) ⊙ m [n, in], the adapter's path back to x: the product on OpenBLAS's
        // threads, into dx directly without dropout; with it into x̃'s scratch, then added with
        // the mask per piece of rows
        guard let mask else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(inputs), Int32(rank),
                        1, s.du, Int32(rank), a, Int32(inputs), 1, dx, Int32(inputs))
            return
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(inputs), Int32(rank),
                    1, s.du, Int32(rank), a, Int32(inputs), 0, s.xd, Int32(inputs))
        pieces(n) { lo, hi in mask.apply(s.xd, into: dx, width: inputs, rows: lo, hi, accumulate: true) }
    }
}

extension DispatchTime {
    /// Seconds from this time to now.
    var secondsUntilNow: Double { Double(DispatchTime.now().uptimeNanoseconds - uptimeNanoseconds) / 1e9 }
}
