#include "attention_kernels.h"

// Decoding attention: one query position, the query heads of one key/value head against every
// cached row. Unlike vidlm_attention_avx512 nothing is packed: a decoding step reads the cache
// once, and packing it per head would read and write it again. Scores come eight keys at a time
// (each key row read once for all the query heads sharing it, the eight dot products summed
// together by vidlm_reduce8); the output keeps up to 128 columns of sums in registers while
// the probabilities run over the value rows.

#if defined(__x86_64__)
#include <immintrin.h>
#include "simd_math.h"

#define TARGET_F32 __attribute__((target("avx512f")))
#define TARGET_F16 __attribute__((target("avx512f,avx512bw,avx512vl,f16c")))

// The cache's rows are f32 or f16 (the half-precision cache of quantized decoders, widened exactly
// on load); the kernels are written once for both.
#define LOAD_F32(p, mk) _mm512_maskz_loadu_ps(mk, p)
#define LOAD_F16(p, mk) _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mk, p))
#define LOAD_BF16(p, mk) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mk, p)), 16))

// p[0, n) rounded to the nearest bf16 (ties to even), kept as f32: the unnormalised probabilities
// of a bf16 model, as the AMX and vdpbf16ps kernels round them (they are finite and ≥ 0 here).
TARGET_F32 static void round_bf16_in_place(float *p, size_t n) {
    const __m512i half = _mm512_set1_epi32(0x7FFF), one = _mm512_set1_epi32(1), top = _mm512_set1_epi32((int)0xFFFF0000u);
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 mk = vidlm_tail_mask(n - j);
        __m512i u = _mm512_castps_si512(_mm512_maskz_loadu_ps(mk, p + j));
        __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), one);
        u = _mm512_and_si512(_mm512_add_epi32(_mm512_add_epi32(u, half), odd), top);
        _mm512_mask_storeu_ps(p + j, mk, _mm512_castsi512_ps(u));
    }
}

#define DEFINE_DECODE(NAME, TARGET, T, LOAD)                                                                   \
    /* s[j] = scale · q·k[j] for one query head over keys [0, n). */                                    \
    TARGET static void scores_row_##NAME(const float *q, const T *keys, size_t k_row, size_t n, size_t dh, \
                                         float scale, float *s) {                                       \
        size_t j = 0;                                                                                   \
        for (; j + 8 <= n; j += 8) {                                                                    \
            __m512 acc[8];                                                                              \
            for (int t = 0; t < 8; t++) acc[t] = _mm512_setzero_ps();                                   \
            for (size_t d = 0; d < dh; d += 16) {                                                       \
                __mmask16 mk = vidlm_tail_mask(dh - d);                                                 \
                __m512 qv = _mm512_maskz_loadu_ps(mk, q + d);                                           \
                for (int t = 0; t < 8; t++)                                                             \
                    acc[t] = _mm512_fmadd_ps(qv, LOAD(keys + (j + t) * k_row + d, mk), acc[t]);          \
            }                                                                                           \
            float out[8];                                                                               \
            vidlm_reduce8(acc, out);                                                                    \
            for (int t = 0; t < 8; t++) s[j + t] = scale * out[t];                                      \
        }                                                                                               \
        for (; j < n; j++) {                                                                            \
            __m512 acc = _mm512_setzero_ps();                                                           \
            for (size_t d = 0; d < dh; d += 16) {                                                       \
                __mmask16 mk = vidlm_tail_mask(dh - d);                                                 \
                acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, q + d), LOAD(keys + j * k_row + d, mk), acc); \
            }                                                                                           \
            s[j] = scale * _mm512_reduce_add_ps(acc);                                                   \
        }                                                                                               \
    }                                                                                                   \
                                                                                                        \
    /* out[0, dh) = Σⱼ p[j] · v[j] / sum, up to 128 columns at a time in registers. */                  \
    TARGET static void weighted_values_##NAME(const float *p, const T *values, size_t v_row, size_t n,    \
                                              size_t dh, float inv, float *out) {                       \
        for (size_t d0 = 0; d0 < dh; d0 += 128) {                                                       \
            size_t width = dh - d0 < 128 ? dh - d0 : 128, vecs = (width + 15) / 16;                     \
            __m512 acc[8];                                                                              \
            for (int c = 0; c < 8; c++) acc[c] = _mm512_setzero_ps();                                   \
            __mmask16 last = vidlm_tail_mask(width - (vecs - 1) * 16);                                  \
            for (size_t j = 0; j < n; j++) {                                                            \
                __m512 pj = _mm512_set1_ps(p[j]);                                                       \
                const T *row = values + j * v_row + d0;                                                 \
                for (size_t c = 0; c < vecs; c++) {                                                     \
                    __mmask16 mk = c + 1 == vecs ? last : 0xFFFF;                                       \
                    acc[c] = _mm512_fmadd_ps(pj, LOAD(row + 16 * c, mk), acc[c]);                       \
                }                                                                                       \
            }                                                                                           \
            __m512 iv = _mm512_set1_ps(inv);                                                            \
            for (size_t c = 0; c < vecs; c++) {                                                         \
                __mmask16 mk = c + 1 == vecs ? last : 0xFFFF;                                           \
                _mm512_mask_storeu_ps(out + d0 + 16 * c, mk, _mm512_mul_ps(acc[c], iv));                \
            }                                                                                           \
        }                                                                                               \
    }                                                                                                   \
                                                                                                        \
    TARGET static void decode_##NAME(const float *q, size_t group, size_t dh, const T *keys, const T *values, \
                                     size_t kv_row, size_t n, float scale, float *out, float *scores,    \
                                     int round_p) {                                                     \
        size_t width = (n + 15) & ~(size_t)15;                                                          \
        for (size_t h = 0; h < group; h++) {                                                            \
            float *s = scores + h * width;                                                              \
            scores_row_##NAME(q + h * dh, keys, kv_row, n, dh, scale, s);                               \
            float sum = vidlm_exp_row_as(s, n, width, round_p);                                         \
            if (sum == 0) {                                                                             \
                for (size_t d = 0; d < dh; d++) out[h * dh + d] = 0;                                    \
                continue;                                                                               \
            }                                                                                           \
            if (round_p) round_bf16_in_place(s, n);                                                     \
            weighted_values_##NAME(s, values, kv_row, n, dh, 1.0f / sum, out + h * dh);                 \
        }                                                                                               \
    }

