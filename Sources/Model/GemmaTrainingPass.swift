import Foundation

/// Forward and backward of Gemma 3 over one LabelMaskedBatch, accumulating parameter
/// gradients into one flat buffer laid out like the parameters (ParameterLayout).
/// Activations are kept between the two passes (TrainingActivations); the tied head and the
/// cross-entropy run only at label rows.
public final class GemmaTrainingPass {
    public let model: GemmaModel
    /// Compute the longest common token prefix of the batch once (exact; see PackedLayout).
    public var sharePrefix: Bool
    let acts = TrainingActivations()
    private let scratch = GrowableBuffer()
    private var localRope: RoPETable
    private var globalRope: RoPETable
    private var packed = PackedLayout(batch: LabelMaskedBatch(tokens: [], labels: []), sharePrefix: false)
    private var probOffsets: [Int] = []   // per segment, within a layer's probs block

    public init(model: GemmaModel, sharePrefix: Bool = true) {
        self.model = model
        self.sharePrefix = sharePrefix
        localRope = RoPETable(base: model.config.ropeBaseLocal, headDim: model.config.headDim)
        globalRope = RoPETable(base: model.config.ropeBaseGlobal, headDim: model.config.headDim)
    }

    /// Rows of the last packed batch (after prefix sharing) — what the blocks computed.
    public var lastPackedRows: Int { packed.rows }
    /// Positions of the last batch that went through the tied head.
    public var lastHeadRows: Int { packed.headRows.count }

    /// Wall-clock split of the last run: blocks forward, head (forward and backward, with the
    /// cross-entropy), blocks backward (with the embedding gradient).
    public struct Timings: Codable, Equatable {
        public var forward = 0.0, head = 0.0, backward = 0.0
        public init() {}
        init(forward: Double, head: Double, backward: Double) {
            self.forward = forward
            self.head = head
            self.backward = backward
        }
    }
    public private(set) var lastTimings = Timings()

    /// Σ token cross-entropy over the batch's label positions (unscaled), and — when
    /// `gradients` is given — gradients of lossScale · Σ CE added into it.
    @discardableResult
    public func run(_ batch: LabelMaskedBatch, lossScale: Float, gradients: FloatBuffer?) -> (lossSum: Double, labelCount: Int) {
        let c = model.config
        packed = PackedLayout(batch: batch, sharePrefix: sharePrefix)
        let n = packed.rows
        guard n > 0 else { return (0, 0) }
        var probCount = 0
        probOffsets = packed.segments.map { s in
            defer { probCount += c.heads * s.rows.count * s.keyCount }
            return probCount
        }
        acts.prepare(config: c, rows: n, probCount: probCount)
        let maxPos = Int(packed.positions.max() ?? 0) + 1
        localRope.reserve(maxPos)
        globalRope.reserve(maxPos)
        prepareScratch(rows: n, headRows: packed.headRows.count)

        let t0 = Date()
        embeddingForward()
        for l in 0..<c.layers { layerForward(l) }
        let t1 = Date()
        let lossSum = head(gradients: gradients, lossScale: lossScale)
        let t2 = Date()
        if let g = gradients {
            for l in stride(from: c.layers - 1, through: 0, by: -1) { layerBackward(l, grads: g.pointer) }
            embeddingBackward(grads: g.pointer)
        }
        lastTimings = Timings(forward: t1.timeIntervalSince(t0), head: t2.timeIntervalSince(t1), backward: Date().timeIntervalSince(t2))
        return (lossSum, packed.targets.count)
    }

    // MARK: scratch

    private struct Scratch {
        var xn = 0, act = 0, dResid = 0, dX = 0, dHMid = 0, dDown = 0, dGate = 0, dUp = 0
        var dAttn = 0, dq = 0, dk = 0, dv = 0, keys = 0, values = 0, dKeys = 0, dValues = 0, dp = 0
        var keyPos = 0, headX = 0, headDX = 0, logits = 0
    }
    private var s = Scratch()

