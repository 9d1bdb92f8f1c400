/// The weights of a Gemma 3 model as the block and the drivers read them: every projection
/// behind the `Projection` interface, every norm vector with the place its gradient goes.
/// Built once per model and training method; the passes never look up raw offsets.
public struct GemmaWeights {
    /// A norm's stored weight g (= HF's 1 + w), [width], and where ∂g goes (nil: frozen).
    public struct Norm {
        public let g: UnsafePointer<Float>
        public let gradientOffset: Int?
    }

    /// One decoder layer.
    public struct Layer {
        public let inputNorm: Norm
        public let q: any Projection, k: any Projection, v: any Projection
        public let qNorm: Norm, kNorm: Norm
        public let o: any Projection
        public let postAttentionNorm: Norm
        public let preFeedforwardNorm: Norm
        public let gate: any Projection, up: any Projection, down: any Projection
        public let postFeedforwardNorm: Norm
    }

    /// What holds the base weights every pointer here reads (kept alive by this reference).
    public let owner: AnyObject
    public let config: GemmaConfig
    /// E [vocab, hidden], shared by the input embedding and the tied output head (whose
    /// backward adds dE when the embedding is trained).
    public let embedding: any TokenEmbedding
    /// Where the input embedding's gradient goes (nil: frozen).
    public let embeddingGradientOffset: Int?
    public let layers: [Layer]
    public let finalNorm: Norm

    /// What is being trained, when anything is (kept alive by this reference).
    public let trainable: TrainableParameters?
    /// The adapters' shared pass state (LoRA only).
    public let adapterPass: AdapterPass?

    /// The weights of `model`; `trainable` says which receive gradients and where (nil: none,
    /// as for generation) and, for LoRA, puts its adapters on the targeted projections.
    /// `seed` keys the adapters' dropout masks.
    public init(model: GemmaModel, trainable: TrainableParameters? = nil, seed: Int = 0) {
        let c = model.config
        func gradient(_ offset: Int) -> Int? { trainable?.gradientOffset(ofModelTensorAt: offset) }
        func dense(_ offset: Int, inputs: Int, outputs: Int) -> DenseProjection {
            DenseProjection(weight: UnsafePointer(model.pointer(offset)), inputs: inputs, outputs: outputs, gradientOffset: gradient(offset))
        }
        let layout = model.layout
        self.init(config: c, owner: model, trainable: trainable, seed: seed,
                  embedding: dense(layout.embedding, inputs: c.hidden, outputs: c.vocabSize),
                  embeddingGradientOffset: gradient(layout.embedding),
                  norm: { Norm(g: UnsafePointer(model.pointer($0)), gradientOffset: gradient($0)) },
                  projection: { l, target in
                      let (inputs, outputs) = target.shape(c)
                      return dense(layout.layers[l].offset(of: target), inputs: inputs, outputs: outputs)
                  })
    }

    /// The weights from any storage: `norm(offset in the model layout)` and
    /// `projection(layer, target)` give the base tensors; adapters of `trainable` wrap the
    /// targeted projections. `owner` is kept alive for the pointers into it.
    public init(config c: GemmaConfig, owner: AnyObject, trainable: TrainableParameters?, seed: Int,
                embedding: any TokenEmbedding, embeddingGradientOffset: Int?,
                norm: (Int) -> Norm, projection: (Int, LoRAConfig.Target) -> any Projection) {
        self.owner = owner
        self.trainable = trainable
        config = c
        let pass = trainable?.lora != nil ? AdapterPass(seed: seed) : nil
        adapterPass = pass
        self.embedding = embedding
        self.embeddingGradientOffset = embeddingGradientOffset
        let layout = ParameterLayout(config: c)
        func adapted(_ l: Int, _ target: LoRAConfig.Target) -> any Projection {
            let base = projection(l, target)
            guard let trainable, let lora = trainable.lora, let pass, let offsets = trainable.adapter(layer: l, target: target) else { return base }
            return LoRAProjection(base: base, values: trainable.values, offsets: offsets, config: lora, layer: l, target: target, pass: pass)
        }
        layers = layout.layers.enumerated().map { l, o in
            Layer(inputNorm: norm(o.inputNorm),
                  q: adapted(l, .q), k: adapted(l, .k), v: adapted(l, .v),
                  qNorm: norm(o.qNorm), kNorm: norm(o.kNorm),
                  o: adapted(l, .o),
                  postAttentionNorm: norm(o.postAttentionNorm), preFeedforwardNorm: norm(o.preFeedforwardNorm),
                  gate: adapted(l, .gate), up: adapted(l, .up), down: adapted(l, .down),
                  postFeedforwardNorm: norm(o.postFeedforwardNorm))
        }
        finalNorm = norm(layout.finalNorm)
    }
}