DEFINE_DECODE(f32, TARGET_F32, float, LOAD_F32)
DEFINE_DECODE(f16, TARGET_F16, uint16_t, LOAD_F16)
DEFINE_DECODE(bf16, TARGET_F16, uint16_t, LOAD_BF16)

void vidlm_attention_decode_avx512(const float *q, size_t group, size_t dh, const float *keys,
                                   const float *values, size_t kv_row, size_t n, float scale, float *out,
                                   float *scores) {
    decode_f32(q, group, dh, keys, values, kv_row, n, scale, out, scores, 0);
}

void vidlm_attention_decode_bf16_avx512(const float *q, size_t group, size_t dh, const float *keys,
                                        const float *values, size_t kv_row, size_t n, float scale, float *out,
                                        float *scores) {
    decode_f32(q, group, dh, keys, values, kv_row, n, scale, out, scores, 1);
}

void vidlm_attention_decode_f16_avx512(const float *q, size_t group, size_t dh, const uint16_t *keys,
                                       const uint16_t *values, size_t kv_row, size_t n, float scale, float *out,
                                       float *scores) {
    decode_f16(q, group, dh, keys, values, kv_row, n, scale, out, scores, 0);
}

void vidlm_attention_decode_bf16_cache_avx512(const float *q, size_t group, size_t dh, const uint16_t *keys,
                                              const uint16_t *values, size_t kv_row, size_t n, float scale,
                                              float *out, float *scores) {
    decode_bf16(q, group, dh, keys, values, kv_row, n, scale, out, scores, 1);
}

#else

void vidlm_attention_decode_avx512(const float *q, size_t group, size_t dh, const float *keys,
                                   const float *values, size_t kv_row, size_t n, float scale, float *out,
                                   float *scores) {
    (void)q; (void)group; (void)dh; (void)keys; (void)values; (void)kv_row; (void)n; (void)scale; (void)out;
    (void)scores;
}

void vidlm_attention_decode_bf16_avx512(const float *q, size_t group, size_t dh, const float *keys,
                                        const float *values, size_t kv_row, size_t n, float scale, float *out,
                                        float *scores) {
    (void)q; (void)group; (void)dh; (void)keys; (void)values; (void)kv_row; (void)n; (void)scale; (void)out;
    (void)scores;
}

void vidlm_attention_decode_bf16_cache_avx512(const float *q, size_t group, size_t dh, const uint16_t *keys,
                                              const uint16_t *values, size_t kv_row, size_t n, float scale,
                                              float *out, float *scores) {
    (void)q; (void)group; (void)dh; (void)keys; (void)values; (void)kv_row; (void)n; (void)scale; (void)out;
    (void)scores;
}

void vidlm_attention_decode_f16_avx512(const float *q, size_t group, size_t dh, const uint16_t *keys,
                                       const uint16_t *values, size_t kv_row, size_t n, float scale, float *out,
                                       float *scores) {
    (void)q; (void)group; (void)dh; (void)keys; (void)values; (void)kv_row; (void)n; (void)scale; (void)out;
    (void)scores;
}

#endif
