/// A Gemma 3 model whose projections and tied embedding stay in quantized blocks (Q4_K, Q5_0,
/// Q6_K, Q8_0 in our file) and are dequantized on the fly (QuantizedProjection); only the
/// norm vectors (56k floats) are fp32. The base of `--method qlora`: ≈0.25 GB resident
/// instead of 1.07 GB of fp32. The blocks are a GGUF's, read from its mapping, or made at
/// load from an fp32 model (an HF directory) by the q4_k_m quantizers (ExportType's rule).
public final class QuantizedGemma: GemmaBase {
    public let config: GemmaConfig
    /// The GGUF whose mapping holds the blocks (nil: the blocks were quantized at load).
    public let file: GGUFFile?
    /// Per GGUF tensor name: its type and its blocks (in `file`'s mapping or in `ownedBlocks`).
    private let blocks: [String: (type: GGMLType, pointer: UnsafeRawPointer)]
    /// Blocks quantized or re-encoded at load (freed with this object).
    private let ownedBlocks: [UnsafeMutableRawPointer]
    private let layout: ParameterLayout
    /// The norm vectors, packed; `normOffsets[model layout offset]` is where each one starts.
    private let norms: FloatBuffer
    private let normOffsets: [Int: Int]
    private let scratch = GrowableBuffer()

    /// Every tensor is checked against the config; the projections and the embedding must be
    /// quantized (an F32/F16/BF16 one has nothing to keep quantized: use --method lora).
    /// `decoding` (inference, not training): Q5_0 tensors re-encoded as Q8_0 blocks with the
    /// same values, which decode faster (Q5_0AsQ8_0.swift).
    public init(gguf: GGUFFile, decoding: Bool = false) throws {
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
        var blocks: [String: (type: GGMLType, pointer: UnsafeRawPointer)] = [:]
        var owned: [UnsafeMutableRawPointer] = []
        for t in layout.tensors {
            let info = gguf.tensor(named: t.ggufName)!
            if t.isNorm {
                let p = norms.pointer + offsets[t.offset]!
                gguf.dequantize(info, into: p)
                try ModelFileError.requireFinite(p, count: t.count, tensor: t.ggufName, file: gguf.path)
            } else if decoding && info.type == .q5_0 {
                let memory = Q5_0AsQ8_0.reencoded(gguf.rawData(info).baseAddress!, elements: t.count)
                owned.append(memory)
                blocks[t.ggufName] = (.q8_0, UnsafeRawPointer(memory))
            } else {
                blocks[t.ggufName] = (info.type, gguf.rawData(info).baseAddress!)
            }
        }
        (self.blocks, ownedBlocks) = (blocks, owned)
    }

    /// Quantize an fp32 model (an HF base) at load: every projection and the embedding in the
    /// type llama-quantize's Q4_K_M gives it (ExportType), the norms kept in fp32. The fp32
    /// model can be released afterwards. `decoding`: as for a GGUF.
    public init(quantizing model: GemmaModel, decoding: Bool = false) {
        config = model.config
        file = nil
        layout = model.layout
        var offsets: [Int: Int] = [:], next = 0
        for t in layout.tensors where t.isNorm {
            offsets[t.offset] = next
            next += t.count
        }
        normOffsets = offsets
        norms = FloatBuffer(count: next)
        var owned: [UnsafeMutableRawPointer] = []
        var blocks: [String: (type: GGMLType, pointer: UnsafeRawPointer)] = [:]
        for t in layout.tensors {
            if t.isNorm {
                (norms.pointer + offsets[t.offset]!).update(from: model.parameters.pointer + t.offset, count: t.count)
            } else {
                var type = ExportType.q4_k_m.tensorType(name: t.ggufName, shape: t.shape, layers: config.layers)
                var memory = UnsafeMutableRawPointer.allocate(byteCount: type.byteCount(elements: t.count)!, alignment: 64)
                Quantize.blocks(type, model.parameters.pointer + t.offset, count: t.count, into: memory)
                if decoding && type == .q5_0 {
                    // Q5_0's values (not fp32 quantized to Q8_0 directly, which would differ)
                    let q5 = memory
                    (memory, type) = (Q5_0AsQ8_0.reencoded(q5, elements: t.count), .q8_0)
                    q5.deallocate()
                }
                owned.append(memory)
                blocks[t.ggufName] = (type, UnsafeRawPointer(memory))
            }
        }
        ownedBlocks = owned
        self.blocks = blocks
    }

    /// Whether every projection and the embedding of `gguf` are in quantized blocks (what
    /// `init(gguf:)` keeps); an F32/F16/BF16 one would have to be quantized first.
    public static func keepsBlocks(of gguf: GGUFFile) -> Bool {
        guard let c = try? GemmaConfig(gguf: gguf) else { return false }
        return ParameterLayout(config: c).tensors.allSatisfy { t in
            t.isNorm || gguf.tensor(named: t.ggufName).map { ![.f32, .f16, .bf16].contains($0.type) } ?? false
        }
    }

    deinit { for memory in ownedBlocks { memory.deallocate() } }

    /// Each projection's and the embedding's block type, by GGUF tensor name.
    var tensorTypes: [String: GGMLType] { blocks.mapValues(\.type) }

    private func projection(_ tensor: ParameterTensor) -> QuantizedProjection {
        let (type, pointer) = blocks[tensor.ggufName]!
        return QuantizedProjection(type: type, blocks: pointer, inputs: tensor.shape[1], outputs: tensor.shape[0], scratch: scratch)
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
