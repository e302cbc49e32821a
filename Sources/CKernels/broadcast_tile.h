// What the weight-broadcast GEMMs of f32_gemm.c and bf16_gemm.c share. They serve fewer x rows
// than the outer-product kernels want (prefill chunks, short prompts, one small image): x is
// packed transposed, in blocks of 16 rows ([k][16 rows], floats or bf16 pairs), once per product;
// each step broadcasts one k element (or pair) of each of VIDLM_BT_ROWS weight rows, read where
// they are stored, against up to VIDLM_BT_BLOCKS vectors of x rows. The 8 × 48 sums stay in 24
// registers, each a sequential sum over k (no horizontal sums) with no weight packing at all;
// only the finished block is transposed (this file) to become rows of y. The last 1-8 x rows
// (the rest) take a dot-product pass instead, reduced at its end.
#ifndef VIDLM_BROADCAST_TILE_H
#define VIDLM_BROADCAST_TILE_H
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include "simd_math.h"

#define VIDLM_BT_ROWS 8    // weight rows (output columns) per tile
#define VIDLM_BT_BLOCKS 3  // blocks of 16 x rows per pass over a tile

/// x rows in whole blocks of 16 and, where the last block would hold only 1-8 rows, those rows
/// apart (the rest): a block costs the same 16 lanes however few of its rows exist, the rest
/// rows go through a dot-product pass that costs each row its own share.
static inline size_t vidlm_bt_rest(size_t m) { return m % 16 <= 8 ? m % 16 : 0; }

static inline size_t vidlm_bt_blocks(size_t m) { return (m - vidlm_bt_rest(m) + 15) / 16; }

/// Rows a and b (up to 8 floats each: the lanes set in `ma` / `mb`) in the low and high halves
/// of one vector. b's load is addressed 8 floats early so that its masked lanes 8-15 land
/// on b; masked-off lanes are not read.
__attribute__((target("avx512f"), always_inline)) static inline __m512 vidlm_bt_load2(const float *a, __mmask16 ma,
                                                                                    const float *b, __mmask16 mb) {
    __m512 lo = _mm512_maskz_loadu_ps(ma, a);
    return _mm512_mask_loadu_ps(lo, (__mmask16)(mb << 8), (const float *)((uintptr_t)b - 32));
}

__attribute__((target("avx512f"), always_inline)) static inline void vidlm_bt_store2(float *a, __mmask16 ma, float *b,
                                                                                   __mmask16 mb, __m512 v) {
    _mm512_mask_storeu_ps(a, ma, v);
    _mm512_mask_storeu_ps((float *)((uintptr_t)b - 32), (__mmask16)(mb << 8), v);
}

/// One rest row's sums (8 columns, the first `cols` exist) → its row of y, as vidlm_bt_store8x16
/// stores a row.
__attribute__((target("avx512f"), always_inline)) static inline void vidlm_bt_store_row8(const float *sums, float *y,
                                                                                       size_t cols, int accumulate,
                                                                                       const float *bias, int act,
                                                                                       const float *residual) {
    __mmask16 cm = (__mmask16)((1u << cols) - 1);
    __m512 v = _mm512_maskz_loadu_ps(cm, sums);
    if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(cm, bias));
    if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(cm, y));
    if (act >= 0) v = vidlm_activate16(act, v);
    if (residual) v = _mm512_add_ps(_mm512_maskz_loadu_ps(cm, residual), v);
    _mm512_mask_storeu_ps(y, cm, v);
}

