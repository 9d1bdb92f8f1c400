// GGUF value and tensor types (the on-disk numbering of llama.cpp's gguf.h / ggml.h).

/// A metadata value of a GGUF file.
public enum GGUFValue: Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16)
    case uint32(UInt32), int32(Int32), float32(Float), bool(Bool)
    case string(String)
    case array([GGUFValue])
    case uint64(UInt64), int64(Int64), float64(Double)

    /// The GGUF type tag written before the value.
    var typeTag: UInt32 {
        switch self {
        case .uint8: return 0
        case .int8: return 1
        case .uint16: return 2
        case .int16: return 3
        case .uint32: return 4
        case .int32: return 5
        case .float32: return 6
        case .bool: return 7
        case .string: return 8
        case .array: return 9
        case .uint64: return 10
        case .int64: return 11
        case .float64: return 12
        }
    }

    /// Any integer kind as Int (nil for other kinds or values that do not fit).
    public var int: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return v <= UInt64(Int.max) ? Int(v) : nil
        case .int64(let v): return Int(v)
        default: return nil
        }
    }

    /// Any numeric kind as Double.
    public var double: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return int.map(Double.init)
        }
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var array: [GGUFValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The value's type and, for a scalar, the value itself (for messages): "float32 1.0",
    /// "a string \"512\"", "an array of 3".
    public var summary: String {
        switch self {
        case .string(let s): return "a string \"\(excerpt(s))\""
        case .array(let a): return "an array of \(a.count)"
        case .bool(let b): return "the boolean \(b)"
        case .float32(let v): return "float32 \(v)"
        case .float64(let v): return "float64 \(v)"
        case .uint64(let v): return "uint64 \(v)"
        default: return int.map(String.init) ?? "\(self)"
        }
    }
}

/// Tensor element types used by ggml (only the ones we can dequantize are accepted).
public enum GGMLType: UInt32, CaseIterable {
    case f32 = 0, f16 = 1, q5_0 = 6, q8_0 = 8, q4_K = 12, q6_K = 14, bf16 = 30

    /// Elements per block and bytes per block of this type.
    public var blockElements: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q5_0, .q8_0: return 32
        case .q4_K, .q6_K: return 256
        }
    }

    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q5_0: return 22   // f16 scale, 4 bytes of high bits, 16 bytes of nibbles
        case .q8_0: return 34   // f16 scale, 32 int8
        case .q4_K: return 144  // f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles
        case .q6_K: return 210  // 128 low nibbles, 64 bytes of high 2-bit pairs, 16 int8 scales, f16 d
        }
    }

    public var name: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .q5_0: return "Q5_0"
        case .q8_0: return "Q8_0"
        case .q4_K: return "Q4_K"
        case .q6_K: return "Q6_K"
        }
    }

    /// Bytes needed for `count` elements, nil when count is not a whole number of blocks.
    public func byteCount(elements count: Int) -> Int? {
        guard count % blockElements == 0 else { return nil }
        let (bytes, overflow) = (count / blockElements).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : bytes
    }
}

/// A tensor's entry in the GGUF header. `dims[0]` is the contiguous axis, so dims
/// `[640, 2048]` is a row-major `[2048, 640]` matrix (PyTorch's nn.Linear layout).
public struct GGUFTensorInfo: Equatable {
    public var name: String
    public var dims: [Int]
    public var type: GGMLType
    /// Offset of the tensor's data relative to the start of the data section.
    public var offset: Int

    public var elementCount: Int { dims.reduce(1, *) }
    /// Shape in row-major (PyTorch) order: the reverse of `dims`.
    public var shape: [Int] { dims.reversed() }
}
