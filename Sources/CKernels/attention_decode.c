#include "attention_kernels.h"

// Decoding attention: one query position, a run of query heads against every cached row. Nothing
// is packed: a decoding step reads the cache once, and packing it per head would read and write it
// again. A cached row holds every key/value head side by side (a row every few KiB), so the loops
// go row by row over all the heads of the call rather than head by head down the rows: walking one
// head's 128 bytes a row at a 4 KiB stride left each load waiting on memory (SmolVLM2-2.2B's cache
// of 800 positions read at 12 GB/s, 13 ms a token). The next rows are prefetched as well.
// Scores come eight keys at a time (the eight dot products summed together by vidlm_reduce8); the
// values are weighed for up to 24 registers of output columns (several heads) at once. Every sum is
// taken in the same order as one head at a time, so the results do not depend on the heads a call
// gets.

#if defined(__x86_64__)
#include <immintrin.h>
#include "prefetch_rows.h"
#include "simd_math.h"

#define TARGET_F32 __attribute__((target("avx512f")))
#define TARGET_F16 __attribute__((target("avx512f,avx512bw,avx512vl,f16c")))

// The cache's rows are f32, f16 (the half-precision cache of quantized decoders, widened exactly
// on load) or bf16 (bf16 decoders); the kernels are written once for all three.
#define LOAD_F32(p, mk) _mm512_maskz_loadu_ps(mk, p)
#define LOAD_F16(p, mk) _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mk, p))
#define LOAD_BF16(p, mk) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mk, p)), 16))

/// Rows prefetched ahead of the one in use: far enough to cover the memory latency at the rate a
/// core consumes a row of a few heads (8 to 32 measured alike).
#define DECODE_PREFETCH_ROWS 16

/// Output registers the value loop keeps (heads × vectors per head), leaving room for the loads.
#define VALUE_REGISTERS 24

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

/// The query heads [head0, head0 + heads) of a call read key/value heads kv(h) = h / group; the
/// columns of head h start kv_column(h) elements into the rows given (those of kv(head0)).
static inline size_t kv_column(size_t h, size_t head0, size_t group, size_t dh) {
    return (h / group - head0 / group) * dh;
}

// VALUES(NAME, VPH): out rows of `count` ≤ VALUE_REGISTERS / VPH heads (from head `first`), each
// dh ≤ 16·VPH columns = Σⱼ p_h[j] · v[j] · inv_h, the accumulators in registers while the rows
// stream by. A separate function per VPH (vectors per head) keeps every index a constant.
#define DEFINE_VALUES(NAME, TARGET, T, LOAD, VPH)                                                            \
    TARGET static void values_##NAME##_##VPH(const float *scores, size_t width, const T *values, size_t v_row, \
                                             size_t head0, size_t group, size_t first, size_t count, size_t n, \
                                             size_t dh, const float *inv, float *out) {                      \
        enum { HB = VALUE_REGISTERS / VPH };                                                                 \
        __m512 acc[HB][VPH];                                                                                 \
        const float *p[HB];                                                                                  \
        size_t column[HB];                                                                                   \
        for (int b = 0; b < HB; b++) {                                                                       \
            size_t h = first + ((size_t)b < count ? (size_t)b : count - 1);                                  \
            p[b] = scores + h * width;                                                                       \
            column[b] = kv_column(head0 + h, head0, group, dh);                                              \
            for (int c = 0; c < VPH; c++) acc[b][c] = _mm512_setzero_ps();                                   \
        }                                                                                                    \
        const __mmask16 last = vidlm_tail_mask(dh - (VPH - 1) * 16);                                         \
        size_t span = (column[HB - 1] - column[0] + dh) * sizeof(T);                                         \
        for (size_t j = 0; j < n; j++) {                                                                     \
            if (j + DECODE_PREFETCH_ROWS < n)                                                                \
                vidlm_prefetch_rows_share(values + column[0], v_row * sizeof(T), j + DECODE_PREFETCH_ROWS,   \
                                          j + DECODE_PREFETCH_ROWS + 1, 0, span, 0, 1);                       \
            const T *row = values + j * v_row;                                                               \
            _Pragma("clang loop unroll(full)")                                                               \
            for (int b = 0; b < HB; b++) {                                                                   \
                if ((size_t)b >= count) continue; /* a branch, not a loop exit: the loop unrolls */          \
                __m512 pj = _mm512_set1_ps(p[b][j]);                                                         \
                for (int c = 0; c < VPH; c++)                                                                \
                    acc[b][c] = _mm512_fmadd_ps(pj, LOAD(row + column[b] + 16 * c, c + 1 == VPH ? last : 0xFFFF), \
                                                acc[b][c]);                                                  \
            }                                                                                                \
        }                                                                                                    \
        for (int b = 0; b < HB; b++) {                                                                       \
            if ((size_t)b >= count) break;                                                                   \
            __m512 iv = _mm512_set1_ps(inv[first + b]);                                                      \
            for (int c = 0; c < VPH; c++)                                                                    \
                _mm512_mask_storeu_ps(out + (first + b) * dh + 16 * c, c + 1 == VPH ? last : 0xFFFF,          \
                                      _mm512_mul_ps(acc[b][c], iv));                                         \
        }                                                                                                    \
    }

