import CBLAS

extension GemmaModel {
    /// W += s · B A for every adapter of `adapters` (LoRA over this model): the model then
    /// computes what the base with its adapters computes, without them (no dropout).
    public func merge(_ adapters: TrainableParameters) {
        guard let lora = adapters.lora else { return }
        for l in 0..<config.layers {
            for target in lora.targets {
                guard let (a, b) = adapters.adapter(layer: l, target: target) else { continue }
                let (inputs, outputs) = target.shape(config)
                // W [out, in] += s · B [out, r] · A [r, in]
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(outputs), Int32(inputs), Int32(lora.rank),
                            lora.scale, adapters.values.pointer + b, Int32(lora.rank), adapters.values.pointer + a, Int32(inputs),
                            1, pointer(layout.layers[l].offset(of: target)), Int32(inputs))
            }
        }
    }
}
