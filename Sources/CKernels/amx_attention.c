// bf16 attention on AMX tiles (see attention_kernels.h): per head, keys are packed once in the
// pair-interleaved layout the tile product reads (as weight rows are in amx_gemm.c) and values in
// pairs of keys; then per block of 32 query rows, scores for all keys (2 × 2 tiles: 32 queries ×
// 32 keys), the softmax numerators in f32, rounded to bf16 as the x operand of P · V (2 × 2 tiles:
// 32 queries × 32 output columns), divided by the f32 sums on the way out. The semantics are those
// of the vdpbf16ps kernel in attention_kernels.c; only the order of the additions differs.
#include "attention_kernels.h"
#include <stdint.h>

static size_t up32(size_t v) { return (v + 31) & ~(size_t)31; }

// Packed keys and values (bf16), each region with 64 bytes of alignment slack.
size_t vidlm_attention_amx_kv_floats(size_t lk, size_t dh) {
    size_t lkp = up32(lk), dhp = up32(dh);
    return lkp * dhp / 2 + lkp * dhp / 2 + 2 * 16;
}

// Query block (bf16) + scores + probabilities (bf16), each row one cache line longer than the keys
// (see the driver) + output block + 1/sums, with 64 bytes of alignment slack per region.
size_t vidlm_attention_amx_work_floats(size_t lk, size_t dh) {
    size_t lkp = up32(lk), dhp = up32(dh);
    return 32 * dhp / 2 + 32 * (lkp + 16) + 32 * (lkp + 32) / 2 + 32 * dhp + 32 + 5 * 16;
}

size_t vidlm_attention_amx_scratch_floats(size_t lk, size_t dh) {
    return vidlm_attention_amx_kv_floats(lk, dh) + vidlm_attention_amx_work_floats(lk, dh);
}

#if defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
#include "amx_tiles.h"
#include <string.h>
#include "simd_math.h"
#include "softmax_bf16.h"

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,amx-tile,amx-bf16")))

static float *align64(float *p) { return (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

// 32 floats at src (n of them valid, the rest zero) → 32 bf16, round to nearest even.
TARGET static inline __m512i bf16x32(const float *src, size_t n) {
    __mmask16 lo = vidlm_tail_mask(n), hi = n > 16 ? vidlm_tail_mask(n - 16) : 0;
    __m256i a = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(lo, src));
    __m256i b = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(hi, n > 16 ? src + 16 : src));
    return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
}

// 2 × 2 tiles over `steps`: sums of a (rows a, a + 16·lda) with b0, b1 → out (row stride ldo_bytes).
TARGET static inline void block(const char *a, size_t lda_bytes, const char *b0, const char *b1, size_t b_step,
                                size_t a_step, size_t steps, char *out, size_t ldo_bytes) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    vidlm_tiles_2x2(a, a + 16 * lda_bytes, lda_bytes, a_step, b0, b1, b_step, steps);
    _tile_stored(0, out, ldo_bytes);
    _tile_stored(1, out + 64, ldo_bytes);
    _tile_stored(2, out + 16 * ldo_bytes, ldo_bytes);
    _tile_stored(3, out + 16 * ldo_bytes + 64, ldo_bytes);
}

