// Six rows of sixteen 32-bit elements (floats, or pairs of bf16) interleaved into the packed x
// layout of the outer-product GEMMs ([k][6]: one step's six row values side by side), by
// two-source permutes: f32_gemm.c and bf16_gemm.c pack x, and their chained MLPs write the next
// product's packed x, this way. Gathers did it before; on a Zen 5 they took 6 % of SmolVLM2-256M's
// bf16 request.
#ifndef VIDLM_PACK_INTERLEAVE_H
#define VIDLM_PACK_INTERLEAVE_H
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include "simd_math.h"

/// Output vector o, lane l is element e = 16o + l of the 96 = element e / 6 of row e % 6: lane
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

#endif
