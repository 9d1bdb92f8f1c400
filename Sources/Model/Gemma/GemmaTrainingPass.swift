import Foundation

/// The training driver of the Gemma block: forward and backward of Gemma 3 over one
/// LabelMaskedBatch, packed without padding (PackedLayout), with the activations kept between
/// the two passes (TrainingActivations). Gradients of the trainable parameters are added into
/// their gradient buffer; the tied head and the cross-entropy run only at label rows.
public final class GemmaTrainingPass {
    public let weights: GemmaWeights
    /// What is trained and where its gradients go (nil: the pass computes losses only).
    public let trainable: TrainableParameters?
    /// Compute the longest common token prefix of the batch once (exact; see PackedLayout).
    public var sharePrefix: Bool
    private let acts = TrainingActivations()
    private let scratch = GrowableBuffer()
    private var localRope: RoPETable
    private var globalRope: RoPETable
    private var packed = PackedLayout(batch: LabelMaskedBatch(tokens: [], labels: []), sharePrefix: false)
    private var probOffsets: [Int] = []   // per segment, within a layer's probs block

    public convenience init(model: GemmaModel, trainable: TrainableParameters?, sharePrefix: Bool = true, seed: Int = 0) {
        self.init(weights: GemmaWeights(model: model, trainable: trainable, seed: seed), sharePrefix: sharePrefix)
    }

    /// A pass over `weights` (any base storage), training `weights.trainable`.
    public init(weights: GemmaWeights, sharePrefix: Bool = true) {
        self.weights = weights
        trainable = weights.trainable
        self.sharePrefix = sharePrefix
        localRope = RoPETable(base: weights.config.ropeBaseLocal, headDim: weights.config.headDim)
        globalRope = RoPETable(base: weights.config.ropeBaseGlobal, headDim: weights.config.headDim)
    }

    /// The optimizer step the next passes belong to (it keys the adapters' dropout masks).
    public var step: Int {
        get { weights.adapterPass?.step ?? 0 }
        set { weights.adapterPass?.step = newValue }
    }

    private var config: GemmaConfig { weights.config }

    /// Wall-clock split of a pass: blocks forward, head (forward and backward, with the
    /// cross-entropy), blocks backward (with the embedding gradient); and the part of forward
    /// and backward spent in the adapters' own work (0 without adapters).
    public struct Timings: Codable, Equatable {
        public var forward = 0.0, head = 0.0, backward = 0.0, adapters = 0.0
        public init(forward: Double = 0, head: Double = 0, backward: Double = 0, adapters: Double = 0) {
            self.forward = forward
            self.head = head
            self.backward = backward
            self.adapters = adapters
        }
        public static func + (a: Timings, b: Timings) -> Timings {
            Timings(forward: a.forward + b.forward, head: a.head + b.head, backward: a.backward + b.backward,
                    adapters: a.adapters + b.adapters)
        }
    }

    /// What one pass computed.
    public struct Result {
        /// Σ token cross-entropy over the batch's label positions (not scaled).
        public var lossSum: Double
        public var labelCount: Int
        /// Rows the blocks computed after prefix sharing.
        public var packedRows: Int
        public var timings: Timings
    }

