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
void vidlm_f32_to_bf16(const float *x, uint16_t *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, 4);
        uint32_t nan = (u & 0x7FFFFFFFu) > 0x7F800000u;
        y[i] = (uint16_t)(nan ? (u | 0x00400000u) >> 16 : (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
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
void vidlm_f16_to_f32(const uint16_t *x, float *y, size_t n) { to_f32_portable(x, y, n); }

#endif
