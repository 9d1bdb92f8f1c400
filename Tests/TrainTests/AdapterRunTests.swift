import Foundation
import Model
import TestSupport
import XCTest

/// LoRA and QLoRA through `ft-dist train` on the tiny model (its projections and embedding in
/// Q8_0, so both methods see the same base values): one trajectory at every rank count and for
/// both methods, exact resume, peft's file format, and clear refusals of bad input.
final class AdapterRunTests: XCTestCase {
    static let adapterFlags = ["--lora-rank", "8", "--lora-alpha", "16"]

    func testLoRAAndQLoRAFollowOneTrajectoryAtEveryRankCount() throws {
        let dir = try temporaryDirectory("adapters-np")
        let model = try TinyGemma.write(to: dir.appendingPathComponent("tiny-q8.gguf").path, quantized: true)
        var reference: [TinyRun.Record]?
        for method in ["lora", "qlora"] {
            for ranks in 1...3 {
                let out = dir.appendingPathComponent("\(method)-np\(ranks)")
                let r = try TinyRun.train(ranks: ranks, output: out, model: model,
                                          extra: ["--method", method, "--max-steps", "20"] + Self.adapterFlags)
                XCTAssertEqual(r.status, 0, "\(method) np=\(ranks): \(r.stderr)")
                let losses = try TinyRun.losses(out)
                XCTAssertEqual(losses.count, 20)
                if let reference {
                    let worst = TinyRun.worstRelativeLossDifference(reference, losses)
                    XCTAssertLessThan(worst, 1e-5, "\(method) np=\(ranks) against lora np=1")
                    print("\(method) np=\(ranks) vs lora np=1: worst loss relative difference \(worst)")
                } else {
                    reference = losses
                    XCTAssertLessThan(losses.last!.loss, losses.first!.loss, "the adapters should learn")
                }
            }
        }
    }