    /// Σ cross-entropy over the batch's label positions, and with `backward` the gradients of
    /// lossScale · Σ cross-entropy added into the trainable parameters' gradient buffer.
    /// `progress` (the last pass of a step only) hears of every backward stage as it ends and
    /// takes the input-embedding rows. `headFactors` (every pass of a step, when the head is
    /// trained) takes the head's gradient as its factors instead of their product, and the
    /// input-embedding rows too.
    @discardableResult
    public func run(_ batch: LabelMaskedBatch, lossScale: Float, backward: Bool, progress: BackwardProgress? = nil,
                    headFactors: HeadGradientFactors? = nil) -> Result {
        let c = config
        packed = PackedLayout(batch: batch, sharePrefix: sharePrefix)
        let n = packed.rows
        guard n > 0 else { return Result(lossSum: 0, labelCount: 0, packedRows: 0, timings: Timings()) }
        precondition(!backward || trainable != nil, "a backward pass needs TrainableParameters to put the gradients in")
        let gradients = backward ? trainable?.gradients.pointer : nil
        var probCount = 0
        probOffsets = packed.segments.map { s in
            defer { probCount += c.heads * s.rows.count * s.keyCount }
            return probCount
        }
        acts.prepare(config: c, rows: n, probCount: probCount)
        let maxPos = Int(packed.positions.max() ?? 0) + 1
        localRope.reserve(maxPos)
        globalRope.reserve(maxPos)
        let headTrained = gradients != nil && trainsHead
        prepareScratch(rows: n, headRows: packed.headRows.count, headTrained: headTrained)

        // adapters drop out in training passes only; their masks are keyed by the rows' keys
        weights.adapterPass?.training = backward
        weights.adapterPass?.index += 1
        weights.adapterPass?.seconds = 0
        var t0 = Date(), t1 = t0, t2 = t0, lossSum = 0.0
        packed.rowKeys.withUnsafeBufferPointer { keys in
            weights.adapterPass?.rowKeys = keys.baseAddress
            defer {
                weights.adapterPass?.rowKeys = nil
                weights.adapterPass?.training = false
            }
            t0 = Date()
            embeddingForward()
            packed.positions.withUnsafeBufferPointer { pos in
                for l in 0..<c.layers { layerForward(l, positions: pos.baseAddress!) }
            }
            t1 = Date()
            lossSum = head(gradients: gradients, trained: headTrained, lossScale: lossScale, factors: headFactors)
            t2 = Date()
            if let g = gradients {
                progress?.stageFinished(0)
                packed.positions.withUnsafeBufferPointer { pos in
                    for l in stride(from: c.layers - 1, through: 0, by: -1) {
                        layerBackward(l, positions: pos.baseAddress!, gradients: g)
                        progress?.stageFinished(c.layers - l)
                    }
                }
                embeddingBackward(gradients: g, rowsTo: progress ?? headFactors)
            }
        }
        let timings = Timings(forward: t1.timeIntervalSince(t0), head: t2.timeIntervalSince(t1), backward: Date().timeIntervalSince(t2),
                              adapters: weights.adapterPass?.seconds ?? 0)
        return Result(lossSum: lossSum, labelCount: packed.targets.count, packedRows: n, timings: timings)
    }

    // MARK: scratch

    private struct Scratch {
        var xn = 0, act = 0, dResid = 0, dX = 0, dHMid = 0, dDown = 0, dGate = 0, dUp = 0
        var dAttn = 0, dq = 0, dk = 0, dv = 0, keys = 0, values = 0, dKeys = 0, dValues = 0, dp = 0
        var keyPos = 0, headX = 0, headDX = 0, logits = 0
    }
    private var s = Scratch()

    /// Whether the tied embedding (and so the head) is trained: a backward pass then needs the
    /// whole softmax of every label row (TiedHead.swift); otherwise the head is read in slices
    /// and a pass's label rows need no cap (FrozenTiedHead.swift).
    public var trainsHead: Bool { weights.embeddingGradientOffset != nil }

    /// Vocabulary rows per slice of a frozen head (FrozenTiedHead.swift); tests make it small.
    var headSliceRows = frozenHeadSliceRows

    /// The logits scratch: a trained head's chunks of rows over the whole vocabulary, or a
    /// frozen head's slices of the vocabulary for every row.
    private func prepareScratch(rows n: Int, headRows: Int, headTrained: Bool) {
        let c = config
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
        s.logits = take(headTrained ? min(headRows, headChunkRows) * c.vocabSize : headRows * min(headSliceRows, c.vocabSize))
        scratch.reserve(next)
    }

