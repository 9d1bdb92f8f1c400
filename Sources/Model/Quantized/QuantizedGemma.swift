/// A Gemma 3 model whose projections and tied embedding stay in the GGUF's quantized blocks
/// (Q4_K, Q5_0, Q6_K, Q8_0 in our file), read from the file mapping and dequantized on the
/// fly (QuantizedProjection); only the norm vectors (56k floats) are dequantized at load. The
/// base of `--method qlora`: ≈0.25 GB resident instead of 1.07 GB of fp32.
public final class QuantizedGemma: GemmaBase {
    public let config: GemmaConfig
    public let file: GGUFFile
    private let layout: ParameterLayout
    /// The norm vectors, packed; `normOffsets[model layout offset]` is where each one starts.
    private let norms: FloatBuffer
    private let normOffsets: [Int: Int]
    private let scratch = GrowableBuffer()

    /// Every tensor is checked against the config; the projections and the embedding must be
    /// quantized (an F32/F16/BF16 one has nothing to keep quantized: use --method lora).
    public init(gguf: GGUFFile) throws {
        let c = try GemmaConfig(gguf: gguf)
        config = c
        file = gguf
        layout = ParameterLayout(config: c)
        var offsets: [Int: Int] = [:], next = 0
        for t in layout.tensors {
            let info = try gguf.requireTensor(t.ggufName, shape: t.shape)
            if t.isNorm {
                offsets[t.offset] = next
                next += t.count
            } else if [.f32, .f16, .bf16].contains(info.type) {
                throw ModelFileError(file: gguf.path, "tensor \(t.ggufName) is \(info.type.name), not quantized: --method qlora keeps a quantized base (Q8_0, Q5_0, Q4_K, Q6_K); use --method lora for this file")
            }
        }
        let known = Set(layout.tensors.map(\.ggufName))
        if let extra = gguf.tensors.first(where: { !known.contains($0.name) }) {
            throw ModelFileError(file: gguf.path, "unexpected tensor \(extra.name) for a gemma3 model")
        }
        normOffsets = offsets
        norms = FloatBuffer(count: next)
        for t in layout.tensors where t.isNorm {
            let p = norms.pointer + offsets[t.offset]!
            gguf.dequantize(gguf.tensor(named: t.ggufName)!, into: p)
            for i in 0..<t.count where !p[i].isFinite {
                throw ModelFileError(file: gguf.path, "tensor \(t.ggufName) holds a non-finite value")
            }
        }
    }

    private func projection(_ tensor: ParameterTensor) -> QuantizedProjection {
        let info = file.tensor(named: tensor.ggufName)!
        return QuantizedProjection(type: info.type, blocks: file.rawData(info).baseAddress!, inputs: tensor.shape[1],
                                   outputs: tensor.shape[0], scratch: scratch)
    }

    public func weights(trainable: TrainableParameters?, seed: Int) -> GemmaWeights {
        precondition(trainable.map { $0.method == .lora } ?? true, "a quantized base is frozen: only adapters train on it")
        let byOffset = Dictionary(uniqueKeysWithValues: layout.tensors.map { ($0.offset, $0) })
        let c = config, layers = layout.layers
        return GemmaWeights(config: c, owner: self, trainable: trainable, seed: seed,
                            embedding: projection(byOffset[layout.embedding]!), embeddingGradientOffset: nil,
                            norm: { GemmaWeights.Norm(g: UnsafePointer(self.norms.pointer + self.normOffsets[$0]!), gradientOffset: nil) },
                            projection: { l, target in
                                self.projection(byOffset[layers[l].offset(of: target)]!)
                            })
    }
}
