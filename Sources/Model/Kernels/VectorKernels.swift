// The inner loops of inference over ggml blocks, built for AVX2 + FMA + F16C on x86-64 (Package.swift
// gives this module alone those flags; the rest of ft-dist targets baseline x86-64, where Swift's
// SIMD conversions compile to one element at a time: measured 0.36 G weights/s for a Q8_0 row dot,
// 7.5 with these flags). Callers check `VectorKernels.available` (Model's VectorKernelSupport.swift,
// built for baseline x86-64, so that the check itself runs on any CPU) and otherwise use the scalar
// code in Model/Files/Dequantize.swift, which these loops reproduce bit for bit: each element is
// computed with the same operations in the same order, only several at once. Nothing here is
// @inlinable and the entry points are @inline(never), so none of it is compiled into a caller built
// without the flags. The linker keeps one copy of each standard-library specialization that
// modules share, so this module uses nothing of the standard library but SIMD types, pointers
// and one table: its only specializations are that table's array's (its lane conversions are
// written lane by lane, SIMDLanes.swift), which no other module emits today (checked with nm on
// the object files) — were Model to emit one, the linker could hand it this module's AVX2 copy.

public enum VectorKernels {}