    @inline(__always) private func sp(_ offset: Int) -> UnsafeMutablePointer<Float> { scratch.pointer + offset }

    private func block(_ l: Int) -> GemmaBlock {
        GemmaBlock(layer: l, weights: weights, localRope: localRope, globalRope: globalRope)
    }

    // MARK: embedding

    /// resid[0][r] = E[token r] · √C
    private func embeddingForward() {
        let c = config, out = acts.resid(0)
        for (r, t) in packed.tokens.enumerated() { weights.embedding.embed(t, scale: c.embeddingScale, into: out + r * c.hidden) }
    }

    /// dE[token r] += ∂L/∂resid[0][r] · √C (nothing when the embedding is frozen); the rows go
    /// to `sink`'s buffer when there is one.
    private func embeddingBackward(gradients: UnsafeMutablePointer<Float>, rowsTo sink: EmbeddingRowSink?) {
        guard let offset = weights.embeddingGradientOffset else { return }
        let c = config, d = sp(s.dResid), de = gradients + offset, scale = c.embeddingScale
        for (r, t) in packed.tokens.enumerated() {
            let src = d + r * c.hidden, dst = sink?.embeddingRowGradient(token: t) ?? de + Int(t) * c.hidden
            for j in 0..<c.hidden { dst[j] += src[j] * scale }
        }
    }

    // MARK: attention over segments

