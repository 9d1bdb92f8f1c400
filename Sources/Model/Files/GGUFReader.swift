import Foundation

/// A GGUF file, memory-mapped read-only. The header (metadata and tensor table) is parsed
/// with bounds checks on every read, so a damaged file gives a `ModelFileError`, never a trap.
public final class GGUFFile {
    public let path: String
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order (for `ft-dist info`).
    public let metadataKeys: [String]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Absolute file offset of the data section.
    public let dataOffset: Int
    private let tensorIndex: [String: Int]
    private let mapping: FileMapping

    public init(path: String) throws {
        self.path = path
        mapping = try FileMapping(path: path)
        var cursor = ByteCursor(bytes: mapping.bytes, file: path)
        let magic = try cursor.read(UInt32.self)
        guard magic == 0x4655_4747 else { throw ModelFileError(file: path, "not a GGUF file (bad magic)") }
        version = try cursor.read(UInt32.self)
        guard version == 2 || version == 3 else {
            throw ModelFileError(file: path, "unsupported GGUF version \(version) (supported: 2, 3)")
        }
        let tensorCount = try cursor.readCount(minimumBytesEach: 24, what: "tensor count")
        let kvCount = try cursor.readCount(minimumBytesEach: 12, what: "metadata count")

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        for _ in 0..<kvCount {
            let key = try cursor.readString()
            let tag = try cursor.read(UInt32.self)
            let value = try cursor.readValue(tag: tag, depth: 0)
            guard metadata[key] == nil else { throw ModelFileError(file: path, "duplicate metadata key \(key)") }
            metadata[key] = value
            keys.append(key)
        }
        self.metadata = metadata
        metadataKeys = keys

        var alignment = 32
        if let value = metadata["general.alignment"] {
            guard let a = value.int, a > 0, a & (a - 1) == 0, a <= 1 << 20 else {
                throw ModelFileError(file: path, "general.alignment must be a power of two")
            }
            alignment = a
        }
        self.alignment = alignment

        var tensors: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        for _ in 0..<tensorCount {
            let name = try cursor.readString()
            let nDims = try cursor.read(UInt32.self)
            guard (1...4).contains(nDims) else {
                throw ModelFileError(file: path, "tensor \(name) has \(nDims) dimensions (1 to 4 allowed)")
            }
            var dims: [Int] = []
            var elements = 1
            for _ in 0..<nDims {
                let d = try cursor.read(UInt64.self)
                guard d > 0, d < 1 << 40 else { throw ModelFileError(file: path, "tensor \(name) has a bad dimension \(d)") }
                dims.append(Int(d))
                let (product, overflow) = elements.multipliedReportingOverflow(by: Int(d))
                guard !overflow, product < 1 << 40 else { throw ModelFileError(file: path, "tensor \(name) is too large") }
                elements = product
            }
            let rawType = try cursor.read(UInt32.self)
            guard let type = GGMLType(rawValue: rawType) else {
                throw ModelFileError(file: path, "tensor \(name) has unsupported type \(rawType)")
            }
            guard elements % type.blockElements == 0, dims[0] % type.blockElements == 0 else {
                throw ModelFileError(file: path, "tensor \(name): \(dims) is not a whole number of \(type.name) blocks")
            }
            let offset = try cursor.read(UInt64.self)
            guard offset < 1 << 48, Int(offset) % alignment == 0 else {
                throw ModelFileError(file: path, "tensor \(name) has a misaligned or impossible offset \(offset)")
            }
            guard index[name] == nil else { throw ModelFileError(file: path, "duplicate tensor \(name)") }
            index[name] = tensors.count
            tensors.append(GGUFTensorInfo(name: name, dims: dims, type: type, offset: Int(offset)))
        }
        let dataOffset = (cursor.position + alignment - 1) / alignment * alignment
        self.dataOffset = dataOffset
        for t in tensors {
            let bytes = t.type.byteCount(elements: t.elementCount)!
            guard dataOffset + t.offset + bytes <= mapping.bytes.count else {
                throw ModelFileError(file: path, "tensor \(t.name) data lies outside the file (file truncated?)")
            }
        }
        // llama.cpp's layout rule (gguf.cpp): the tensors' data follow each other in table
        // order, each at the previous one's end rounded up to the alignment. So no two tensors
        // overlap, and a changed type or shape shows as the next tensor's offset disagreeing.
        for (previous, t) in zip(tensors, tensors.dropFirst()) {
            let end = previous.offset + previous.type.byteCount(elements: previous.elementCount)!
            let expected = (end + alignment - 1) / alignment * alignment
            guard t.offset == expected else {
                throw ModelFileError(file: path, "tensor \(t.name)'s data starts at \(t.offset), but the previous tensor \(previous.name) (\(previous.type.name) \(previous.shape)) ends at \(end): a GGUF's tensors follow each other (damaged tensor table?)")
            }
        }
        if let first = tensors.first, first.offset != 0 {
            throw ModelFileError(file: path, "tensor \(first.name)'s data starts at \(first.offset), not at the start of the data section (damaged tensor table?)")
        }
        self.tensors = tensors
        tensorIndex = index
    }

