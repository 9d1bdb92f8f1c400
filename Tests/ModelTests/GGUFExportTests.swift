import Foundation
import XCTest
@testable import Model
import TestSupport

/// What `ft-dist export` writes, at the Model level: a Gemma GGUF that our reader loads back
/// with exactly the exported values and the metadata llama.cpp reads, llama.cpp's type rules
/// per tensor, llama.cpp's LoRA adapter layout, the streaming writer's all-or-nothing file, and
/// the SentencePiece model of the HF tokenizer files. (llama.cpp itself — its converter, its
/// quantizer and llama-completion — checks the same files in bench/check_export.sh.)
final class GGUFExportTests: XCTestCase {
    func tinyModel(_ dir: URL) throws -> (GemmaModel, GGUFFile) {
        let path = try TinyGemma.write(to: dir.appendingPathComponent("tiny.gguf").path)
        let gguf = try GGUFFile(path: path)
        return (try GemmaModel(gguf: gguf), gguf)
    }

    func export(_ model: GemmaModel, _ tokenizer: GGUFFile, _ type: ExportType, to path: String) throws -> GGUFFile {
        try GemmaGGUF.writer(model: model, name: "tiny", fileType: type.fileType, tokenizer: ModelFile(path: tokenizer.path), sourcePath: "tiny") {
            type.tensorType(name: $0.ggufName, shape: $0.shape, layers: model.config.layers)
        }.write(to: path)
        return try GGUFFile(path: path)
    }

