#include "attention_kernels.h"
#include <stdint.h>

// The register tiles below store their rows in loops of constant trip count (MR) with the tile's
// real row count as a condition: with `r < rows` as the bound clang kept the 24 accumulators in a
// stack array, zeroed by a memset call and reloaded for the stores, on every call: a quarter of a
// 64-key score block's time at head width 64. One core, whole towers' heads (ad-hoc driver,
// medians of six): SigLIP-B 1024 × 64 355 → 391 GFLOP/s, EVA 257 × 88 311 → 323, SO400M 729 × 72
// 309 → 322, f32 SigLIP-B 212 → 218. Bit-identical.
//
// Layout of one call (per head):
//   keys, packed once: f32 → kt[d][LKP] (key index fastest, so 16 keys are one vector);
//                      bf16 → kb[d/2][LKP] of 32-bit (k[j][2p], k[j][2p+1]) pairs.
//   values, packed once: f32 → vp[j][DV]; bf16 → vb[j/2][DV] pairs (v[2t][d], v[2t+1][d]).
//   then per tile of QT query rows: scores s[QT][LKP] = scale·q·kᵀ (+ bias, masked), exp'd in
//   place, and out = (s · v) / row sums. MR query rows × up to 4 vectors of 16 keys (or output
//   columns) are one register tile: 24 accumulators, MR + 4 loads per 24 FMAs.
#define MR 6
#define TILE_BYTES (128 * 1024)

static size_t up16(size_t v) { return (v + 15) & ~(size_t)15; }

static size_t tile_rows(size_t lkp) {
    size_t qt = TILE_BYTES / (lkp * 4);
    qt = qt / MR * MR;
    if (qt < MR) qt = MR;
    if (qt > 16 * MR) qt = 16 * MR;
    return qt;
}

size_t vidlm_attention_scratch_floats(size_t lq, size_t lk, size_t dh) {
    (void)lq;
    size_t lkp = up16(lk + 1), dv = up16(dh), qt = tile_rows(lkp);
    // packed keys + packed values + score tile + bf16 query/probability pairs + row sums, with
    // 16 floats of alignment slack per region.
    return dh * lkp + (lk + 1) * dv + qt * lkp + qt * (dh + 2) + qt * lkp / 2 + 2 * qt + 6 * 16;
}

#if defined(__x86_64__)
#include <immintrin.h>
#include "amx_tiles.h"
#include "simd_math.h"
#include "softmax_bf16.h"

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define TARGET_F __attribute__((target("avx512f")))

static float *align16(float *p) { return (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

// The cache lines of n floats from p, prefetched into L1: a head's q, k and v rows are a few
// hundred bytes each, thousands of bytes apart in a tower's fused q/k/v output (often in L3 or
// memory), a stride the hardware prefetchers follow late.
static inline void prefetch_floats(const float *p, size_t n) {
    const char *b = (const char *)p, *e = (const char *)(p + n);
    for (const char *c = (const char *)((uintptr_t)b & ~(uintptr_t)63); c < e; c += 64) _mm_prefetch(c, _MM_HINT_T0);
}

TARGET_F void vidlm_exp2_avx512(const float *t, float *y, size_t n) {
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 mk = vidlm_tail_mask(n - j);
        _mm512_mask_storeu_ps(y + j, mk, vidlm_exp2_16(_mm512_maskz_loadu_ps(mk, t + j)));
    }
}

TARGET_F void vidlm_softmax_row_avx512(const float *x, float *y, size_t n) {
    if (n == 0) return;
    __m512 mv = _mm512_set1_ps(-__builtin_inff());
    size_t j = 0;
    for (; j + 16 <= n; j += 16) mv = _mm512_max_ps(mv, _mm512_loadu_ps(x + j));
    if (j < n) mv = _mm512_max_ps(mv, _mm512_mask_loadu_ps(_mm512_set1_ps(-__builtin_inff()), vidlm_tail_mask(n - j), x + j));
    float m = _mm512_reduce_max_ps(mv);
    if (m == -__builtin_inff()) {
        for (j = 0; j < n; j++) y[j] = 0;
        return;
    }
    __m512 shift = _mm512_set1_ps(m), sum = _mm512_setzero_ps();
    for (j = 0; j + 16 <= n; j += 16) {
        __m512 e = vidlm_exp16(_mm512_sub_ps(_mm512_loadu_ps(x + j), shift));
        _mm512_storeu_ps(y + j, e);
        sum = _mm512_add_ps(sum, e);
    }
    if (j < n) {
        __mmask16 mk = vidlm_tail_mask(n - j);
        __m512 e = _mm512_maskz_mov_ps(mk, vidlm_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, x + j), shift)));
        _mm512_mask_storeu_ps(y + j, mk, e);
        sum = _mm512_add_ps(sum, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (j = 0; j + 16 <= n; j += 16) _mm512_storeu_ps(y + j, _mm512_mul_ps(_mm512_loadu_ps(y + j), inv));
    if (j < n) {
        __mmask16 mk = vidlm_tail_mask(n - j);
        _mm512_mask_storeu_ps(y + j, mk, _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, y + j), inv));
    }
}

