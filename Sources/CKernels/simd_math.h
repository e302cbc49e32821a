// AVX-512 helpers the kernels share (internal: not part of the module's public headers). They are
// always inlined: a kernel compiled with more target features (the bf16 ones) would otherwise
// call them out of line, and passing the accumulators' address out made the compiler keep them
// in memory (the bf16 GEMM ran at 55 % of its peak instead of 88 %).
#ifndef VIDLM_SIMD_MATH_H
#define VIDLM_SIMD_MATH_H

#if defined(__x86_64__)
#include <immintrin.h>
#include <stddef.h>

/// Lanes [0, n) of a 16-lane vector.
static inline __mmask16 vidlm_tail_mask(size_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

/// e^x for 16 lanes: x = n·ln2 + r, |r| ≤ ln2/2, degree-6 polynomial (relative error ≈ 2e-7),
/// 2^n through the exponent; 0 below −87.3 (masked logits are −inf).
__attribute__((target("avx512f"), always_inline)) static inline __m512 vidlm_exp16(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-87.33654f), hi = _mm512_set1_ps(88.72283f);
    __mmask16 under = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
    __m512 c = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(c, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), c);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_maskz_mov_ps((__mmask16)~under, _mm512_scalef_ps(p, n));
}

/// The sums of 8 accumulators of 16 partial sums each, at once: three rounds of shuffles and adds
/// that halve the partial sums of two vectors together, 22 instructions where eight
/// _mm512_reduce_add_ps take about 64 (3-4 % of a GEMM with 2048-element k slices).
__attribute__((target("avx512f"), always_inline)) static inline void vidlm_reduce8(const __m512 *v, float *out) {
    __m512 a[4], b[2];
    for (int j = 0; j < 4; j++)  // lanes: [v2j 0+2, v2j 1+3, v2j+1 0+2, v2j+1 1+3]
        a[j] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * j], v[2 * j + 1], 0x44),
                             _mm512_shuffle_f32x4(v[2 * j], v[2 * j + 1], 0xEE));
    for (int j = 0; j < 2; j++)  // 128-bit lane l holds four partial sums of v(4j + l)
        b[j] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * j], a[2 * j + 1], 0x88),
                             _mm512_shuffle_f32x4(a[2 * j], a[2 * j + 1], 0xDD));
    __m512 u = _mm512_add_ps(_mm512_unpacklo_ps(b[0], b[1]), _mm512_unpackhi_ps(b[0], b[1]));
    __m512 f = _mm512_add_ps(u, _mm512_shuffle_ps(u, u, 0x4E));  // lane l: [sum v(l), sum v(4 + l), …]
    float t[16];
    _mm512_storeu_ps(t, f);
    for (int l = 0; l < 4; l++) {
        out[l] = t[4 * l];
        out[4 + l] = t[4 * l + 1];
    }
}

/// 2^t for 16 lanes, for the softmax numerators of bf16 attention (t ≤ 0 there): t = n + f with
/// n = round(t), |f| ≤ ½, 2^f by a degree-6 polynomial fitted to its relative error (≤ 1e-7
/// evaluated in f32, as vidlm_exp16), scaled by 2^n; 0 from −150 down (−inf included), NaN stays
/// NaN. With the shift folded into t = x·log₂e − max·log₂e (one FMA) an exponential costs 10
/// operations to vidlm_exp16's 17 plus the subtraction: those were two thirds of the AMX attention
/// kernel's time. Only bf16 attention uses it (its probabilities are rounded to bf16 anyway); the
/// f32 paths keep vidlm_exp16, whose results their fixtures were checked with.
__attribute__((target("avx512f"), always_inline)) static inline __m512 vidlm_exp2_16(__m512 t) {
    t = _mm512_max_ps(_mm512_set1_ps(-150.0f), t);  // NaN in the second operand stays NaN
    __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(t, n);
    __m512 p = _mm512_set1_ps(1.5347280714195222e-4f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3399943709373474e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.618483483791351e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550328642129898e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022646248340607e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931471824645996e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);  // 2^-150 · 1 rounds to 0
}

