// AMX helpers the tile kernels share (internal: not part of the module's public headers): the
// tile configuration every kernel uses (eight 16 × 64-byte tiles) and the 16 × 16 transpose of
// 32-bit pairs that puts rows of a matrix into the pair-interleaved layout TDPBF16PS reads for
// its second operand.
#ifndef VIDLM_AMX_TILES_H
#define VIDLM_AMX_TILES_H

#if defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16], reserved2[16];
} vidlm_tile_config;

/// Loads the configuration of eight full tiles (16 rows × 64 bytes) for the calling thread; pair
/// it with _tile_release() before returning (a thread holding tile state makes every context
/// switch save 8 KiB more).
__attribute__((target("amx-tile"), always_inline)) static inline void vidlm_tiles_configure(void) {
    vidlm_tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) {
        cfg.rows[t] = 16;
        cfg.colsb[t] = 64;
    }
    _tile_loadconfig(&cfg);
}

/// r[n] = 16 pairs of bf16 of row n (n < 16) → r[p] = pair p of every row. Unpacks within
/// 128-bit lanes, then lane shuffles.
__attribute__((target("avx512f"), always_inline)) static inline void vidlm_transpose16x16_pairs(__m512i r[16]) {
    __m512i t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {  // r[4i + c], lane L: element 4L + c of rows 4i .. 4i + 3
        r[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    __m512i o[16];
    for (int c = 0; c < 4; c++) {
        __m512i lo01 = _mm512_shuffle_i32x4(r[c], r[4 + c], 0x44), hi01 = _mm512_shuffle_i32x4(r[c], r[4 + c], 0xEE);
        __m512i lo23 = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0x44), hi23 = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0xEE);
        o[c] = _mm512_shuffle_i32x4(lo01, lo23, 0x88);
        o[4 + c] = _mm512_shuffle_i32x4(lo01, lo23, 0xDD);
        o[8 + c] = _mm512_shuffle_i32x4(hi01, hi23, 0x88);
        o[12 + c] = _mm512_shuffle_i32x4(hi01, hi23, 0xDD);
    }
    for (int i = 0; i < 16; i++) r[i] = o[i];
}

/// Tiles 0-3 (sums, already zeroed or loaded by the caller) += the 2 × 2 products of x tiles
/// a0, a1 (rows lda bytes apart) with weight tiles b0, b1 (64-byte rows) over `steps` steps of
/// 32 k elements, the next step's tiles a_step / b_step bytes on. Tiles 4-5 hold x, 6-7 weights:
/// four sums is the most eight tile registers allow.
__attribute__((target("amx-tile,amx-bf16"), always_inline)) static inline void vidlm_tiles_2x2(
    const char *a0, const char *a1, size_t lda, size_t a_step, const char *b0, const char *b1, size_t b_step,
    size_t steps) {
    for (size_t s = 0; s < steps; s++) {
        _tile_loadd(4, a0 + s * a_step, lda);
        _tile_loadd(6, b0 + s * b_step, 64);
        _tile_loadd(5, a1 + s * a_step, lda);
        _tile_loadd(7, b1 + s * b_step, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
}

#endif
#endif
