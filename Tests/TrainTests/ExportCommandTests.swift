import Foundation
import Model
import TestSupport
import Train
import XCTest

/// `ft-dist export` end to end on tiny-model runs: a full checkpoint to GGUF (the exact
/// trained values) and back to an HF directory, an adapter checkpoint to llama.cpp's LoRA
/// GGUF and with --merge to one model, and every bad input refused with a message and no
/// output left behind.
final class ExportCommandTests: XCTestCase {
    func ftdist(_ args: [String]) throws -> Launch.Result { try Launch.ftdist(args) }

    func values(_ model: GemmaModel) -> [UInt32] {
        Array(UnsafeBufferPointer(start: model.parameters.pointer, count: model.parameters.count)).map(\.bitPattern)
    }

    /// A full checkpoint carries the tokenizer files; its f32 GGUF holds exactly the weights
    /// ft-dist evaluates (exact norms included), q8_0 is smaller, and `--to hf` of that GGUF
    /// gives an HF directory with the same weights.
    func testFullCheckpointToGGUFAndBack() throws {
        let dir = try temporaryDirectory("export-full")
        let model = try TinyRun.model(in: dir)
        let checkpoint = try TinyRun.checkpoint(model: model, output: dir.appendingPathComponent("run"), steps: 2)
        for file in [HFTokenizerFiles.modelFile, HFTokenizerFiles.configFile, HFTokenizerFiles.specialTokensFile] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: checkpoint + "/" + file), "checkpoint carries \(file)")
        }
        let f32 = dir.appendingPathComponent("full-f32.gguf").path, q8 = dir.appendingPathComponent("full-q8.gguf").path
        var e = try ftdist(["export", checkpoint, "--output", f32])
        XCTAssertEqual(e.status, 0, e.stderr)
        XCTAssertTrue(e.stdout.contains("GGUF f32"), e.stdout)
        let trained = try ModelSource.load(checkpoint).base as! GemmaModel
        let exportedFile = try GGUFFile(path: f32)
        XCTAssertEqual(exportedFile.metadata["general.name"]?.string, "tiny.gguf Banking77 (ft-dist)", "the base's name, marked once")
        let exported = try GemmaModel(gguf: exportedFile)
        // norms as transformers and llama.cpp's converter read the directory: (g − 1) + 1
        let asHF = try GemmaModel(hfDirectory: checkpoint)
        XCTAssertEqual(values(exported), values(asHF), "f32 export = the checkpoint as HF tools read it, bit for bit")
        for t in trained.layout.tensors {
            for i in t.offset..<(t.offset + t.count) {
                let want = t.isNorm ? (trained.parameters[i] - 1) + 1 : trained.parameters[i]
                XCTAssertEqual(exported.parameters[i].bitPattern, want.bitPattern, t.hfName)
            }
        }
        XCTAssertNotEqual(values(exported), values(try GemmaModel(gguf: GGUFFile(path: model))), "training moved the weights")
        e = try ftdist(["export", checkpoint, "--type", "q8_0", "--output", q8])
        XCTAssertEqual(e.status, 0, e.stderr)
        let size = { (p: String) in (try FileManager.default.attributesOfItem(atPath: p)[.size] as! Int) }
        XCTAssertLessThan(try size(q8), try size(f32) / 3)
        let hf = dir.appendingPathComponent("back-hf").path
        e = try ftdist(["export", f32, "--to", "hf", "--output", hf])
        XCTAssertEqual(e.status, 0, e.stderr)
        XCTAssertEqual(values(try GemmaModel(hfDirectory: hf)).count, values(trained).count)
        let back = try GemmaModel(hfDirectory: hf)
        for t in back.layout.tensors where !t.isNorm {
            for i in t.offset..<(t.offset + t.count) { XCTAssertEqual(back.parameters[i], trained.parameters[i]) }
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: hf + "/" + HFTokenizerFiles.modelFile))
    }

    /// An adapter checkpoint → llama.cpp's LoRA GGUF with the checkpoint's exact A and B;
    /// --merge → base + s·BA as one model, the same values `ft-dist merge` writes.
    func testAdapterCheckpointToLlamaCppLoRAAndMerged() throws {
        let dir = try temporaryDirectory("export-lora")
        let model = try TinyRun.model(in: dir)
        let checkpoint = try TinyRun.checkpoint(model: model, output: dir.appendingPathComponent("run"), steps: 2,
                                                extra: ["--method", "lora", "--lora-rank", "8", "--lora-alpha", "16", "--rslora"])
        let adapterFile = dir.appendingPathComponent("lora.gguf").path
        var e = try ftdist(["export", checkpoint, "--output", adapterFile])
        XCTAssertEqual(e.status, 0, e.stderr)
        let g = try GGUFFile(path: adapterFile)
        XCTAssertEqual(g.metadata["general.type"], .string("adapter"))
        XCTAssertEqual(Float(g.metadata["adapter.lora.alpha"]!.double!), Float(16 * 8.0.squareRoot()), "rsLoRA: α·√r")
        // given where a model belongs, the adapter GGUF says what it is
        XCTAssertThrowsError(try GemmaConfig(gguf: g)) { XCTAssertTrue("\($0)".contains("a LoRA adapter GGUF (general.type adapter), not a model"), "\($0)") }
        // info describes an adapter checkpoint, and names what a directory lacks
        let described = try ModelInfo.describe(path: checkpoint, fullArrays: false)
        XCTAssertTrue(described.contains("LoRA adapters (peft): rank 8, alpha 16.0 (rsLoRA)"), described)
        XCTAssertTrue(described.contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"), described)
        XCTAssertThrowsError(try ModelInfo.describe(path: dir.path, fullArrays: false)) {
            XCTAssertTrue("\($0)".contains("neither config.json"), "\($0)")
        }
        // a run directory points at its newest checkpoint; a file of a checkpoint at its directory
        XCTAssertThrowsError(try ModelInfo.describe(path: dir.appendingPathComponent("run").path, fullArrays: false)) {
            XCTAssertTrue("\($0)".contains("is a training run: describe one of its checkpoints, e.g. ft-dist info \(checkpoint)"), "\($0)")
        }
        XCTAssertThrowsError(try ModelInfo.describe(path: checkpoint + "/adapter_model.safetensors", fullArrays: false)) {
            XCTAssertTrue("\($0)".contains("info reads a GGUF file or a model directory; for an HF model or a checkpoint give its directory (\(checkpoint))"), "\($0)")
        }
        let adapters = try AdapterCheckpoint(checkpoint).adapters(for: TinyGemma.config())
        for t in adapters.tensors {
            let info = try g.requireTensor(t.ggufName, shape: t.shape)
            var got = [Float](repeating: 0, count: t.count)
            got.withUnsafeMutableBufferPointer { g.dequantize(info, into: $0.baseAddress!) }
            XCTAssertEqual(got, Array(UnsafeBufferPointer(start: adapters.values.pointer + t.offset, count: t.count)), t.ggufName)
        }
        let mergedGGUF = dir.appendingPathComponent("merged.gguf").path, mergedHF = dir.appendingPathComponent("merged-hf").path
        e = try ftdist(["export", checkpoint, "--merge", "--output", mergedGGUF])
        XCTAssertEqual(e.status, 0, e.stderr)
        e = try ftdist(["merge", checkpoint, "--output", mergedHF + "/"])   // a directory may be named with its /
        XCTAssertEqual(e.status, 0, e.stderr)
        let viaExport = try GemmaModel(gguf: GGUFFile(path: mergedGGUF)), viaMerge = try GemmaModel(hfDirectory: mergedHF)
        for t in viaExport.layout.tensors where !t.isNorm {
            for i in t.offset..<(t.offset + t.count) { XCTAssertEqual(viaExport.parameters[i], viaMerge.parameters[i]) }
        }
        XCTAssertNotEqual(values(viaExport), values(try GemmaModel(gguf: GGUFFile(path: model))), "the adapters changed the weights")
        XCTAssertTrue(FileManager.default.fileExists(atPath: mergedHF + "/" + HFTokenizerFiles.modelFile), "merge writes the tokenizer")
    }

    func testBadInputIsRefusedAndNothingIsWritten() throws {
        let dir = try temporaryDirectory("export-bad")
        let model = try TinyRun.model(in: dir)
        let out = dir.appendingPathComponent("out.gguf").path
        func refused(_ args: [String], _ message: String, line: UInt = #line) throws {
            let r = try ftdist(["export"] + args)
            XCTAssertNotEqual(r.status, 0, "exit status", line: line)
            XCTAssertTrue(r.stderr.contains(message), "stderr: \(r.stderr)", line: line)
            XCTAssertFalse(r.stderr.contains("Fatal error"), line: line)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "no output", line: line)
            let stray = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }
            XCTAssertEqual(stray, [], "no temporary file left", line: line)
        }
        try refused([dir.appendingPathComponent("missing.gguf").path, "--output", out], "no such file")
        try refused([model, "--output", dir.appendingPathComponent("no/such/dir/x.gguf").path], "does not exist")
        try refused([model, "--type", "q3_k", "--output", out], "q3_k")
        try refused([model, "--name", " ", "--output", out], "--name is empty")
        try refused([model, "--merge", "--output", out], "holds no adapters")
        try refused([model, "--to", "hf", "--type", "q8_0", "--output", out], "--to hf writes fp32")
        try refused([dir.path, "--output", out], "neither a model directory")
        try FileManager.default.copyItem(atPath: model, toPath: dir.appendingPathComponent("taken.gguf").path)
        try refused([model, "--output", dir.appendingPathComponent("taken.gguf").path], "exists already")
        // a link to nothing is taken too, and a trailing / names no file (both used to fail after the whole export)
        let dangling = dir.appendingPathComponent("dangling.gguf")
        try FileManager.default.createSymbolicLink(atPath: dangling.path, withDestinationPath: dir.appendingPathComponent("nowhere").path)
        try refused([model, "--output", dangling.path], "exists already (a symbolic link)")
        try FileManager.default.removeItem(at: dangling)
        try refused([model, "--output", dir.path + "/trail/"], "ends in /")
        // a write that fails (a file-size limit stands in for a full disk): the output named,
        // the system's reason, nothing left — as a GGUF and as an HF directory
        for (format, output, file) in [("gguf", out, out), ("hf", dir.appendingPathComponent("hf").path, dir.appendingPathComponent("hf/model.safetensors").path)] {
            let r = try Launch.run("/bin/sh", ["-c", "ulimit -f 8; trap '' XFSZ; exec \"$0\" \"$@\"", TestPaths.binary,
                                               "export", model, "--to", format, "--output", output], timeout: 600)
            XCTAssertNotEqual(r.status, 0, format)
            XCTAssertTrue(r.stderr.contains("\(file): cannot write: File too large"), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: output), format)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }, [], format)
        }
        // an export that cannot hold the weights: F16 ends at 65,504
        let big = try TinyGemma.write(to: dir.appendingPathComponent("big.gguf").path) { t, values in
            if t.hfName == "model.layers.0.mlp.down_proj.weight" { values[3] = 1e5 }
        }
        try refused([big, "--type", "f16", "--output", out], "tensor model.layers.0.mlp.down_proj.weight does not fit F16: element 3 (100000.0)")
        try FileManager.default.removeItem(atPath: big)
        // a truncated GGUF and a checkpoint with a damaged weights file
        let truncated = dir.appendingPathComponent("truncated.gguf")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: model))
        try bytes.prefix(bytes.count / 2).write(to: truncated)
        try refused([truncated.path, "--output", out], "truncated")
        let run = dir.appendingPathComponent("run")
        let damaged = URL(fileURLWithPath: try TinyRun.checkpoint(model: model, output: run, steps: 1))
        let weights = damaged.appendingPathComponent("model.safetensors")
        let w = try Data(contentsOf: weights)
        try w.prefix(w.count - 100).write(to: weights)
        try refused([damaged.path, "--output", out], "model.safetensors")
        try FileManager.default.removeItem(at: run)
        // adapters: no q4_k_m mixture, no HF without --merge
        let lora = dir.appendingPathComponent("lora")
        let adapter = try TinyRun.checkpoint(model: model, output: lora, steps: 1, extra: ["--method", "lora"])
        try refused([adapter, "--type", "q4_k_m", "--output", out], "adapters are written as")
        try refused([adapter, "--to", "hf", "--output", out], "--merge")
        try FileManager.default.removeItem(at: lora)
    }

    /// --method qlora from an HF directory quantizes the base at load in llama-quantize's Q4_K_M
    /// mixture: the same blocks `export --type q4_k_m` writes, hence the same trajectory, bit for
    /// bit, as QLoRA from that GGUF; its checkpoint evaluates over the same quantized base.
    func testQLoRAFromAnHFDirectoryQuantizesAtLoad() throws {
        let dir = try temporaryDirectory("qlora-hf")
        let model = try TinyRun.model(in: dir)
        let hf = dir.appendingPathComponent("hf").path, quantized = dir.appendingPathComponent("q4_k_m.gguf").path
        var e = try ftdist(["export", model, "--to", "hf", "--output", hf])
        XCTAssertEqual(e.status, 0, e.stderr)
        e = try ftdist(["export", hf, "--type", "q4_k_m", "--output", quantized])
        XCTAssertEqual(e.status, 0, e.stderr)
        var losses: [[Double]] = []
        for (name, base) in [("from-hf", hf), ("from-gguf", quantized)] {
            let run = dir.appendingPathComponent(name)
            let r = try TinyRun.train(ranks: 1, output: run, model: base, extra: ["--method", "qlora", "--max-steps", "3", "--lora-rank", "4"])
            XCTAssertEqual(r.status, 0, r.stderr)
            losses.append(try TinyRun.losses(run).map(\.loss))
        }
        XCTAssertEqual(losses[0].count, 3)
        XCTAssertEqual(losses[0], losses[1], "the HF base quantized at load = the q4_k_m export")
        let p = try Launch.ftdist(["predict", "--model", dir.appendingPathComponent("from-hf/checkpoint-000003").path,
                                   "--data", TestPaths.dataDir.path, "--top-k", "3", "abc"])
        XCTAssertEqual(p.status, 0, p.stderr)
    }
}