#define VIDLM_LOG2E 1.44269504088896341f

/// A row's layer-norm statistics: *mean = its mean and *inv = 1/√(variance + eps), broadcast. Two
/// passes: the mean (sums of 16 lanes, then of the lanes), then the variance of the centred
/// values (no cancellation from E[x²] − E[x]²), both in f32 as PyTorch's CPU kernel.
__attribute__((target("avx512f"), always_inline)) static inline void vidlm_layernorm_stats(const float *row, size_t d, float eps,
                                                                                          __m512 *mean, __m512 *inv) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        s0 = _mm512_add_ps(s0, _mm512_loadu_ps(row + i));
        s1 = _mm512_add_ps(s1, _mm512_loadu_ps(row + i + 16));
    }
    for (; i < d; i += 16) s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps(vidlm_tail_mask(d - i), row + i));
    __m512 mv = _mm512_set1_ps(_mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) / (float)d);
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
    *mean = mv;
    *inv = _mm512_set1_ps(1.0f / __builtin_sqrtf(variance + eps));
}

/// Elements [i, i + 16) of a layer-normed row, (x − mean)·inv, then · weight and + bias when
/// given; only the lanes in `m` are read and meaningful.
__attribute__((target("avx512f"), always_inline)) static inline __m512 vidlm_layernorm16(const float *row, size_t i, __mmask16 m,
                                                                                        __m512 mean, __m512 inv,
                                                                                        const float *weight, const float *bias) {
    __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + i), mean), inv);
    if (weight) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, weight + i));
    if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + i));
    return v;
}

/// erf: Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7), odd.
__attribute__((target("avx512f"), always_inline)) static inline __m512 vidlm_erf16(__m512 x) {
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

/// 1/d for 16 lanes: the 14-bit reciprocal estimate and one Newton step (relative error about
/// 2^-23, against the division's 2^-24); a division of 16 lanes costs several times an FMA here,
/// and the activations below ran one per output in the GEMMs' stores (GELU was 8 % of a SigLIP
/// fc1 with k = 768). d must be a normal positive number below 2^126.
__attribute__((target("avx512f"), always_inline)) static inline __m512 vidlm_recip16(__m512 d) {
    __m512 r = _mm512_rcp14_ps(d);
    return _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.0f)));
}

/// 1 / (1 + 2^t): the logistic function of −t·ln 2, t clamped to ≤ 120 (the result is then below
/// 2^-120, and the reciprocal stays a normal number); NaN stays NaN.
__attribute__((target("avx512f"), always_inline)) static inline __m512 vidlm_logistic2_16(__m512 t) {
    __m512 e = vidlm_exp2_16(_mm512_min_ps(_mm512_set1_ps(120.0f), t));  // NaN in the second operand stays NaN
    return vidlm_recip16(_mm512_add_ps(e, _mm512_set1_ps(1.0f)));
}

/// σ(x) = 1 / (1 + e^{−x}).
__attribute__((target("avx512f"), always_inline)) static inline __m512 vidlm_sigmoid16(__m512 x) {
    return vidlm_logistic2_16(_mm512_mul_ps(x, _mm512_set1_ps(-VIDLM_LOG2E)));
}

/// The activation `kind` of elementwise_kernels.h on 16 lanes (the GEMMs apply it as they store).
__attribute__((target("avx512f"), always_inline)) static inline __m512 vidlm_activate16(int kind, __m512 x) {
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    switch (kind) {
    case 0: return _mm512_mul_ps(_mm512_mul_ps(half, x), _mm512_add_ps(one, vidlm_erf16(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f)))));
    case 1: {
        // ½x(1 + tanh u) = x·σ(2u), u = √(2/π)(x + 0.044715x³): 2^t with t = −2u·log₂e, the
        // constants folded, one exponential and one reciprocal.
        const float a = 2.0f * 0.79788456080286536f * VIDLM_LOG2E, b = a * 0.044715f;
        __m512 t = _mm512_mul_ps(x, _mm512_fnmadd_ps(_mm512_set1_ps(b), _mm512_mul_ps(x, x), _mm512_set1_ps(-a)));
        return _mm512_mul_ps(x, vidlm_logistic2_16(t));
    }
    case 2: return _mm512_mul_ps(x, vidlm_sigmoid16(_mm512_mul_ps(_mm512_set1_ps(1.702f), x)));
    case 3: return _mm512_mul_ps(x, vidlm_sigmoid16(x));
    default: return _mm512_max_ps(x, _mm512_setzero_ps());
    }
}

