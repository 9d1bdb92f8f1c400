import Foundation
import Model
import Report

/// `ft-dist merge`: an adapter checkpoint folded into its base, W + s·BA, written as a full
/// HF checkpoint (model.safetensors + config.json) that transformers and `ft-dist eval` load
/// without peft, plus merged_from.json (the base GGUF, whose tokenizer ft-dist uses). Written
/// under a temporary name and renamed when complete.
public enum AdapterMerge {
    @discardableResult
    public static func merge(checkpoint path: String, output: String) throws -> String {
        guard AdapterCheckpoint.isAdapterDirectory(path) else {
            throw MessageError("\(path) holds no adapters (no \(PeftAdapterFiles.configFile)): merge takes a LoRA or QLoRA checkpoint")
        }
        let fm = FileManager.default
        guard !fm.fileExists(atPath: output) else { throw MessageError("--output \(output) exists already; choose a new directory") }
        let parent = URL(fileURLWithPath: output).deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: parent, isDirectory: &isDir), isDir.boolValue else {
            throw MessageError("--output \(output): directory \(parent) does not exist")
        }
        let checkpoint = try AdapterCheckpoint(path)
        let gguf = try GGUFFile(path: checkpoint.basePath)
        let model = try GemmaModel(gguf: gguf)
        let tokenizer = try Tokenizer(gguf: gguf)
        model.merge(try checkpoint.adapters(for: model.config))
        let tmp = URL(fileURLWithPath: parent).appendingPathComponent(".tmp-merge-\(getpid())-" + URL(fileURLWithPath: output).lastPathComponent)
        try? fm.removeItem(at: tmp)
        do {
            try fm.createDirectory(at: tmp, withIntermediateDirectories: false)
            try Safetensors.write(model.hfSafetensorsEntries(), metadata: ["format": "pt"],
                                  to: tmp.appendingPathComponent(GemmaModel.hfWeightsFile).path)
            try model.config.hfConfigJSON(special: tokenizer.special).write(to: tmp.appendingPathComponent(GemmaModel.hfConfigFile))
            let source = MergedSource(base: checkpoint.basePath, adapters: URL(fileURLWithPath: path).standardized.path)
            try JSONEncoder().encode(source).write(to: tmp.appendingPathComponent(MergedSource.fileName))
            guard rename(tmp.path, output) == 0 else {
                throw MessageError("cannot rename \(tmp.path) to \(output): \(String(cString: strerror(errno)))")
            }
        } catch {
            try? fm.removeItem(at: tmp)
            throw error
        }
        return "merged \(path) (rank \(checkpoint.lora.rank), alpha \(checkpoint.lora.alpha)) into \(checkpoint.basePath): \(output)"
    }
}

/// merged_from.json of a merged checkpoint: where its weights came from.
public struct MergedSource: Codable {
    public static let fileName = "merged_from.json"
    public var base: String
    public var adapters: String

    public static func read(directory: String) -> MergedSource? {
        FileManager.default.contents(atPath: URL(fileURLWithPath: directory).appendingPathComponent(fileName).path)
            .flatMap { try? JSONDecoder().decode(MergedSource.self, from: $0) }
    }
}
