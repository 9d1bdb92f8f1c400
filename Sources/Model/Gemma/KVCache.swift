/// Keys (after norm and RoPE) and values of one sequence for every layer, so generation
/// computes each position once. Layout per layer: keys [capacity, kvDim], values [capacity, kvDim].
public final class KVCache {
    public let capacity: Int
    public private(set) var length = 0
    let kvDim: Int
    let layers: Int
    private let storage: FloatBuffer

    public init(config: GemmaConfig, capacity: Int) {
        self.capacity = capacity
        kvDim = config.kvDim
        layers = config.layers
        storage = FloatBuffer(count: config.layers * 2 * capacity * config.kvDim)
    }

    /// The memory a cache of this capacity holds (each `copy()` as much again).
    public var bytes: Int { layers * 2 * capacity * kvDim * MemoryLayout<Float>.stride }

    @inline(__always) func keys(_ layer: Int) -> UnsafeMutablePointer<Float> { storage.pointer + (2 * layer) * capacity * kvDim }
    @inline(__always) func values(_ layer: Int) -> UnsafeMutablePointer<Float> { storage.pointer + (2 * layer + 1) * capacity * kvDim }

    func advance(by n: Int) { length += n }

    /// A cache that starts with the contents of `prefix` (a shared prompt prefix computed once)
    /// and has room for `capacity` positions in all.
    public convenience init(continuing prefix: KVCache, capacity: Int) {
        precondition(capacity >= prefix.length)
        self.init(capacity: capacity, kvDim: prefix.kvDim, layers: prefix.layers)
        let used = prefix.length * kvDim
        for l in 0..<layers {
            keys(l).update(from: prefix.keys(l), count: used)
            values(l).update(from: prefix.values(l), count: used)
        }
        length = prefix.length
    }

    /// An independent cache with the same contents (to continue one prompt several ways).
    public func copy() -> KVCache {
        let c = KVCache(capacity: capacity, kvDim: kvDim, layers: layers)
        c.storage.copy(from: storage)
        c.length = length
        return c
    }

    private init(capacity: Int, kvDim: Int, layers: Int) {
        self.capacity = capacity
        self.kvDim = kvDim
        self.layers = layers
        storage = FloatBuffer(count: layers * 2 * capacity * kvDim)
    }
}