/// y = act(y) on the `rows` × `cols` block at y (act ≥ 0).
__attribute__((target("avx512f"), always_inline)) static inline void vidlm_activate_block(float *y, size_t ldy, size_t rows, size_t cols, int act) {
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j += 16) {
            __mmask16 mask = vidlm_tail_mask(cols - j);
            float *p = y + i * ldy + j;
            _mm512_mask_storeu_ps(p, mask, vidlm_activate16(act, _mm512_maskz_loadu_ps(mask, p)));
        }
}

/// y = residual + y on the `rows` × `cols` block at y (residual row stride ldr).
__attribute__((target("avx512f"), always_inline)) static inline void vidlm_add_residual_block(float *y, size_t ldy, size_t rows, size_t cols, const float *residual, size_t ldr) {
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j += 16) {
            __mmask16 mask = vidlm_tail_mask(cols - j);
            float *p = y + i * ldy + j;
            __m512 sum = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, residual + i * ldr + j), _mm512_maskz_loadu_ps(mask, p));
            _mm512_mask_storeu_ps(p, mask, sum);
        }
}

/// Softmax numerators of one score row in place: s[j] = exp(s[j] − max) for j < n, 0 for j in
/// [n, width) (width a multiple of 16); returns Σ (0 when every logit is −inf). `bf16` (a
/// constant at every call): as bf16 attention computes them, 2^(s[j]·log₂e − max·log₂e) with
/// vidlm_exp2_16.
__attribute__((target("avx512f"), always_inline)) static inline float vidlm_exp_row_as(float *s, size_t n, size_t width,
                                                                                       int bf16) {
    __m512 mv = _mm512_set1_ps(-__builtin_inff());
    size_t j = 0;
    for (; j + 16 <= n; j += 16) mv = _mm512_max_ps(mv, _mm512_loadu_ps(s + j));
    if (j < n) mv = _mm512_max_ps(mv, _mm512_mask_loadu_ps(_mm512_set1_ps(-__builtin_inff()), vidlm_tail_mask(n - j), s + j));
    float m = _mm512_reduce_max_ps(mv);
    if (m == -__builtin_inff()) {
        for (j = 0; j < width; j += 16) _mm512_storeu_ps(s + j, _mm512_setzero_ps());
        return 0;
    }
    __m512 shift = _mm512_set1_ps(m), sum = _mm512_setzero_ps();
    __m512 l2e = _mm512_set1_ps(VIDLM_LOG2E), shift2 = _mm512_set1_ps(-m * VIDLM_LOG2E);
#define VIDLM_ROW_EXP(x) (bf16 ? vidlm_exp2_16(_mm512_fmadd_ps(x, l2e, shift2)) : vidlm_exp16(_mm512_sub_ps(x, shift)))
    for (j = 0; j + 16 <= n; j += 16) {
        __m512 e = VIDLM_ROW_EXP(_mm512_loadu_ps(s + j));
        _mm512_storeu_ps(s + j, e);
        sum = _mm512_add_ps(sum, e);
    }
    if (j < n) {
        __mmask16 mk = vidlm_tail_mask(n - j);
        __m512 e = _mm512_maskz_mov_ps(mk, VIDLM_ROW_EXP(_mm512_maskz_loadu_ps(mk, s + j)));
        _mm512_storeu_ps(s + j, e);
        sum = _mm512_add_ps(sum, e);
        j += 16;
    }
#undef VIDLM_ROW_EXP
    for (; j < width; j += 16) _mm512_storeu_ps(s + j, _mm512_setzero_ps());
    return _mm512_reduce_add_ps(sum);
}