    /// f32: every value comes back bit for bit, the config is the same, and the keys llama.cpp
    /// reads for gemma3 are there with the model's values; the tokenizer keys are the source's.
    func testF32ExportLoadsBackExactly() throws {
        let dir = try temporaryDirectory("export-f32")
        let (model, source) = try tinyModel(dir)
        let out = try export(model, source, .f32, to: dir.appendingPathComponent("out.gguf").path)
        let back = try GemmaModel(gguf: out)
        XCTAssertEqual(back.config, model.config)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: back.parameters.pointer, count: back.parameters.count)).map(\.bitPattern),
                       Array(UnsafeBufferPointer(start: model.parameters.pointer, count: model.parameters.count)).map(\.bitPattern))
        let c = model.config
        let expected: [String: GGUFValue] = [
            "general.architecture": .string("gemma3"), "general.type": .string("model"), "general.name": .string("tiny"),
            "general.file_type": .uint32(0), "general.quantization_version": .uint32(2),
            "gemma3.context_length": .uint32(UInt32(c.contextLength)), "gemma3.embedding_length": .uint32(64),
            "gemma3.block_count": .uint32(2), "gemma3.feed_forward_length": .uint32(96),
            "gemma3.attention.head_count": .uint32(4), "gemma3.attention.head_count_kv": .uint32(1),
            "gemma3.attention.key_length": .uint32(16), "gemma3.attention.value_length": .uint32(16),
            "gemma3.attention.layer_norm_rms_epsilon": .float32(1e-6), "gemma3.rope.freq_base": .float32(1_000_000),
            "gemma3.rope.freq_base_swa": .float32(10_000), "gemma3.attention.sliding_window": .uint32(4),
            "gemma3.attention.sliding_window_pattern": .uint32(2),
        ]
        for (key, value) in expected { XCTAssertEqual(out.metadata[key], value, key) }
        for key in source.metadataKeys where key.hasPrefix("tokenizer.") { XCTAssertEqual(out.metadata[key], source.metadata[key], key) }
        XCTAssertEqual(out.tensors.map(\.name), model.layout.tensors.map(\.ggufName))
        XCTAssertTrue(out.tensors.allSatisfy { $0.type == .f32 })
    }

    /// f16, bf16, q8_0 and q4_k_m: matrices in the chosen type (with llama.cpp's fallbacks for
    /// rows that are not whole blocks), norms in F32 and exact; values within the type's
    /// resolution of the originals.
    func testQuantizedExportsFollowLlamaCppsTypes() throws {
        let dir = try temporaryDirectory("export-types")
        let (model, source) = try tinyModel(dir)
        // the tiny model's rows (64 and 96 columns) are not whole 256-blocks: K-quants fall back
        let expectations: [(ExportType, GGMLType, GGMLType, Float)] = [
            (.f16, .f16, .f16, 1e-3), (.bf16, .bf16, .bf16, 8e-3), (.q8_0, .q8_0, .q8_0, 1e-2), (.q4_k_m, .q5_0, .q8_0, 0.07),
        ]
        for (type, projection, embedding, tolerance) in expectations {
            let out = try export(model, source, type, to: dir.appendingPathComponent("\(type.rawValue).gguf").path)
            XCTAssertEqual(out.metadata["general.file_type"]?.int, Int(type.fileType))
            let back = try GemmaModel(gguf: out)
            for t in model.layout.tensors {
                let info = out.tensor(named: t.ggufName)!
                // q4_k_m: of 2 layers use_more_bits picks layer 1 (≥ 7·2/8) for Q6_K → Q8_0
                let moreBits = type == .q4_k_m && t.ggufName.hasPrefix("blk.1.")
                    && (t.ggufName.hasSuffix("attn_v.weight") || t.ggufName.hasSuffix("ffn_down.weight"))
                let want: GGMLType = t.isNorm ? .f32 : t.ggufName == "token_embd.weight" ? embedding : moreBits ? .q8_0 : projection
                XCTAssertEqual(info.type, want, "\(type.rawValue): \(t.ggufName)")
                var worst: Float = 0, scale: Float = 0
                for i in 0..<t.count {
                    worst = max(worst, abs(back.parameters[t.offset + i] - model.parameters[t.offset + i]))
                    scale = max(scale, abs(model.parameters[t.offset + i]))
                }
                if t.isNorm { XCTAssertEqual(worst, 0, "\(t.ggufName): norms stay exact") }
                XCTAssertLessThanOrEqual(worst, tolerance * scale, "\(type.rawValue): \(t.ggufName)")
            }
        }
    }

    /// Q4_K_M's rule for the real model's shapes gives the types of the Q4_K_M GGUF we ship
    /// (llama-quantize's choices: use_more_bits layers, tied embedding, 640-column fallbacks).
    func testQ4KMRuleGivesTheInstalledModelsTypes() throws {
        let gguf = try GGUFFile(path: TestPaths.modelPath)
        let config = try GemmaConfig(gguf: gguf)
        for t in gguf.tensors {
            XCTAssertEqual(ExportType.q4_k_m.tensorType(name: t.name, shape: t.shape, layers: config.layers), t.type, t.name)
        }
        XCTAssertEqual((0..<18).filter { ExportType.useMoreBits($0, 18) }, [0, 1, 4, 7, 10, 13, 15, 16, 17])
    }

    /// llama.cpp's LoRA adapter GGUF: names, shapes (lora_a [r, in], lora_b [out, r]), values,
    /// the keys llama-adapter.cpp requires, and the alpha that makes llama.cpp's scale α/r equal
    /// peft's (α/√r under rsLoRA); q8_0 keeps lora_b (r columns) in F16 as the converter does.
    func testLoRAAdapterGGUF() throws {
        let dir = try temporaryDirectory("export-lora")
        let config = TinyGemma.config()
        for rs in [false, true] {
            let lora = LoRAConfig(rank: 8, alpha: 16, dropout: 0, targets: [.q, .v, .down], rsLoRA: rs)
            let adapters = TrainableParameters(lora: lora, config: config, seed: 3)
            for i in 0..<adapters.count { adapters.values[i] = Float(i % 97) * 0.01 - 0.4 }
            for type in [ExportType.f32, .q8_0] {
                let path = dir.appendingPathComponent("lora-\(rs)-\(type.rawValue).gguf").path
                try LoRAAdapterGGUF.writer(adapters: adapters, name: "a", type: type, sourcePath: "a").write(to: path)
                let g = try GGUFFile(path: path)
                XCTAssertEqual(g.metadata["general.type"], .string("adapter"))
                XCTAssertEqual(g.metadata["general.architecture"], .string("gemma3"))
                XCTAssertEqual(g.metadata["adapter.type"], .string("lora"))
                let alpha = Float(g.metadata["adapter.lora.alpha"]!.double!)
                XCTAssertEqual(alpha / 8, lora.scale, accuracy: 1e-6 * lora.scale, "llama.cpp's alpha / r is peft's scale")
                XCTAssertEqual(g.tensors.count, 2 * 3 * config.layers)
                for t in adapters.tensors {
                    let info = try g.requireTensor(t.ggufName, shape: t.shape)
                    XCTAssertTrue(t.ggufName.hasPrefix("blk.") && (t.ggufName.hasSuffix(".weight.lora_a") || t.ggufName.hasSuffix(".weight.lora_b")))
                    let isB = t.ggufName.hasSuffix("lora_b")
                    XCTAssertEqual(info.type, type == .f32 ? .f32 : isB ? .f16 : .q8_0, t.ggufName)
                    var back = [Float](repeating: 0, count: t.count)
                    back.withUnsafeMutableBufferPointer { g.dequantize(info, into: $0.baseAddress!) }
                    for i in 0..<t.count {
                        let want = adapters.values[t.offset + i]
                        if type == .f32 { XCTAssertEqual(back[i].bitPattern, want.bitPattern) } else {
                            XCTAssertEqual(back[i], want, accuracy: 0.4 / 127 + 1e-3, t.ggufName)
                        }
                    }
                }
                XCTAssertNotNil(g.tensor(named: "blk.1.ffn_down.weight.lora_b"))
            }
        }
    }

    /// A tensor that fails while the file is written (here: NaN in the model) leaves neither the
    /// file nor a temporary one behind, and the error names the tensor.
    func testAFailedWriteLeavesNothing() throws {
        let dir = try temporaryDirectory("export-fail")
        let (model, source) = try tinyModel(dir)
        let t = model.layout.tensors[5]
        model.parameters[t.offset + 3] = .nan
        let path = dir.appendingPathComponent("out.gguf").path
        XCTAssertThrowsError(try export(model, source, .q8_0, to: path)) { error in
            XCTAssertTrue("\(error)".contains(t.hfName) && "\(error)".contains("non-finite"), "\(error)")
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        XCTAssertEqual(left, ["tiny.gguf"], "nothing written beside the source")
    }

    /// The streamed file is byte for byte what serialized() builds in memory.
    func testStreamedFileEqualsTheSerializedBytes() throws {
        let dir = try temporaryDirectory("export-stream")
        var w = GGUFWriter()
        w.set("a", .string("b"))
        w.addTensor("x", shape: [3, 32], values: (0..<96).map { Float($0) - 40 }, type: .q8_0)
        w.addTensor("y", shape: [5], values: [1, 2, 3, 4, 5])
        let path = dir.appendingPathComponent("w.gguf").path
        var progress: [Int] = []
        try w.write(to: path) { done, total in progress.append(done); XCTAssertEqual(total, 2) }
        XCTAssertEqual(progress, [1, 2])
        XCTAssertEqual([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))), try w.serialized())
    }

    /// tokenizer.model is SentencePiece's ModelProto: decoded here field by field (numbers
    /// from sentencepiece_model.proto), it holds every piece, score and type of the GGUF, the
    /// BPE trainer spec with the special ids and byte fallback, and the identity normalizer
    /// without dummy prefix. (bench/check_export.sh loads it in sentencepiece itself and
    /// tokenizes all reference strings and Banking77 texts as ft-dist does.)
    func testTokenizerModelIsTheGGUFVocabulary() throws {
        let dir = try temporaryDirectory("export-spm")
        let (_, gguf) = try tinyModel(dir)
        let files = try HFTokenizerFiles(gguf: gguf)
        let top = try ProtoFields(Array(files.model))
        let tokens = try gguf.stringArray("tokenizer.ggml.tokens"), scores = try gguf.numberArray("tokenizer.ggml.scores")
        let types = try gguf.numberArray("tokenizer.ggml.token_type")
        let pieces = top.messages(1)
        XCTAssertEqual(pieces.count, tokens.count)
        for (i, p) in pieces.enumerated() {
            let f = try ProtoFields(p)
            XCTAssertEqual(f.string(1), tokens[i])
            XCTAssertEqual(f.float(2), Float(scores[i]))
            XCTAssertEqual(f.varint(3), i == 3 ? 2 : UInt64(types[i]), "piece \(i): <unk> is UNKNOWN, others keep their type")
        }
        let trainer = try ProtoFields(top.messages(2)[0])
        XCTAssertEqual(trainer.varint(3), 2, "BPE")
        XCTAssertEqual(trainer.varint(4), UInt64(tokens.count))
        XCTAssertEqual(trainer.varint(35), 1, "byte fallback")
        XCTAssertEqual([40, 41, 42, 43].map { trainer.varint($0) }, [3, 2, 1, 0], "unk, bos, eos, pad ids")
        let normalizer = try ProtoFields(top.messages(3)[0])
        XCTAssertEqual(normalizer.string(1), "identity")
        XCTAssertEqual(normalizer.varint(3), 0, "no dummy prefix")
        XCTAssertEqual(normalizer.varint(4), 0, "spaces kept")
        let config = try JSONSerialization.jsonObject(with: files.config) as! [String: Any]
        let decoder = config["added_tokens_decoder"] as! [String: [String: Any]]
        XCTAssertEqual(Set(decoder.keys), Set(types.enumerated().filter { $0.element == 3 || $0.element == 2 || $0.element == 4 }.map { String($0.offset) }))
        XCTAssertEqual(decoder["2"]?["content"] as? String, "<bos>")
        XCTAssertEqual(decoder["2"]?["special"] as? Bool, true)
        XCTAssertEqual(config["bos_token"] as? String, "<bos>")
    }
}

