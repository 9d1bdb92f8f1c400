// glibc's <malloc.h> is not part of Swift's Glibc module; the two functions are declared here.
@_silgen_name("mallopt") private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
@_silgen_name("malloc_trim") private func glibcMallocTrim(_ pad: Int) -> Int32
private let mallocMmapThreshold: Int32 = -3  // M_MMAP_THRESHOLD

/// glibc keeps freed memory of its heap for reuse and raises its mmap threshold after large
/// frees, so buffers freed after an evaluation stay resident. Training keeps big buffers on
/// mmap (returned on free) and trims the heap after evaluations: peak memory stays that of
/// training itself.
public enum MemoryPolicy {
    public static func configure() {
        _ = glibcMallopt(mallocMmapThreshold, 1 << 20)
    }

    public static func releaseFreedMemory() {
        _ = glibcMallocTrim(0)
    }
}