/// vidlm_exp_row_as in f32 (vidlm_exp16).
__attribute__((target("avx512f"), always_inline)) static inline float vidlm_exp_row(float *s, size_t n, size_t width) {
    return vidlm_exp_row_as(s, n, width, 0);
}

/// Defines the matrix-vector kernel of one weight type for decoding (`TARGET` a target attribute,
/// `T` the stored element, `LOAD(p, mask)` the masked lanes of 16 elements at p widened to
/// floats):
///   PREFIX##_row: one weight row against one x row, front to back, four sums in flight;
///   PREFIX##_matvec: y[j·ldy + r] (=, or += when `accumulate`) Σᵢ W[r, i]·x[j·ldx + i] for rows
///     [row_begin, row_end), row after row (a row stays in L1 for the x rows j < m after the
///     first).
/// A work unit's rows are adjacent, so reading them in turn is one sequential stream, which the
/// hardware prefetchers follow across pages at the memory's full rate (the bf16 dot-product
/// kernel in half_kernels.c, which measured it). Eight rows side by side with the next eight
/// prefetched into L2, what this replaced, streamed 32-43 GB/s of f32 weights on two Zen 5 cores
/// where this streams 39-48 (about a plain read's rate in those minutes), alternated in one
/// process (a C model of a 1.7B decoder's token, 12 layers of f32 weights).
#define VIDLM_DEFINE_FMA_MATVEC(PREFIX, TARGET, T, LOAD)                                                 \
    TARGET static float PREFIX##_row(const T *w, size_t k, const float *x) {                             \
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();                                      \
        __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();                                      \
        size_t i = 0;                                                                                   \
        for (; i + 64 <= k; i += 64) {                                                                  \
            a0 = _mm512_fmadd_ps(LOAD(w + i, 0xFFFF), _mm512_loadu_ps(x + i), a0);                      \
            a1 = _mm512_fmadd_ps(LOAD(w + i + 16, 0xFFFF), _mm512_loadu_ps(x + i + 16), a1);            \
            a2 = _mm512_fmadd_ps(LOAD(w + i + 32, 0xFFFF), _mm512_loadu_ps(x + i + 32), a2);            \
            a3 = _mm512_fmadd_ps(LOAD(w + i + 48, 0xFFFF), _mm512_loadu_ps(x + i + 48), a3);            \
        }                                                                                               \
        for (; i < k; i += 16) {                                                                        \
            __mmask16 mk = vidlm_tail_mask(k - i);                                                      \
            a0 = _mm512_fmadd_ps(LOAD(w + i, mk), _mm512_maskz_loadu_ps(mk, x + i), a0);                \
        }                                                                                               \
        return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));       \
    }                                                                                                   \
    TARGET static void PREFIX##_matvec(const T *w, size_t k, size_t row_begin, size_t row_end, const float *x, \
                                       size_t ldx, size_t m, float *y, size_t ldy, int accumulate) {     \
        for (size_t r = row_begin; r < row_end; r++)                                                    \
            for (size_t j = 0; j < m; j++) {                                                            \
                float s = PREFIX##_row(w + r * k, k, x + j * ldx);                                      \
                y[j * ldy + r] = accumulate ? y[j * ldy + r] + s : s;                                   \
            }                                                                                           \
    }

/// 16 floats of a and of b → 16 (a[i], b[i]) 32-bit pairs of bf16 (round to nearest even), a in
/// the low half.
__attribute__((target("avx512f,avx512bf16"), always_inline)) static inline __m512i vidlm_interleave_bf16(__m512 a, __m512 b) {
    __m512i ai = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(a));
    __m512i bi = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(b));
    return _mm512_or_si512(ai, _mm512_slli_epi32(bi, 16));
}

#endif
#endif
