import Foundation

/// One 64-byte aligned, zero-initialised allocation of fp32 values. Parameters, gradients and
/// each AdamW moment are one FloatBuffer each, so an all-reduce or an optimizer step is one pass.
public final class FloatBuffer {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    private enum Storage { case heap, mapped(Int), borrowed }
    private let storage: Storage
    /// Zeroed buffers from this size on are mapped, not allocated and cleared.
    static let lazyZeroBytes = 1 << 24

    /// `zeroed: false` leaves the memory as the allocator gives it: for activations and
    /// scratch, which are always written before they are read, so untouched pages never
    /// become resident.
    public init(count: Int, zeroed: Bool = true) {
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        if zeroed && bytes >= Self.lazyZeroBytes {
            // fresh anonymous pages read as zero and become resident only when written: a rank
            // that updates one slice of the AdamW moments never pays for the rest
            guard let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                  raw != MAP_FAILED else {
                fatalError("out of memory mapping \(bytes) bytes")
            }
            pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
            storage = .mapped(bytes)
            return
        }
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            fatalError("out of memory allocating \(bytes) bytes")
        }
        if zeroed { memset(raw, 0, bytes) }
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        storage = .heap
    }

    /// A buffer over `count` floats at `pointer`, which must outlive it; never freed here.
    public init(wrapping pointer: UnsafeMutablePointer<Float>, count: Int) {
        self.pointer = pointer
        self.count = count
        storage = .borrowed
    }

    deinit {
        switch storage {
        case .heap: free(pointer)
        case .mapped(let bytes): munmap(pointer, bytes)
        case .borrowed: break
        }
    }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }

    public func zero() { memset(pointer, 0, count * MemoryLayout<Float>.stride) }

    public func copy(from other: FloatBuffer) {
        precondition(other.count == count)
        memcpy(pointer, other.pointer, count * MemoryLayout<Float>.stride)
    }

    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    public var array: [Float] { Array(buffer) }
}
