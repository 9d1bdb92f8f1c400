import Foundation
import Model
import Report

/// A full model written as an HF directory that transformers' Gemma3ForCausalLM and ft-dist
/// load: model.safetensors (fp32, HF names, norms as HF keeps them) + config.json, the
/// tokenizer files (HFTokenizerFiles), and for a merged model merged_from.json. Written under a temporary name beside `output` and renamed
/// when complete, so a failure leaves nothing half written.
enum HFDirectoryOutput {
    static func write(_ model: GemmaModel, tokenizer: HFTokenizerFiles, mergedFrom: MergedSource?, to output: String) throws {
        let fm = FileManager.default
        let tmp = URL(fileURLWithPath: temporaryPath(for: output))
        try? fm.removeItem(at: tmp)
        do {
            try fm.createDirectory(at: tmp, withIntermediateDirectories: false)
            try Safetensors.write(model.hfSafetensorsEntries(), metadata: ["format": "pt"],
                                  to: tmp.appendingPathComponent(GemmaModel.hfWeightsFile).path)
            try model.config.hfConfigJSON(special: tokenizer.special).write(to: tmp.appendingPathComponent(GemmaModel.hfConfigFile))
            try tokenizer.write(to: tmp)
            if let mergedFrom { try JSONEncoder().encode(mergedFrom).write(to: tmp.appendingPathComponent(MergedSource.fileName)) }
            // rename() replaces only an empty directory; a file or a filled one at `output` stays
            try OutputCommit.shared.commit {
                var info = stat()
                guard lstat(output, &info) != 0 else {
                    throw MessageError("--output \(output) appeared while the model was written; it is left as it is, nothing was written")
                }
                guard rename(tmp.path, output) == 0 else {
                    throw MessageError("cannot rename \(tmp.path) to \(output): \(String(cString: strerror(errno)))")
                }
            }
        } catch {
            try? fm.removeItem(at: tmp)
            // a file that failed inside the temporary directory: named as the output's file
            func shown(_ file: String) -> String? {
                file.hasPrefix(tmp.path + "/") ? URL(fileURLWithPath: output).appendingPathComponent(String(file.dropFirst(tmp.path.count + 1))).path : nil
            }
            if let e = error as? ModelFileError, let file = shown(e.file) { throw ModelFileError(file: file, e.message + " (nothing was written)") }
            let ns = error as NSError
            if let file = (ns.userInfo[NSFilePathErrorKey] as? String ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path).flatMap(shown) {
                throw ModelFileError(file: file, "cannot write: \(ModelFileError.systemReason(error)) (nothing was written)")
            }
            throw error
        }
    }

    /// Where `write(… to: output)` builds the directory until it is complete.
    static func temporaryPath(for output: String) -> String {
        URL(fileURLWithPath: output).deletingLastPathComponent()
            .appendingPathComponent(".tmp-\(getpid())-" + URL(fileURLWithPath: output).lastPathComponent).path
    }

    /// An output path must be new and its directory must exist and be writable — checked
    /// before any work is done.
    static func checkNewOutput(_ output: String, isDirectory: Bool) throws {
        let fm = FileManager.default
        // lstat, not fileExists: a symbolic link to nothing is there too (the final rename or
        // link would fail on it after all the work)
        var info = stat()
        guard lstat(output, &info) != 0 else {
            let kind = info.st_mode & S_IFMT == S_IFLNK ? " (a symbolic link)" : ""
            throw MessageError("--output \(output) exists already\(kind); choose a new name")
        }
        guard isDirectory || !output.hasSuffix("/") else { throw MessageError("--output \(output) ends in /: name the new file itself") }
        let parent = URL(fileURLWithPath: output).deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: parent, isDirectory: &isDir), isDir.boolValue else {
            throw MessageError("--output \(output): directory \(parent) does not exist")
        }
        guard access(parent, W_OK) == 0 else { throw MessageError("--output \(output): directory \(parent) is not writable") }
    }
}
