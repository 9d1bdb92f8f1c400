/// What a training run updates, as one value: the trainable tensors (names, shapes, offsets)
/// in one flat fp32 buffer, the gradient buffer laid out the same way, and which tensors of the
/// model receive gradients at all. The gradient exchange, clipping, AdamW, checkpoints, resume
/// and the replica checksum work on this value, never on the model's own layout.
///
/// - full: every tensor of the model is trained, and `values` is the model's own parameter
///   buffer (not a copy), so an update changes the model in place.
/// - lora: low-rank adapters (A [r, in], B [out, r]) on the targeted projections of every
///   layer; the base — projections, norms, the tied embedding — is frozen and gets no
///   gradient. `values` holds only the adapters (peft's tensor names and shapes).
public final class TrainableParameters {
    public enum Method: String, Codable, Sendable, CaseIterable {
        /// Every weight of the model: embedding (tied head), projections, norms.
        case full
        /// Low-rank adapters over a frozen base (LoRA; QLoRA when the base stays quantized).
        case lora
    }

    public let method: Method
    /// The adapters' shape (lora only).
    public let lora: LoRAConfig?
    /// Name, shape and offset in `values` of each trainable tensor, in buffer order.
    public let tensors: [ParameterTensor]
    public let values: FloatBuffer
    /// ∂loss/∂values, same layout; the passes accumulate into it.
    public let gradients: FloatBuffer
    /// lora: offsets of (A, B) per layer and target.
    private let adapterOffsets: [[LoRAConfig.Target: (a: Int, b: Int)]]

    public var count: Int { values.count }

    /// Floats `method` trains on `model` (the size of the gradient buffer to provide).
    public static func count(_ method: Method, of model: GemmaModel) -> Int {
        precondition(method == .full, "the count of adapters depends on their config: use count(lora:config:)")
        return model.layout.count
    }

    /// Floats of the adapters `lora` puts on a model of shape `config`.
    public static func count(lora: LoRAConfig, config: GemmaConfig) -> Int {
        config.layers * lora.targets.reduce(0) { $0 + lora.rank * ($1.shape(config).inputs + $1.shape(config).outputs) }
    }

    /// Full fine-tuning of `model`. `gradients`: where the gradients go (the gradient exchange
    /// may hand out shared memory); a fresh buffer when nil.
    public init(_ method: Method, of model: GemmaModel, gradients: FloatBuffer? = nil) {
        precondition(method == .full, "adapters are made by init(lora:config:seed:gradients:)")
        self.method = .full
        lora = nil
        tensors = model.layout.tensors
        values = model.parameters
        adapterOffsets = []
        let count = model.layout.count
        precondition(gradients.map { $0.count == count } ?? true, "gradient buffer of \(gradients!.count) floats for \(count) parameters")
        self.gradients = gradients ?? FloatBuffer(count: count)
    }

    /// LoRA adapters on a model of shape `config`, initialised as peft does: A uniform in
    /// (−1/√in, 1/√in) (kaiming-uniform with a = √5), drawn from `seed`; B zero.
    public init(lora: LoRAConfig, config c: GemmaConfig, seed: Int, gradients: FloatBuffer? = nil) {
        method = .lora
        self.lora = lora
        var tensors: [ParameterTensor] = []
        var offsets: [[LoRAConfig.Target: (a: Int, b: Int)]] = []
        var next = 0
        for l in 0..<c.layers {
            var layer: [LoRAConfig.Target: (a: Int, b: Int)] = [:]
            for t in lora.targets {
                let (inputs, outputs) = t.shape(c)
                let hf = "base_model.model.model.layers.\(l).\(t.module).\(t.rawValue)", gg = "blk.\(l).\(t.ggufName).weight"
                let a = next, b = next + lora.rank * inputs
                tensors.append(ParameterTensor(hfName: hf + ".lora_A.weight", ggufName: gg + ".lora_a", shape: [lora.rank, inputs],
                                               offset: a, isNorm: false, layer: l))
                tensors.append(ParameterTensor(hfName: hf + ".lora_B.weight", ggufName: gg + ".lora_b", shape: [outputs, lora.rank],
                                               offset: b, isNorm: false, layer: l))
                layer[t] = (a, b)
                next = b + outputs * lora.rank
            }
            offsets.append(layer)
        }
        self.tensors = tensors
        adapterOffsets = offsets
        values = FloatBuffer(count: next)
        precondition(next == Self.count(lora: lora, config: c))
        precondition(gradients.map { $0.count == next } ?? true, "gradient buffer of \(gradients!.count) floats for \(next) parameters")
        self.gradients = gradients ?? FloatBuffer(count: next)
        for (i, t) in tensors.enumerated() where t.hfName.hasSuffix("lora_A.weight") {
            let bound = 1 / Float(t.shape[1]).squareRoot()
            let key = CounterRandom.key(UInt64(bitPattern: Int64(seed)), 0x10_4A, UInt64(i))
            for j in 0..<t.count { values[t.offset + j] = (2 * CounterRandom.uniform(key, j) - 1) * bound }
        }
    }

    /// Where the gradient of the model tensor stored at `offset` of the model's parameter
    /// buffer goes in `gradients`; nil when that tensor is frozen (its weight gradient is then
    /// never computed).
    public func gradientOffset(ofModelTensorAt offset: Int) -> Int? {
        switch method {
        case .full: return offset
        case .lora: return nil
        }
    }

    /// The offsets of A and B of the adapter on projection `target` of layer `layer` (nil:
    /// not adapted).
    public func adapter(layer: Int, target: LoRAConfig.Target) -> (a: Int, b: Int)? {
        method == .lora ? adapterOffsets[layer][target] : nil
    }

    /// The parts of `gradients` a backward pass finishes, in the order it finishes them:
    /// stage 0 is the head's (the tied embedding's dense gradient and the final norm; empty
    /// under adapters), then stage 1 + k is layer L−1−k's. Each stage's tensors, merged where
    /// they touch. The input-embedding rows, added after the last layer, belong to stage 0's
    /// embedding range too: whoever reduces stage 0 early must collect those rows separately
    /// (BackwardProgress.embeddingRowGradient).
    public var backwardStages: [[Range<Int>]] {
        let layers = (tensors.compactMap(\.layer).max() ?? -1) + 1
        var stages = [[Range<Int>]](repeating: [], count: layers + 1)
        for t in tensors {
            let stage = t.layer.map { layers - $0 } ?? 0
            let r = t.offset..<(t.offset + t.count)
            if let last = stages[stage].last, last.upperBound == r.lowerBound {
                stages[stage][stages[stage].count - 1] = last.lowerBound..<r.upperBound
            } else {
                stages[stage].append(r)
            }
        }
        return stages
    }

    /// The tied embedding [vocab, hidden] when it is trained (nil when it is frozen).
    public var embeddingTensor: ParameterTensor? {
        tensors.first { $0.layer == nil && $0.shape.count == 2 }
    }

    /// The ranges of `values` that take decoupled weight decay: every tensor but the norm
    /// weights (as the recipes we compare with do).
    public var decayRanges: [Range<Int>] {
        tensors.filter { !$0.isNorm }.map { $0.offset..<($0.offset + $0.count) }
    }
}