/// A minimal protocol-buffer decoder for the test above: the fields of one message by number.
struct ProtoFields {
    var fields: [(number: Int, varint: UInt64?, bytes: [UInt8]?)] = []

    init(_ b: [UInt8]) throws {
        var i = 0
        func varint() throws -> UInt64 {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard i < b.count else { throw ModelFileError(file: "proto", "truncated varint") }
                v |= UInt64(b[i] & 0x7F) << shift
                i += 1
                if b[i - 1] < 0x80 { return v }
                shift += 7
            }
        }
        while i < b.count {
            let key = try varint()
            switch key & 7 {
            case 0: fields.append((Int(key >> 3), try varint(), nil))
            case 2:
                let n = Int(try varint())
                fields.append((Int(key >> 3), nil, Array(b[i..<(i + n)])))
                i += n
            case 5:
                fields.append((Int(key >> 3), nil, Array(b[i..<(i + 4)])))
                i += 4
            default: throw ModelFileError(file: "proto", "unexpected wire type \(key & 7)")
            }
        }
    }

    func messages(_ n: Int) -> [[UInt8]] { fields.filter { $0.number == n }.compactMap(\.bytes) }
    func string(_ n: Int) -> String? { messages(n).first.map { String(decoding: $0, as: UTF8.self) } }
    func varint(_ n: Int) -> UInt64? { fields.first { $0.number == n }?.varint }
    func float(_ n: Int) -> Float? {
        messages(n).first.map { b in Float(bitPattern: UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24) }
    }
}