#define DEFINE_DECODE(NAME, TARGET, T, LOAD)                                                                   \
    DEFINE_VALUES(NAME, TARGET, T, LOAD, 1)                                                                    \
    DEFINE_VALUES(NAME, TARGET, T, LOAD, 2)                                                                    \
    DEFINE_VALUES(NAME, TARGET, T, LOAD, 3)                                                                    \
    DEFINE_VALUES(NAME, TARGET, T, LOAD, 4)                                                                    \
    DEFINE_VALUES(NAME, TARGET, T, LOAD, 5)                                                                    \
    DEFINE_VALUES(NAME, TARGET, T, LOAD, 6)                                                                    \
    DEFINE_VALUES(NAME, TARGET, T, LOAD, 7)                                                                    \
    DEFINE_VALUES(NAME, TARGET, T, LOAD, 8)                                                                    \
                                                                                                               \
    /* Heads wider than 128 columns: 128 at a time, one head per pass. */                                     \
    TARGET static void values_wide_##NAME(const float *p, const T *values, size_t v_row, size_t n, size_t dh,  \
                                          float inv, float *out) {                                             \
        for (size_t d0 = 0; d0 < dh; d0 += 128) {                                                              \
            size_t width = dh - d0 < 128 ? dh - d0 : 128, vecs = (width + 15) / 16;                            \
            __m512 acc[8];                                                                                     \
            for (int c = 0; c < 8; c++) acc[c] = _mm512_setzero_ps();                                          \
            __mmask16 last = vidlm_tail_mask(width - (vecs - 1) * 16);                                         \
            for (size_t j = 0; j < n; j++) {                                                                   \
                if (j + DECODE_PREFETCH_ROWS < n)                                                              \
                    vidlm_prefetch_rows_share(values + d0, v_row * sizeof(T), j + DECODE_PREFETCH_ROWS,        \
                                              j + DECODE_PREFETCH_ROWS + 1, 0, width * sizeof(T), 0, 1);        \
                __m512 pj = _mm512_set1_ps(p[j]);                                                              \
                const T *row = values + j * v_row + d0;                                                        \
                for (size_t c = 0; c < vecs; c++) {                                                            \
                    __mmask16 mk = c + 1 == vecs ? last : 0xFFFF;                                              \
                    acc[c] = _mm512_fmadd_ps(pj, LOAD(row + 16 * c, mk), acc[c]);                              \
                }                                                                                              \
            }                                                                                                  \
            __m512 iv = _mm512_set1_ps(inv);                                                                   \
            for (size_t c = 0; c < vecs; c++) {                                                                \
                __mmask16 mk = c + 1 == vecs ? last : 0xFFFF;                                                  \
                _mm512_mask_storeu_ps(out + d0 + 16 * c, mk, _mm512_mul_ps(acc[c], iv));                       \
            }                                                                                                  \
        }                                                                                                      \
    }                                                                                                          \
                                                                                                               \
    TARGET static void decode_##NAME(const float *q, size_t heads, size_t group, size_t head0, size_t dh,       \
                                     const T *keys, const T *values, size_t kv_row, size_t n, float scale,      \
                                     float *out, float *scores, int round_p) {                                  \
        if (heads == 0 || group == 0) return;                                                                  \
        size_t width = (n + 15) & ~(size_t)15;                                                                 \
        size_t span = (kv_column(head0 + heads - 1, head0, group, dh) + dh) * sizeof(T);                       \
        /* s_h[j] = scale · q_h·k[j], eight keys at a time for every head. */                                  \
        size_t j = 0;                                                                                          \
        for (; j + 8 <= n; j += 8) {                                                                           \
            size_t ahead = j + DECODE_PREFETCH_ROWS;                                                           \
            if (ahead < n)                                                                                     \
                vidlm_prefetch_rows_share(keys, kv_row * sizeof(T), ahead, ahead + 8 < n ? ahead + 8 : n, 0,   \
                                          span, 0, 1);                                                         \
            for (size_t h = 0; h < heads; h++) {                                                               \
                const float *qh = q + h * dh;                                                                  \
                const T *kh = keys + kv_column(head0 + h, head0, group, dh) + j * kv_row;                      \
                __m512 acc[8];                                                                                 \
                for (int t = 0; t < 8; t++) acc[t] = _mm512_setzero_ps();                                      \
                for (size_t d = 0; d < dh; d += 16) {                                                          \
                    __mmask16 mk = vidlm_tail_mask(dh - d);                                                    \
                    __m512 qv = _mm512_maskz_loadu_ps(mk, qh + d);                                             \
                    for (int t = 0; t < 8; t++) acc[t] = _mm512_fmadd_ps(qv, LOAD(kh + t * kv_row + d, mk), acc[t]); \
                }                                                                                              \
                float dots[8];                                                                                 \
                vidlm_reduce8(acc, dots);                                                                      \
                for (int t = 0; t < 8; t++) scores[h * width + j + t] = scale * dots[t];                       \
            }                                                                                                  \
        }                                                                                                      \
        for (; j < n; j++)                                                                                     \
            for (size_t h = 0; h < heads; h++) {                                                               \
                const float *qh = q + h * dh;                                                                  \
                const T *kh = keys + kv_column(head0 + h, head0, group, dh) + j * kv_row;                      \
                __m512 acc = _mm512_setzero_ps();                                                              \
                for (size_t d = 0; d < dh; d += 16) {                                                          \
                    __mmask16 mk = vidlm_tail_mask(dh - d);                                                    \
                    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, qh + d), LOAD(kh + d, mk), acc);           \
                }                                                                                              \
                scores[h * width + j] = scale * _mm512_reduce_add_ps(acc);                                     \
            }                                                                                                  \
        /* Softmax numerators per head; 1/sum, or 0 for a head whose every score is −inf. */                  \
        float inv[heads];                                                                                      \
        for (size_t h = 0; h < heads; h++) {                                                                   \
            float *s = scores + h * width;                                                                     \
            float sum = vidlm_exp_row_as(s, n, width, round_p);                                                \
            inv[h] = sum == 0 ? 0 : 1.0f / sum;                                                                \
            if (sum != 0 && round_p) round_bf16_in_place(s, n);                                                \
        }                                                                                                      \
        size_t vph = (dh + 15) / 16;                                                                           \
        if (vph > 8) {                                                                                         \
            for (size_t h = 0; h < heads; h++)                                                                 \
                values_wide_##NAME(scores + h * width, values + kv_column(head0 + h, head0, group, dh), kv_row, \
                                   n, dh, inv[h], out + h * dh);                                               \
        } else {                                                                                               \
            size_t block = VALUE_REGISTERS / vph;                                                              \
            for (size_t first = 0; first < heads; first += block) {                                           \
                size_t count = heads - first < block ? heads - first : block;                                  \
                switch (vph) {                                                                                 \
                case 1: values_##NAME##_1(scores, width, values, kv_row, head0, group, first, count, n, dh, inv, out); break; \
                case 2: values_##NAME##_2(scores, width, values, kv_row, head0, group, first, count, n, dh, inv, out); break; \
                case 3: values_##NAME##_3(scores, width, values, kv_row, head0, group, first, count, n, dh, inv, out); break; \
                case 4: values_##NAME##_4(scores, width, values, kv_row, head0, group, first, count, n, dh, inv, out); break; \
                case 5: values_##NAME##_5(scores, width, values, kv_row, head0, group, first, count, n, dh, inv, out); break; \
                case 6: values_##NAME##_6(scores, width, values, kv_row, head0, group, first, count, n, dh, inv, out); break; \
                case 7: values_##NAME##_7(scores, width, values, kv_row, head0, group, first, count, n, dh, inv, out); break; \
                default: values_##NAME##_8(scores, width, values, kv_row, head0, group, first, count, n, dh, inv, out); break; \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
        /* A head with no finite score attends to nothing (its sums above were 0 · v). */                     \
        for (size_t h = 0; h < heads; h++)                                                                     \
            if (inv[h] == 0)                                                                                   \
                for (size_t d = 0; d < dh; d++) out[h * dh + d] = 0;                                           \
    }

DEFINE_DECODE(f32, TARGET_F32, float, LOAD_F32)
DEFINE_DECODE(f16, TARGET_F16, uint16_t, LOAD_F16)
DEFINE_DECODE(bf16, TARGET_F16, uint16_t, LOAD_BF16)

void vidlm_attention_decode_avx512(const float *q, size_t heads, size_t group, size_t head0, size_t dh,
                                   const float *keys, const float *values, size_t kv_row, size_t n, float scale,
                                   float *out, float *scores) {
    decode_f32(q, heads, group, head0, dh, keys, values, kv_row, n, scale, out, scores, 0);
}

void vidlm_attention_decode_bf16_avx512(const float *q, size_t heads, size_t group, size_t head0, size_t dh,
                                        const float *keys, const float *values, size_t kv_row, size_t n,
                                        float scale, float *out, float *scores) {
    decode_f32(q, heads, group, head0, dh, keys, values, kv_row, n, scale, out, scores, 1);
}

void vidlm_attention_decode_f16_avx512(const float *q, size_t heads, size_t group, size_t head0, size_t dh,
                                       const uint16_t *keys, const uint16_t *values, size_t kv_row, size_t n,
                                       float scale, float *out, float *scores) {
    decode_f16(q, heads, group, head0, dh, keys, values, kv_row, n, scale, out, scores, 0);
}

void vidlm_attention_decode_bf16_cache_avx512(const float *q, size_t heads, size_t group, size_t head0, size_t dh,
                                              const uint16_t *keys, const uint16_t *values, size_t kv_row,
                                              size_t n, float scale, float *out, float *scores) {
    decode_bf16(q, heads, group, head0, dh, keys, values, kv_row, n, scale, out, scores, 1);
}

#else

void vidlm_attention_decode_avx512(const float *q, size_t heads, size_t group, size_t head0, size_t dh,
                                   const float *keys, const float *values, size_t kv_row, size_t n, float scale,
                                   float *out, float *scores) {
    (void)q; (void)heads; (void)group; (void)head0; (void)dh; (void)keys; (void)values; (void)kv_row; (void)n;
    (void)scale; (void)out; (void)scores;
}

void vidlm_attention_decode_bf16_avx512(const float *q, size_t heads, size_t group, size_t head0, size_t dh,
                                        const float *keys, const float *values, size_t kv_row, size_t n,
                                        float scale, float *out, float *scores) {
    (void)q; (void)heads; (void)group; (void)head0; (void)dh; (void)keys; (void)values; (void)kv_row; (void)n;
    (void)scale; (void)out; (void)scores;
}

void vidlm_attention_decode_f16_avx512(const float *q, size_t heads, size_t group, size_t head0, size_t dh,
                                       const uint16_t *keys, const uint16_t *values, size_t kv_row, size_t n,
                                       float scale, float *out, float *scores) {
    (void)q; (void)heads; (void)group; (void)head0; (void)dh; (void)keys; (void)values; (void)kv_row; (void)n;
    (void)scale; (void)out; (void)scores;
}

void vidlm_attention_decode_bf16_cache_avx512(const float *q, size_t heads, size_t group, size_t head0, size_t dh,
                                              const uint16_t *keys, const uint16_t *values, size_t kv_row,
                                              size_t n, float scale, float *out, float *scores) {
    (void)q; (void)heads; (void)group; (void)head0; (void)dh; (void)keys; (void)values; (void)kv_row; (void)n;
    (void)scale; (void)out; (void)scores;
}

#endif