    /// Keys and values of a segment: the shared prefix rows followed by the segment's rows.
    /// Contiguous already when there is no prefix; otherwise gathered into scratch. Key
    /// positions are copied into scratch either way (no pointer escapes an array access).
    private func segmentKeys(_ seg: AttentionSegment, k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>)
        -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Int32>) {
        let kd = config.kvDim
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

    // MARK: layers

    private func layerForward(_ l: Int, positions: UnsafePointer<Int32>) {
        let c = config, probs = acts.probs(l), b = block(l)
        b.forward(rows: packed.rows, positions: positions, input: acts.resid(l), output: acts.resid(l + 1),
                  activations: acts.layer(l, act: sp(s.act)), scratch: sp(s.xn)) { a in
            // each segment's queries see the shared prefix and their own rows
            for (i, seg) in packed.segments.enumerated() {
                let (keys, values, kPos) = segmentKeys(seg, k: a.k, v: a.v)
                attentionForward(out: a.attn + seg.rows.lowerBound * c.qDim, probs: probs + probOffsets[i],
                                 q: a.q + seg.rows.lowerBound * c.qDim, k: keys, v: values,
                                 qPos: positions + seg.rows.lowerBound, kPos: kPos,
                                 tq: seg.rows.count, tk: seg.keyCount, shape: b.attentionShape)
            }
        }
    }

    /// On entry sp(dResid) holds ∂L/∂resid[l+1]; on exit ∂L/∂resid[l].
    private func layerBackward(_ l: Int, positions: UnsafePointer<Int32>, gradients: UnsafeMutablePointer<Float>) {
        let c = config, n = packed.rows, probs = acts.probs(l), b = block(l)
        let a = acts.layer(l, act: sp(s.act))
        let scratch = BlockBackwardScratch(xn: sp(s.xn), dX: sp(s.dX), dHMid: sp(s.dHMid), dDown: sp(s.dDown),
                                           dGate: sp(s.dGate), dUp: sp(s.dUp), dAttn: sp(s.dAttn), dq: sp(s.dq),
                                           dk: sp(s.dk), dv: sp(s.dv))
        b.backward(rows: n, positions: positions, input: acts.resid(l), activations: a, gradient: sp(s.dResid),
                   scratch: scratch, gradients: gradients) { dAttn, dq, dk, dv in
            dk.initialize(repeating: 0, count: n * c.kvDim)
            dv.initialize(repeating: 0, count: n * c.kvDim)
            for (i, seg) in packed.segments.enumerated() {
                let (keys, values, _) = segmentKeys(seg, k: a.k, v: a.v)
                let gathered = seg.prefixRows > 0
                let dKeys = gathered ? sp(s.dKeys) : dk + seg.rows.lowerBound * c.kvDim
                let dValues = gathered ? sp(s.dValues) : dv + seg.rows.lowerBound * c.kvDim
                if gathered {
                    dKeys.initialize(repeating: 0, count: seg.keyCount * c.kvDim)
                    dValues.initialize(repeating: 0, count: seg.keyCount * c.kvDim)
                }
                attentionBackward(dq: dq + seg.rows.lowerBound * c.qDim, dk: dKeys, dv: dValues,
                                  dout: dAttn + seg.rows.lowerBound * c.qDim, probs: probs + probOffsets[i],
                                  q: a.q + seg.rows.lowerBound * c.qDim, k: keys, v: values,
                                  tq: seg.rows.count, tk: seg.keyCount, shape: b.attentionShape, scratch: sp(s.dp))
                if gathered {
                    // the prefix keys are shared: their gradients add up over the segments
                    let p = seg.prefixRows * c.kvDim, t = seg.rows.count * c.kvDim, own = seg.rows.lowerBound * c.kvDim
                    for j in 0..<p { dk[j] += dKeys[j]; dv[j] += dValues[j] }
                    for j in 0..<t { dk[own + j] += dKeys[p + j]; dv[own + j] += dValues[p + j] }
                }
            }
        }
    }

    // MARK: head

    /// Final norm and tied head at the label rows; seeds dResid (zero elsewhere) for the backward.
    /// A trained head (full fine-tuning's backward) needs the whole softmax for dE; otherwise
    /// the head is read in slices once (FrozenTiedHead.swift).
    private func head(gradients: UnsafeMutablePointer<Float>?, trained: Bool, lossScale: Float,
                      factors: HeadGradientFactors?) -> Double {
        let c = config, hFinal = acts.resid(c.layers), rowsL = packed.headRows.count
        let x = sp(s.headX), hRaw = sp(s.headDX)
        // gather the final residual rows, normalise them (rstd kept in dX scratch)
        for (i, r) in packed.headRows.enumerated() { (hRaw + i * c.hidden).update(from: hFinal + r * c.hidden, count: c.hidden) }
        let rstd = sp(s.dX)
        rmsNormForward(x, rstd, hRaw, weights.finalNorm.g, rows: rowsL, width: c.hidden, eps: c.rmsEps)
        let dxNormed = sp(s.dDown)  // [L, C], free until the layer backward
        let loss: Double
        if trained, let g = gradients {
            loss = tiedHeadCrossEntropy(x: x, head: weights.embedding, targets: packed.targets, logits: sp(s.logits),
                                        vocab: c.vocabSize, width: c.hidden,
                                        gradient: HeadGradient(dx: dxNormed, gradients: g, lossScale: lossScale, factors: factors))
        } else {
            loss = frozenTiedHeadCrossEntropy(x: x, head: weights.embedding, targets: packed.targets, logits: sp(s.logits),
                                              sliceRows: headSliceRows, vocab: c.vocabSize, width: c.hidden,
                                              dx: gradients == nil ? nil : dxNormed, lossScale: lossScale)
        }
        if let g = gradients {
            // back through the final norm, scattered into the residual gradient
            let dResid = sp(s.dResid)
            dResid.initialize(repeating: 0, count: packed.rows * c.hidden)
            rmsNormBackward(dx: x, dg: weights.finalNorm.gradientOffset.map { g + $0 }, dy: dxNormed, x: hRaw, rstd: rstd,
                            g: weights.finalNorm.g, rows: rowsL, width: c.hidden, accumulate: false)
            for (i, r) in packed.headRows.enumerated() {
                let src = x + i * c.hidden, dst = dResid + r * c.hidden
                for j in 0..<c.hidden { dst[j] += src[j] }
            }
        }
        return loss
    }
}
