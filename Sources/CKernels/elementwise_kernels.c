#include "elementwise_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "simd_math.h"

#define TARGET __attribute__((target("avx512f")))

// erf: Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7), odd.
TARGET static inline __m512 erf16(__m512 x) {
    __m512 a = _mm512_abs_ps(x);
    __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(_mm512_set1_ps(0.3275911f), a, _mm512_set1_ps(1.0f)));
    __m512 p = _mm512_set1_ps(1.061405429f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
    p = _mm512_mul_ps(p, t);
    __m512 y = _mm512_fnmadd_ps(p, vidlm_exp16(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(a, a))), _mm512_set1_ps(1.0f));
    // copy x's sign onto y
    __m512i sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(y), sign));
}

// tanh(u) = 1 − 2 / (e^{2u} + 1), u clamped to ±9 (tanh is ±1 in f32 beyond).
TARGET static inline __m512 tanh16(__m512 u) {
    __m512 c = _mm512_min_ps(_mm512_max_ps(u, _mm512_set1_ps(-9.0f)), _mm512_set1_ps(9.0f));
    __m512 e = vidlm_exp16(_mm512_add_ps(c, c));
    return _mm512_sub_ps(_mm512_set1_ps(1.0f), _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, _mm512_set1_ps(1.0f))));
}

TARGET static inline __m512 sigmoid16(__m512 x) {
    __m512 e = vidlm_exp16(_mm512_sub_ps(_mm512_setzero_ps(), x));
    return _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

TARGET static inline __m512 activate16(int kind, __m512 x) {
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    switch (kind) {
    case 0: return _mm512_mul_ps(_mm512_mul_ps(half, x), _mm512_add_ps(one, erf16(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f)))));
    case 1: {
        __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
        __m512 u = _mm512_mul_ps(_mm512_set1_ps(0.79788456080286536f), _mm512_fmadd_ps(_mm512_set1_ps(0.044715f), x3, x));
        return _mm512_mul_ps(_mm512_mul_ps(half, x), _mm512_add_ps(one, tanh16(u)));
    }
    case 2: return _mm512_mul_ps(x, sigmoid16(_mm512_mul_ps(_mm512_set1_ps(1.702f), x)));
    case 3: return _mm512_mul_ps(x, sigmoid16(x));
    default: return _mm512_max_ps(x, _mm512_setzero_ps());
    }
}

TARGET void vidlm_activation_avx512(int kind, const float *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, activate16(kind, _mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = vidlm_tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, activate16(kind, _mm512_maskz_loadu_ps(m, x + i)));
    }
}

// Two passes per row: the mean (sums of 16 lanes, then of the lanes), then the variance of the
// centred values (no cancellation from E[x²] − E[x]²), both in f32 as PyTorch's CPU kernel.
TARGET void vidlm_layernorm_avx512(const float *x, float *y, size_t rows, size_t d, const float *weight, const float *bias,
                                   float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * d;
        float *out = y + r * d;
        __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
        size_t i = 0;
        for (; i + 32 <= d; i += 32) {
            s0 = _mm512_add_ps(s0, _mm512_loadu_ps(row + i));
            s1 = _mm512_add_ps(s1, _mm512_loadu_ps(row + i + 16));
        }
        for (; i < d; i += 16) s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps(vidlm_tail_mask(d - i), row + i));
        float mean = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) / (float)d;
        __m512 mv = _mm512_set1_ps(mean);
        __m512 v0 = _mm512_setzero_ps(), v1 = _mm512_setzero_ps();
        for (i = 0; i + 32 <= d; i += 32) {
            __m512 a = _mm512_sub_ps(_mm512_loadu_ps(row + i), mv), b = _mm512_sub_ps(_mm512_loadu_ps(row + i + 16), mv);
            v0 = _mm512_fmadd_ps(a, a, v0);
            v1 = _mm512_fmadd_ps(b, b, v1);
        }
        for (; i < d; i += 16) {
            __mmask16 m = vidlm_tail_mask(d - i);
            __m512 a = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, row + i), mv);
            v0 = _mm512_fmadd_ps(a, a, v0);
        }
        float variance = _mm512_reduce_add_ps(_mm512_add_ps(v0, v1)) / (float)d;
        __m512 inv = _mm512_set1_ps(1.0f / __builtin_sqrtf(variance + eps));
        for (i = 0; i < d; i += 16) {
            __mmask16 m = vidlm_tail_mask(d - i);
            __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + i), mv), inv);
            if (weight) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, weight + i));
            if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + i));
            _mm512_mask_storeu_ps(out + i, m, v);
        }
    }
}

#else

void vidlm_activation_avx512(int kind, const float *x, float *y, size_t n) { (void)kind; (void)x; (void)y; (void)n; }
void vidlm_layernorm_avx512(const float *x, float *y, size_t rows, size_t d, const float *weight, const float *bias,
                            float eps) {
    (void)x; (void)y; (void)rows; (void)d; (void)weight; (void)bias; (void)eps;
}

#endif
