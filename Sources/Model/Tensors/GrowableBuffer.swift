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
