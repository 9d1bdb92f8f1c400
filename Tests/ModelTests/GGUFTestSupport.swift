import Foundation
import XCTest
@testable import Model
import TestSupport

/// Little-endian byte building for hand-made GGUF files and quant blocks (independent of GGUFWriter).
struct ByteBuilder {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { int(v) }
    mutating func u32(_ v: UInt32) { int(v) }
    mutating func u64(_ v: UInt64) { int(v) }
    mutating func int<T: FixedWidthInteger>(_ v: T) {
        for i in 0..<MemoryLayout<T>.size { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) }
    }
    mutating func string(_ s: String) { u64(UInt64(s.utf8.count)); bytes.append(contentsOf: s.utf8) }
    mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    mutating func pad(to alignment: Int) { while bytes.count % alignment != 0 { bytes.append(0) } }
}

/// Where each field of a GGUF header lies, found by walking the header in the test itself
/// (not with the reader under test), so tests and the fuzzer can overwrite individual fields.
struct GGUFHeaderScan {
    enum Kind: String, CaseIterable {
        case tensorCount, kvCount, keyLength, valueTag, arrayElementTag, arrayLength, stringLength, scalar
        case tensorNameLength, nDims, dim, tensorType, tensorOffset
    }
    struct Field { var kind: Kind; var offset: Int; var size: Int; var name: String }
    var fields: [Field] = []
    /// Byte ranges of each key/value entry and each tensor-table entry.
    var kvEntries: [(key: String, range: Range<Int>)] = []
    var tensorEntries: [(name: String, range: Range<Int>)] = []
    /// End of the tensor table (before the alignment padding).
    var headerEnd = 0

    init(_ b: [UInt8]) {
        var p = 8
        func u32() -> UInt32 { defer { p += 4 }; return (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[p + $1]) << (8 * $1) } }
        func u64() -> UInt64 { defer { p += 8 }; return (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[p + $1]) << (8 * $1) } }
        func str(_ kind: Kind, _ ctx: String) -> String {
            fields.append(Field(kind: kind, offset: p, size: 8, name: ctx))
            let n = Int(u64())
            defer { p += n }
            return String(decoding: b[p..<(p + n)], as: UTF8.self)
        }
        func sizeOf(_ tag: UInt32) -> Int { [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8][Int(tag)] }
        func value(_ tag: UInt32, _ ctx: String) {
            switch tag {
            case 8: _ = str(.stringLength, ctx)
            case 9:
                fields.append(Field(kind: .arrayElementTag, offset: p, size: 4, name: ctx))
                let et = u32()
                fields.append(Field(kind: .arrayLength, offset: p, size: 8, name: ctx))
                let n = Int(u64())
                if et == 8 || et == 9 {
                    for _ in 0..<n { value(et, ctx) }
                } else {
                    // record only the first few elements of long numeric arrays
                    for i in 0..<n {
                        if i < 4 { fields.append(Field(kind: .scalar, offset: p, size: sizeOf(et), name: ctx)) }
                        p += sizeOf(et)
                    }
                }
            default:
                fields.append(Field(kind: .scalar, offset: p, size: sizeOf(tag), name: ctx))
                p += sizeOf(tag)
            }
        }
        fields.append(Field(kind: .tensorCount, offset: p, size: 8, name: ""))
        let nt = Int(u64())
        fields.append(Field(kind: .kvCount, offset: p, size: 8, name: ""))
        let nkv = Int(u64())
        for _ in 0..<nkv {
            let start = p
            let key = str(.keyLength, "key")
            fields.append(Field(kind: .valueTag, offset: p, size: 4, name: key))
            let tag = u32()
            value(tag, key)
            kvEntries.append((key, start..<p))
        }
        for _ in 0..<nt {
            let start = p
            let name = str(.tensorNameLength, "tensor")
            fields.append(Field(kind: .nDims, offset: p, size: 4, name: name))
            let nd = Int(u32())
            for _ in 0..<nd {
                fields.append(Field(kind: .dim, offset: p, size: 8, name: name))
                p += 8
            }
            fields.append(Field(kind: .tensorType, offset: p, size: 4, name: name))
            p += 4
            fields.append(Field(kind: .tensorOffset, offset: p, size: 8, name: name))
            p += 8
            tensorEntries.append((name, start..<p))
        }
        headerEnd = p
    }

    func field(_ kind: Kind, _ name: String, index: Int = 0) -> Field {
        fields.filter { $0.kind == kind && $0.name == name }[index]
    }
}

