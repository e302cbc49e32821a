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

TARGET void vidlm_layernorm_avx512(const float *x, float *y, size_t rows, size_t d, const float *weight, const float *bias,
                                   float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * d;
        float *out = y + r * d;
        __m512 mv, inv;
        vidlm_layernorm_stats(row, d, eps, &mv, &inv);
        for (size_t i = 0; i < d; i += 16) {
            __mmask16 m = vidlm_tail_mask(d - i);
            _mm512_mask_storeu_ps(out + i, m, vidlm_layernorm16(row, i, m, mv, inv, weight, bias));
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