    private func prepareScratch(rows n: Int, headRows: Int) {
        let c = model.config
        let maxKeys = packed.segments.map(\.keyCount).max() ?? 0
        let maxQ = packed.segments.map(\.rows.count).max() ?? 0
        var next = 0
        func take(_ count: Int) -> Int { defer { next += (count + 15) / 16 * 16 }; return next }
        s.xn = take(n * c.hidden); s.act = take(n * c.intermediate)
        s.dResid = take(n * c.hidden); s.dX = take(n * c.hidden); s.dHMid = take(n * c.hidden); s.dDown = take(n * c.hidden)
        s.dGate = take(n * c.intermediate); s.dUp = take(n * c.intermediate)
        s.dAttn = take(n * c.qDim); s.dq = take(n * c.qDim); s.dk = take(n * c.kvDim); s.dv = take(n * c.kvDim)
        s.keys = take(maxKeys * c.kvDim); s.values = take(maxKeys * c.kvDim)
        s.dKeys = take(maxKeys * c.kvDim); s.dValues = take(maxKeys * c.kvDim)
        s.dp = take(maxQ * maxKeys); s.keyPos = take(maxKeys)
        s.headX = take(headRows * c.hidden); s.headDX = take(headRows * c.hidden)
        s.logits = take(min(headRows, headChunkRows) * c.vocabSize)
        scratch.reserve(next)
    }

    @inline(__always) private func sp(_ offset: Int) -> UnsafeMutablePointer<Float> { scratch.pointer + offset }
    @inline(__always) private func w(_ offset: Int) -> UnsafeMutablePointer<Float> { model.parameters.pointer + offset }

    // MARK: embedding

    /// resid[0][r] = E[token r] · √C
    private func embeddingForward() {
        let c = model.config, out = acts.resid(0), e = w(model.layout.embedding), scale = c.embeddingScale
        for (r, t) in packed.tokens.enumerated() {
            let src = e + Int(t) * c.hidden, dst = out + r * c.hidden
            for j in 0..<c.hidden { dst[j] = src[j] * scale }
        }
    }

    private func embeddingBackward(grads: UnsafeMutablePointer<Float>) {
        let c = model.config, d = sp(s.dResid), de = grads + model.layout.embedding, scale = c.embeddingScale
        for (r, t) in packed.tokens.enumerated() {
            let src = d + r * c.hidden, dst = de + Int(t) * c.hidden
            for j in 0..<c.hidden { dst[j] += src[j] * scale }
        }
    }

    // MARK: attention over segments

