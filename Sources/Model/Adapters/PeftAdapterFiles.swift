import Foundation

/// LoRA adapters in peft's on-disk format, so `PeftModel.from_pretrained(base, dir)` loads what
/// ft-dist trains and ft-dist loads what peft saves:
///   adapter_config.json        peft_type LORA, task_type CAUSAL_LM, r, lora_alpha, lora_dropout,
///                              target_modules, use_rslora, base_model_name_or_path, …
///   adapter_model.safetensors  base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight [r, in]
///                              and …lora_B.weight [out, r] (mlp projections under .mlp.)
public enum PeftAdapterFiles {
    public static let configFile = "adapter_config.json"
    public static let weightsFile = "adapter_model.safetensors"

    /// adapter_config.json as peft writes it for a LoRA on a causal LM.
    public static func configJSON(_ lora: LoRAConfig, baseModel: String) throws -> Data {
        let dict: [String: Any] = [
            "peft_type": "LORA", "task_type": "CAUSAL_LM",
            "r": lora.rank, "lora_alpha": lora.alpha, "lora_dropout": lora.dropout,
            "target_modules": lora.targets.map(\.rawValue), "use_rslora": lora.rsLoRA,
            "base_model_name_or_path": baseModel, "bias": "none", "fan_in_fan_out": false,
            "inference_mode": true, "init_lora_weights": true, "modules_to_save": NSNull(),
            "layers_to_transform": NSNull(), "layers_pattern": NSNull(), "rank_pattern": [String: Any](),
            "alpha_pattern": [String: Any](), "use_dora": false, "revision": NSNull(),
        ]
        return try JSONSerialization.data(withJSONObject: dict, options: [.prettyPrinted, .sortedKeys])
    }

    /// The LoRA of an adapter_config.json, and the base it names.
    public static func readConfig(directory: String) throws -> (lora: LoRAConfig, baseModel: String?) {
        let path = URL(fileURLWithPath: directory).appendingPathComponent(configFile).path
        let d = try JSONFields(contentsOf: path, missing: "an adapter checkpoint needs \(configFile)")
        guard try d.string("peft_type")?.uppercased() == "LORA" else {
            throw ModelFileError(file: path, "peft_type is \(d.values["peft_type"].map(JSONFields.describe) ?? "missing"), expected LORA")
        }
        guard let r = try d.int("r"), let alpha = try d.number("lora_alpha") else {
            throw ModelFileError(file: path, "needs an integer r and a number lora_alpha")
        }
        // what peft can express but these adapters cannot: refused by name, never half-applied
        func isSet(_ key: String) -> Bool {
            switch d.values[key] {
            case nil, is NSNull: return false
            case let dict as [String: Any]: return !dict.isEmpty
            case let list as [Any]: return !list.isEmpty
            case let flag as NSNumber where JSONFields.isBoolean(flag): return flag.boolValue
            default: return true
            }
        }
        for key in ["rank_pattern", "alpha_pattern", "layers_to_transform", "layers_pattern", "use_dora", "modules_to_save",
                    "lora_bias", "target_parameters", "trainable_token_indices", "exclude_modules", "layer_replication"] where isSet(key) {
            throw ModelFileError(file: path, "\(key) is set: ft-dist's adapters have one rank and alpha on every layer, without DoRA, biases or extra trained modules or parameters")
        }
        if let bias = try d.string("bias"), bias != "none" {
            throw ModelFileError(file: path, "bias is \(bias): ft-dist's adapters train no bias (\"none\")")
        }
        guard d.values["target_modules"] is [Any], let names = try d.strings("target_modules") else {
            throw ModelFileError(file: path, "target_modules must be a list of module names (a string is a regular expression in peft)")
        }
        var targets: [LoRAConfig.Target] = []
        for name in names {
            guard let t = LoRAConfig.Target(rawValue: name) else {
                throw ModelFileError(file: path, "target module \(name) is none of \(LoRAConfig.Target.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            targets.append(t)
        }
        let lora = LoRAConfig(rank: r, alpha: alpha, dropout: try d.number("lora_dropout") ?? 0, targets: targets,
                              rsLoRA: try d.bool("use_rslora") ?? false)
        return (lora, try d.string("base_model_name_or_path"))
    }

    /// Read adapter_model.safetensors into `adapters` (every tensor present, no other tensor).
    public static func readWeights(directory: String, into adapters: TrainableParameters) throws {
        let path = URL(fileURLWithPath: directory).appendingPathComponent(weightsFile).path
        let file = try Safetensors.File(path: path)
        let expected = Set(adapters.tensors.map(\.hfName))
        if let unknown = file.tensors.keys.sorted().first(where: { !expected.contains($0) }) {
            throw ModelFileError(file: path, "unexpected tensor \(unknown) for a LoRA of rank \(adapters.lora?.rank ?? 0) on \(adapters.lora?.targets.map(\.rawValue).joined(separator: ",") ?? "")")
        }
        for t in adapters.tensors {
            try file.read(t.hfName, shape: t.shape, into: adapters.values.pointer + t.offset)
            try ModelFileError.requireFinite(adapters.values.pointer + t.offset, count: t.count, tensor: t.hfName, file: path)
        }
    }

    /// adapter_model.safetensors of `adapters` into `directory` (the caller handles atomicity).
    public static func writeWeights(_ adapters: TrainableParameters, directory: String) throws {
        let entries = adapters.tensors.map {
            Safetensors.Entry(name: $0.hfName, shape: $0.shape, source: adapters.values.pointer + $0.offset)
        }
        try Safetensors.write(entries, metadata: ["format": "pt"], to: URL(fileURLWithPath: directory).appendingPathComponent(weightsFile).path)
    }
}
