#include "half_kernels.h"

#include <string.h>

// Conversions between f32 and f16 rows (the half-precision KV cache): round to nearest even on
// the way down, exact on the way up. The AVX-512 path (vcvtps2ph / vcvtph2ps) and the portable
// one (the compiler's _Float16) give the same bits for every finite value.

static void to_f16_portable(const float *x, uint16_t *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        _Float16 h = (_Float16)x[i];
        memcpy(y + i, &h, 2);
    }
}

static void to_f32_portable(const uint16_t *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        _Float16 h;
        memcpy(&h, x + i, 2);
        y[i] = (float)h;
    }
}

// f32 ↔ bf16 rows (the bf16 cache of bf16 decoders, whose rows are bf16 values already, so the
// narrowing is exact there): nearest even, NaN kept quiet; widening is a shift.
// The bf16 bits of f32 bits u: nearest even, NaN kept and made quiet.
static inline uint32_t bf16_bits(uint32_t u) {
    uint32_t nan = (u & 0x7FFFFFFFu) > 0x7F800000u;
    return nan ? (u | 0x00400000u) >> 16 : (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
}

static void to_bf16_portable(const float *x, uint16_t *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, 4);
        y[i] = (uint16_t)bf16_bits(u);
    }
}

static void round_bf16_portable(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, 4);
        u = bf16_bits(u) << 16;
        memcpy(y + i, &u, 4);
    }
}

void vidlm_bf16_to_f32(const uint16_t *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)x[i] << 16;
        memcpy(y + i, &u, 4);
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

#define ROWS_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,f16c")))

ROWS_TARGET static void to_f16_avx512(const float *x, uint16_t *y, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(y + i), _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        _mm256_mask_storeu_epi16(y + i, m, _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
}

ROWS_TARGET static void to_f32_avx512(const uint16_t *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        _mm512_mask_storeu_ps(y + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i)));
    }
}

// 16 floats' bits → their bf16 bits in the top half of each lane (the low half zero), as
// bf16_bits: the rounding every bf16 decoder applies to its matmul inputs and cache rows.
ROWS_TARGET static inline __m512i round_bf16_16(__m512i u) {
    const __m512i top = _mm512_set1_epi32((int)0xFFFF0000u);
    __m512i r = _mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7FFF)),
                                 _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1)));
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7FFFFFFF)), _mm512_set1_epi32(0x7F800000));
    r = _mm512_mask_or_epi32(r, nan, u, _mm512_set1_epi32(0x00400000));
    return _mm512_and_si512(r, top);
}

ROWS_TARGET static void round_bf16_avx512(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        __m512i u = _mm512_castps_si512(_mm512_maskz_loadu_ps(m, x + i));
        _mm512_mask_storeu_ps(y + i, m, _mm512_castsi512_ps(round_bf16_16(u)));
    }
}

ROWS_TARGET static void to_bf16_avx512(const float *x, uint16_t *y, size_t n) {
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        __m512i u = _mm512_castps_si512(_mm512_maskz_loadu_ps(m, x + i));
        _mm256_mask_storeu_epi16(y + i, m, _mm512_cvtepi32_epi16(_mm512_srli_epi32(round_bf16_16(u), 16)));
    }
}

// Whether the AVX-512 row kernels run here, asked once (these run per decoding step).
static int rows_avx512(void) {
    static int known = -1;
    int v = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (v < 0) {
        v = vidlm_f16_matvec_available();
        __atomic_store_n(&known, v, __ATOMIC_RELAXED);
    }
    return v;
}

void vidlm_f32_to_bf16(const float *x, uint16_t *y, size_t n) {
    if (rows_avx512()) to_bf16_avx512(x, y, n);
    else to_bf16_portable(x, y, n);
}

void vidlm_round_bf16(const float *x, float *y, size_t n) {
    if (rows_avx512()) round_bf16_avx512(x, y, n);
    else round_bf16_portable(x, y, n);
}

void vidlm_f32_to_f16(const float *x, uint16_t *y, size_t n) {
    if (vidlm_f16_matvec_available()) to_f16_avx512(x, y, n);
    else to_f16_portable(x, y, n);
}

void vidlm_f16_to_f32(const uint16_t *x, float *y, size_t n) {
    if (vidlm_f16_matvec_available()) to_f32_avx512(x, y, n);
    else to_f32_portable(x, y, n);
}

#else

void vidlm_f32_to_f16(const float *x, uint16_t *y, size_t n) { to_f16_portable(x, y, n); }
void vidlm_f32_to_bf16(const float *x, uint16_t *y, size_t n) { to_bf16_portable(x, y, n); }
void vidlm_round_bf16(const float *x, float *y, size_t n) { round_bf16_portable(x, y, n); }
void vidlm_f16_to_f32(const uint16_t *x, float *y, size_t n) { to_f32_portable(x, y, n); }

#endif
