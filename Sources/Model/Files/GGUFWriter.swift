import Foundation

/// Writes a GGUF (version 3) file: metadata in insertion order, then the tensor table, then
/// each tensor's data aligned to 32 bytes. Tensors are encoded one at a time while the file
/// is written (a 1 GB model never exists twice in memory), into a temporary name in the
/// target directory that is renamed into place only when every byte is written and synced —
/// a reader never sees a half-written file, a failure leaves nothing behind, and (with
/// `replace: false`) an existing file is never replaced. `temporaryPath(for:)` names the temporary file (an interrupted
/// command removes it).
public struct GGUFWriter {
    public static let alignment = 32

    /// A tensor's table entry and how to produce its bytes (exactly `byteCount` of them).
    private struct Pending {
        var info: GGUFTensorInfo
        var byteCount: Int
        var encode: () throws -> [UInt8]
    }

    private var metadata: [(String, GGUFValue)] = []
    private var tensors: [Pending] = []

    public init() {}

    public var tensorCount: Int { tensors.count }

    public mutating func set(_ key: String, _ value: GGUFValue) {
        if let i = metadata.firstIndex(where: { $0.0 == key }) { metadata[i].1 = value } else { metadata.append((key, value)) }
    }

    /// Add a tensor from fp32 values in row-major `shape` order, encoded as `type`.
    public mutating func addTensor(_ name: String, shape: [Int], values: [Float], type: GGMLType = .f32) {
        precondition(shape.reduce(1, *) == values.count, "shape does not match the value count")
        addTensor(name, shape: shape, type: type) { values.withUnsafeBufferPointer { Quantize.bytes(type, $0.baseAddress!, count: values.count) } }
    }

    /// Add a tensor whose encoded bytes are given (any supported type, e.g. hand-built quant blocks).
    public mutating func addRawTensor(_ name: String, shape: [Int], type: GGMLType, bytes: [UInt8]) {
        addTensor(name, shape: shape, type: type) { bytes }
    }

    /// Add a tensor whose bytes `encode` produces when the file is written (row-major `shape`,
    /// whole blocks of `type` along its last axis).
    public mutating func addTensor(_ name: String, shape: [Int], type: GGMLType, encode: @escaping () throws -> [UInt8]) {
        let elements = shape.reduce(1, *)
        guard let byteCount = type.byteCount(elements: elements), (shape.last ?? 0) % type.blockElements == 0 else {
            preconditionFailure("\(name): \(shape) is not a whole number of \(type.name) blocks per row")
        }
        let offset = tensors.last.map { align($0.info.offset + $0.byteCount) } ?? 0
        tensors.append(Pending(info: GGUFTensorInfo(name: name, dims: shape.reversed(), type: type, offset: offset),
                               byteCount: byteCount, encode: encode))
    }

    /// The whole file in memory (for small files and tests).
    public func serialized() throws -> [UInt8] {
        var out = header()
        let dataStart = out.count
        for t in tensors {
            out.append(contentsOf: [UInt8](repeating: 0, count: dataStart + t.info.offset - out.count))
            out.append(contentsOf: try encoded(t))
        }
        return out
    }

    /// Write the file, tensor by tensor; `progress(done, total)` is called after each tensor.
    /// `replace: false` never replaces a file at `path`, even one created while writing.
    public func write(to path: String, replace: Bool = true, progress: ((Int, Int) -> Void)? = nil) throws {
        let url = URL(fileURLWithPath: path)
        let temporary = Self.temporaryPath(for: path)
        guard FileManager.default.createFile(atPath: temporary, contents: nil), let handle = FileHandle(forWritingAtPath: temporary) else {
            throw ModelFileError(file: path, "cannot write: cannot create a file in \(url.deletingLastPathComponent().path)")
        }
        do {
            defer { try? handle.close() }
            var written = 0
            func put(_ bytes: [UInt8]) throws {
                try handle.write(contentsOf: bytes)
                written += bytes.count
            }
            try put(header())
            let dataStart = written
            for (i, t) in tensors.enumerated() {
                try put([UInt8](repeating: 0, count: dataStart + t.info.offset - written))
                try put(try encoded(t))
                progress?(i + 1, tensors.count)
            }
            try handle.synchronize()
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw ModelFileError.cannotWrite(path, error)
        }
        // link() never replaces: a file that appeared at `path` meanwhile is kept, not overwritten
        guard OutputCommit.shared.commit({ replace ? rename(temporary, path) == 0 : link(temporary, path) == 0 }) else {
            let reason = errno == EEXIST ? "it exists already (created while this file was written)" : String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw ModelFileError(file: path, "cannot write: \(reason)")
        }
        if !replace { unlink(temporary) }
    }

    /// Where `write(to: path)` writes until the file is complete.
    public static func temporaryPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).partial-\(ProcessInfo.processInfo.processIdentifier)").path
    }

    private func encoded(_ t: Pending) throws -> [UInt8] {
        let bytes = try t.encode()
        precondition(bytes.count == t.byteCount, "\(t.info.name): encoded \(bytes.count) bytes, expected \(t.byteCount)")
        return bytes
    }

    /// Magic, version, counts, metadata and the tensor table, padded to the alignment.
    private func header() -> [UInt8] {
        var out: [UInt8] = []
        appendLE(&out, UInt32(0x4655_4747))
        appendLE(&out, UInt32(3))
        appendLE(&out, UInt64(tensors.count))
        appendLE(&out, UInt64(metadata.count))
        for (key, value) in metadata {
            appendString(&out, key)
            appendLE(&out, value.typeTag)
            appendValue(&out, value)
        }
        for t in tensors {
            appendString(&out, t.info.name)
            appendLE(&out, UInt32(t.info.dims.count))
            for d in t.info.dims { appendLE(&out, UInt64(d)) }
            appendLE(&out, t.info.type.rawValue)
            appendLE(&out, UInt64(t.info.offset))
        }
        out.append(contentsOf: [UInt8](repeating: 0, count: align(out.count) - out.count))
        return out
    }

    private func align(_ n: Int) -> Int { (n + Self.alignment - 1) / Self.alignment * Self.alignment }

    private func appendString(_ out: inout [UInt8], _ s: String) {
        appendLE(&out, UInt64(s.utf8.count))
        out.append(contentsOf: s.utf8)
    }

    private func appendValue(_ out: inout [UInt8], _ value: GGUFValue) {
        switch value {
        case .uint8(let v): out.append(v)
        case .int8(let v): out.append(UInt8(bitPattern: v))
        case .uint16(let v): appendLE(&out, v)
        case .int16(let v): appendLE(&out, v)
        case .uint32(let v): appendLE(&out, v)
        case .int32(let v): appendLE(&out, v)
        case .float32(let v): appendLE(&out, v.bitPattern)
        case .bool(let v): out.append(v ? 1 : 0)
        case .string(let s): appendString(&out, s)
        case .array(let items):
            appendLE(&out, items.first?.typeTag ?? 4)
            appendLE(&out, UInt64(items.count))
            for item in items { appendValue(&out, item) }
        case .uint64(let v): appendLE(&out, v)
        case .int64(let v): appendLE(&out, v)
        case .float64(let v): appendLE(&out, v.bitPattern)
        }
    }
}

@inline(__always)
func appendLE<T: FixedWidthInteger>(_ out: inout [UInt8], _ value: T) {
    withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
}