/// Sums c[j] (lane l: x row l, weight row j) → the `rows` × `cols` corner (rows ≤ 16, cols ≤ 8)
/// of y that exists: y = (y if accumulating) + bias (when given) + sums, then act(y) when act ≥ 0,
/// then residual + y when a residual (row stride ldr) is given, as vidlm_store_panel6x4 orders
/// them. y is not read unless accumulating. Transposed by unpacks and two-source permutes into
/// vectors of two y rows (i and i + 4) of 8 columns each.
__attribute__((target("avx512f"), always_inline)) static inline void vidlm_bt_store8x16(
    const __m512 c[8], float *y, size_t ldy, size_t rows, size_t cols, int accumulate, const float *bias, int act,
    const float *residual, size_t ldr) {
    __m512 t[8], u[8];
    for (int i = 0; i < 4; i++) {  // lanes of chunk q: [c2i[4q], c2i+1[4q], c2i[4q+1], c2i+1[4q+1]] and the next two
        t[2 * i] = _mm512_unpacklo_ps(c[2 * i], c[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(c[2 * i], c[2 * i + 1]);
    }
    for (int h = 0; h < 2; h++) {  // u[4h + e], chunk q: x row 4q + e of weight rows 4h … 4h + 3
        u[4 * h] = _mm512_shuffle_ps(t[4 * h], t[4 * h + 2], 0x44);
        u[4 * h + 1] = _mm512_shuffle_ps(t[4 * h], t[4 * h + 2], 0xEE);
        u[4 * h + 2] = _mm512_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0x44);
        u[4 * h + 3] = _mm512_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0xEE);
    }
    const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i hi = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    __mmask16 cm = (__mmask16)((1u << cols) - 1);
    __m512 add = _mm512_setzero_ps();
    if (bias) {
        __m512 b = _mm512_maskz_loadu_ps(cm, bias);
        add = _mm512_shuffle_f32x4(b, b, 0x44);
    }
    for (int e = 0; e < 4; e++)
        for (int half = 0; half < 2; half++) {
            size_t ra = (size_t)(8 * half + e), rb = ra + 4;  // the vector's two y rows
            if (ra >= rows) continue;
            __mmask16 ma = cm, mb = rb < rows ? cm : 0;
            __m512 v = _mm512_permutex2var_ps(u[e], half ? hi : lo, u[4 + e]);
            float *ya = y + ra * ldy, *yb = y + rb * ldy;
            if (bias) v = _mm512_add_ps(v, add);
            if (accumulate) v = _mm512_add_ps(v, vidlm_bt_load2(ya, ma, yb, mb));
            if (act >= 0) v = vidlm_activate16(act, v);
            if (residual) v = _mm512_add_ps(vidlm_bt_load2(residual + ra * ldr, ma, residual + rb * ldr, mb), v);
            vidlm_bt_store2(ya, ma, yb, mb, v);
        }
}

/// Where a weight tile's outputs go for one k slice: y and the residual at x row 0 and the tile's
/// first column, its `cols` columns, and the slice's epilogue (accumulate, bias, act, residual as
/// vidlm_bt_store8x16 takes them).
struct vidlm_bt_out {
    float *y;
    size_t ldy, cols;
    int accumulate;
    const float *bias;
    int act;
    const float *residual;
    size_t ldr;
};

/// One pass's sums (sums[j][u]: block u, x rows row0 + 16u …) → y rows row0 … row0 + n − 1.
__attribute__((target("avx512f"), always_inline)) static inline void vidlm_bt_store_blocks(
    __m512 sums[VIDLM_BT_ROWS][VIDLM_BT_BLOCKS], size_t nb, size_t row0, size_t n, const struct vidlm_bt_out *o) {
    for (size_t u = 0; u < nb && u * 16 < n; u++) {
        __m512 cu[VIDLM_BT_ROWS];
        for (int j = 0; j < VIDLM_BT_ROWS; j++) cu[j] = sums[j][u];
        size_t row = row0 + u * 16, rows = n - u * 16 < 16 ? n - u * 16 : 16;
        vidlm_bt_store8x16(cu, o->y + row * o->ldy, o->ldy, rows, o->cols, o->accumulate, o->bias, o->act,
                           o->residual ? o->residual + row * o->ldr : NULL, o->ldr);
    }
}

/// The rest rows' sums (out[i]: x row row0 + i, i < nr) → y.
__attribute__((target("avx512f"), always_inline)) static inline void vidlm_bt_store_rest(
    float out[3][VIDLM_BT_ROWS], size_t nr, size_t row0, const struct vidlm_bt_out *o) {
    for (size_t i = 0; i < nr; i++)
        vidlm_bt_store_row8(out[i], o->y + (row0 + i) * o->ldy, o->cols, o->accumulate, o->bias, o->act,
                            o->residual ? o->residual + (row0 + i) * o->ldr : NULL);
}

#endif
