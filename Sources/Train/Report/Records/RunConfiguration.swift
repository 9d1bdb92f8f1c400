import Foundation

/// What a report needs of run_config.json (and of each run_config.resume-N.json). Every field
/// is optional: the file is read loosely, so an older or newer layout still renders.
public struct RunConfiguration: Equatable {
    public var worldSize: Int?
    public var transport: String?
    public var blasThreads: Int?
    public var hosts: [String] = []
    public var totalSteps: Int?
    public var trainExamples: Int?
    public var validationExamples: Int?
    public var startedAt: String?
    public var resumedFrom: String?
    public var epochs: Int?
    public var batchSize: Int?
    public var lr: Double?
    public var scheduler: String?
    public var warmupSteps: Int?
    public var evalSteps: Int?
    public var maxSteps: Int?
    /// full, lora or qlora (runs before LoRA existed were full fine-tuning).
    public var method: String?
    public var loraRank: Int?
    public var loraAlpha: Double?
    public var loraDropout: Double?
    public var loraTargets: [String] = []

    public init() {}

    /// "full fine-tuning", or "lora: rank 16, alpha 32, dropout 0.05 on q_proj, …".
    public var techniqueDescription: String {
        guard let method else { return "unknown (no training options in run_config.json)" }
        guard method != "full" else { return "full fine-tuning (every weight, fp32)" }
        var d = method == "qlora" ? "QLoRA (adapters over the quantized base)" : "LoRA (adapters over the fp32 base)"
        if let r = loraRank, let a = loraAlpha { d += ": rank \(r), alpha \(String(format: "%g", a))" }
        if let p = loraDropout { d += ", dropout \(String(format: "%g", p))" }
        if !loraTargets.isEmpty { d += " on " + loraTargets.joined(separator: ", ") }
        return d
    }

    /// Read one run_config*.json.
    public init(file path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw MessageError("cannot read \(path)") }
        guard let any = try? JSONSerialization.jsonObject(with: data), let object = any as? [String: Any] else {
            throw MessageError("\(path): not a JSON object")
        }
        let o = object["options"] as? [String: Any] ?? [:]
        func int(_ d: [String: Any], _ k: String) -> Int? { (d[k] as? NSNumber)?.intValue }
        worldSize = int(object, "worldSize")
        transport = object["transport"] as? String
        blasThreads = int(object, "blasThreads")
        hosts = object["hosts"] as? [String] ?? []
        totalSteps = int(object, "totalSteps")
        trainExamples = int(object, "trainExamples")
        validationExamples = int(object, "validationExamples")
        startedAt = object["startedAt"] as? String
        resumedFrom = object["resumedFrom"] as? String
        epochs = int(o, "epochs")
        batchSize = int(o, "batchSize")
        lr = (o["lr"] as? NSNumber)?.doubleValue
        scheduler = o["scheduler"] as? String
        warmupSteps = int(o, "warmupSteps")
        evalSteps = int(o, "evalSteps")
        maxSteps = int(o, "maxSteps")
        // options without a method are of runs from before LoRA: full fine-tuning
        method = o.isEmpty ? nil : o["method"] as? String ?? "full"
        let lora = o["lora"] as? [String: Any] ?? [:]
        loraRank = int(lora, "rank")
        loraAlpha = (lora["alpha"] as? NSNumber)?.doubleValue
        loraDropout = (lora["dropout"] as? NSNumber)?.doubleValue
        loraTargets = lora["targets"] as? [String] ?? []
    }
}