    /// The SHA-256 of the whole file, read through this mapping (no second copy).
    public func sha256() -> String { SHA256.hex(mapping.bytes) }

    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The raw bytes of a tensor inside the mapping (valid while this object lives).
    public func rawData(_ info: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        let bytes = info.type.byteCount(elements: info.elementCount)!
        return UnsafeRawBufferPointer(rebasing: mapping.bytes[(dataOffset + info.offset)..<(dataOffset + info.offset + bytes)])
    }

    /// Dequantize a tensor into `destination` (exactly `elementCount` floats).
    public func dequantize(_ info: GGUFTensorInfo, into destination: UnsafeMutablePointer<Float>) {
        Dequantize.row(type: info.type, source: rawData(info), count: info.elementCount, into: destination)
    }

    /// Look up a tensor that must exist with the given row-major shape.
    public func requireTensor(_ name: String, shape: [Int]) throws -> GGUFTensorInfo {
        guard let info = tensor(named: name) else { throw ModelFileError(file: path, "missing tensor \(name)") }
        guard info.shape == shape else {
            throw ModelFileError(file: path, "tensor \(name) has shape \(info.shape), expected \(shape)")
        }
        return info
    }

    public func requireInt(_ key: String) throws -> Int {
        guard let v = metadata[key]?.int else { throw ModelFileError(file: path, "missing or non-integer metadata \(key)") }
        return v
    }

    public func requireDouble(_ key: String) throws -> Double {
        guard let v = metadata[key]?.double else { throw ModelFileError(file: path, "missing or non-numeric metadata \(key)") }
        return v
    }

    /// A key that may be absent (nil) but, when present, must be an integer.
    public func optionalInt(_ key: String) throws -> Int? {
        guard let value = metadata[key] else { return nil }
        guard let v = value.int else { throw ModelFileError(file: path, "metadata \(key) is \(value.summary), expected an integer") }
        return v
    }

    /// A key that may be absent (nil) but, when present, must be a number.
    public func optionalDouble(_ key: String) throws -> Double? {
        guard let value = metadata[key] else { return nil }
        guard let v = value.double else { throw ModelFileError(file: path, "metadata \(key) is \(value.summary), expected a number") }
        return v
    }

    public func stringArray(_ key: String) throws -> [String] {
        guard let a = metadata[key]?.array else { throw ModelFileError(file: path, "missing array metadata \(key)") }
        return try a.map {
            guard let s = $0.string else { throw ModelFileError(file: path, "\(key) must hold strings") }
            return s
        }
    }

    public func numberArray(_ key: String) throws -> [Double] {
        guard let a = metadata[key]?.array else { throw ModelFileError(file: path, "missing array metadata \(key)") }
        return try a.map {
            guard let d = $0.double else { throw ModelFileError(file: path, "\(key) must hold numbers") }
            return d
        }
    }
}

