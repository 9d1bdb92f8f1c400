import Foundation

// The inner loops of inference over ggml blocks, built for AVX2 + FMA + F16C on x86-64 (Package.swift
// gives this module alone those flags; the rest of ft-dist targets baseline x86-64, where Swift's
// SIMD conversions compile to one element at a time: measured 0.36 G weights/s for a Q8_0 row dot,
// 7.5 with these flags). Callers check `VectorKernels.available` first and otherwise use the scalar
// code in Model/Files/Dequantize.swift, which these loops reproduce bit for bit: each element is
// computed with the same operations in the same order, only several at once. Nothing here is
// @inlinable and the entry points are @inline(never), so none of it is compiled into a caller built
// without the flags.

public enum VectorKernels {
    /// True when this CPU runs the instructions this module was compiled for. On arm64 the SIMD
    /// types map to NEON, which every arm64 CPU has. FTDIST_VECTOR_KERNELS=0 turns them off (the
    /// scalar code then runs, as on a CPU without AVX2: for comparisons and the fallback's tests).
    public static let available: Bool = {
        if ProcessInfo.processInfo.environment["FTDIST_VECTOR_KERNELS"] == "0" { return false }
        #if arch(x86_64)
        #if os(Linux)
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return false }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        return ["avx2", "fma", "f16c"].allSatisfy(flags.contains)
        #else
        return false
        #endif
        #else
        return true
        #endif
    }()
}