TARGET void vidlm_attention_amx_pack_kv(const float *k, size_t k_row, const float *v, size_t v_row, size_t lk,
                                        size_t dh, float *packed_kv) {
    if (lk == 0 || dh == 0) return;
    size_t lkp = up32(lk), dhp = up32(dh), dsteps = dhp / 32, ktiles = lkp / 16, ksteps = lkp / 32, dtiles = dhp / 16;
    uint16_t *kb = (uint16_t *)align64(packed_kv);                   // [key tile][d step][16 pairs][16 keys][2]
    uint16_t *vb = (uint16_t *)align64((float *)kb + lkp * dhp / 2); // [key step][d tile][16 key pairs][16 d][2]
    // Keys: 16 keys × 32 dims → one tile, transposed into pairs of dims.
    for (size_t t = 0; t < ktiles; t++)
        for (size_t ds = 0; ds < dsteps; ds++) {
            __m512i r[16];
            size_t n = dh - ds * 32 < 32 ? dh - ds * 32 : 32;
            for (size_t j = 0; j < 16; j++) {
                size_t key = t * 16 + j;
                r[j] = key < lk ? bf16x32(k + key * k_row + ds * 32, n) : _mm512_setzero_si512();
            }
            vidlm_transpose16x16_pairs(r);
            uint16_t *dst = kb + (t * dsteps + ds) * 512;
            for (int p = 0; p < 16; p++) _mm512_store_si512(dst + p * 32, r[p]);
        }
    // Values: rows p of a tile pair keys 2p, 2p + 1 of a 32-key step, 16 columns.
    for (size_t u = 0; u < ksteps; u++)
        for (size_t c = 0; c < dtiles; c++) {
            size_t d0 = c * 16, n = d0 < dh ? (dh - d0 < 16 ? dh - d0 : 16) : 0;
            __mmask16 mk = vidlm_tail_mask(n);
            uint16_t *dst = vb + (u * dtiles + c) * 512;
            for (size_t p = 0; p < 16; p++) {
                size_t j0 = u * 32 + 2 * p, j1 = j0 + 1;
                __m512 a = j0 < lk && n ? _mm512_maskz_loadu_ps(mk, v + j0 * v_row + d0) : _mm512_setzero_ps();
                __m512 b = j1 < lk && n ? _mm512_maskz_loadu_ps(mk, v + j1 * v_row + d0) : _mm512_setzero_ps();
                _mm512_store_si512(dst + p * 32, vidlm_interleave_bf16(a, b));
            }
        }
}

TARGET void vidlm_attention_amx_packed(const float *q, size_t q_row, const float *packed_kv, size_t lq, size_t lk,
                                       size_t dh, float scale, int causal, const float *key_bias, float *out,
                                       size_t out_row, float *scratch) {
    if (lq == 0 || dh == 0) return;
    if (lk == 0) {
        for (size_t i = 0; i < lq; i++)
            for (size_t d = 0; d < dh; d++) out[i * out_row + d] = 0;
        return;
    }
    size_t lkp = up32(lk), dhp = up32(dh), dsteps = dhp / 32, dtiles = dhp / 16;
    // Row strides of the scores (floats) and probabilities (bf16): one cache line past the keys, so
    // the 16 rows a tile stores or loads do not share a cache set. With 1024 keys the rows were 4
    // KiB apart, all in one set of L1: 5-8 % of the SigLIP-B head's time (one core).
    size_t ss = lkp + 16, ps = lkp + 32;
    const uint16_t *kb = (const uint16_t *)align64((float *)packed_kv);
    const uint16_t *vb = (const uint16_t *)align64((float *)kb + lkp * dhp / 2);
    uint16_t *qb = (uint16_t *)align64(scratch);                    // [32][dhp]
    float *s = align64((float *)qb + 32 * dhp / 2);                 // [32][ss]
    uint16_t *pb = (uint16_t *)align64(s + 32 * ss);                // [32][ps]
    float *ob = align64((float *)pb + 32 * ps / 2);                 // [32][dhp]
    float *inv = align64(ob + 32 * dhp);                            // [32]

    vidlm_tiles_configure();
    size_t offset = lk - (lq < lk ? lq : lk);  // causal: query i sees keys ≤ i + offset
    if (causal && lq > lk) offset = 0;
    for (size_t i0 = 0; i0 < lq; i0 += 32) {
        size_t rows = lq - i0 < 32 ? lq - i0 : 32;
        for (size_t r = 0; r < 32; r++)
            for (size_t ds = 0; ds < dsteps; ds++) {
                size_t n = dh - ds * 32 < 32 ? dh - ds * 32 : 32;
                __m512i x = r < rows ? bf16x32(q + (i0 + r) * q_row + ds * 32, n) : _mm512_setzero_si512();
                _mm512_store_si512(qb + r * dhp + ds * 32, x);
            }
        // keys any row of this block can see
        size_t seen = lk;
        if (causal) {
            size_t last = i0 + rows - 1 + offset + 1;
            seen = last < lk ? last : lk;
        }
        size_t jsteps = up32(seen) / 32;
        for (size_t u = 0; u < jsteps; u++)
            block((const char *)qb, dhp * 2, (const char *)(kb + (2 * u) * dsteps * 512),
                  (const char *)(kb + (2 * u + 1) * dsteps * 512), 1024, 64, dsteps, (char *)(s + u * 32), ss * 4);
        for (size_t r = 0; r < 32; r++) {
            uint16_t *pr = pb + r * ps;
            if (r >= rows) {
                memset(pr, 0, jsteps * 32 * 2);
                continue;
            }
            size_t n = causal ? i0 + r + offset + 1 : lk;
            if (n > lk) n = lk;
            float sum = vidlm_softmax_row_bf16(s + r * ss, key_bias, n, jsteps * 32, scale, pr);
            inv[r] = sum > 0 ? 1.0f / sum : 0.0f;
        }
        for (size_t c = 0; c < dtiles; c += 2)
            block((const char *)pb, ps * 2, (const char *)(vb + c * 512), (const char *)(vb + (c + 1) * 512),
                  dtiles * 1024, 64, jsteps, (char *)(ob + c * 16), dhp * 4);
        for (size_t r = 0; r < rows; r++) {
            __m512 iv = _mm512_set1_ps(inv[r]);
            float *o = out + (i0 + r) * out_row;
            for (size_t d = 0; d < dh; d += 16)
                _mm512_mask_storeu_ps(o + d, vidlm_tail_mask(dh - d), _mm512_mul_ps(_mm512_load_ps(ob + r * dhp + d), iv));
        }
    }
    _tile_release();
}


