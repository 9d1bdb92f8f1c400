import Foundation

/// A Gemma 3 model in fp32: config, layout and the one parameter buffer.
public final class GemmaModel {
    public let config: GemmaConfig
    public let layout: ParameterLayout
    public let parameters: FloatBuffer

    public init(config: GemmaConfig) {
        self.config = config
        layout = ParameterLayout(config: config)
        parameters = FloatBuffer(count: layout.count)
    }

    /// Load and dequantize every tensor of a GGUF file; shapes are checked against the config.
    public convenience init(gguf: GGUFFile) throws {
        let config = try GemmaConfig(gguf: gguf)
        // Every tensor is checked before the parameter buffer is allocated.
        let infos = try ParameterLayout(config: config).tensors.map { try gguf.requireTensor($0.ggufName, shape: $0.shape) }
        self.init(config: config)
        for (t, info) in zip(layout.tensors, infos) {
            gguf.dequantize(info, into: parameters.pointer + t.offset)
        }
        let known = Set(layout.tensors.map(\.ggufName))
        if let extra = gguf.tensors.first(where: { !known.contains($0.name) }) {
            throw ModelFileError(file: gguf.path, "unexpected tensor \(extra.name) for a gemma3 model")
        }
        for t in layout.tensors {
            try ModelFileError.requireFinite(parameters.pointer + t.offset, count: t.count, tensor: t.ggufName, file: gguf.path)
        }
    }

    public func pointer(_ offset: Int) -> UnsafeMutablePointer<Float> { parameters.pointer + offset }
}
