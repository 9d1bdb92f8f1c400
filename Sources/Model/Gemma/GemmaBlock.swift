/// One Gemma 3 decoder layer, written once for both drivers: generation (GemmaInference: KV
/// caches, a prompt or one new token per sequence) and training (GemmaTrainingPass: packed
/// rows, saved activations). What differs between them — which keys a query sees — is the
/// `attend` closure the driver passes in; everything else is here.
///
///   x = rms(h)·g_in;  q, k, v = x·Wqᵀ, x·Wkᵀ, x·Wvᵀ;  q, k = RoPE(rms_head(q)·g_q), RoPE(rms_head(k)·g_k)
///   h = h + rms(o_proj(attention(q, k, v)))·g_post_attn
///   x = rms(h)·g_pre_ffw;  h = h + rms(W_down(gelu_tanh(W_gate x) ⊙ W_up x))·g_post_ffw
struct GemmaBlock {
    let config: GemmaConfig
    let weights: GemmaWeights.Layer
    let rope: RoPETable
    let attentionShape: AttentionShape
    /// Generation: the elementwise work between the products runs on the spinning workers that
    /// the products use (hotParallelChunks), where Dispatch's threads would find them still
    /// spinning on the other core.
    let onSpinningWorkers: Bool

    init(layer l: Int, weights: GemmaWeights, localRope: RoPETable, globalRope: RoPETable, onSpinningWorkers: Bool = false) {
        self.onSpinningWorkers = onSpinningWorkers
        let c = weights.config
        config = c
        self.weights = weights.layers[l]
        rope = c.isGlobal(layer: l) ? globalRope : localRope
        attentionShape = AttentionShape(heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, scale: c.attentionScale,
                                        window: c.isGlobal(layer: l) ? 0 : c.slidingWindow)
    }

    /// hOut [n, C] = the layer applied to hIn [n, C] (hOut may be hIn). Row r sits at position
    /// positions[r] of its sequence. `xn` [n, C] is scratch. `attend(a)` must fill a.attn from
    /// a.q, a.k and a.v.
    ///
    /// `keep` (generation's last layer): only these rows (ascending) are wanted from the layer.
    /// Every row's key and value are still computed — the caches need them — but the query, the
    /// attention, o and the MLP run on the kept rows alone, as llama.cpp does for rows whose
    /// logits nobody reads: q [m, Q] and a.attn [m, Q] then hold the kept rows compactly, and
    /// so does hOut [m, C]. The kept rows' values are those of the whole layer up to the
    /// products' summation order.
    func forward(rows n: Int, positions: UnsafePointer<Int32>, input hIn: UnsafePointer<Float>,
                 output hOut: UnsafeMutablePointer<Float>, activations a: BlockActivations,
                 scratch xn: UnsafeMutablePointer<Float>, keep: [Int]? = nil, attend: (BlockActivations) -> Void) {
        let c = config, w = weights
        // attention
        rmsNormForward(xn, a.rstdIn, hIn, w.inputNorm.g, rows: n, width: c.hidden, eps: c.rmsEps)
        let m: Int
        var keptPositions: [Int32] = []
        if let keep {
            precondition(a.rstdQ == nil, "only generation drops rows")
            m = keep.count
            projectSharingInput(xn, [(w.k, a.kRaw), (w.v, a.v)], rows: n)
            // the kept rows of xn, gathered into oProj (free until o's output)
            for (j, r) in keep.enumerated() { (a.oProj + j * c.hidden).update(from: xn + r * c.hidden, count: c.hidden) }
            w.q.forward(a.qRaw, a.oProj, rows: m)
            keptPositions = keep.map { positions[$0] }
        } else {
            m = n
            projectSharingInput(xn, [(w.q, a.qRaw), (w.k, a.kRaw), (w.v, a.v)], rows: n)
        }
        rmsNormForward(a.q, a.rstdQ, a.qRaw, w.qNorm.g, rows: m * c.heads, width: c.headDim, eps: c.rmsEps)
        rmsNormForward(a.k, a.rstdK, a.kRaw, w.kNorm.g, rows: n * c.kvHeads, width: c.headDim, eps: c.rmsEps)
        if keep == nil {
            rope.apply(a.q, rows: n, heads: c.heads, positions: positions)
        } else if m > 0 {
            keptPositions.withUnsafeBufferPointer { rope.apply(a.q, rows: m, heads: c.heads, positions: $0.baseAddress!) }
        }
        rope.apply(a.k, rows: n, heads: c.kvHeads, positions: positions)
        attend(a)
        guard m > 0 else { return }
        w.o.forward(a.oProj, a.attn, rows: m)
        rmsNormForward(xn, a.rstdO, a.oProj, w.postAttentionNorm.g, rows: m, width: c.hidden, eps: c.rmsEps)
        let hMid = a.hMid
        if let keep {
            // ascending rows: row j is written after row keep[j] ≥ j is read, so hMid may be hIn
            for (j, r) in keep.enumerated() {
                for i in 0..<c.hidden { hMid[j * c.hidden + i] = hIn[r * c.hidden + i] + xn[j * c.hidden + i] }
            }
        } else {
            for i in 0..<(n * c.hidden) { hMid[i] = hIn[i] + xn[i] }
        }
        // MLP
        rmsNormForward(xn, a.rstdMid, hMid, w.preFeedforwardNorm.g, rows: m, width: c.hidden, eps: c.rmsEps)
        projectSharingInput(xn, [(w.gate, a.gate), (w.up, a.up)], rows: m)
        gatedGeluForward(a.act, gate: a.gate, up: a.up, count: m * c.intermediate, onSpinningWorkers: onSpinningWorkers)
        w.down.forward(a.down, a.act, rows: m)
        rmsNormForward(xn, a.rstdDown, a.down, w.postFeedforwardNorm.g, rows: m, width: c.hidden, eps: c.rmsEps)
        for i in 0..<(m * c.hidden) { hOut[i] = hMid[i] + xn[i] }
    }

