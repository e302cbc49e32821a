// What the outer-product GEMMs of f32_gemm.c and bf16_gemm.c share: both keep a 6 × 64 block of
// sums (six x rows × four vectors of 16 output columns) in 24 registers, store it the same way,
// and pack x the same way ([k][6]: one step's six row values, floats or bf16 pairs, side by side).
#ifndef VIDLM_OUTER_PANEL_H
#define VIDLM_OUTER_PANEL_H
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include "simd_math.h"

/// Six rows of sixteen 32-bit elements interleaved by two-source permutes (x packing, and the
/// chained MLPs writing the next product's packed x; gathers did it before, and on a Zen 5 they
/// took 6 % of SmolVLM2-256M's bf16 request). Output vector o, lane l is element e = 16o + l of
/// the 96 = element e / 6 of row e % 6: lane
/// (e / 6) + 16·(row odd) of the permute of rows (2q, 2q + 1), q = row / 2.
struct vidlm_interleave6 {
    __m512i idx[6];
    __mmask16 from23[6], from45[6];
};

__attribute__((target("avx512f"))) static inline void vidlm_interleave6_init(struct vidlm_interleave6 *il) {
    for (int o = 0; o < 6; o++) {
        int lanes[16];
        il->from23[o] = il->from45[o] = 0;
        for (int l = 0; l < 16; l++) {
            int e = 16 * o + l, row = e % 6;
            lanes[l] = e / 6 + 16 * (row & 1);
            if (row / 2 == 1) il->from23[o] |= (__mmask16)(1u << l);
            if (row / 2 == 2) il->from45[o] |= (__mmask16)(1u << l);
        }
        il->idx[o] = _mm512_loadu_si512(lanes);
    }
}

/// The first `n` (≤ 16) elements of each row r[0..5] → dst[n][6] (32-bit elements): three
/// permutes and two blends per output vector.
__attribute__((target("avx512f"), always_inline)) static inline void vidlm_interleave6_store(const struct vidlm_interleave6 *il,
                                                                                           const __m512i *r, size_t n,
                                                                                           uint32_t *dst) {
    size_t total = n * 6;
    for (size_t o = 0; o * 16 < total; o++) {
        __m512i v = _mm512_permutex2var_epi32(r[0], il->idx[o], r[1]);
        v = _mm512_mask_mov_epi32(v, il->from23[o], _mm512_permutex2var_epi32(r[2], il->idx[o], r[3]));
        v = _mm512_mask_mov_epi32(v, il->from45[o], _mm512_permutex2var_epi32(r[4], il->idx[o], r[5]));
        _mm512_mask_storeu_epi32(dst + o * 16, vidlm_tail_mask(total - o * 16), v);
    }
}

/// A 6 × 64 block of sums c written to the `rows` × `cols` corner of y that exists:
/// y = (y if accumulating) + bias (when given) + sums, then act(y) when act ≥ 0, then residual + y
/// when a residual (row stride ldr) is given. y is not read unless accumulating (fresh output
/// memory may hold denormal garbage, whose reads cost microcode assists).
__attribute__((target("avx512f"), always_inline)) static inline void vidlm_store_panel6x4(__m512 c[6][4], float *y, size_t ldy,
                                                                                        size_t rows, size_t cols, int accumulate,
                                                                                        const float *bias, int act,
                                                                                        const float *residual, size_t ldr) {
    for (int v = 0; v < 4 && (size_t)v * 16 < cols; v++) {
        __mmask16 mask = vidlm_tail_mask(cols - v * 16);
        __m512 add = bias ? _mm512_maskz_loadu_ps(mask, bias + v * 16) : _mm512_setzero_ps();
        for (size_t i = 0; i < rows; i++) {
            float *out = y + i * ldy + v * 16;
            __m512 sum = _mm512_add_ps(c[i][v], add);
            if (accumulate) sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(mask, out));
            if (act >= 0) sum = vidlm_activate16(act, sum);
            if (residual) sum = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, residual + i * ldr + v * 16), sum);
            _mm512_mask_storeu_ps(out, mask, sum);
        }
    }
}

/// Rows [i0, i1), columns [c0, c1) of a row-major f32 matrix (row stride ld) into L1, one
/// x group ahead of the panel stores that read them: y read back when a product accumulates
/// over k slices, the skip connection added on the last one. A tower's y is megabytes (in L3),
/// and those reads had stalled each store: EVA ViT-g's fc2 (k 6144, six f32 slices) 227 → 238
/// GFLOP/s on one core of a Zen 5 with the next group's rows prefetched (into L2 only: 2 %).
__attribute__((always_inline)) static inline void vidlm_prefetch_block_rows(const float *p, size_t ld, size_t i0,
                                                                           size_t i1, size_t c0, size_t c1) {
    for (size_t i = i0; i < i1; i++)
        for (size_t c = c0; c < c1; c += 16) _mm_prefetch((const char *)(p + i * ld + c), _MM_HINT_T0);
}

#endif