// ---- f32 ----------------------------------------------------------------------------------

// s[r][j0 + 16n …] = scale · Σ_d q[r][d]·kt[d][j0 + 16n …] for MR rows and NR vectors of keys.
// Rows past the tile's end read the last row again (their results are not stored).
#define F32_SCORES(NR)                                                                                              \
    TARGET_F static void scores_f32_##NR(const float *const *qr, const float *kt, size_t lkp, size_t dh, float scale, \
                                         float *s, size_t rows) {                                                    \
        __m512 c[MR][NR];                                                                                            \
        for (int r = 0; r < MR; r++)                                                                                 \
            for (int n = 0; n < NR; n++) c[r][n] = _mm512_setzero_ps();                                               \
        for (size_t d = 0; d < dh; d++) {                                                                            \
            __m512 b[NR];                                                                                            \
            for (int n = 0; n < NR; n++) b[n] = _mm512_load_ps(kt + d * lkp + 16 * n);                                 \
            for (int r = 0; r < MR; r++) {                                                                           \
                __m512 a = _mm512_set1_ps(qr[r][d]);                                                                 \
                for (int n = 0; n < NR; n++) c[r][n] = _mm512_fmadd_ps(a, b[n], c[r][n]);                             \
            }                                                                                                        \
        }                                                                                                            \
        __m512 sv = _mm512_set1_ps(scale);                                                                           \
        for (int r = 0; r < MR; r++) /* a constant trip count keeps c in registers */                                \
            if ((size_t)r < rows)                                                                                    \
                for (int n = 0; n < NR; n++) _mm512_store_ps(s + r * lkp + 16 * n, _mm512_mul_ps(c[r][n], sv));       \
    }
F32_SCORES(1)
F32_SCORES(2)
F32_SCORES(3)
F32_SCORES(4)

// o[r][16n …] = Σ_{j<jn} p[r][j]·vp[j][16n …] for R rows and NV vectors of output columns,
// stored ×inv[r] (masked to `width` columns). Six rows × up to four vectors, or four rows × five
// or six vectors (31 registers): head widths 65-96 then take one pass over the probabilities
// instead of a four-vector pass and a one- or two-vector one, whose few sums per broadcast left
// it load-bound (the 72-wide SO400M head: the one-vector pass took a third of the values' time
// for an eighth of their useful columns).
#define F32_VALUES(R, NV)                                                                                            \
    TARGET_F static void values_f32_##R##_##NV(const float *p, size_t lkp, const float *vp, size_t dv, size_t jn,     \
                                               float *const *o, const float *inv, size_t rows, size_t width) {       \
        __m512 c[R][NV];                                                                                             \
        for (int r = 0; r < R; r++)                                                                                  \
            for (int n = 0; n < NV; n++) c[r][n] = _mm512_setzero_ps();                                               \
        size_t last = rows - 1;                                                                                      \
        const float *pr[R];                                                                                          \
        for (size_t r = 0; r < R; r++) pr[r] = p + (r < rows ? r : last) * lkp;                                       \
        for (size_t j = 0; j < jn; j++) {                                                                            \
            __m512 b[NV];                                                                                            \
            for (int n = 0; n < NV; n++) b[n] = _mm512_load_ps(vp + j * dv + 16 * n);                                  \
            for (int r = 0; r < R; r++) {                                                                            \
                __m512 a = _mm512_set1_ps(pr[r][j]);                                                                 \
                for (int n = 0; n < NV; n++) c[r][n] = _mm512_fmadd_ps(a, b[n], c[r][n]);                             \
            }                                                                                                        \
        }                                                                                                            \
        for (int r = 0; r < R; r++) {  /* a constant trip count keeps c in registers */                              \
            if ((size_t)r >= rows) continue;                                                                         \
            __m512 iv = _mm512_set1_ps(inv[r]);                                                                      \
            for (int n = 0; n < NV; n++) {                                                                           \
                size_t col = 16 * (size_t)n;                                                                         \
                if (col < width)                                                                                     \
                    _mm512_mask_storeu_ps(o[r] + col, vidlm_tail_mask(width - col), _mm512_mul_ps(c[r][n], iv));           \
            }                                                                                                        \
        }                                                                                                            \
    }
