#include "elementwise_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "simd_math.h"

#define TARGET __attribute__((target("avx512f")))

TARGET void vidlm_activation_avx512(int kind, const float *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, vidlm_activate16(kind, _mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = vidlm_tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, vidlm_activate16(kind, _mm512_maskz_loadu_ps(m, x + i)));
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