    /// Keys and values of a segment: the shared prefix rows followed by the segment's rows.
    /// Contiguous already when there is no prefix; otherwise gathered into scratch. Key
    /// positions are copied into scratch either way (no pointer escapes an array access).
    private func segmentKeys(_ seg: AttentionSegment, k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>)
        -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Int32>) {
        let kd = model.config.kvDim
        let posScratch = UnsafeMutableRawPointer(sp(s.keyPos)).assumingMemoryBound(to: Int32.self)
        let p = seg.prefixRows, t = seg.rows.count
        for i in 0..<p { posScratch[i] = packed.positions[i] }
        for i in 0..<t { posScratch[p + i] = packed.positions[seg.rows.lowerBound + i] }
        if p == 0 { return (k + seg.rows.lowerBound * kd, v + seg.rows.lowerBound * kd, posScratch) }
        let keys = sp(s.keys), values = sp(s.values)
        keys.update(from: k, count: p * kd)
        (keys + p * kd).update(from: k + seg.rows.lowerBound * kd, count: t * kd)
        values.update(from: v, count: p * kd)
        (values + p * kd).update(from: v + seg.rows.lowerBound * kd, count: t * kd)
        return (keys, values, posScratch)
    }

    private func attentionShape(_ l: Int) -> AttentionShape {
        let c = model.config
        return AttentionShape(heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, scale: c.attentionScale,
                              window: c.isGlobal(layer: l) ? 0 : c.slidingWindow)
    }

    // MARK: layer forward

    private func layerForward(_ l: Int) {
        let c = model.config, o = model.layout.layers[l], a = acts.layers[l], n = packed.rows
        let hIn = acts.resid(l), hOut = acts.resid(l + 1), xn = sp(s.xn)
        // attention block
        rmsNormForward(xn, acts.at(a.rstdIn), hIn, w(o.inputNorm), rows: n, width: c.hidden, eps: c.rmsEps)
        linearForward(acts.at(a.qRaw), xn, w(o.q), rows: n, inputs: c.hidden, outputs: c.qDim)
        linearForward(acts.at(a.kRaw), xn, w(o.k), rows: n, inputs: c.hidden, outputs: c.kvDim)
        linearForward(acts.at(a.v), xn, w(o.v), rows: n, inputs: c.hidden, outputs: c.kvDim)
        rmsNormForward(acts.at(a.qRot), acts.at(a.rstdQ), acts.at(a.qRaw), w(o.qNorm), rows: n * c.heads, width: c.headDim, eps: c.rmsEps)
        rmsNormForward(acts.at(a.kRot), acts.at(a.rstdK), acts.at(a.kRaw), w(o.kNorm), rows: n * c.kvHeads, width: c.headDim, eps: c.rmsEps)
        let rope = c.isGlobal(layer: l) ? globalRope : localRope
        packed.positions.withUnsafeBufferPointer { pos in
            rope.apply(acts.at(a.qRot), rows: n, heads: c.heads, positions: pos.baseAddress!)
            rope.apply(acts.at(a.kRot), rows: n, heads: c.kvHeads, positions: pos.baseAddress!)
        }
        let shape = attentionShape(l)
        for (i, seg) in packed.segments.enumerated() {
            let (keys, values, kPos) = segmentKeys(seg, k: acts.at(a.kRot), v: acts.at(a.v))
            packed.positions.withUnsafeBufferPointer { pos in
                attentionForward(out: acts.at(a.attn) + seg.rows.lowerBound * c.qDim, probs: acts.at(a.probs) + probOffsets[i],
                                 q: acts.at(a.qRot) + seg.rows.lowerBound * c.qDim, k: keys, v: values,
                                 qPos: pos.baseAddress! + seg.rows.lowerBound, kPos: kPos,
                                 tq: seg.rows.count, tk: seg.keyCount, shape: shape)
            }
        }
        linearForward(acts.at(a.oProj), acts.at(a.attn), w(o.o), rows: n, inputs: c.qDim, outputs: c.hidden)
        rmsNormForward(xn, acts.at(a.rstdO), acts.at(a.oProj), w(o.postAttentionNorm), rows: n, width: c.hidden, eps: c.rmsEps)
        let hMid = acts.at(a.hMid)
        for i in 0..<(n * c.hidden) { hMid[i] = hIn[i] + xn[i] }
        // MLP block
        rmsNormForward(xn, acts.at(a.rstdMid), hMid, w(o.preFeedforwardNorm), rows: n, width: c.hidden, eps: c.rmsEps)
        linearForward(acts.at(a.gate), xn, w(o.gate), rows: n, inputs: c.hidden, outputs: c.intermediate)
        linearForward(acts.at(a.up), xn, w(o.up), rows: n, inputs: c.hidden, outputs: c.intermediate)
        gatedGeluForward(sp(s.act), gate: acts.at(a.gate), up: acts.at(a.up), count: n * c.intermediate)
        linearForward(acts.at(a.down), sp(s.act), w(o.down), rows: n, inputs: c.intermediate, outputs: c.hidden)
        rmsNormForward(xn, acts.at(a.rstdDown), acts.at(a.down), w(o.postFeedforwardNorm), rows: n, width: c.hidden, eps: c.rmsEps)
        for i in 0..<(n * c.hidden) { hOut[i] = hMid[i] + xn[i] }
    }

    // MARK: head

    /// Final norm and tied head at the label rows; seeds dResid (zero elsewhere) for the backward.
    private func head(gradients: FloatBuffer?, lossScale: Float) -> Double {
        let c = model.config, hFinal = acts.resid(c.layers), rowsL = packed.headRows.count
        let x = sp(s.headX), hRaw = sp(s.headDX)
        // gather the final residual rows, normalise them (rstd kept in dX scratch)
        for (i, r) in packed.headRows.enumerated() { (hRaw + i * c.hidden).update(from: hFinal + r * c.hidden, count: c.hidden) }
        let rstd = sp(s.dX)
        rmsNormForward(x, rstd, hRaw, w(model.layout.finalNorm), rows: rowsL, width: c.hidden, eps: c.rmsEps)
        var grad: (dx: UnsafeMutablePointer<Float>, dE: UnsafeMutablePointer<Float>, lossScale: Float)?
        let dxNormed = sp(s.dDown)  // [L, C], free until the layer backward
        if let g = gradients { grad = (dxNormed, g.pointer + model.layout.embedding, lossScale) }
        let loss = tiedHeadCrossEntropy(x: x, embedding: w(model.layout.embedding), targets: packed.targets,
                                        logits: sp(s.logits), vocab: c.vocabSize, width: c.hidden, gradient: grad)
        if let g = gradients {
            // back through the final norm, scattered into the residual gradient
            let dResid = sp(s.dResid)
            dResid.initialize(repeating: 0, count: packed.rows * c.hidden)
            rmsNormBackward(dx: x, dg: g.pointer + model.layout.finalNorm, dy: dxNormed, x: hRaw, rstd: rstd,
                            g: w(model.layout.finalNorm), rows: rowsL, width: c.hidden, accumulate: false)
            for (i, r) in packed.headRows.enumerated() {
                let src = x + i * c.hidden, dst = dResid + r * c.hidden
                for j in 0..<c.hidden { dst[j] += src[j] }
            }
        }
        return loss
    }

    // MARK: layer backward

    /// On entry sp(dResid) holds ∂L/∂resid[l+1]; on exit ∂L/∂resid[l].
    private func layerBackward(_ l: Int, grads g: UnsafeMutablePointer<Float>) {
        let c = model.config, o = model.layout.layers[l], a = acts.layers[l], n = packed.rows
        let dh = sp(s.dResid), xn = sp(s.xn), dX = sp(s.dX), hMid = acts.at(a.hMid), hIn = acts.resid(l)
        // MLP block: hOut = hMid + rms(down)·g
        let dDown = sp(s.dDown)
        rmsNormBackward(dx: dDown, dg: g + o.postFeedforwardNorm, dy: dh, x: acts.at(a.down), rstd: acts.at(a.rstdDown),
                        g: w(o.postFeedforwardNorm), rows: n, width: c.hidden, accumulate: false)
        // recompute the MLP activation; linearBackward then overwrites it with its gradient
        let act = sp(s.act), dGate = sp(s.dGate)
        gatedGeluForward(act, gate: acts.at(a.gate), up: acts.at(a.up), count: n * c.intermediate)
        linearBackward(dx: act, dW: g + o.down, dout: dDown, x: act, w: w(o.down), rows: n, inputs: c.intermediate,
                       outputs: c.hidden)
        gatedGeluBackward(dgate: dGate, dup: sp(s.dUp), da: act, gate: acts.at(a.gate), up: acts.at(a.up), count: n * c.intermediate)
        rmsNormForward(xn, nil, hMid, w(o.preFeedforwardNorm), rows: n, width: c.hidden, eps: c.rmsEps)
        linearBackward(dx: dX, dW: g + o.gate, dout: dGate, x: xn, w: w(o.gate), rows: n, inputs: c.hidden, outputs: c.intermediate)
        linearBackward(dx: dX, dW: g + o.up, dout: sp(s.dUp), x: xn, w: w(o.up), rows: n, inputs: c.hidden,
                       outputs: c.intermediate, accumulateDx: true)
        let dHMid = sp(s.dHMid)
        dHMid.update(from: dh, count: n * c.hidden)
        rmsNormBackward(dx: dHMid, dg: g + o.preFeedforwardNorm, dy: dX, x: hMid, rstd: acts.at(a.rstdMid),
                        g: w(o.preFeedforwardNorm), rows: n, width: c.hidden, accumulate: true)
        // attention block: hMid = hIn + rms(oProj)·g
        let dO = sp(s.dDown)
        rmsNormBackward(dx: dO, dg: g + o.postAttentionNorm, dy: dHMid, x: acts.at(a.oProj), rstd: acts.at(a.rstdO),
                        g: w(o.postAttentionNorm), rows: n, width: c.hidden, accumulate: false)
        let dAttn = sp(s.dAttn)
        linearBackward(dx: dAttn, dW: g + o.o, dout: dO, x: acts.at(a.attn), w: w(o.o), rows: n, inputs: c.qDim, outputs: c.hidden)
        let dq = sp(s.dq), dk = sp(s.dk), dv = sp(s.dv)
        dk.initialize(repeating: 0, count: n * c.kvDim)
        dv.initialize(repeating: 0, count: n * c.kvDim)
        let shape = attentionShape(l)
        for (i, seg) in packed.segments.enumerated() {
            let (keys, values, _) = segmentKeys(seg, k: acts.at(a.kRot), v: acts.at(a.v))
            let gathered = seg.prefixRows > 0
            let dKeys = gathered ? sp(s.dKeys) : dk + seg.rows.lowerBound * c.kvDim
            let dValues = gathered ? sp(s.dValues) : dv + seg.rows.lowerBound * c.kvDim
            if gathered {
                dKeys.initialize(repeating: 0, count: seg.keyCount * c.kvDim)
                dValues.initialize(repeating: 0, count: seg.keyCount * c.kvDim)
            }
            attentionBackward(dq: dq + seg.rows.lowerBound * c.qDim, dk: dKeys, dv: dValues,
                              dout: dAttn + seg.rows.lowerBound * c.qDim, probs: acts.at(a.probs) + probOffsets[i],
                              q: acts.at(a.qRot) + seg.rows.lowerBound * c.qDim, k: keys, v: values,
                              tq: seg.rows.count, tk: seg.keyCount, shape: shape, scratch: sp(s.dp))
            if gathered {
                let p = seg.prefixRows * c.kvDim, t = seg.rows.count * c.kvDim, own = seg.rows.lowerBound * c.kvDim
                for j in 0..<p { dk[j] += dKeys[j]; dv[j] += dValues[j] }
                for j in 0..<t { dk[own + j] += dKeys[p + j]; dv[own + j] += dValues[p + j] }
            }
        }
        // RoPE backward (rotate by −θ), then the per-head norms
        let rope = c.isGlobal(layer: l) ? globalRope : localRope
        packed.positions.withUnsafeBufferPointer { pos in
            rope.apply(dq, rows: n, heads: c.heads, positions: pos.baseAddress!, inverse: true)
            rope.apply(dk, rows: n, heads: c.kvHeads, positions: pos.baseAddress!, inverse: true)
        }
        let dqRaw = sp(s.dAttn)  // dAttn is no longer needed
        rmsNormBackward(dx: dqRaw, dg: g + o.qNorm, dy: dq, x: acts.at(a.qRaw), rstd: acts.at(a.rstdQ), g: w(o.qNorm),
                        rows: n * c.heads, width: c.headDim, accumulate: false)
        // in place: each element's gradient depends only on its own dy once the row sum is known
        rmsNormBackward(dx: dk, dg: g + o.kNorm, dy: dk, x: acts.at(a.kRaw), rstd: acts.at(a.rstdK), g: w(o.kNorm),
                        rows: n * c.kvHeads, width: c.headDim, accumulate: false)
        // projections from xn = rms(hIn)·g
        rmsNormForward(xn, nil, hIn, w(o.inputNorm), rows: n, width: c.hidden, eps: c.rmsEps)
        linearBackward(dx: dX, dW: g + o.q, dout: dqRaw, x: xn, w: w(o.q), rows: n, inputs: c.hidden, outputs: c.qDim)
        linearBackward(dx: dX, dW: g + o.k, dout: dk, x: xn, w: w(o.k), rows: n, inputs: c.hidden, outputs: c.kvDim, accumulateDx: true)
        linearBackward(dx: dX, dW: g + o.v, dout: dv, x: xn, w: w(o.v), rows: n, inputs: c.hidden, outputs: c.kvDim, accumulateDx: true)
        // dResid(l) = dHMid + norm backward of dX
        dh.update(from: dHMid, count: n * c.hidden)
        rmsNormBackward(dx: dh, dg: g + o.inputNorm, dy: dX, x: hIn, rstd: acts.at(a.rstdIn), g: w(o.inputNorm),
                        rows: n, width: c.hidden, accumulate: true)
    }
}
