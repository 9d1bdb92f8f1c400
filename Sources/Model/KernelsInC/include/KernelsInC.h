#ifndef KERNELS_IN_C_H
#define KERNELS_IN_C_H

#include <stdint.h>

// The loops of ModelKernels that Swift cannot express: a software prefetch, and AVX2's
// multiply-adds of bytes (vpmaddubsw, vpmaddwd), which have no counterpart among Swift's SIMD
// operations. Built for AVX2 + FMA + F16C on x86-64 like ModelKernels (Package.swift), and
// called, through ModelKernels' VectorKernels, only where the CPU has them. Elsewhere the
// same functions are plain C loops that compute the same quantities (summed in another order).

/// 1 when q8_0IntegerRowDots was built with AVX2's byte multiply-adds, 0 for the plain C loop
/// (which the greedy screen does not use: on such a CPU it would not be faster than the full head).
int q8_0IntegerRowDotsAreVectorized(void);

/// Prefetches the `bytes` that lie 2 KB beyond `start`. Called once per row with that row's
/// length, it keeps a stream of rows ahead of the arithmetic. Decoding streams each weight once,
/// and the hardware prefetcher alone left the row dots short of the memory's speed: two threads
/// over the 178 MB Q8_0 head, 7.2 ms per pass without, 6.0 ms with 2 KB ahead (4.8 ms merely
/// loading the bytes); 680 bytes ahead gave 6.6–6.9 ms, 4 KB the same as 2 KB.
/// One prefetcht0 per cache line (for reading, into every level). A prefetch never faults — an
/// address outside the process's memory is ignored — so the last rows may ask past the matrix's
/// end. Static inline: Swift's importer compiles it into each caller.
static inline void prefetchAhead(const void *start, long bytes) {
    const char *p = (const char *)start + 2048;
    for (long i = 0; i < bytes; i += 64) __builtin_prefetch(p + i, 0, 3);
}

/// For the rows r in [first, last) of a Q8_0 matrix — row r at w + r · rowBytes, `blocks`
/// blocks of 34 bytes (an fp16 scale d, then 32 int8 values q) — and one row of x quantized per
/// block of 32 to int8 values xq (|xq| ≤ 127) with scales xScales[b]:
///   approximate[r] = Σ_b d_rb · xScales[b] · Σ_i q_rbi · xq_bi   (the inner sums in integers, exact)
///   bound[r]       = Σ_b |d_rb| · xErrors[b]
/// Returns the largest approximate[r] − bound[r] over the rows (−infinity for none), and sets
/// *notFinite when some approximate[r] or bound[r] is not finite.
float q8_0IntegerRowDots(float *approximate, float *bound, const void *w, long rowBytes,
                         const int8_t *xq, const float *xScales, const float *xErrors, long blocks,
                         long first, long last, int *notFinite);

/// The rows r in [0, count), in increasing order, with approximate[r] + bound[r] ≥ floor: the
/// first `capacity` of them are written to rows; returns how many there are.
long rowsReaching(const float *approximate, const float *bound, long count, float floor,
                  int32_t *rows, long capacity);

#endif
