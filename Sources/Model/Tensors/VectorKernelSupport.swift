import Foundation
import ModelKernels

/// Whether this CPU runs ModelKernels' instructions (AVX2, FMA, F16C on x86-64; NEON, which every
/// arm64 CPU has). Decided here, in code built for baseline x86-64, so that asking is safe on
/// any CPU. FTDIST_VECTOR_KERNELS=0 turns the kernels off: the scalar code then runs, as on a
/// CPU without AVX2 (for comparisons and the fallback's tests).
let vectorKernelsAvailable: Bool = {
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

extension VectorKernels {
    /// See `vectorKernelsAvailable`.
    public static var available: Bool { vectorKernelsAvailable }
}