F32_VALUES(6, 1)
F32_VALUES(6, 2)
F32_VALUES(6, 3)
F32_VALUES(6, 4)
F32_VALUES(4, 5)
F32_VALUES(4, 6)

// ---- bf16 ---------------------------------------------------------------------------------

// Columns [0, min(n, 32)) of a row → 16 32-bit pairs of bf16, rounded to nearest even (column
// 2p in the low half of pair p), columns past n zero.
TARGET static inline __m512i bf16_pairs(const float *row, size_t n) {
    __m512 lo = _mm512_maskz_loadu_ps(vidlm_tail_mask(n), row);
    __m512 hi = _mm512_maskz_loadu_ps(n > 16 ? vidlm_tail_mask(n - 16) : 0, row + 16);
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

// The raw sums: the scale is applied by vidlm_softmax_row_bf16, which reads them once.
#define BF16_SCORES(NR)                                                                                             \
    TARGET static void scores_bf16_##NR(const uint32_t *const *qr, const uint32_t *kb, size_t lkp, size_t dp,        \
                                        float *s, size_t rows) {                                                     \
        __m512 c[MR][NR];                                                                                            \
        for (int r = 0; r < MR; r++)                                                                                 \
            for (int n = 0; n < NR; n++) c[r][n] = _mm512_setzero_ps();                                               \
        for (size_t d = 0; d < dp; d++) {                                                                            \
            __m512bh b[NR];                                                                                          \
            for (int n = 0; n < NR; n++) b[n] = (__m512bh)_mm512_load_si512(kb + d * lkp + 16 * n);                    \
            for (int r = 0; r < MR; r++) {                                                                           \
                __m512bh a = (__m512bh)_mm512_set1_epi32((int)qr[r][d]);                                             \
                for (int n = 0; n < NR; n++) c[r][n] = _mm512_dpbf16_ps(c[r][n], a, b[n]);                            \
            }                                                                                                        \
        }                                                                                                            \
        for (int r = 0; r < MR; r++) /* a constant trip count keeps c in registers */                                \
            if ((size_t)r < rows)                                                                                    \
                for (int n = 0; n < NR; n++) _mm512_store_ps(s + r * lkp + 16 * n, c[r][n]);                          \
    }
BF16_SCORES(1)
BF16_SCORES(2)
BF16_SCORES(3)
BF16_SCORES(4)

#define BF16_VALUES(R, NV)                                                                                           \
    TARGET static void values_bf16_##R##_##NV(const uint32_t *pb, size_t lkp2, const uint32_t *vb, size_t dv,         \
                                              size_t tn, float *const *o, const float *inv, size_t rows,            \
                                              size_t width) {                                                        \
        __m512 c[R][NV];                                                                                             \
        for (int r = 0; r < R; r++)                                                                                  \
            for (int n = 0; n < NV; n++) c[r][n] = _mm512_setzero_ps();                                               \
        size_t last = rows - 1;                                                                                      \
        const uint32_t *pr[R];                                                                                       \
        for (size_t r = 0; r < R; r++) pr[r] = pb + (r < rows ? r : last) * lkp2;                                     \
        for (size_t t = 0; t < tn; t++) {                                                                            \
            __m512bh b[NV];                                                                                          \
            for (int n = 0; n < NV; n++) b[n] = (__m512bh)_mm512_load_si512(vb + t * dv + 16 * n);                     \
            for (int r = 0; r < R; r++) {                                                                            \
                __m512bh a = (__m512bh)_mm512_set1_epi32((int)pr[r][t]);                                             \
                for (int n = 0; n < NV; n++) c[r][n] = _mm512_dpbf16_ps(c[r][n], a, b[n]);                            \
            }                                                                                                        \
        }                                                                                                            \
        for (int r = 0; r < R; r++) {  /* a constant trip count keeps c in registers */                              \
            if ((size_t)r >= rows) continue;                                                                         \
            __m512 iv = _mm512_set1_ps(inv[r]);                                                                      \
            for (int n = 0; n < NV; n++) {                                                                           \
                size_t col = 16 * (size_t)n;                                                                         \
                if (col < width)                                                                                     \
                    _mm512_mask_storeu_ps(o[r] + col, vidlm_tail_mask(width - col), _mm512_mul_ps(c[r][n], iv));           \
            }                                                                                                        \
        }                                                                                                            \
    }
