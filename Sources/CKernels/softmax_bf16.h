// The softmax numerators of bf16 attention, shared by the AMX kernel (amx_attention.c) and the
// vdpbf16ps one (attention_kernels.c): both multiply probabilities rounded to bf16 with values,
// and a row of bf16 probabilities in key order is already the pair layout the dot-product
// instruction reads (pair t = keys 2t, 2t + 1).
#ifndef VIDLM_SOFTMAX_BF16_H
#define VIDLM_SOFTMAX_BF16_H
#include <stdint.h>
#include "simd_math.h"

// One row's softmax numerators: x = s·scale (+ bias) for j < n, e = exp(x − max x) rounded to
// bf16 into p[0, width) (zeros from n; width a multiple of 16, at least n); returns Σ e in f32
// (0 when every x is −inf). The arithmetic of scaling the row in place and then
// vidlm_exp_row_as(…, bf16 = 1), bit for bit, in two passes over the row instead of four and
// without the f32 numerators (no faster by itself: the exponentials are most of this kernel's
// time, which is why bf16 attention uses vidlm_exp2_16).
//
// Without a bias and with a positive scale the maximum is taken over the raw scores and scaled
// once: rounding is monotonic, so max(round(s·scale)) = round(max(s)·scale), bit for bit, for one
// multiplication per score fewer. Whole vectors skip the masking (only the row's last one has
// lanes past n to clear).
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"), always_inline)) static inline float
vidlm_softmax_row_bf16(const float *s, const float *bias, size_t n, size_t width, float scale, uint16_t *p) {
    __m512 sv = _mm512_set1_ps(scale), mv = _mm512_set1_ps(-__builtin_inff());
    size_t whole = n / 16 * 16;
    float m;
    if (!bias && scale > 0) {
        __m512 mv1 = mv;
        size_t j = 0;
        for (; j + 32 <= whole; j += 32) {
            mv = _mm512_max_ps(mv, _mm512_loadu_ps(s + j));
            mv1 = _mm512_max_ps(mv1, _mm512_loadu_ps(s + j + 16));
        }
        for (; j < n; j += 16) {
            __mmask16 mk = vidlm_tail_mask(n - j);
            mv = _mm512_mask_max_ps(mv, mk, mv, _mm512_maskz_loadu_ps(mk, s + j));
        }
        m = _mm512_reduce_max_ps(_mm512_max_ps(mv, mv1)) * scale;
    } else {
        for (size_t j = 0; j < n; j += 16) {
            __mmask16 mk = vidlm_tail_mask(n - j);
            __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, s + j), sv);
            if (bias) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mk, bias + j));
            mv = _mm512_mask_max_ps(mv, mk, mv, x);
        }
        m = _mm512_reduce_max_ps(mv);
    }
    size_t j = 0;
    __m512 sum = _mm512_setzero_ps();
    if (m != -__builtin_inff()) {
        __m512 l2e = _mm512_set1_ps(VIDLM_LOG2E), shift2 = _mm512_set1_ps(-m * VIDLM_LOG2E);
        for (; j < whole; j += 16) {
            __m512 x = _mm512_mul_ps(_mm512_loadu_ps(s + j), sv);
            if (bias) x = _mm512_add_ps(x, _mm512_loadu_ps(bias + j));
            __m512 e = vidlm_exp2_16(_mm512_fmadd_ps(x, l2e, shift2));
            sum = _mm512_add_ps(sum, e);
            _mm256_storeu_si256((__m256i *)(p + j), (__m256i)_mm512_cvtneps_pbh(e));
        }
        if (j < n) {
            __mmask16 mk = vidlm_tail_mask(n - j);
            __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, s + j), sv);
            if (bias) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mk, bias + j));
            __m512 e = _mm512_maskz_mov_ps(mk, vidlm_exp2_16(_mm512_fmadd_ps(x, l2e, shift2)));
            sum = _mm512_add_ps(sum, e);
            _mm256_storeu_si256((__m256i *)(p + j), (__m256i)_mm512_cvtneps_pbh(e));
            j += 16;
        }
    }
    for (; j < width; j += 16) _mm256_storeu_si256((__m256i *)(p + j), _mm256_setzero_si256());
    return _mm512_reduce_add_ps(sum);
}

#endif
