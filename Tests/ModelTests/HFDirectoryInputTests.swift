import Foundation
import XCTest
@testable import Model
import TestSupport

/// HF model directories as input (ModelFile, HFWeightFiles, GemmaConfig(hfConfig:),
/// TokenizerVocabulary): weights in BF16 and F16 as well as F32, in one file or shards named by
/// model.safetensors.index.json, the tokenizer from tokenizer.model, and clear refusals of
/// directories that are not the model ft-dist implements. (bench/make_hf_from_gguf.py has
/// transformers write the real model's directory; bench/check_hf_input.sh compares.)
final class HFDirectoryInputTests: XCTestCase {
    /// A safetensors file of `tensors` (name, shape, values) stored in `dtype`, written by hand.
    func writeSafetensors(_ path: URL, _ tensors: [(String, [Int], [Float])], dtype: String) throws {
        var header: [String: Any] = [:], data: [UInt8] = []
        for (name, shape, values) in tensors {
            let start = data.count
            for v in values {
                switch dtype {
                case "BF16": appendLE(&data, floatToBFloat16(v))
                case "F16": appendLE(&data, floatToHalf(v))
                default: appendLE(&data, v.bitPattern)
                }
            }
            header[name] = ["dtype": dtype, "shape": shape, "data_offsets": [start, data.count]] as [String: Any]
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out: [UInt8] = []
        appendLE(&out, UInt64(json.count))
        out += [UInt8](json) + data
        try Data(out).write(to: path)
    }

    /// The tiny model as an HF directory: config.json, weights (HF names, norms as w = g − 1)
    /// in `dtype`, split into `shards` files, and the tokenizer files made from its GGUF.
    func hfDirectory(_ dir: URL, dtype: String, shards: Int) throws -> (URL, GemmaModel, GGUFFile) {
        let gguf = try GGUFFile(path: TinyGemma.write(to: dir.appendingPathComponent("tiny.gguf").path))
        let model = try GemmaModel(gguf: gguf)
        let out = dir.appendingPathComponent("hf-\(dtype)-\(shards)")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        try model.config.hfConfigJSON(special: try Tokenizer(gguf: gguf).special).write(to: out.appendingPathComponent("config.json"))
        try HFTokenizerFiles(gguf: gguf).write(to: out)
        let tensors = model.layout.tensors.map { t in
            (t.hfName, t.shape, (0..<t.count).map { model.parameters[t.offset + $0] - (t.isNorm ? 1 : 0) })
        }
        if shards == 1 {
            try writeSafetensors(out.appendingPathComponent("model.safetensors"), tensors, dtype: dtype)
        } else {
            var map: [String: String] = [:]
            let per = (tensors.count + shards - 1) / shards
            for s in 0..<shards {
                let name = String(format: "model-%05d-of-%05d.safetensors", s + 1, shards)
                let part = Array(tensors[(s * per)..<min(tensors.count, (s + 1) * per)])
                try writeSafetensors(out.appendingPathComponent(name), part, dtype: dtype)
                for t in part { map[t.0] = name }
            }
            try JSONSerialization.data(withJSONObject: ["metadata": [:] as [String: Any], "weight_map": map])
                .write(to: out.appendingPathComponent("model.safetensors.index.json"))
        }
        return (out, model, gguf)
    }

    /// Every dtype, one file or shards: the weights are the GGUF's rounded to the dtype
    /// (bf16/f16 of w), norms g = 1 + w in fp32 — exactly, value for value.
    func testWeightsInEveryDTypeAndShardLayout() throws {
        let dir = try temporaryDirectory("hf-input")
        for (dtype, shards) in [("F32", 1), ("BF16", 3), ("F16", 2)] {
            let (path, model, _) = try hfDirectory(dir, dtype: dtype, shards: shards)
            let file = try ModelFile(path: path.path)
            XCTAssertTrue(file.isHFDirectory)
            XCTAssertEqual(file.config, model.config)
            let loaded = try file.fp32()
            for t in model.layout.tensors {
                for i in 0..<t.count {
                    let w = model.parameters[t.offset + i] - (t.isNorm ? 1 : 0)
                    let stored: Float = dtype == "BF16" ? Float(bitPattern: UInt32(floatToBFloat16(w)) << 16)
                        : dtype == "F16" ? halfToFloat(floatToHalf(w)) : w
                    XCTAssertEqual(loaded.parameters[t.offset + i].bitPattern, (t.isNorm ? stored + 1 : stored).bitPattern,
                                   "\(dtype) \(t.hfName)[\(i)]")
                }
            }
        }
    }

    /// tokenizer.model + tokenizer_config.json read as llama.cpp's converter reads them give
    /// the GGUF's vocabulary back: every piece, score and type, the special ids, add_bos.
    func testTokenizerModelGivesTheGGUFVocabulary() throws {
        let dir = try temporaryDirectory("hf-tokenizer")
        let (path, _, gguf) = try hfDirectory(dir, dtype: "F32", shards: 1)
        let fromDir = try ModelFile(path: path.path).vocabulary(), fromGGUF = try TokenizerVocabulary(gguf: gguf)
        XCTAssertEqual(fromDir.tokens, fromGGUF.tokens)
        // as the converter: pieces tokenizer_config.json lists are scored −1000
        XCTAssertEqual(fromDir.scores, fromGGUF.scores.enumerated().map { [2, 3, 4].contains(fromGGUF.types[$0.offset]) ? -1000 : $0.element })
        XCTAssertEqual(fromDir.types, fromGGUF.types.enumerated().map { $0.offset == 3 ? 3 : $0.element },
                       "as the converter: <unk>, listed as special, becomes control")
        XCTAssertEqual(fromDir.special, fromGGUF.special)
        let a = try ModelFile(path: path.path).tokenizer(), b = try Tokenizer(gguf: gguf)
        for text in ["abc abd", " a  b\n", "héllo ▁ <bos>", ""] { XCTAssertEqual(a.encode(text), b.encode(text), text) }
    }

    /// Directories that are not Gemma3ForCausalLM's text model, or damaged ones, are refused
    /// with the file and the reason.
    func testRefusals() throws {
        let dir = try temporaryDirectory("hf-refusals")
        let (path, _, _) = try hfDirectory(dir, dtype: "F32", shards: 2)
        let config = path.appendingPathComponent("config.json")
        let original = try Data(contentsOf: config)
        func withConfig(_ edit: (inout [String: Any]) -> Void, _ message: String, line: UInt = #line) throws {
            var d = try JSONSerialization.jsonObject(with: original) as! [String: Any]
            edit(&d)
            try JSONSerialization.data(withJSONObject: d).write(to: config)
            XCTAssertThrowsError(try ModelFile(path: path.path).fp32(), line: line) { e in
                XCTAssertTrue("\(e)".contains(message), "\(e)", line: line)
            }
            try original.write(to: config)
        }
        try withConfig({ $0["model_type"] = "gemma3" }, "Gemma3ForConditionalGeneration")
        try withConfig({ $0["final_logit_softcapping"] = 30.0 }, "final_logit_softcapping")
        try withConfig({ $0["hidden_activation"] = "gelu" }, "hidden_activation gelu")
        try withConfig({ $0["tie_word_embeddings"] = false }, "untied")
        try withConfig({ $0["sliding_window"] = -4 }, "sliding window")
        try withConfig({ $0.removeValue(forKey: "hidden_size") }, "missing integer hidden_size")
        try withConfig({ $0["intermediate_size"] = 128 }, "has shape [96, 64], expected [128, 64]")
        // optional keys of another type are refused, not replaced by their defaults
        try withConfig({ $0["sliding_window"] = "1" }, "sliding_window is \"1\", expected an integer")
        try withConfig({ $0["query_pre_attn_scalar"] = "x" }, "query_pre_attn_scalar is \"x\", expected an integer")
        try withConfig({ $0["rope_parameters"] = NSNull(); $0["rope_theta"] = "abc" }, "rope_theta is \"abc\", expected a finite number")
        try withConfig({ $0["rope_parameters"] = ["full_attention": ["rope_theta": "x"]] }, "rope_parameters.full_attention.rope_theta is \"x\"")
        // JSON booleans are no numbers (Foundation on Linux casts true to 1) and numbers no booleans
        try withConfig({ $0["sliding_window"] = true }, "sliding_window is true, expected an integer")
        try withConfig({ $0["hidden_size"] = true }, "hidden_size is true, expected an integer")
        try withConfig({ $0["rms_norm_eps"] = true }, "rms_norm_eps is true, expected a finite number")
        try withConfig({ $0["tie_word_embeddings"] = "false" }, "tie_word_embeddings is \"false\", expected true or false")
        try withConfig({ $0["attention_bias"] = 1 }, "attention_bias is 1, expected true or false")
        try withConfig({ $0["hidden_activation"] = 5 }, "hidden_activation is 5, expected a string")
        try withConfig({ $0["layer_types"] = ["sliding_attention", 3] }, "layer_types is a list, expected a list of strings")
        try withConfig({ $0["rope_parameters"] = "default" }, "rope_parameters is \"default\", expected an object")
        try withConfig({ $0["final_logit_softcapping"] = false }, "final_logit_softcapping false")
        try withConfig({ $0["rope_parameters"] = ["full_attention": ["rope_theta": 1e6], "sliding_attention": ["rope_theta": 1e4]]
                         $0["rope_theta"] = true }, "rope_theta is true, expected a finite number")
        try withConfig({ $0["max_position_embeddings"] = [1] }, "max_position_embeddings")
        // an unsupported dtype, and a truncated header, in the first shard
        let shard = path.appendingPathComponent("model-00001-of-00002.safetensors")
        let shardData = try Data(contentsOf: shard)
        try writeSafetensors(shard, [("model.embed_tokens.weight", [2], [1, 2])], dtype: "I8")
        XCTAssertThrowsError(try ModelFile(path: path.path).fp32()) { XCTAssertTrue("\($0)".contains("dtype I8") && "\($0)".contains(shard.path), "\($0)") }
        try shardData.prefix(20).write(to: shard)
        XCTAssertThrowsError(try ModelFile(path: path.path).fp32()) { XCTAssertTrue("\($0)".contains("header") && "\($0)".contains(shard.path), "\($0)") }
        try shardData.write(to: shard)
        XCTAssertNoThrow(try ModelFile(path: path.path).fp32(), "the restored directory loads")
        let index = path.appendingPathComponent("model.safetensors.index.json")
        let indexData = try Data(contentsOf: index)
        var map = try JSONSerialization.jsonObject(with: indexData) as! [String: Any]
        var weights = map["weight_map"] as! [String: String]
        weights["model.layers.0.mlp.extra.weight"] = weights["model.norm.weight"]
        map["weight_map"] = weights
        try JSONSerialization.data(withJSONObject: map).write(to: index)
        XCTAssertThrowsError(try ModelFile(path: path.path).fp32()) { XCTAssertTrue("\($0)".contains("model.layers.0.mlp.extra.weight"), "\($0)") }
        // a weight_map entry that names no file, and a tensor the map leaves out (named with the index)
        var odd = map
        var oddWeights = weights as [String: Any]
        oddWeights["model.layers.0.mlp.extra.weight"] = 5
        odd["weight_map"] = oddWeights
        try JSONSerialization.data(withJSONObject: odd).write(to: index)
        XCTAssertThrowsError(try ModelFile(path: path.path).fp32()) {
            XCTAssertTrue("\($0)".contains("weight_map.model.layers.0.mlp.extra.weight is 5, expected a shard's file name"), "\($0)")
        }
        weights.removeValue(forKey: "model.layers.0.mlp.extra.weight")
        weights.removeValue(forKey: "model.norm.weight")
        map["weight_map"] = weights
        try JSONSerialization.data(withJSONObject: map).write(to: index)
        XCTAssertThrowsError(try ModelFile(path: path.path).fp32()) {
            XCTAssertTrue("\($0)".contains(index.path + ": missing tensor model.norm.weight"), "\($0)")
        }
        try indexData.write(to: index)
        try FileManager.default.removeItem(at: path.appendingPathComponent("model-00002-of-00002.safetensors"))
        XCTAssertThrowsError(try ModelFile(path: path.path).fp32()) { XCTAssertTrue("\($0)".contains("model-00002-of-00002.safetensors"), "\($0)") }
        XCTAssertThrowsError(try ModelFile(path: dir.appendingPathComponent("nothing-here").path)) { XCTAssertTrue("\($0)".contains("no such file")) }
        try FileManager.default.removeItem(at: path.appendingPathComponent("tokenizer.model"))
        XCTAssertThrowsError(try ModelFile(path: path.path).tokenizer()) { XCTAssertTrue("\($0)".contains("no tokenizer"), "\($0)") }
    }

    /// Damaged safetensors headers whose numbers would overflow Int arithmetic (a header
    /// length past Int.max, a shape whose dimensions are each allowed but whose product is not,
    /// offsets at ±2⁶³), and two tensors over the same bytes: refused with the file and the
    /// reason, never a trap.
    func testDamagedSafetensorsHeaders() throws {
        let dir = try temporaryDirectory("safetensors-damaged")
        let path = dir.appendingPathComponent("model.safetensors")
        func file(length: UInt64? = nil, _ header: [String: Any]) throws -> Data {
            var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
            while json.count % 8 != 0 { json.append(0x20) }
            var out: [UInt8] = []
            appendLE(&out, length ?? UInt64(json.count))
            return Data(out + [UInt8](json) + [UInt8](repeating: 0, count: 64))
        }
        func refused(_ data: Data, _ message: String, line: UInt = #line) throws {
            try data.write(to: path)
            XCTAssertThrowsError(try Safetensors.File(path: path.path), line: line) {
                XCTAssertTrue("\($0)".contains(message) && "\($0)".contains(path.path), "\($0)", line: line)
            }
        }
        func entry(_ shape: [Int], _ offsets: [Int]) -> [String: Any] { ["dtype": "F32", "shape": shape, "data_offsets": offsets] }
        try refused(try file(length: 1 << 63 + 7, [:]), "bad safetensors header length 9223372036854775815")
        try refused(try file(length: UInt64.max, [:]), "bad safetensors header length")
        try refused(try file(["a": entry([1 << 32, 1 << 32, 16], [0, 16])]), "impossible shape")
        try refused(try file(["a": entry([2], [1, Int.min])]), "which are no byte range")
        try refused(try file(["a": entry([2], [0, 12])]), "has data_offsets [0, 12] (12 bytes), but [2] in F32 takes 8")
        try refused(try file(["a": entry([2], [Int.max - 8, Int.max])]), "outside the file")
        try refused(try file(["a": entry([4], [0, 16]), "b": entry([4], [8, 24])]), "tensors a and b overlap")
        try file(["a": entry([4], [0, 16]), "b": entry([4], [16, 32]), "empty": entry([0], [16, 16])]).write(to: path)
        XCTAssertEqual(try Safetensors.File(path: path.path).tensors.count, 3, "adjacent tensors and an empty one are fine")
    }

    /// tokenizer.json (what transformers saves): the BPE vocabulary, merges ranked as scores,
    /// added tokens as control or user-defined; it tokenizes as the GGUF does. The vocabulary is
    /// read with OrderedJSON, which keeps pieces that differ only by Unicode normalization
    /// apart (Foundation's parser merged ";" and U+037E, and one token vanished).
    func testTokenizerJSON() throws {
        let dir = try temporaryDirectory("hf-tokenizer-json")
        let (path, _, gguf) = try hfDirectory(dir, dtype: "F32", shards: 1)
        try FileManager.default.removeItem(at: path.appendingPathComponent("tokenizer.model"))
        try FileManager.default.removeItem(at: path.appendingPathComponent("tokenizer_config.json"))
        let g = try TokenizerVocabulary(gguf: gguf)
        var tokens = g.tokens
        tokens[tokens.count - 2] = ";"
        tokens[tokens.count - 1] = "\u{037E}"   // canonically equivalent to ";", a different piece
        func q(_ s: String) -> String { String(data: try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes]), encoding: .utf8)!.dropFirst().dropLast().description }
        let vocab = tokens.enumerated().map { "\(q($0.element)): \($0.offset)" }.joined(separator: ", ")
        let merges = [("\u{2581}", "a"), ("a", "b"), ("ab", "c"), ("\u{2581}a", "b")].map { "[\(q($0.0)), \(q($0.1))]" }.joined(separator: ", ")
        let added = (0..<4).map { "{\"id\": \($0), \"content\": \(q(tokens[$0])), \"special\": true}" }.joined(separator: ", ")
        let json = """
        {"added_tokens": [\(added)], "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]},
         "model": {"type": "BPE", "byte_fallback": true, "vocab": {\(vocab)}, "merges": [\(merges)]}}
        """
        try Data(json.utf8).write(to: path.appendingPathComponent("tokenizer.json"))
        let v = try ModelFile(path: path.path).vocabulary()
        XCTAssertEqual(v.tokens.count, tokens.count)
        XCTAssertEqual(Array(v.tokens.suffix(2).map { Array($0.unicodeScalars) }), [[";"], ["\u{037E}"]], "both pieces kept, exactly")
        XCTAssertEqual(Array(v.types[0..<4]), [3, 3, 3, 3])
        XCTAssertEqual(v.types[4], 6, "<0x00> is a byte piece")
        XCTAssertEqual(v.addBOS, true, "TemplateProcessing starts with <bos>")
        XCTAssertEqual(v.scores[tokens.firstIndex(of: "ab")!], -1, "score = minus the rank of the merge that makes the piece")
        let fromJSON = try v.tokenizer(), fromGGUF = try Tokenizer(gguf: gguf)
        for text in ["abc abd", " a  b\n", "abab\u{2581}ab", "cab"] { XCTAssertEqual(fromJSON.encode(text), fromGGUF.encode(text), text) }
        let semicolon = Int32(tokens.count - 2), greek = Int32(tokens.count - 1)
        XCTAssertEqual(fromJSON.encode(";"), [semicolon])
        XCTAssertEqual(fromJSON.encode("\u{037E}"), [greek])
    }
}
