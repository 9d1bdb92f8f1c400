import Foundation

/// safetensors files: an 8-byte little-endian header length, a JSON header
/// `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}` padded with
/// spaces to 8 bytes, then the raw little-endian tensor data. We write F32 and read F32,
/// BF16 and F16 (what transformers' save_pretrained writes for Gemma 3), converting to fp32.
public enum Safetensors {
    public struct Entry {
        public var name: String
        public var shape: [Int]
        public var source: UnsafePointer<Float>
        /// Applied to every value as it is written (e.g. −1 for Gemma norm weights).
        public var offset: Float = 0
        public init(name: String, shape: [Int], source: UnsafePointer<Float>, offset: Float = 0) {
            self.name = name
            self.shape = shape
            self.source = source
            self.offset = offset
        }
        var count: Int { shape.reduce(1, *) }
    }

    /// Stream the tensors to `path` (no full copy in memory); the caller handles atomicity.
    public static func write(_ entries: [Entry], metadata: [String: String] = [:], to path: String) throws {
        var header: [String: Any] = [:]
        var offset = 0
        for e in entries {
            header[e.name] = ["dtype": "F32", "shape": e.shape, "data_offsets": [offset, offset + e.count * 4]] as [String: Any]
            offset += e.count * 4
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        guard FileManager.default.createFile(atPath: path, contents: nil), let out = FileHandle(forWritingAtPath: path) else {
            throw ModelFileError(file: path, "cannot create the file")
        }
        defer { try? out.close() }
        do {
            var length = UInt64(json.count).littleEndian
            try out.write(contentsOf: Data(bytes: &length, count: 8))
            try out.write(contentsOf: json)
            let chunk = 1 << 22
            var staging = [Float](repeating: 0, count: chunk)
            for e in entries {
                var done = 0
                while done < e.count {
                    let n = min(chunk, e.count - done)
                    if e.offset == 0 {
                        try out.write(contentsOf: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: e.source + done),
                                                       count: n * 4, deallocator: .none))
                    } else {
                        for i in 0..<n { staging[i] = e.source[done + i] + e.offset }
                        try staging.withUnsafeBytes { try out.write(contentsOf: Data($0.prefix(n * 4))) }
                    }
                    done += n
                }
            }
            try out.synchronize()
        } catch {
            throw ModelFileError.cannotWrite(path, error)
        }
    }

    /// A memory-mapped safetensors file with its validated header.
    public final class File {
        public let path: String
        /// The element types read, with their sizes.
        public enum DType: String { case f32 = "F32", bf16 = "BF16", f16 = "F16"
            var size: Int { self == .f32 ? 4 : 2 }
        }
        public let tensors: [String: (shape: [Int], range: Range<Int>)]
        public let dtypes: [String: DType]
        public let metadata: [String: String]
        private let mapping: FileMapping
        private let dataStart: Int

        public init(path: String) throws {
            self.path = path
            mapping = try FileMapping(path: path)
            let bytes = mapping.bytes
            guard bytes.count >= 8 else { throw ModelFileError(file: path, "truncated safetensors header") }
            // compared as UInt64: a length past Int.max is a bad length, not a trap
            let length = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
            guard length > 1, length <= UInt64(bytes.count - 8), length < 100_000_000 else {
                throw ModelFileError(file: path, "bad safetensors header length \(length) for a file of \(bytes.count) bytes")
            }
            let n = Int(length)
            dataStart = 8 + n
            let json = Data(bytes[8..<(8 + n)])
            guard let header = (try? JSONSerialization.jsonObject(with: json)) as? [String: Any] else {
                throw ModelFileError(file: path, "the safetensors header is not a JSON object")
            }
            var tensors: [String: (shape: [Int], range: Range<Int>)] = [:]
            var dtypes: [String: DType] = [:]
            var metadata: [String: String] = [:]
            for (name, value) in header {
                if name == "__metadata__" {
                    metadata = (value as? [String: String]) ?? [:]
                    continue
                }
                guard let d = value as? [String: Any], let dtype = d["dtype"] as? String,
                      let shape = d["shape"] as? [Int], let offs = d["data_offsets"] as? [Int], offs.count == 2 else {
                    throw ModelFileError(file: path, "bad header entry for \(name)")
                }
                guard let type = DType(rawValue: dtype) else {
                    throw ModelFileError(file: path, "tensor \(name) has dtype \(dtype); F32, BF16 and F16 are read")
                }
                guard shape.allSatisfy({ $0 >= 0 && $0 < 1 << 40 }), shape.count <= 8 else {
                    throw ModelFileError(file: path, "tensor \(name) has an impossible shape \(shape)")
                }
                // every dimension is below 2⁴⁰ but their product may not be: multiply checking overflow
                var count = 1
                for d in shape {
                    let (product, overflow) = count.multipliedReportingOverflow(by: d)
                    guard !overflow, product < 1 << 40 else {
                        throw ModelFileError(file: path, "tensor \(name) has an impossible shape \(shape)")
                    }
                    count = product
                }
                // offsets are checked against the file before any arithmetic on them
                guard offs[0] >= 0, offs[0] <= offs[1] else {
                    throw ModelFileError(file: path, "tensor \(name) has data_offsets \(offs), which are no byte range")
                }
                guard offs[1] - offs[0] == count * type.size else {
                    throw ModelFileError(file: path, "tensor \(name) has data_offsets \(offs) (\(offs[1] - offs[0]) bytes), but \(shape) in \(dtype) takes \(count * type.size)")
                }
                guard offs[1] <= bytes.count - dataStart else {
                    throw ModelFileError(file: path, "tensor \(name) data lies outside the file (truncated?)")
                }
                tensors[name] = (shape, offs[0]..<offs[1])
                dtypes[name] = type
            }
            // the format indexes the data buffer without overlaps: two tensors sharing bytes is a
            // damaged header, not a model
            let ranges = tensors.map { (name: $0.key, range: $0.value.range) }.filter { !$0.range.isEmpty }
                .sorted { $0.range.lowerBound < $1.range.lowerBound }
            for (a, b) in zip(ranges, ranges.dropFirst()) where b.range.lowerBound < a.range.upperBound {
                throw ModelFileError(file: path, "tensors \(a.name) and \(b.name) overlap in the data (damaged header)")
            }
            self.tensors = tensors
            self.dtypes = dtypes
            self.metadata = metadata
        }

        /// Copy a tensor of the expected shape into `destination`, adding `offset` to each value.
        public func read(_ name: String, shape: [Int], into destination: UnsafeMutablePointer<Float>, offset: Float = 0) throws {
            guard let t = tensors[name] else { throw ModelFileError(file: path, "missing tensor \(name)") }
            guard t.shape == shape else { throw ModelFileError(file: path, "tensor \(name) has shape \(t.shape), expected \(shape)") }
            let src = mapping.bytes.baseAddress! + dataStart + t.range.lowerBound
            switch dtypes[name]! {
            case .f32:
                let count = t.range.count / 4
                if offset == 0 {
                    memcpy(destination, src, t.range.count)
                } else {
                    for i in 0..<count { destination[i] = src.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) + offset }
                }
            case .bf16:
                // PyTorch's .float() of bf16 is exact; norms then add 1 in fp32 as Gemma3RMSNorm does
                for i in 0..<(t.range.count / 2) {
                    destination[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) + offset
                }
            case .f16:
                for i in 0..<(t.range.count / 2) { destination[i] = halfToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) + offset }
            }
        }
    }
}
