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

    /// The model whose buffer every pointer here reads (kept alive by this reference).
    public let model: GemmaModel
    public let config: GemmaConfig
    /// E [vocab, hidden], shared by the input embedding and the tied output head.
    public let embedding: UnsafePointer<Float>
    public let embeddingGradientOffset: Int?
    public let layers: [Layer]
    public let finalNorm: Norm

    /// The weights of `model`; `trainable` says which receive gradients and where (nil: none,
    /// as for generation).
    public init(model: GemmaModel, trainable: TrainableParameters? = nil) {
        let c = model.config
        func gradient(_ offset: Int) -> Int? { trainable?.gradientOffset(ofModelTensorAt: offset) }
        func norm(_ offset: Int) -> Norm { Norm(g: UnsafePointer(model.pointer(offset)), gradientOffset: gradient(offset)) }
        func dense(_ offset: Int, inputs: Int, outputs: Int) -> any Projection {
            DenseProjection(weight: UnsafePointer(model.pointer(offset)), inputs: inputs, outputs: outputs, gradientOffset: gradient(offset))
        }
        self.model = model
        config = c
        embedding = UnsafePointer(model.pointer(model.layout.embedding))
        embeddingGradientOffset = gradient(model.layout.embedding)
        layers = model.layout.layers.map { o in
            Layer(inputNorm: norm(o.inputNorm),
                  q: dense(o.q, inputs: c.hidden, outputs: c.qDim),
                  k: dense(o.k, inputs: c.hidden, outputs: c.kvDim),
                  v: dense(o.v, inputs: c.hidden, outputs: c.kvDim),
                  qNorm: norm(o.qNorm), kNorm: norm(o.kNorm),
                  o: dense(o.o, inputs: c.qDim, outputs: c.hidden),
                  postAttentionNorm: norm(o.postAttentionNorm), preFeedforwardNorm: norm(o.preFeedforwardNorm),
                  gate: dense(o.gate, inputs: c.hidden, outputs: c.intermediate),
                  up: dense(o.up, inputs: c.hidden, outputs: c.intermediate),
                  down: dense(o.down, inputs: c.intermediate, outputs: c.hidden),
                  postFeedforwardNorm: norm(o.postFeedforwardNorm))
        }
        finalNorm = norm(model.layout.finalNorm)
    }
}