TARGET void vidlm_attention_amx(const float *q, size_t q_row, const float *k, size_t k_row, const float *v, size_t v_row,
                                size_t lq, size_t lk, size_t dh, float scale, int causal, const float *key_bias,
                                float *out, size_t out_row, float *scratch) {
    if (lq == 0 || dh == 0) return;
    vidlm_attention_amx_pack_kv(k, k_row, v, v_row, lk, dh, scratch);
    vidlm_attention_amx_packed(q, q_row, scratch, lq, lk, dh, scale, causal, key_bias, out, out_row,
                               scratch + vidlm_attention_amx_kv_floats(lk, dh));
}

#else

void vidlm_attention_amx_pack_kv(const float *k, size_t k_row, const float *v, size_t v_row, size_t lk, size_t dh,
                                 float *packed_kv) {
    (void)k; (void)k_row; (void)v; (void)v_row; (void)lk; (void)dh; (void)packed_kv;
}

void vidlm_attention_amx_packed(const float *q, size_t q_row, const float *packed_kv, size_t lq, size_t lk, size_t dh,
                                float scale, int causal, const float *key_bias, float *out, size_t out_row,
                                float *scratch) {
    (void)q; (void)q_row; (void)packed_kv; (void)lq; (void)lk; (void)dh; (void)scale; (void)causal; (void)key_bias;
    (void)out; (void)out_row; (void)scratch;
}

void vidlm_attention_amx(const float *q, size_t q_row, const float *k, size_t k_row, const float *v, size_t v_row,
                         size_t lq, size_t lk, size_t dh, float scale, int causal, const float *key_bias, float *out,
                         size_t out_row, float *scratch) {
    (void)q; (void)q_row; (void)k; (void)k_row; (void)v; (void)v_row; (void)lq; (void)lk; (void)dh; (void)scale;
    (void)causal; (void)key_bias; (void)out; (void)out_row; (void)scratch;
}

#endif
