import Foundation
import Model
import Report

/// `ft-dist merge`: an adapter checkpoint folded into its base, W + s·BA, written as a full
/// HF checkpoint (model.safetensors + config.json + tokenizer files) that transformers and `ft-dist eval` load
/// without peft, plus merged_from.json (the base GGUF, whose tokenizer ft-dist uses). Written
/// under a temporary name and renamed when complete.
public enum AdapterMerge {
    /// Where a merge into `output` writes before the rename (what an interrupted merge removes).
    public static func temporaryPaths(for output: String) -> [String] { [HFDirectoryOutput.temporaryPath(for: output)] }

    @discardableResult
    public static func merge(checkpoint path: String, output: String) throws -> String {
        guard FileManager.default.fileExists(atPath: path) else { throw MessageError("\(path) does not exist") }
        guard AdapterCheckpoint.isAdapterDirectory(path) else {
            throw MessageError("\(path) holds no adapters (no \(PeftAdapterFiles.configFile)): merge takes a LoRA or QLoRA checkpoint")
        }
        try HFDirectoryOutput.checkNewOutput(output, isDirectory: true)
        let checkpoint = try AdapterCheckpoint(path)
        checkpoint.announceBase()
        let base = try ModelFile(path: checkpoint.basePath)
        let model = try base.fp32()
        let tokenizer = try HFTokenizerFiles(vocabulary: base.vocabulary())
        model.merge(try checkpoint.adapters(for: model.config))
        try HFDirectoryOutput.write(model, tokenizer: tokenizer,
                                    mergedFrom: MergedSource(base: checkpoint.basePath, adapters: URL(fileURLWithPath: path).standardized.path),
                                    to: output)
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