/// A read-only private mapping of a whole file; unmapped on deinit.
final class FileMapping {
    let bytes: UnsafeRawBufferPointer

    init(path: String) throws {
        // O_NONBLOCK: a FIFO without a writer is refused below instead of waited on
        let fd = open(path, O_RDONLY | O_NONBLOCK)
        guard fd >= 0 else { throw ModelFileError(file: path, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ModelFileError(file: path, "cannot stat") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw ModelFileError(file: path, "not a regular file") }
        let size = Int(st.st_size)
        guard size > 0 else { throw ModelFileError(file: path, "file is empty") }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw ModelFileError(file: path, "cannot map the file into memory")
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress!), bytes.count) }
}

/// A bounds-checked little-endian reader over the header bytes.
struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    let file: String
    var position = 0

    init(bytes: UnsafeRawBufferPointer, file: String) {
        self.bytes = bytes
        self.file = file
    }

    var remaining: Int { bytes.count - position }

    mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw ModelFileError(file: file, "truncated header at byte \(position)") }
        let v = bytes.loadUnaligned(fromByteOffset: position, as: T.self)
        position += size
        return T(littleEndian: v)
    }

    /// A 64-bit count that must be plausible for the bytes left, so a corrupt count
    /// cannot ask for a huge allocation.
    mutating func readCount(minimumBytesEach: Int, what: String) throws -> Int {
        let n = try read(UInt64.self)
        guard n <= UInt64(remaining / max(minimumBytesEach, 1)) else {
            throw ModelFileError(file: file, "\(what) \(n) is impossible for a file of \(bytes.count) bytes (truncated or damaged)")
        }
        return Int(n)
    }

    mutating func readString() throws -> String {
        let n = try readCount(minimumBytesEach: 1, what: "string length")
        let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + n)])
        position += n
        guard let s = String(validating: slice, as: UTF8.self) else {
            throw ModelFileError(file: file, "a string at byte \(position - n) is not valid UTF-8")
        }
        return s
    }

    mutating func readValue(tag: UInt32, depth: Int) throws -> GGUFValue {
        switch tag {
        case 0: return .uint8(try read(UInt8.self))
        case 1: return .int8(try read(Int8.self))
        case 2: return .uint16(try read(UInt16.self))
        case 3: return .int16(try read(Int16.self))
        case 4: return .uint32(try read(UInt32.self))
        case 5: return .int32(try read(Int32.self))
        case 6: return .float32(Float(bitPattern: try read(UInt32.self)))
        case 7:
            let b = try read(UInt8.self)
            guard b <= 1 else { throw ModelFileError(file: file, "bad bool value \(b) at byte \(position - 1)") }
            return .bool(b == 1)
        case 8: return .string(try readString())
        case 9:
            guard depth < 2 else { throw ModelFileError(file: file, "arrays nested too deeply") }
            let elementTag = try read(UInt32.self)
            guard elementTag <= 12 else { throw ModelFileError(file: file, "unknown array element type \(elementTag)") }
            let n = try readCount(minimumBytesEach: Self.minimumSize(tag: elementTag), what: "array length")
            var values: [GGUFValue] = []
            values.reserveCapacity(n)
            for _ in 0..<n { values.append(try readValue(tag: elementTag, depth: depth + 1)) }
            return .array(values)
        case 10: return .uint64(try read(UInt64.self))
        case 11: return .int64(try read(Int64.self))
        case 12: return .float64(Double(bitPattern: try read(UInt64.self)))
        default: throw ModelFileError(file: file, "unknown metadata value type \(tag) at byte \(position - 4)")
        }
    }

    static func minimumSize(tag: UInt32) -> Int {
        switch tag {
        case 0, 1, 7: return 1
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 8, 10, 11, 12: return 8
        case 9: return 12
        default: return 1
        }
    }
}
