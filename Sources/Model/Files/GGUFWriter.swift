import Foundation

/// Builds a GGUF (version 3) file: metadata in insertion order, tensors aligned to 32 bytes.
/// Tests use it to write small Gemma-shaped models that load through the real loader.
public struct GGUFWriter {
    public static let alignment = 32
    private var metadata: [(String, GGUFValue)] = []
    private var tensors: [(info: GGUFTensorInfo, bytes: [UInt8])] = []

    public init() {}

    public mutating func set(_ key: String, _ value: GGUFValue) {
        if let i = metadata.firstIndex(where: { $0.0 == key }) { metadata[i].1 = value } else { metadata.append((key, value)) }
    }

    /// Add a tensor from fp32 values in row-major `shape` order, stored as F32, F16, BF16 or Q8_0.
    public mutating func addTensor(_ name: String, shape: [Int], values: [Float], type: GGMLType = .f32) {
        precondition(shape.reduce(1, *) == values.count, "shape does not match the value count")
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 4)
        switch type {
        case .f32: for v in values { appendLE(&bytes, v.bitPattern) }
        case .f16: for v in values { appendLE(&bytes, floatToHalf(v)) }
        case .bf16: for v in values { appendLE(&bytes, UInt16(truncatingIfNeeded: v.bitPattern >> 16)) }
        case .q8_0: values.withUnsafeBufferPointer { Quantize.q8_0($0.baseAddress!, count: values.count, into: &bytes) }
        default: preconditionFailure("the writer encodes F32, F16, BF16 and Q8_0; use addRawTensor for other quantized data")
        }
        addRawTensor(name, shape: shape, type: type, bytes: bytes)
    }

    /// Add a tensor whose encoded bytes are given (any supported type, e.g. hand-built quant blocks).
    public mutating func addRawTensor(_ name: String, shape: [Int], type: GGMLType, bytes: [UInt8]) {
        let offset = tensors.last.map { align($0.info.offset + $0.bytes.count) } ?? 0
        tensors.append((GGUFTensorInfo(name: name, dims: shape.reversed(), type: type, offset: offset), bytes))
    }

    public func serialized() -> [UInt8] {
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
        for (info, _) in tensors {
            appendString(&out, info.name)
            appendLE(&out, UInt32(info.dims.count))
            for d in info.dims { appendLE(&out, UInt64(d)) }
            appendLE(&out, info.type.rawValue)
            appendLE(&out, UInt64(info.offset))
        }
        out.append(contentsOf: [UInt8](repeating: 0, count: align(out.count) - out.count))
        let dataStart = out.count
        for (info, bytes) in tensors {
            out.append(contentsOf: [UInt8](repeating: 0, count: dataStart + info.offset - out.count))
            out.append(contentsOf: bytes)
        }
        return out
    }

    /// Write atomically (Foundation's `.atomic`: a temporary file in the same directory,
    /// renamed into place), so a reader never sees a half-written file.
    public func write(to path: String) throws {
        do {
            try Data(serialized()).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ModelFileError(file: path, "cannot write: \(error.localizedDescription)")
        }
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
