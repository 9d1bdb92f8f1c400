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

    @inline(__always) func keys(_ layer: Int) -> UnsafeMutablePointer<Float> { storage.pointer + (2 * layer) * capacity * kvDim }
    @inline(__always) func values(_ layer: Int) -> UnsafeMutablePointer<Float> { storage.pointer + (2 * layer + 1) * capacity * kvDim }

    func advance(by n: Int) { length += n }

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