    /// Ctrl-C while `merge` writes (the real base: seconds of writing) removes the half-written
    /// directory and says so, as `export` does; nothing is left under the output's name.
    func testAnInterruptedMergeLeavesNothingBehind() throws {
        let dir = try temporaryDirectory("merge-interrupt")
        let checkpoint = try TinyRun.checkpoint(model: TestPaths.modelPath, output: dir.appendingPathComponent("run"), steps: 1,
                                                extra: ["--method", "lora", "--lora-rank", "1", "--lora-targets", "q_proj"])
        let merged = dir.appendingPathComponent("merged")
        func temporaries() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasPrefix(".tmp-") } }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestPaths.binary)
        p.arguments = ["merge", checkpoint, "--output", merged.path]
        let stderr = Pipe()
        p.standardError = stderr
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(300)
        while temporaries().isEmpty && p.isRunning && Date() < deadline { usleep(2_000) }
        XCTAssertFalse(temporaries().isEmpty, "the merge should be writing its temporary directory")
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        let message = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 128 + SIGINT, message)
        XCTAssertTrue(message.contains("ft-dist: merge interrupted; nothing was written"), message)
        XCTAssertEqual(temporaries(), [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: merged.path))
    }

    func testResumeIsBitIdentical() throws {
        let dir = try temporaryDirectory("adapters-resume")
        let model = try TinyGemma.write(to: dir.appendingPathComponent("tiny-q8.gguf").path, quantized: true)
        for (method, ranks) in [("lora", 2), ("qlora", 1)] {
            let straight = dir.appendingPathComponent("\(method)-straight"), split = dir.appendingPathComponent("\(method)-split")
            let flags = ["--method", method] + Self.adapterFlags
            var r = try TinyRun.train(ranks: ranks, output: straight, model: model, extra: flags + ["--max-steps", "20"])
            XCTAssertEqual(r.status, 0, r.stderr)
            r = try TinyRun.train(ranks: ranks, output: split, model: model, extra: flags + ["--max-steps", "10"])
            XCTAssertEqual(r.status, 0, r.stderr)
            r = try TinyRun.train(ranks: ranks, output: split, model: model, extra: flags + ["--max-steps", "20", "--resume", "latest"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let a = try TinyRun.losses(straight), b = try TinyRun.losses(split)
            XCTAssertEqual(a.map(\.loss), b.map(\.loss), "\(method): 10 + resume + 10 = 20 straight, bit for bit")
            XCTAssertEqual(a.map(\.grad_norm), b.map(\.grad_norm))
            let file = "checkpoint-000020/adapter_model.safetensors"
            XCTAssertEqual(try Data(contentsOf: straight.appendingPathComponent(file)), try Data(contentsOf: split.appendingPathComponent(file)),
                           "\(method): the same adapters")
        }
    }

    func testCheckpointsArePeftAdaptersOverARecordedBase() throws {
        let dir = try temporaryDirectory("adapters-files")
        let model = try TinyGemma.write(to: dir.appendingPathComponent("tiny-q8.gguf").path, quantized: true)
        let run = dir.appendingPathComponent("run")
        var r = try TinyRun.train(ranks: 1, output: run, model: model, extra: ["--method", "qlora", "--max-steps", "3"] + Self.adapterFlags)
        XCTAssertEqual(r.status, 0, r.stderr)
        let checkpoint = run.appendingPathComponent("checkpoint-000003")
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: checkpoint.path)),
                       ["adapter_config.json", "adapter_model.safetensors", "optimizer.safetensors", "trainer_state.json"],
                       "no copy of the base")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: checkpoint.appendingPathComponent("adapter_config.json"))) as! [String: Any]
        XCTAssertEqual(config["peft_type"] as? String, "LORA")
        XCTAssertEqual(config["task_type"] as? String, "CAUSAL_LM")
        XCTAssertEqual(config["r"] as? Int, 8)
        XCTAssertEqual(config["lora_alpha"] as? Double, 16)
        XCTAssertEqual(config["lora_dropout"] as? Double, 0.05)
        XCTAssertEqual(config["use_rslora"] as? Bool, false)
        XCTAssertEqual(config["target_modules"] as? [String], ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
        XCTAssertEqual(config["base_model_name_or_path"] as? String, model)
        let weights = try Safetensors.File(path: checkpoint.appendingPathComponent("adapter_model.safetensors").path)
        let c = TinyGemma.config()
        XCTAssertEqual(weights.tensors.count, c.layers * 7 * 2)
        XCTAssertEqual(weights.tensors["base_model.model.model.layers.1.self_attn.k_proj.lora_A.weight"]?.shape, [8, c.hidden])
        XCTAssertEqual(weights.tensors["base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"]?.shape, [c.hidden, 8])
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: checkpoint.appendingPathComponent("trainer_state.json"))) as! [String: Any]
        let base = try XCTUnwrap(state["base"] as? [String: Any])
        XCTAssertEqual(base["sha256"] as? String, try SHA256.hex(file: model))
        XCTAssertEqual(base["path"] as? String, model)

        // eval and predict take the adapter checkpoint as it is (base + adapters)
        r = try Launch.ftdist(["predict", "--model", checkpoint.path, "--data", TestPaths.dataDir.path, "--json", "my card is lost"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertNotNil(try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)), r.stdout)
        // merged into the base: the same log-probabilities without the adapters
        let merged = dir.appendingPathComponent("merged")
        r = try Launch.ftdist(["merge", checkpoint.path, "--output", merged.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: merged.appendingPathComponent("model.safetensors").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: merged.appendingPathComponent("config.json").path))
        func ranking(_ model: String) throws -> [Double] {
            let r = try Launch.ftdist(["predict", "--model", model, "--data", TestPaths.dataDir.path, "--top-k", "77", "--json",
                                       "my card is lost", "how do I top up"])
            XCTAssertEqual(r.status, 0, r.stderr)
            return try r.stdout.split(separator: "\n").flatMap { line -> [Double] in
                let ranked = (try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any])["ranking"] as! [[String: Any]]
                return ranked.sorted { ($0["intent"] as! String) < ($1["intent"] as! String) }.map { $0["log_probability"] as! Double }
            }
        }
        let viaAdapters = try ranking(checkpoint.path), viaMerge = try ranking(merged.path), viaBase = try ranking(model)
        XCTAssertEqual(viaAdapters.count, 2 * 77)
        for (a, b) in zip(viaAdapters, viaMerge) { XCTAssertEqual(a, b, accuracy: 1e-3) }
        let moved = zip(viaAdapters, viaBase).map { abs($0 - $1) }.max()!
        XCTAssertGreaterThan(moved, 0.05, "three steps of adapters must move the log-probabilities away from the base's")
        r = try Launch.ftdist(["merge", checkpoint.path, "--output", merged.path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("exists already"), r.stderr)
        r = try Launch.ftdist(["merge", merged.path, "--output", dir.appendingPathComponent("again").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("holds no adapters"), r.stderr)

        // a peft directory with a tensor this LoRA does not have: named, nothing loaded
        let foreign = dir.appendingPathComponent("foreign")
        try FileManager.default.copyItem(at: checkpoint, to: foreign)
        try FileManager.default.removeItem(at: foreign.appendingPathComponent("trainer_state.json"))
        let weightsFile = foreign.appendingPathComponent("adapter_model.safetensors").path
        let original = try Safetensors.File(path: weightsFile)
        var values: [[Float]] = []
        var entries: [(String, [Int])] = original.tensors.keys.sorted().map { ($0, original.tensors[$0]!.shape) }
        entries.append(("base_model.model.model.layers.0.self_attn.q_proj.lora_C.weight", [2, 2]))
        for (name, shape) in entries {
            var v = [Float](repeating: 0, count: shape.reduce(1, *))
            if original.tensors[name] != nil { try v.withUnsafeMutableBufferPointer { try original.read(name, shape: shape, into: $0.baseAddress!) } }
            values.append(v)
        }
        try FileManager.default.removeItem(atPath: weightsFile)
        try values.withUnsafeBufferPointers { buffers in
            try Safetensors.write(zip(entries, buffers).map { Safetensors.Entry(name: $0.0.0, shape: $0.0.1, source: $0.1.baseAddress!) }, to: weightsFile)
        }
        r = try Launch.ftdist(["predict", "--model", foreign.path, "--data", TestPaths.dataDir.path, "my card is lost"],
                              environment: ["FTDIST_MODEL": model])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("unexpected tensor base_model.model.model.layers.0.self_attn.q_proj.lora_C.weight"), r.stderr)

        // another model at the recorded path: refused by its sha256, naming both
        let other = try TinyGemma.write(seed: 99, to: dir.appendingPathComponent("other.gguf").path, quantized: true)
        try FileManager.default.removeItem(atPath: model)
        try FileManager.default.copyItem(atPath: other, toPath: model)
        r = try Launch.ftdist(["predict", "--model", checkpoint.path, "--data", TestPaths.dataDir.path, "my card is lost"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("is another model"), r.stderr)
        r = try TinyRun.train(ranks: 1, output: run, model: model, extra: ["--method", "qlora", "--max-steps", "4", "--resume", "latest"] + Self.adapterFlags)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("is another model"), r.stderr)
    }

    /// adapter_config.json is what eval and export read, trainer_state.json what resume
    /// continues: an edited one that disagrees is refused, not silently ignored.
    func testResumeRefusesAnEditedAdapterConfig() throws {
        let dir = try temporaryDirectory("adapters-edited")
        let model = try TinyRun.model(in: dir)
        let run = dir.appendingPathComponent("run")
        var r = try TinyRun.train(ranks: 1, output: run, model: model, extra: ["--method", "lora", "--max-steps", "2"] + Self.adapterFlags)
        XCTAssertEqual(r.status, 0, r.stderr)
        let config = run.appendingPathComponent("checkpoint-000002/adapter_config.json")
        var d = try JSONSerialization.jsonObject(with: Data(contentsOf: config)) as! [String: Any]
        d["lora_alpha"] = 64
        try JSONSerialization.data(withJSONObject: d).write(to: config)
        r = try TinyRun.train(ranks: 1, output: run, model: model, extra: ["--method", "lora", "--max-steps", "3", "--resume", "latest"] + Self.adapterFlags)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("adapter_config.json disagrees with trainer_state.json (lora_alpha 64.0 there, 16.0 in training)"),
                      r.stderr)
        // the alpha put back, one target fewer
        d["lora_alpha"] = 16
        d["target_modules"] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj"]
        try JSONSerialization.data(withJSONObject: d).write(to: config)
        r = try TinyRun.train(ranks: 1, output: run, model: model, extra: ["--method", "lora", "--max-steps", "3", "--resume", "latest"] + Self.adapterFlags)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("(target_modules q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj there, "
                                        + "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj in training)"), r.stderr)
    }

    /// Bad adapter flags and a base QLoRA cannot keep quantized: one message naming the flag or
    /// file, a non-zero exit, and no run directory.
    func testBadInputIsRefusedBeforeAnythingIsWritten() throws {
        let dir = try temporaryDirectory("adapters-bad")
        let fp32 = try TinyRun.model(in: dir)
        let cases: [([String], String)] = [
            (["--method", "lora", "--lora-rank", "0"], "--lora-rank must be at least 1"),
            (["--method", "lora", "--lora-rank", "17"], "--lora-rank 17 must be between 1 and 16"),
            (["--method", "lora", "--lora-targets", "q_proj,wrong_proj"], "wrong_proj"),
            (["--method", "lora", "--lora-dropout", "1"], "--lora-dropout"),
            (["--method", "lora", "--lora-dropout", "-0.5"], "--lora-dropout"),
            (["--method", "lora", "--lora-alpha", "0"], "--lora-alpha must be a positive number"),
            (["--method", "lora", "--lora-alpha", "nan"], "--lora-alpha must be a positive number"),
            (["--method", "lora", "--lora-targets", "q_proj,k_proj", "--lora-rank", "17"], "--lora-rank 17 must be between 1 and 16"),
            (["--lora-rank", "4"], "shape the adapters of --method lora or qlora"),
            (["--method", "loraa"], "--method must be full, lora or qlora"),
            (["--method", "qlora"], "not quantized"),
        ]
        for (flags, message) in cases {
            let out = dir.appendingPathComponent("run")
            let r = try Launch.ftdist(["train", "--model", fp32, "--data", TestPaths.dataDir.path, "--output", out.path, "--max-steps", "2"] + flags)
            XCTAssertNotEqual(r.status, 0, "\(flags)")
            XCTAssertTrue(r.stderr.contains(message), "\(flags): \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("Fatal error"), "\(flags): a trap instead of a message")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "\(flags): nothing may be written")
        }
    }
}

private extension Array where Element == [Float] {
    /// Pointers to every inner array's storage, valid inside `body`.
    func withUnsafeBufferPointers<R>(_ body: ([UnsafeBufferPointer<Float>]) throws -> R) rethrows -> R {
        func go(_ i: Int, _ acc: [UnsafeBufferPointer<Float>]) throws -> R {
            if i == count { return try body(acc) }
            return try self[i].withUnsafeBufferPointer { try go(i + 1, acc + [$0]) }
        }
        return try go(0, [])
    }
}
