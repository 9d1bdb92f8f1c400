import Foundation

/// One 64-byte aligned, zero-initialised allocation of fp32 values. Parameters, gradients and
/// each AdamW moment are one FloatBuffer each, so an all-reduce or an optimizer step is one pass.
public final class FloatBuffer {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    /// `zeroed: false` leaves the memory as the allocator gives it: for activations and
    /// scratch, which are always written before they are read, so untouched pages never
    /// become resident.
    public init(count: Int, zeroed: Bool = true) {
        self.count = count
        var raw: UnsafeMutableRawPointer?
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            fatalError("out of memory allocating \(bytes) bytes")
        }
        if zeroed { memset(raw, 0, bytes) }
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    deinit { free(pointer) }

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

/// A growable, uninitialised buffer for activations and scratch. Growing frees the old
/// storage before allocating the new one (both at once would raise the peak memory) and
/// adds a quarter of headroom, so batches of varying size rarely reallocate.
public final class GrowableBuffer {
    public private(set) var storage = FloatBuffer(count: 0, zeroed: false)
    public init() {}
    public func reserve(_ count: Int) {
        guard storage.count < count else { return }
        storage = FloatBuffer(count: 0, zeroed: false)
        storage = FloatBuffer(count: count + count / 4, zeroed: false)
    }
    public var pointer: UnsafeMutablePointer<Float> { storage.pointer }
}
