// Greedy decoding's screen of a Q8_0 head (Model/Layers/Q8_0GreedyHead.swift): Ê·x̂ with x
// quantized to 8 bits per block of 32, multiplied in integers as llama.cpp's Q8_0 × Q8_0 dot
// does, and each row's bound Σ_b |d_rb| · xErrors[b] in the same pass over the row's bytes.
// Per block of 32: |q| and x̂ · sign(q) as bytes (vpsignb), their products summed in pairs to
// 16 bits (vpmaddubsw: unsigned × signed, |q| ≤ 128 and |x̂| ≤ 127, so a pair is at most 32,512
// and never saturates), then in fours to 32 bits (vpmaddwd), converted to float (exact: at
// most 32 · 128 · 127 < 2²⁴) and multiplied with d · xScales[b]: 6 vector operations per 32
// weights where the fp32 row dot (BlockRowDots.swift) needs 12. With the rows prefetched that
// reaches the memory's speed (two threads over the 178 MB head: 4.8 ms, as merely loading the
// bytes; the fp32 row dot 6.0 ms).

#include "KernelsInC.h"
#include <math.h>
#include <string.h>

// Built with AVX2 + FMA + F16C (x86-64, Package.swift's flags): the vector loops; else plain C.
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define VECTOR_LOOPS 1
#else
#define VECTOR_LOOPS 0
#endif

#if VECTOR_LOOPS
#include <immintrin.h>

static inline uint16_t halfBits(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return h;
}

static inline float halfToFloat(const uint8_t *p) { return _cvtsh_ss(halfBits(p)); }

static inline float sum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/// Σ_i q_i · xq_i over one block, as 8 lanes of 32-bit sums converted to float.
static inline __m256 blockProducts(const uint8_t *q, const int8_t *xq) {
    __m256i wq = _mm256_loadu_si256((const __m256i *)q), xv = _mm256_loadu_si256((const __m256i *)xq);
    __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(xv, wq));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}
#else
static inline float halfToFloat(const uint8_t *p) {
    uint16_t h = (uint16_t)(p[0] | p[1] << 8);
    int exponent = (h >> 10) & 31, mantissa = h & 1023;
    float v = exponent == 0 ? ldexpf((float)mantissa, -24)
            : exponent == 31 ? (mantissa ? NAN : INFINITY)
            : ldexpf((float)(mantissa | 1024), exponent - 25);
    return (h & 0x8000) ? -v : v;
}
#endif

int q8_0IntegerRowDotsAreVectorized(void) { return VECTOR_LOOPS; }

float q8_0IntegerRowDots(float *approximate, float *bound, const void *w, long rowBytes,
                         const int8_t *xq, const float *xScales, const float *xErrors, long blocks,
                         long first, long last, int *notFinite) {
    float floor = -INFINITY;
    int bad = 0;
    for (long r = first; r < last; r++) {
        const uint8_t *row = (const uint8_t *)w + r * rowBytes;
        prefetchAhead(row, rowBytes);
        float margin = 0, sum;
#if VECTOR_LOOPS
        __m256 even = _mm256_setzero_ps(), odd = _mm256_setzero_ps(), margins = _mm256_setzero_ps();
        long b = 0;
        // 8 blocks at a time: their scales gathered into one vector, converted, multiplied and
        // bounded there (instead of one scalar conversion, product and bound per block), then
        // each broadcast from memory into its block's multiply-add
        for (; b + 8 <= blocks; b += 8) {
            const uint8_t *b0 = row + 34 * b;
            __m128i halves = _mm_setzero_si128();
            halves = _mm_insert_epi16(halves, halfBits(b0 + 0 * 34), 0);
            halves = _mm_insert_epi16(halves, halfBits(b0 + 1 * 34), 1);
            halves = _mm_insert_epi16(halves, halfBits(b0 + 2 * 34), 2);
            halves = _mm_insert_epi16(halves, halfBits(b0 + 3 * 34), 3);
            halves = _mm_insert_epi16(halves, halfBits(b0 + 4 * 34), 4);
            halves = _mm_insert_epi16(halves, halfBits(b0 + 5 * 34), 5);
            halves = _mm_insert_epi16(halves, halfBits(b0 + 6 * 34), 6);
            halves = _mm_insert_epi16(halves, halfBits(b0 + 7 * 34), 7);
            __m256 d = _mm256_cvtph_ps(halves);
            float products[8];
            _mm256_storeu_ps(products, _mm256_mul_ps(d, _mm256_loadu_ps(xScales + b)));
            margins = _mm256_fmadd_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), d), _mm256_loadu_ps(xErrors + b), margins);
            for (int k = 0; k < 8; k += 2) {
                even = _mm256_fmadd_ps(_mm256_broadcast_ss(products + k), blockProducts(b0 + 34 * k + 2, xq + 32 * (b + k)), even);
                odd = _mm256_fmadd_ps(_mm256_broadcast_ss(products + k + 1), blockProducts(b0 + 34 * k + 36, xq + 32 * (b + k) + 32), odd);
            }
        }
        margin = sum8(margins);
        for (; b + 2 <= blocks; b += 2) {
            const uint8_t *b0 = row + 34 * b, *b1 = b0 + 34;
            float d0 = halfToFloat(b0), d1 = halfToFloat(b1);
            even = _mm256_fmadd_ps(_mm256_set1_ps(d0 * xScales[b]), blockProducts(b0 + 2, xq + 32 * b), even);
            odd = _mm256_fmadd_ps(_mm256_set1_ps(d1 * xScales[b + 1]), blockProducts(b1 + 2, xq + 32 * b + 32), odd);
            margin += fabsf(d0) * xErrors[b] + fabsf(d1) * xErrors[b + 1];
        }
        if (b < blocks) {
            const uint8_t *b0 = row + 34 * b;
            float d0 = halfToFloat(b0);
            even = _mm256_fmadd_ps(_mm256_set1_ps(d0 * xScales[b]), blockProducts(b0 + 2, xq + 32 * b), even);
            margin += fabsf(d0) * xErrors[b];
        }
        sum = sum8(_mm256_add_ps(even, odd));
#else
        sum = 0;
        for (long b = 0; b < blocks; b++) {
            const uint8_t *block = row + 34 * b;
            float d = halfToFloat(block);
            int32_t s = 0;
            for (int i = 0; i < 32; i++) s += (int32_t)(int8_t)block[2 + i] * xq[32 * b + i];
            sum += d * xScales[b] * (float)s;
            margin += fabsf(d) * xErrors[b];
        }
#endif
        approximate[r] = sum;
        bound[r] = margin;
        float low = sum - margin;
        if (!isfinite(low)) bad = 1;
        else if (low > floor) floor = low;
    }
    if (bad) *notFinite = 1;
    return floor;
}

long rowsReaching(const float *approximate, const float *bound, long count, float floor,
                  int32_t *rows, long capacity) {
    long found = 0, r = 0;
#if VECTOR_LOOPS
    __m256 f = _mm256_set1_ps(floor);
    for (; r + 8 <= count; r += 8) {
        __m256 high = _mm256_add_ps(_mm256_loadu_ps(approximate + r), _mm256_loadu_ps(bound + r));
        unsigned mask = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(high, f, _CMP_GE_OQ));
        while (mask) {
            int lane = __builtin_ctz(mask);
            if (found < capacity) rows[found] = (int32_t)(r + lane);
            found++;
            mask &= mask - 1;
        }
    }
#endif
    for (; r < count; r++) {
        if (approximate[r] + bound[r] >= floor) {
            if (found < capacity) rows[found] = (int32_t)r;
            found++;
        }
    }
    return found;
}
