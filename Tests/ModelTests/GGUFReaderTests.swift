import Foundation
import XCTest
@testable import Model
import TestSupport

/// GGUF writer -> reader round trips, the reader's alignment and tensor table, and the model
/// loader's errors: every one must be a ModelFileError that names the file and the problem.
final class GGUFReaderTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = GGUFTestFiles.directory(name.filter { $0.isLetter || $0.isNumber })
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: dir)
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    // MARK: round trips

    func testEveryMetadataValueTypeRoundTrips() throws {
        let values: [(String, GGUFValue)] = [
            ("u8", .uint8(255)), ("i8", .int8(-128)), ("u16", .uint16(65535)), ("i16", .int16(-32768)),
            ("u32", .uint32(.max)), ("i32", .int32(.min)), ("f32", .float32(-1.5e-7)), ("t", .bool(true)),
            ("f", .bool(false)), ("s", .string("héllo ▁ wörld \u{1F600}")), ("empty", .string("")),
            ("u64", .uint64(.max)), ("i64", .int64(.min)), ("f64", .float64(-.pi)),
            ("ints", .array([.int32(1), .int32(-2), .int32(3)])),
            ("u8s", .array((0...255).map { .uint8(UInt8($0)) })),
            ("f32s", .array([.float32(0.5), .float32(-.infinity)])),
            ("strings", .array([.string("a"), .string(""), .string("▁b")])),
            ("bools", .array([.bool(true), .bool(false)])),
            ("u64s", .array([.uint64(0), .uint64(1 << 63)])),
            ("nested", .array([.array([.int32(1), .int32(2)]), .array([.int32(3)])])),
            ("nestedStrings", .array([.array([.string("x")]), .array([.string("y"), .string("z")])])),
            ("emptyArray", .array([])),
        ]
        var w = GGUFWriter()
        for (k, v) in values { w.set(k, v) }
        w.set("u8", .uint8(7))   // replacing a key keeps its position
        let file = path("meta.gguf")
        try w.write(to: file)
        let g = try GGUFFile(path: file)
        XCTAssertEqual(g.version, 3)
        XCTAssertEqual(g.metadataKeys, values.map(\.0))
        XCTAssertEqual(g.metadata["u8"], .uint8(7))
        for (k, v) in values.dropFirst() { XCTAssertEqual(g.metadata[k], v, k) }
        XCTAssertTrue(g.tensors.isEmpty)
        XCTAssertEqual(g.alignment, 32)
        XCTAssertEqual(g.dataOffset % 32, 0)

        // accessors
        XCTAssertEqual(try g.requireInt("u16"), 65535)
        XCTAssertEqual(try g.requireInt("i64"), Int(Int64.min))
        XCTAssertEqual(try g.requireDouble("f64"), -.pi)
        XCTAssertEqual(try g.requireDouble("u8"), 7)
        XCTAssertEqual(try g.stringArray("strings"), ["a", "", "▁b"])
        XCTAssertEqual(try g.numberArray("ints"), [1, -2, 3])
        XCTAssertNil(g.metadata["u64"]!.int, "2^64-1 does not fit an Int")
        assertModelFileError(file, ["missing or non-integer metadata s"]) { _ = try g.requireInt("s") }
        assertModelFileError(file, ["missing or non-integer metadata nope"]) { _ = try g.requireInt("nope") }
        assertModelFileError(file, ["missing or non-numeric metadata s"]) { _ = try g.requireDouble("s") }
        assertModelFileError(file, ["ints must hold strings"]) { _ = try g.stringArray("ints") }
        assertModelFileError(file, ["strings must hold numbers"]) { _ = try g.numberArray("strings") }
        assertModelFileError(file, ["missing array metadata u8"]) { _ = try g.stringArray("u8") }
    }

    func testFloatNaNMetadataKeepsItsBits() throws {
        var w = GGUFWriter()
        w.set("nan", .float32(Float(bitPattern: 0x7FC0_0001)))
        w.set("nan64", .float64(Double(bitPattern: 0xFFF8_0000_0000_0002)))
        let file = path("nan.gguf")
        try w.write(to: file)
        let g = try GGUFFile(path: file)
        guard case .float32(let f) = g.metadata["nan"], case .float64(let d) = g.metadata["nan64"] else { return XCTFail() }
        XCTAssertEqual(f.bitPattern, 0x7FC0_0001)
        XCTAssertEqual(d.bitPattern, 0xFFF8_0000_0000_0002)
    }

    func testArraysNestedThreeDeepAreRejected() throws {
        var w = GGUFWriter()
        w.set("deep", .array([.array([.array([.int32(1)])])]))
        let file = path("deep.gguf")
        try w.write(to: file)
        assertModelFileError(file, ["nested too deeply"]) { _ = try GGUFFile(path: file) }
    }

    func testTensorTableRoundTrip() throws {
        var w = GGUFWriter()
        w.set("general.architecture", .string("test"))
        let a = (0..<15).map { Float($0) * 0.25 - 1 }
        let h: [Float] = [1, -2, 0.5, 65504, -0.0, 6.103515625e-05, 5.9604645e-08, 0.1]
        let bf: [Float] = [1, -3.140625, 0.25, 65536, -0.0, 1e-20, 2]
        w.addTensor("a", shape: [3, 5], values: a)
        w.addTensor("h", shape: [2, 4], values: h, type: .f16)
        w.addTensor("bf", shape: [7], values: bf, type: .bf16)
        var q8 = ByteBuilder()
        for blk in 0..<2 {
            q8.u16(0x3800)
            for j in 0..<32 { q8.u8(UInt8(bitPattern: Int8(j - 16 + blk))) }
        }
        w.addRawTensor("q", shape: [2, 1, 1, 32], type: .q8_0, bytes: q8.bytes)
        let file = path("tensors.gguf")
        try w.write(to: file)

        let g = try GGUFFile(path: file)
        XCTAssertEqual(g.tensors.map(\.name), ["a", "h", "bf", "q"])
        XCTAssertEqual(g.tensors.map(\.dims), [[5, 3], [4, 2], [7], [32, 1, 1, 2]])
        XCTAssertEqual(g.tensors.map(\.shape), [[3, 5], [2, 4], [7], [2, 1, 1, 32]])
        XCTAssertEqual(g.tensors.map(\.type), [.f32, .f16, .bf16, .q8_0])
        XCTAssertEqual(g.tensors.map(\.offset), [0, 64, 96, 128], "each tensor starts on a 32-byte boundary")
        XCTAssertEqual(g.dataOffset % 32, 0)
        XCTAssertEqual(g.tensor(named: "h")?.elementCount, 8)
        XCTAssertNil(g.tensor(named: "missing"))

        func values(_ name: String) -> [Float] {
            let info = g.tensor(named: name)!
            var out = [Float](repeating: .nan, count: info.elementCount)
            g.dequantize(info, into: &out)
            return out
        }
        XCTAssertEqual(values("a"), a)
        XCTAssertEqual(values("h").map(\.bitPattern), h.map { halfToFloat(floatToHalf($0)).bitPattern })
        XCTAssertEqual(values("h")[4].bitPattern, 0x8000_0000)
        // bf16 rounds to nearest, ties to even (as gguf-py and PyTorch convert): add just under
        // half of the dropped 16 bits' unit, plus the kept lowest bit, then cut
        XCTAssertEqual(values("bf").map(\.bitPattern), bf.map { ($0.bitPattern + 0x7FFF + (($0.bitPattern >> 16) & 1)) & 0xFFFF_0000 },
                       "bf16 rounds to nearest even")
        XCTAssertEqual(values("q"), (0..<64).map { Float($0 % 32 - 16 + $0 / 32) * 0.5 })
        XCTAssertEqual(g.rawData(g.tensor(named: "q")!).count, 68)

        // requireTensor
        XCTAssertEqual(try g.requireTensor("a", shape: [3, 5]).name, "a")
        assertModelFileError(file, ["tensor a has shape [3, 5], expected [5, 3]"]) { _ = try g.requireTensor("a", shape: [5, 3]) }
        assertModelFileError(file, ["tensor bf has shape [7], expected [1, 7]"]) { _ = try g.requireTensor("bf", shape: [1, 7]) }
        assertModelFileError(file, ["missing tensor nope"]) { _ = try g.requireTensor("nope", shape: [1]) }
    }

    /// A file built by hand (not with GGUFWriter): version 2, general.alignment = 64, so the data
    /// section and every tensor offset are multiples of 64.
    func handBuiltFile(alignment: Int, alignmentValue: GGUFValue? = nil, offsets: [UInt64] = [0, 64], version: UInt32 = 2) -> [UInt8] {
        var b = ByteBuilder()
        b.u32(0x4655_4747); b.u32(version)
        b.u64(2)   // tensors
        b.u64(alignmentValue == nil ? 1 : 2)
        b.string("general.name"); b.u32(8); b.string("hand")
        if let alignmentValue {
            b.string("general.alignment")
            switch alignmentValue {
            case .uint32(let v): b.u32(4); b.u32(v)
            case .uint64(let v): b.u32(10); b.u64(v)
            case .int32(let v): b.u32(5); b.int(v)
            case .string(let s): b.u32(8); b.string(s)
            default: fatalError()
            }
        }
        b.string("x"); b.u32(1); b.u64(3); b.u32(0); b.u64(offsets[0])
        b.string("y"); b.u32(2); b.u64(2); b.u64(2); b.u32(1); b.u64(offsets[1])
        b.pad(to: alignment)
        let start = b.bytes.count
        b.u32(Float(1).bitPattern); b.u32(Float(2).bitPattern); b.u32(Float(3).bitPattern)
        while b.bytes.count < start + Int(offsets[1]) { b.u8(0xEE) }
        for v: UInt16 in [0x3C00, 0x4000, 0x4200, 0x4400] { b.u16(v) }
        return b.bytes
    }

    func testAlignment64() throws {
        let file = path("align64.gguf")
        let bytes = handBuiltFile(alignment: 64, alignmentValue: .uint32(64))
        GGUFTestFiles.write(bytes, to: file)
        let g = try GGUFFile(path: file)
        XCTAssertEqual(g.version, 2)
        XCTAssertEqual(g.alignment, 64)
        XCTAssertEqual(g.dataOffset % 64, 0)
        XCTAssertEqual(g.tensors.map(\.offset), [0, 64])
        var x = [Float](repeating: 0, count: 3), y = [Float](repeating: 0, count: 4)
        g.dequantize(g.tensor(named: "x")!, into: &x)
        g.dequantize(g.tensor(named: "y")!, into: &y)
        XCTAssertEqual(x, [1, 2, 3])
        XCTAssertEqual(y, [1, 2, 3, 4])

        // the default alignment 32: the data section and y (after x's 12 bytes) at multiples of 32
        let file32 = path("align32.gguf")
        GGUFTestFiles.write(handBuiltFile(alignment: 32, offsets: [0, 32]), to: file32)
        let g32 = try GGUFFile(path: file32)
        XCTAssertEqual(g32.alignment, 32)
        XCTAssertEqual(g32.dataOffset % 32, 0)
        g32.dequantize(g32.tensor(named: "x")!, into: &x)
        XCTAssertEqual(x, [1, 2, 3])

        // offsets that are multiples of 32 but not of 64 are misaligned under general.alignment = 64
        let bad = path("misaligned.gguf")
        GGUFTestFiles.write(handBuiltFile(alignment: 64, alignmentValue: .uint64(64), offsets: [0, 32]), to: bad)
        assertModelFileError(bad, ["tensor y", "misaligned"]) { _ = try GGUFFile(path: bad) }

        for (i, v) in [GGUFValue.uint32(48), .uint32(0), .int32(-64), .string("64"), .uint64(1 << 40)].enumerated() {
            let f = path("badalign\(i).gguf")
            GGUFTestFiles.write(handBuiltFile(alignment: 64, alignmentValue: v), to: f)
            assertModelFileError(f, ["general.alignment must be a power of two"]) { _ = try GGUFFile(path: f) }
        }
    }

    // MARK: the model loader's errors

    /// A valid small tiny-model file, its bytes and the positions of its header fields.
    func tinyModel() throws -> (path: String, bytes: [UInt8], scan: GGUFHeaderScan) {
        let file = path("tiny.gguf")
        _ = try TinyGemma.write(config: GGUFTestFiles.smallConfig, seed: 3, to: file)
        let bytes = GGUFTestFiles.read(file)
        return (file, bytes, GGUFHeaderScan(bytes))
    }

    func load(_ file: String) throws {
        let g = try GGUFFile(path: file)
        _ = try GemmaModel(gguf: g)
        _ = try Tokenizer(gguf: g)
    }

    func testTinyModelLoads() throws {
        let t = try tinyModel()
        let g = try GGUFFile(path: t.path)
        let model = try GemmaModel(gguf: g)
        XCTAssertEqual(model.config, GGUFTestFiles.smallConfig)
        XCTAssertEqual(try Tokenizer(gguf: g).vocabularySize, 300)
        // the scanner agrees with the reader
        XCTAssertEqual(t.scan.kvEntries.map(\.key), g.metadataKeys)
        XCTAssertEqual(t.scan.tensorEntries.map(\.name), g.tensors.map(\.name))
        XCTAssertEqual(g.dataOffset, (t.scan.headerEnd + 31) / 32 * 32)
    }

    func mutated(_ name: String, _ edit: (inout [UInt8], GGUFHeaderScan) -> Void) throws -> String {
        var t = try tinyModel()
        edit(&t.bytes, t.scan)
        let file = path(name)
        GGUFTestFiles.write(t.bytes, to: file)
        return file
    }

    func testBadMagic() throws {
        let f = try mutated("magic.gguf") { b, _ in b[3] = 0x58 }
        assertModelFileError(f, ["not a GGUF file", "bad magic"]) { try load(f) }
        let text = path("text.gguf")
        GGUFTestFiles.write(Array("hello, this is not a model\n".utf8), to: text)
        assertModelFileError(text, ["bad magic"]) { try load(text) }
    }

    func testUnsupportedVersion() throws {
        for v: UInt64 in [1, 4, 0xFFFF_FFFF] {
            let f = try mutated("version\(v).gguf") { b, _ in b.put(v, at: 4, size: 4) }
            assertModelFileError(f, ["unsupported GGUF version \(v)"]) { try load(f) }
        }
    }

    func testTruncatedHeader() throws {
        let t = try tinyModel()
        for length in [1, 3, 4, 7, 8, 12, 16, 20, 24, 30, 40, t.scan.headerEnd / 3, t.scan.headerEnd / 2, t.scan.headerEnd - 1] {
            let f = path("trunc\(length).gguf")
            GGUFTestFiles.write(Array(t.bytes[0..<length]), to: f)
            do {
                try load(f)
                XCTFail("truncated at \(length) loaded")
            } catch let e as ModelFileError {
                XCTAssertEqual(e.file, f)
                XCTAssertTrue(e.message.contains("truncated") || e.message.contains("impossible for a file of \(length) bytes"),
                              "truncated at \(length): \(e.message)")
            }
        }
        let f = path("trunc10.gguf")
        GGUFTestFiles.write(Array(t.bytes[0..<10]), to: f)
        assertModelFileError(f, ["truncated header at byte 8"]) { try load(f) }
    }

    func testTruncatedData() throws {
        let t = try tinyModel()
        for cut in [1, 4, 100, t.bytes.count - t.scan.headerEnd - 1] {
            let f = path("cut\(cut).gguf")
            GGUFTestFiles.write(Array(t.bytes[0..<(t.bytes.count - cut)]), to: f)
            assertModelFileError(f, ["data lies outside the file", "truncated"]) { try load(f) }
        }
    }

    /// llama.cpp's layout rule: each tensor's data starts where the previous one's ends (rounded
    /// up to the alignment). Two tensors sharing data, or a type relabelled in place (F32 read as
    /// F16: half the bytes, different values), are damaged tables that would load as other weights.
    func testTensorsMustFollowEachOther() throws {
        let t = try tinyModel()
        let order = t.scan.tensorEntries.map(\.name)
        let (first, second) = (order[1], order[2])
        let shared = try mutated("shared.gguf") { b, s in
            b.put(UInt64(0), at: s.field(.tensorOffset, second).offset, size: 8)
        }
        assertModelFileError(shared, ["tensor \(second)'s data starts at 0, but the previous tensor \(first)"]) { try load(shared) }
        let norm = "blk.0.attn_norm.weight"
        let relabelled = try mutated("relabelled.gguf") { b, s in
            b.put(UInt64(GGMLType.f16.rawValue), at: s.field(.tensorType, norm).offset, size: 4)
        }
        assertModelFileError(relabelled, ["the previous tensor \(norm) (F16"]) { try load(relabelled) }
    }

    func testTensorDataOutsideTheFile() throws {
        for (i, offset) in ([1 << 40, 1 << 20, (1 << 48) - 32] as [UInt64]).enumerated() {
            let f = try mutated("outside\(i).gguf") { b, s in
                b.put(offset, at: s.field(.tensorOffset, "blk.0.attn_q.weight").offset, size: 8)
            }
            assertModelFileError(f, ["tensor blk.0.attn_q.weight data lies outside the file"]) { try load(f) }
        }
        let f = try mutated("impossible.gguf") { b, s in
            b.put(1 << 60, at: s.field(.tensorOffset, "token_embd.weight").offset, size: 8)
        }
        assertModelFileError(f, ["tensor token_embd.weight", "impossible offset"]) { try load(f) }
        let g = try mutated("misaligned.gguf") { b, s in
            b.put(16, at: s.field(.tensorOffset, "output_norm.weight").offset, size: 8)
        }
        assertModelFileError(g, ["tensor output_norm.weight", "misaligned"]) { try load(g) }
    }

    func testUnknownTensorType() throws {
        for type: UInt64 in [2, 13, 31, 0xFFFF_FFFF] {
            let f = try mutated("type\(type).gguf") { b, s in
                b.put(type, at: s.field(.tensorType, "blk.1.ffn_up.weight").offset, size: 4)
            }
            assertModelFileError(f, ["tensor blk.1.ffn_up.weight has unsupported type \(type)"]) { try load(f) }
        }
        // a quantized type whose block does not divide the rows
        let f = try mutated("q4k.gguf") { b, s in
            b.put(12, at: s.field(.tensorType, "blk.1.ffn_up.weight").offset, size: 4)
        }
        assertModelFileError(f, ["blk.1.ffn_up.weight", "not a whole number of Q4_K blocks"]) { try load(f) }
    }

    func testBadTensorTable() throws {
        let f = try mutated("dims.gguf") { b, s in b.put(5, at: s.field(.nDims, "blk.0.attn_k.weight").offset, size: 4) }
        assertModelFileError(f, ["tensor blk.0.attn_k.weight has 5 dimensions"]) { try load(f) }
        let g = try mutated("dim0.gguf") { b, s in b.put(0, at: s.field(.dim, "blk.0.attn_k.weight").offset, size: 8) }
        assertModelFileError(g, ["tensor blk.0.attn_k.weight has a bad dimension 0"]) { try load(g) }
        let h = try mutated("big.gguf") { b, s in
            b.put(1 << 30, at: s.field(.dim, "blk.0.attn_k.weight").offset, size: 8)
            b.put(1 << 30, at: s.field(.dim, "blk.0.attn_k.weight", index: 1).offset, size: 8)
        }
        assertModelFileError(h, ["tensor blk.0.attn_k.weight is too large"]) { try load(h) }
    }

    func testMissingTensor() throws {
        let t = try tinyModel()
        let f = path("missing.gguf")
        try GGUFTestFiles.rewrite(t.path, to: f, tensors: { $0.removeAll { $0.name == "blk.1.attn_k_norm.weight" } })
        assertModelFileError(f, ["missing tensor blk.1.attn_k_norm.weight"]) { try load(f) }
    }

    func testUnexpectedTensor() throws {
        let t = try tinyModel()
        let f = path("extra.gguf")
        try GGUFTestFiles.rewrite(t.path, to: f, tensors: { $0.append((name: "output.weight", shape: [4], type: .f32, bytes: [UInt8](repeating: 0, count: 16))) })
        assertModelFileError(f, ["unexpected tensor output.weight"]) { try load(f) }
    }

    func testWrongShape() throws {
        let t = try tinyModel()
        let f = path("shape.gguf")
        try GGUFTestFiles.rewrite(t.path, to: f, tensors: { ts in
            let i = ts.firstIndex { $0.name == "blk.0.ffn_down.weight" }!
            ts[i].shape = [ts[i].shape[1], ts[i].shape[0]]   // transposed: same bytes, wrong shape
        })
        assertModelFileError(f, ["tensor blk.0.ffn_down.weight has shape [24, 16], expected [16, 24]"]) { try load(f) }
        // a dimension patched in place (fewer rows) also fails cleanly: the next tensor's data no
        // longer starts where token_embd's ends (llama.cpp's layout rule)
        let g = try mutated("rows.gguf") { b, s in b.put(299, at: s.field(.dim, "token_embd.weight", index: 1).offset, size: 8) }
        assertModelFileError(g, ["the previous tensor token_embd.weight (", "[299, 16]) ends at"]) { try load(g) }
    }

    func testNonFiniteWeight() throws {
        let t = try tinyModel()
        let f = path("nan.gguf")
        try GGUFTestFiles.rewrite(t.path, to: f, tensors: { ts in
            let i = ts.firstIndex { $0.name == "blk.1.attn_v.weight" }!
            ts[i].bytes.put(UInt64(Float.infinity.bitPattern), at: 8, size: 4)
        })
        assertModelFileError(f, ["tensor blk.1.attn_v.weight holds a non-finite value"]) { try load(f) }
    }

    func testArchitectureOtherThanGemma3() throws {
        let t = try tinyModel()
        let f = path("llama.gguf")
        try GGUFTestFiles.rewrite(t.path, to: f, metadata: { md in
            md[md.firstIndex { $0.0 == "general.architecture" }!].1 = .string("llama")
        })
        assertModelFileError(f, ["architecture is llama, expected gemma3"]) { try load(f) }
        let g = path("noarch.gguf")
        try GGUFTestFiles.rewrite(t.path, to: g, metadata: { $0.removeAll { $0.0 == "general.architecture" } })
        assertModelFileError(g, ["missing general.architecture"]) { try load(g) }
        let h = path("intarch.gguf")
        try GGUFTestFiles.rewrite(t.path, to: h, metadata: { md in
            md[md.firstIndex { $0.0 == "general.architecture" }!].1 = .uint32(3)
        })
        assertModelFileError(h, ["missing general.architecture"]) { try load(h) }
    }

    /// Optional gemma3 keys may be absent (their defaults apply) but are refused with another
    /// type: a float32 sliding window must not silently become the default 512.
    func testOptionalMetadataOfAnotherTypeIsRefused() throws {
        let t = try tinyModel()
        let cases: [(String, GGUFValue, String)] = [
            ("gemma3.attention.sliding_window", .float32(1), "metadata gemma3.attention.sliding_window is float32 1.0, expected an integer"),
            ("gemma3.attention.sliding_window", .bool(true), "is the boolean true, expected an integer"),
            ("gemma3.context_length", .string("512"), "metadata gemma3.context_length is a string \"512\", expected an integer"),
            ("gemma3.attention.value_length", .string("x"), "gemma3.attention.value_length is a string"),
            ("gemma3.rope.freq_base", .array([.float32(1)]), "gemma3.rope.freq_base is an array of 1, expected a number"),
            ("gemma3.context_length", .uint64(1 << 63), "metadata gemma3.context_length is uint64 9223372036854775808, expected an integer"),
            ("gemma3.attention.sliding_window_pattern", .array([.bool(true), .bool(false), .bool(false)]),
             "is no repeating pattern of sliding layers and one global layer"),
        ]
        for (i, (key, value, message)) in cases.enumerated() {
            let f = path("optional\(i).gguf")
            try GGUFTestFiles.rewrite(t.path, to: f, metadata: { md in
                md.removeAll { $0.0 == key }
                md.append((key, value))
            })
            assertModelFileError(f, [message]) { try load(f) }
        }
        // the pattern as gguf-py's add_sliding_window_pattern writes it: true for a sliding layer
        let layers = try GemmaConfig(gguf: GGUFFile(path: t.path)).layers
        let b = path("boolpattern.gguf")
        try GGUFTestFiles.rewrite(t.path, to: b, metadata: { md in
            md.removeAll { $0.0 == "gemma3.attention.sliding_window_pattern" }
            md.append(("gemma3.attention.sliding_window_pattern", .array((0..<layers).map { .bool(($0 + 1) % 2 != 0) })))
        })
        XCTAssertEqual(try GemmaConfig(gguf: GGUFFile(path: b)).slidingPattern, 2, "\(layers) layers")
        // absent: the default
        let g = path("nowindow.gguf")
        try GGUFTestFiles.rewrite(t.path, to: g, metadata: { $0.removeAll { $0.0 == "gemma3.attention.sliding_window" } })
        XCTAssertEqual(try GemmaConfig(gguf: GGUFFile(path: g)).slidingWindow, 512)
    }

    func testMissingMetadataKey() throws {
        let t = try tinyModel()
        for key in ["gemma3.embedding_length", "gemma3.block_count", "gemma3.attention.head_count_kv",
                    "gemma3.attention.key_length", "gemma3.feed_forward_length"] {
            let f = path("no-\(key).gguf")
            try GGUFTestFiles.rewrite(t.path, to: f, metadata: { $0.removeAll { $0.0 == key } })
            assertModelFileError(f, ["missing or non-integer metadata \(key)"]) { try load(f) }
        }
        let f = path("no-eps.gguf")
        try GGUFTestFiles.rewrite(t.path, to: f, metadata: { $0.removeAll { $0.0 == "gemma3.attention.layer_norm_rms_epsilon" } })
        assertModelFileError(f, ["missing or non-numeric metadata gemma3.attention.layer_norm_rms_epsilon"]) { try load(f) }
        let g = path("no-tokens.gguf")
        try GGUFTestFiles.rewrite(t.path, to: g, metadata: { $0.removeAll { $0.0 == "tokenizer.ggml.tokens" } })
        assertModelFileError(g, ["missing array metadata tokenizer.ggml.tokens"]) { try load(g) }
        let h = path("no-scores.gguf")
        try GGUFTestFiles.rewrite(t.path, to: h, metadata: { $0.removeAll { $0.0 == "tokenizer.ggml.scores" } })
        assertModelFileError(h, ["missing array metadata tokenizer.ggml.scores"]) { _ = try Tokenizer(gguf: GGUFFile(path: h)) }
    }

    func testImplausibleDimensions() throws {
        let t = try tinyModel()
        let cases: [[(String, GGUFValue)]] = [
            [("gemma3.attention.head_count_kv", .uint32(0))], [("gemma3.embedding_length", .uint32(1 << 20))],
            [("gemma3.attention.head_count_kv", .uint32(3))], [("gemma3.block_count", .int32(-1))],
            [("gemma3.attention.key_length", .uint32(7)), ("gemma3.attention.value_length", .uint32(7))],
        ]
        for (i, edits) in cases.enumerated() {
            let f = path("dims-\(i).gguf")
            try GGUFTestFiles.rewrite(t.path, to: f, metadata: { md in
                for (key, value) in edits { md[md.firstIndex { $0.0 == key }!].1 = value }
            })
            assertModelFileError(f, ["implausible gemma3 dimensions"]) { try load(f) }
        }
        let f = path("kv-differ.gguf")
        try GGUFTestFiles.rewrite(t.path, to: f, metadata: { md in
            md[md.firstIndex { $0.0 == "gemma3.attention.value_length" }!].1 = .uint32(16)
        })
        assertModelFileError(f, ["key_length and value_length differ"]) { try load(f) }
    }

    /// Dimensions below the 2^20 plausibility limit can still describe a model far larger than the
    /// file (here ~24 TB of parameters, or 2^20 layers): the loader must reject them from the
    /// tensor table before allocating, not die in the allocation.
    func testDimensionsTooLargeForTheFile() throws {
        let t = try tinyModel()
        let cases: [(String, [(String, GGUFValue)])] = [
            ("wide", [("gemma3.embedding_length", .uint32((1 << 20) - 1)), ("gemma3.feed_forward_length", .uint32((1 << 20) - 1))]),
            ("deep", [("gemma3.block_count", .uint32((1 << 20) - 1))]),
            ("heads", [("gemma3.attention.head_count", .uint32((1 << 20) - 1)), ("gemma3.attention.head_count_kv", .uint32((1 << 20) - 1)),
                       ("gemma3.attention.key_length", .uint32((1 << 20) - 2)), ("gemma3.attention.value_length", .uint32((1 << 20) - 2))]),
        ]
        // Without the bound (GemmaConfig + GemmaModel checking the tensor table before allocating),
        // the "wide" case dies in FloatBuffer's fatalError and takes the whole test process with
        // it; probe with GemmaConfig alone (which allocates nothing) and fail instead of crashing.
        let probe = path("huge-probe.gguf")
        try GGUFTestFiles.rewrite(t.path, to: probe, metadata: { md in
            md[md.firstIndex { $0.0 == "gemma3.block_count" }!].1 = .uint32((1 << 20) - 1)
        })
        if (try? GemmaConfig(gguf: GGUFFile(path: probe))) != nil {
            return XCTFail("GemmaConfig(gguf:) accepts 2^20-1 layers for a file of 28 tensors; loading such files would crash")
        }
        for (name, edits) in cases {
            let f = path("huge-\(name).gguf")
            try GGUFTestFiles.rewrite(t.path, to: f, metadata: { md in
                for (key, value) in edits { md[md.firstIndex { $0.0 == key }!].1 = value }
            })
            let start = Date()
            XCTAssertThrowsError(try load(f), name) { error in
                XCTAssertEqual((error as? ModelFileError)?.file, f, "\(error)")
            }
            XCTAssertLessThan(Date().timeIntervalSince(start), 2, "\(name): rejected without building a huge model")
        }
    }

    func testNonUTF8String() throws {
        let f = try mutated("utf8-key.gguf") { b, s in b[s.field(.keyLength, "key").offset + 8] = 0xFF }
        assertModelFileError(f, ["is not valid UTF-8"]) { try load(f) }
        let g = try mutated("utf8-value.gguf") { b, s in
            b[s.field(.stringLength, "general.architecture").offset + 9] = 0xC3   // "g\xC3mma3": a lead byte without continuation
        }
        assertModelFileError(g, ["is not valid UTF-8"]) { try load(g) }
        let h = try mutated("utf8-tensor.gguf") { b, s in
            b[s.field(.tensorNameLength, "tensor", index: 3).offset + 8] = 0x80
        }
        assertModelFileError(h, ["is not valid UTF-8"]) { try load(h) }
    }

    func testDuplicateKeysAndTensors() throws {
        let k = try mutated("dupkey.gguf") { b, s in
            let e = s.kvEntries[1].range
            b.insert(contentsOf: b[e], at: e.upperBound)
            b.put(UInt64(s.kvEntries.count + 1), at: 16, size: 8)
        }
        assertModelFileError(k, ["duplicate metadata key gemma3.context_length"]) { try load(k) }
        let t = try mutated("duptensor.gguf") { b, s in
            let e = s.tensorEntries[0].range
            b.insert(contentsOf: b[e], at: e.upperBound)
            b.put(UInt64(s.tensorEntries.count + 1), at: 8, size: 8)
        }
        assertModelFileError(t, ["duplicate tensor token_embd.weight"]) { try load(t) }
    }

    func testNotARegularFile() throws {
        assertModelFileError(dir.path, ["not a regular file"]) { try load(dir.path) }
        let missing = path("does-not-exist.gguf")
        assertModelFileError(missing, ["cannot open", "No such file"]) { try load(missing) }
        let empty = path("empty.gguf")
        GGUFTestFiles.write([], to: empty)
        assertModelFileError(empty, ["file is empty"]) { try load(empty) }
        // a named pipe nobody writes to: refused at once, not waited on (on a thread, so that a
        // regression fails here instead of hanging the suite)
        let fifo = path("pipe.gguf")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        final class Outcome: @unchecked Sendable { var message = "" }
        let outcome = Outcome(), done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            do { _ = try ModelFile(path: fifo) } catch { outcome.message = "\(error)" }
            done.signal()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 20), .success, "opening a FIFO must not wait for a writer")
        XCTAssertTrue(outcome.message.contains("\(fifo): not a regular file"), outcome.message)
    }

    func testWriterIsAtomic() throws {
        var w = GGUFWriter()
        w.set("k", .string("v"))
        let file = path("atomic.gguf")
        try w.write(to: file)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [])
        assertModelFileError(path("no/such/dir/x.gguf"), ["cannot write"]) { try w.write(to: path("no/such/dir/x.gguf")) }
    }
}