    /// Backward of `forward` from the activations it saved. On entry dh [n, C] holds ∂L/∂hOut;
    /// on exit ∂L/∂hIn. Trainable weights add their gradients into `gradients` (frozen ones
    /// compute none). `attendBackward(dAttn, dq, dk, dv)` must write dq [n, Q], dk and dv
    /// [n, K] from dAttn [n, Q] (the driver's part, the transpose of `attend`).
    func backward(rows n: Int, positions: UnsafePointer<Int32>, input hIn: UnsafePointer<Float>,
                  activations a: BlockActivations, gradient dh: UnsafeMutablePointer<Float>,
                  scratch s: BlockBackwardScratch, gradients g: UnsafeMutablePointer<Float>,
                  attendBackward: (_ dAttn: UnsafePointer<Float>, _ dq: UnsafeMutablePointer<Float>,
                                   _ dk: UnsafeMutablePointer<Float>, _ dv: UnsafeMutablePointer<Float>) -> Void) {
        precondition(a.rstdIn != nil && a.rstdQ != nil && a.rstdK != nil && a.rstdO != nil && a.rstdMid != nil && a.rstdDown != nil,
                     "the backward pass needs the activations a training forward saved (generation keeps none)")
        let c = config, w = weights
        func dg(_ norm: GemmaWeights.Norm) -> UnsafeMutablePointer<Float>? { norm.gradientOffset.map { g + $0 } }
        // MLP: hOut = hMid + rms(down)·g
        rmsNormBackward(dx: s.dDown, dg: dg(w.postFeedforwardNorm), dy: dh, x: a.down, rstd: a.rstdDown!,
                        g: w.postFeedforwardNorm.g, rows: n, width: c.hidden, accumulate: false)
        // recompute the MLP activation; the down projection's backward then overwrites it with its gradient
        gatedGeluForward(a.act, gate: a.gate, up: a.up, count: n * c.intermediate)
        w.down.backward(dx: a.act, dy: s.dDown, x: a.act, rows: n, accumulate: false, gradients: g)
        gatedGeluBackward(dgate: s.dGate, dup: s.dUp, da: a.act, gate: a.gate, up: a.up, count: n * c.intermediate)
        rmsNormForward(s.xn, nil, a.hMid, w.preFeedforwardNorm.g, rows: n, width: c.hidden, eps: c.rmsEps)
        w.gate.backward(dx: s.dX, dy: s.dGate, x: s.xn, rows: n, accumulate: false, gradients: g)
        w.up.backward(dx: s.dX, dy: s.dUp, x: s.xn, rows: n, accumulate: true, gradients: g)
        s.dHMid.update(from: dh, count: n * c.hidden)
        rmsNormBackward(dx: s.dHMid, dg: dg(w.preFeedforwardNorm), dy: s.dX, x: a.hMid, rstd: a.rstdMid!,
                        g: w.preFeedforwardNorm.g, rows: n, width: c.hidden, accumulate: true)
        // attention: hMid = hIn + rms(oProj)·g
        let dO = s.dDown
        rmsNormBackward(dx: dO, dg: dg(w.postAttentionNorm), dy: s.dHMid, x: a.oProj, rstd: a.rstdO!,
                        g: w.postAttentionNorm.g, rows: n, width: c.hidden, accumulate: false)
        w.o.backward(dx: s.dAttn, dy: dO, x: a.attn, rows: n, accumulate: false, gradients: g)
        attendBackward(s.dAttn, s.dq, s.dk, s.dv)
        // RoPE backward (rotate by −θ), then the per-head norms
        rope.apply(s.dq, rows: n, heads: c.heads, positions: positions, inverse: true)
        rope.apply(s.dk, rows: n, heads: c.kvHeads, positions: positions, inverse: true)
        let dqRaw = s.dAttn  // dAttn is no longer needed
        rmsNormBackward(dx: dqRaw, dg: dg(w.qNorm), dy: s.dq, x: a.qRaw, rstd: a.rstdQ!, g: w.qNorm.g,
                        rows: n * c.heads, width: c.headDim, accumulate: false)
        // in place: each element's gradient depends only on its own dy once the row sum is known
        rmsNormBackward(dx: s.dk, dg: dg(w.kNorm), dy: s.dk, x: a.kRaw, rstd: a.rstdK!, g: w.kNorm.g,
                        rows: n * c.kvHeads, width: c.headDim, accumulate: false)
        // projections from xn = rms(hIn)·g
        rmsNormForward(s.xn, nil, hIn, w.inputNorm.g, rows: n, width: c.hidden, eps: c.rmsEps)
        w.q.backward(dx: s.dX, dy: dqRaw, x: s.xn, rows: n, accumulate: false, gradients: g)
        w.k.backward(dx: s.dX, dy: s.dk, x: s.xn, rows: n, accumulate: true, gradients: g)
        w.v.backward(dx: s.dX, dy: s.dv, x: s.xn, rows: n, accumulate: true, gradients: g)
        // ∂L/∂hIn = dHMid + the input norm's backward of dX
        dh.update(from: s.dHMid, count: n * c.hidden)
        rmsNormBackward(dx: dh, dg: dg(w.inputNorm), dy: s.dX, x: hIn, rstd: a.rstdIn!, g: w.inputNorm.g,
                        rows: n, width: c.hidden, accumulate: true)
    }
}