extension Array where Element == UInt8 {
    /// Overwrite `size` bytes at `offset` with the low bytes of `value`, little-endian.
    mutating func put(_ value: UInt64, at offset: Int, size: Int) {
        for i in 0..<size { self[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }
    func le(at offset: Int, size: Int) -> UInt64 {
        (0..<size).reduce(UInt64(0)) { $0 | UInt64(self[offset + $1]) << (8 * UInt64($1)) }
    }
}

enum GGUFTestFiles {
    /// A fresh scratch directory for one test.
    static func directory(_ name: String) -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ggufTests-\(getpid())-\(name)")
        try? FileManager.default.removeItem(at: dir)
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Write (or overwrite in place) a file; plain POSIX calls, fast enough for the fuzzer's 1,000+ files.
    static func write(_ bytes: [UInt8], to path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        precondition(fd >= 0, "cannot create \(path)")
        defer { close(fd) }
        bytes.withUnsafeBytes { b in
            var done = 0
            while done < b.count {
                let n = Foundation.write(fd, b.baseAddress! + done, b.count - done)
                precondition(n > 0, "cannot write \(path)")
                done += n
            }
        }
    }

    static func read(_ path: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: path)!) }

    /// A small tiny-model config used by the loader tests and the fuzzer (files of ~50 KB).
    static let smallConfig = GemmaConfig(vocabSize: 300, hidden: 16, intermediate: 24, layers: 2, heads: 2, kvHeads: 1,
                                         headDim: 8, rmsEps: 1e-6, slidingWindow: 4, ropeBaseGlobal: 1_000_000,
                                         ropeBaseLocal: 10_000, slidingPattern: 2)

    /// Re-emit a GGUF through GGUFWriter after editing its metadata and tensor list.
    static func rewrite(_ path: String, to out: String,
                        metadata edit: (inout [(String, GGUFValue)]) -> Void = { _ in },
                        tensors editTensors: (inout [(name: String, shape: [Int], type: GGMLType, bytes: [UInt8])]) -> Void = { _ in }) throws {
        let g = try GGUFFile(path: path)
        var md = g.metadataKeys.map { ($0, g.metadata[$0]!) }
        edit(&md)
        var ts = g.tensors.map { (name: $0.name, shape: $0.shape, type: $0.type, bytes: [UInt8](g.rawData($0))) }
        editTensors(&ts)
        var w = GGUFWriter()
        for (k, v) in md { w.set(k, v) }
        for t in ts { w.addRawTensor(t.name, shape: t.shape, type: t.type, bytes: t.bytes) }
        try w.write(to: out)
    }
}

/// Assert that `body` throws a ModelFileError naming `file` whose message contains every one of `parts`.
func assertModelFileError(_ file: String, _ parts: [String], filePath: StaticString = #filePath, line: UInt = #line,
                          _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("expected a ModelFileError mentioning \(parts), nothing was thrown", file: filePath, line: line)
    } catch let e as ModelFileError {
        XCTAssertEqual(e.file, file, "error names the wrong file: \(e)", file: filePath, line: line)
        XCTAssertTrue(e.description.hasPrefix(file), file: filePath, line: line)
        for p in parts {
            XCTAssertTrue(e.message.contains(p), "message \"\(e.message)\" does not mention \"\(p)\"", file: filePath, line: line)
        }
    } catch {
        XCTFail("expected a ModelFileError, got \(error)", file: filePath, line: line)
    }
}
