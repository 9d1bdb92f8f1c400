/// LoRA adapters as llama.cpp loads them with `--lora` (convert_lora_to_gguf.py's output,
/// read by src/llama-adapter.cpp): general.type "adapter", adapter.type "lora",
/// adapter.lora.alpha, and per adapted projection `blk.N.<name>.weight.lora_a` [r, in] and
/// `.lora_b` [out, r] (row-major, as peft stores lora_A and lora_B).
///
/// llama.cpp scales an adapter by alpha / r (r read from lora_b). peft's rsLoRA scales by
/// alpha / √r, so the alpha written is then alpha·√r: the same scale in both.
public enum LoRAAdapterGGUF {
    /// The types an adapter can be written in; rows that are not whole blocks of the chosen
    /// type (lora_b has r columns) fall back to F16, as convert_lora_to_gguf.py does.
    public static let types: [ExportType] = [.f32, .f16, .bf16, .q8_0]

    /// The alpha that gives llama.cpp the scale `lora` trained with.
    public static func llamaAlpha(_ lora: LoRAConfig) -> Float {
        lora.rsLoRA ? Float(lora.alpha * Double(lora.rank).squareRoot()) : Float(lora.alpha)
    }

    public static func writer(adapters: TrainableParameters, name: String, type: ExportType, sourcePath: String) -> GGUFWriter {
        precondition(types.contains(type), "adapters are written as f32, f16, bf16 or q8_0")
        let lora = adapters.lora!
        var w = GGUFWriter()
        w.set("general.architecture", .string("gemma3"))
        w.set("general.type", .string("adapter"))
        w.set("general.name", .string(name))
        w.set("adapter.type", .string("lora"))
        w.set("adapter.lora.alpha", .float32(llamaAlpha(lora)))
        for t in adapters.tensors {
            var ggml = type.tensorType(name: t.ggufName, shape: t.shape, layers: 0)
            if t.shape[1] % ggml.blockElements != 0 { ggml = .f16 }
            let source = UnsafePointer(adapters.values.pointer + t.offset), chosen = ggml
            w.addTensor(t.ggufName, shape: t.shape, type: chosen) {
                try ModelFileError.requireFinite(source, count: t.count, tensor: t.hfName, file: sourcePath)
                return try withExtendedLifetime(adapters) { try Quantize.checkedBytes(chosen, source, count: t.count, tensor: t.hfName, file: sourcePath) }
            }
        }
        return w
    }
}