BF16_VALUES(6, 1)
BF16_VALUES(6, 2)
BF16_VALUES(6, 3)
BF16_VALUES(6, 4)
BF16_VALUES(4, 5)
BF16_VALUES(4, 6)

// ---- driver -------------------------------------------------------------------------------

TARGET void vidlm_attention_avx512(const float *q, size_t q_row, const float *k, size_t k_row, const float *v,
                                   size_t v_row, size_t lq, size_t lk, size_t dh, float scale, int causal,
                                   const float *key_bias, float *out, size_t out_row, int bf16, float *scratch) {
    if (lq == 0 || dh == 0) return;
    // lkp has room for one padding key past lk so pairs of keys (bf16) never read outside.
    size_t lkp = up16(lk + 1), dv = up16(dh), qt = tile_rows(lkp), dp = (dh + 1) / 2, lkp2 = lkp / 2;
    float *kt = align16(scratch);                          // dh · lkp floats, or dp · lkp pairs
    float *vp = align16(kt + dh * lkp);                    // (lk + 1) · dv floats, or (lk+1)/2 · dv pairs
    float *s = align16(vp + (lk + 1) * dv);                // qt · lkp
    uint32_t *qb = (uint32_t *)align16(s + qt * lkp);      // qt · dp pairs
    uint32_t *pb = (uint32_t *)align16((float *)qb + qt * (dh + 2)); // qt · lkp2 pairs
    float *inv = align16((float *)pb + qt * lkp2);         // qt

    if (lk == 0) {
        for (size_t i = 0; i < lq; i++)
            for (size_t d = 0; d < dh; d++) out[i * out_row + d] = 0;
        return;
    }
    // Keys are transposed 16 keys × 16 columns (f32) or 16 × 16 pairs of columns (bf16) at a
    // time: read element by element down a column (rows 2304 floats apart in a tower's fused
    // q/k/v output), they were 4.6 % of the f32 kernel's samples on 1024 keys × 64, and the
    // kernel ran 1.16× faster without that on 257 × 88.
    if (!bf16) {
        for (size_t j0 = 0; j0 < lkp; j0 += 16) {
            for (size_t i = j0 + 16; i < j0 + 32 && i < lk; i++) prefetch_floats(k + i * k_row, dh);
            for (size_t d0 = 0; d0 < dh; d0 += 16) {
                __mmask16 mk = vidlm_tail_mask(dh - d0);
                __m512i r[16];
                for (size_t i = 0; i < 16; i++)
                    r[i] = j0 + i < lk ? _mm512_castps_si512(_mm512_maskz_loadu_ps(mk, k + (j0 + i) * k_row + d0))
                                       : _mm512_setzero_si512();
                vidlm_transpose16x16_pairs(r);  // 32-bit elements: a float transpose
                for (size_t c = 0; c < 16 && d0 + c < dh; c++) _mm512_store_si512(kt + (d0 + c) * lkp + j0, r[c]);
            }
        }
        for (size_t j = 0; j < lk; j++) {
            float *row = vp + j * dv;
            if (j + 16 < lk) prefetch_floats(v + (j + 16) * v_row, dh);
            for (size_t d = 0; d < dh; d++) row[d] = v[j * v_row + d];
            for (size_t d = dh; d < dv; d++) row[d] = 0;
        }
    } else {
        uint32_t *kb = (uint32_t *)kt, *vb = (uint32_t *)vp;
        for (size_t j0 = 0; j0 < lkp; j0 += 16) {
            for (size_t i = j0 + 16; i < j0 + 32 && i < lk; i++) prefetch_floats(k + i * k_row, dh);
            for (size_t d0 = 0; d0 < dh; d0 += 32) {
                __m512i r[16];
                for (size_t i = 0; i < 16; i++) r[i] = j0 + i < lk ? bf16_pairs(k + (j0 + i) * k_row + d0, dh - d0) : _mm512_setzero_si512();
                vidlm_transpose16x16_pairs(r);
                for (size_t c = 0; c < 16 && d0 / 2 + c < dp; c++) _mm512_store_si512(kb + (d0 / 2 + c) * lkp + j0, r[c]);
            }
        }
        size_t tcount = (lk + 1) / 2;
        for (size_t t = 0; t < tcount; t++) {
            uint32_t *row = vb + t * dv;
            const float *v0 = v + 2 * t * v_row, *v1 = v + (2 * t + 1) * v_row;
            for (size_t i = 2 * t + 16; i < 2 * t + 18 && i < lk; i++) prefetch_floats(v + i * v_row, dh);
            int has1 = 2 * t + 1 < lk;
            size_t d = 0;
            for (; d + 16 <= dh; d += 16)
                _mm512_store_si512(row + d, vidlm_interleave_bf16(_mm512_loadu_ps(v0 + d), has1 ? _mm512_loadu_ps(v1 + d) : _mm512_setzero_ps()));
            if (d < dv) {
                __mmask16 mk = vidlm_tail_mask(dh - d);
                _mm512_store_si512(row + d, vidlm_interleave_bf16(_mm512_maskz_loadu_ps(mk, v0 + d),
                                                            has1 ? _mm512_maskz_loadu_ps(mk, v1 + d) : _mm512_setzero_ps()));
            }
        }
    }

    size_t offset = lk - (lq < lk ? lq : lk);  // causal: query i sees keys ≤ i + offset
    if (causal && lq > lk) offset = 0;
    for (size_t i0 = 0; i0 < lq; i0 += qt) {
        size_t rows = lq - i0 < qt ? lq - i0 : qt;
        // keys any row of this tile can see
        size_t seen = lk;
        if (causal) {
            size_t last = i0 + rows - 1 + offset + 1;
            seen = last < lk ? last : lk;
        }
        size_t jv = up16(seen);  // key vectors to compute
        if (bf16) {
            for (size_t r = 0; r < rows; r++) {
                const float *qr = q + (i0 + r) * q_row;
                if (i0 + r + 8 < lq) prefetch_floats(q + (i0 + r + 8) * q_row, dh);
                for (size_t d0 = 0; d0 < dh; d0 += 32) {
                    size_t pairs = dp - d0 / 2 < 16 ? dp - d0 / 2 : 16;
                    _mm512_mask_storeu_epi32(qb + r * dp + d0 / 2, vidlm_tail_mask(pairs), bf16_pairs(qr + d0, dh - d0));
                }
            }
        }
        // Each block of 64 keys (dh × 64 floats, or pairs) stays in L1 while every row group of
        // the tile passes over it (streamed from L2 once per block, not once per group).
        for (size_t j0 = 0; j0 < jv; j0 += 64) {
            size_t nv = (jv - j0) / 16;
            if (nv > 4) nv = 4;
            for (size_t g = 0; g < rows; g += MR) {
                size_t gr = rows - g < MR ? rows - g : MR;
                float *sg = s + g * lkp + j0;
                if (!bf16) {
                    const float *qr[MR];
                    for (size_t r = 0; r < MR; r++) qr[r] = q + (i0 + g + (r < gr ? r : gr - 1)) * q_row;
                    const float *kp = kt + j0;
                    switch (nv) {
                    case 1: scores_f32_1(qr, kp, lkp, dh, scale, sg, gr); break;
                    case 2: scores_f32_2(qr, kp, lkp, dh, scale, sg, gr); break;
                    case 3: scores_f32_3(qr, kp, lkp, dh, scale, sg, gr); break;
                    default: scores_f32_4(qr, kp, lkp, dh, scale, sg, gr); break;
                    }
                } else {
                    const uint32_t *qr[MR];
                    for (size_t r = 0; r < MR; r++) qr[r] = qb + (g + (r < gr ? r : gr - 1)) * dp;
                    const uint32_t *kp = (const uint32_t *)kt + j0;
                    switch (nv) {
                    case 1: scores_bf16_1(qr, kp, lkp, dp, sg, gr); break;
                    case 2: scores_bf16_2(qr, kp, lkp, dp, sg, gr); break;
                    case 3: scores_bf16_3(qr, kp, lkp, dp, sg, gr); break;
                    default: scores_bf16_4(qr, kp, lkp, dp, sg, gr); break;
                    }
                }
            }
        }
        // bias, mask, exp, sums: bf16 rows straight into the probability pairs (f32 rows in place)
        for (size_t r = 0; r < rows; r++) {
            float *sr = s + r * lkp;
            size_t n = causal ? i0 + r + offset + 1 : lk;
            if (n > lk) n = lk;
            if (bf16) {
                float sum = vidlm_softmax_row_bf16(sr, key_bias, n, jv, scale, (uint16_t *)(pb + r * lkp2));
                inv[r] = sum > 0 ? 1.0f / sum : 0.0f;
                continue;
            }
            if (key_bias) {
                size_t j = 0;
                for (; j + 16 <= n; j += 16) _mm512_storeu_ps(sr + j, _mm512_add_ps(_mm512_loadu_ps(sr + j), _mm512_loadu_ps(key_bias + j)));
                if (j < n) {
                    __mmask16 mk = vidlm_tail_mask(n - j);
                    _mm512_mask_storeu_ps(sr + j, mk, _mm512_add_ps(_mm512_maskz_loadu_ps(mk, sr + j), _mm512_maskz_loadu_ps(mk, key_bias + j)));
                }
            }
            float sum = vidlm_exp_row_as(sr, n, jv + 16 <= lkp ? jv + 16 : lkp, 0);
            inv[r] = sum > 0 ? 1.0f / sum : 0.0f;
        }
        // values: four rows × all five or six vectors in one pass for head widths 65-96, else six
        // rows × up to four vectors per pass
        size_t vecs = dv / 16, wide = vecs == 5 || vecs == 6, vr = wide ? 4 : MR;
        for (size_t g = 0; g < rows; g += vr) {
            size_t gr = rows - g < vr ? rows - g : vr;
            size_t jn = causal ? i0 + g + gr - 1 + offset + 1 : lk;
            if (jn > lk) jn = lk;
            float *orow[MR];
            for (size_t r = 0; r < MR; r++) orow[r] = out + (i0 + g + (r < gr ? r : gr - 1)) * out_row;
            for (size_t c0 = 0; c0 < dv; c0 += 64) {
                size_t nv = wide ? vecs : (dv - c0) / 16 < 4 ? (dv - c0) / 16 : 4;
                float *oc[MR];
                for (int r = 0; r < MR; r++) oc[r] = orow[r] + c0;
                size_t width = dh - c0;
                if (!bf16) {
                    const float *pp = s + g * lkp, *vc = vp + c0;
                    switch (nv) {
                    case 1: values_f32_6_1(pp, lkp, vc, dv, jn, oc, inv + g, gr, width); break;
                    case 2: values_f32_6_2(pp, lkp, vc, dv, jn, oc, inv + g, gr, width); break;
                    case 3: values_f32_6_3(pp, lkp, vc, dv, jn, oc, inv + g, gr, width); break;
                    case 4: values_f32_6_4(pp, lkp, vc, dv, jn, oc, inv + g, gr, width); break;
                    case 5: values_f32_4_5(pp, lkp, vc, dv, jn, oc, inv + g, gr, width); break;
                    default: values_f32_4_6(pp, lkp, vc, dv, jn, oc, inv + g, gr, width); break;
                    }
                } else {
                    const uint32_t *pp = pb + g * lkp2, *vc = (const uint32_t *)vp + c0;
                    size_t tn = (jn + 1) / 2;
                    switch (nv) {
                    case 1: values_bf16_6_1(pp, lkp2, vc, dv, tn, oc, inv + g, gr, width); break;
                    case 2: values_bf16_6_2(pp, lkp2, vc, dv, tn, oc, inv + g, gr, width); break;
                    case 3: values_bf16_6_3(pp, lkp2, vc, dv, tn, oc, inv + g, gr, width); break;
                    case 4: values_bf16_6_4(pp, lkp2, vc, dv, tn, oc, inv + g, gr, width); break;
                    case 5: values_bf16_4_5(pp, lkp2, vc, dv, tn, oc, inv + g, gr, width); break;
                    default: values_bf16_4_6(pp, lkp2, vc, dv, tn, oc, inv + g, gr, width); break;
                    }
                }
                if (wide) break;  // one pass did every column
            }
        }
    }
}

#else

void vidlm_attention_avx512(const float *q, size_t q_row, const float *k, size_t k_row, const float *v, size_t v_row,
                            size_t lq, size_t lk, size_t dh, float scale, int causal, const float *key_bias,
                            float *out, size_t out_row, int bf16, float *scratch) {
    (void)q; (void)q_row; (void)k; (void)k_row; (void)v; (void)v_row; (void)lq; (void)lk; (void)dh; (void)scale;
    (void)causal; (void)key_bias; (void)out; (void)out_row; (void)bf16; (void)scratch;
}

void vidlm_softmax_row_avx512(const float *x, float *y, size_t n) { (void)x; (void)y; (void)n; }

void vidlm_exp2_avx512(const float *t, float *y, size_t n) { (void)t; (void)y; (void)n; }

#endif
