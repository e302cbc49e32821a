// Kernels for y = x · Wᵀ with W in llama.cpp's block formats (q8_0: f16 scale + 32 int8, 34
// bytes; q4_0: f16 scale + 16 bytes of nibbles, 18 bytes; blocks of 32 along each row) and x
// quantized per 32-element block to int8 with an f32 scale (round to nearest even), as
// llama.cpp does for its integer dot products.
//
// Every path computes the same floats in the same order, so results agree bit for bit:
//   per block b: scale = f16(w.d) · x.d; for lane j in 0..<8, p = Σ_{t<4} w[4j+t]·x[4j+t] (exact
//   int); a = ((b / 2) mod 4)·16 + (b mod 2)·8 + j; acc[a] = fma(float(p), scale, acc[a]); then
//   t[i] = (acc[i] + acc[16+i]) + (acc[32+i] + acc[48+i]), h8[i] = t[i] + t[i+8],
//   h4[i] = h8[i] + h8[i+4], h2[i] = h4[i] + h4[i+2], y = h2[0] + h2[1].
// The AVX-512 paths hold the 64 accumulators in 4 registers (4 FMA chains in flight); the
// portable path is plain C.
//
// From VIDLM_QGEMM_MIN_ROWS x rows on (prefill, vision), every path instead runs the panel GEMM,
// whose order is: per output, p_b = Σ_{t<32} w[t]·x[t] over block b (exact int), then
// y = fma(float(p_b), f16(w.d) · x.d, y) over b = 0, 1, … starting from 0. The AVX-512 paths
// repack 16 weight rows at a time so that one 512-bit integer dot product works on 4 bytes of 16
// rows against 4 broadcast bytes of x: a block's 16 row dots are complete in 16 integer lanes,
// and each needs one convert and one FMA (not one per 4 products).
#ifndef VIDLM_QUANT_KERNELS_H
#define VIDLM_QUANT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

enum {
    VIDLM_Q8_0 = 0,
    VIDLM_Q4_0 = 1,
    // The same blocks interleaved 16 rows at a time (vidlm_quant_interleave), the layout the
    // panel kernels read; weights are kept this way in memory so that decoding needs no repacking.
    VIDLM_Q8_0_R16 = 2,
    VIDLM_Q4_0_R16 = 3,
};

enum {
    VIDLM_QPATH_PORTABLE = 0,
    VIDLM_QPATH_AVX512BW = 1,   // AVX-512 F+BW (maddubs)
    VIDLM_QPATH_AVX512VNNI = 2, // AVX-512 F+BW+VNNI (vpdpbusd)
};

/// x rows from which vidlm_quant_matmul runs the panel GEMM.
#define VIDLM_QGEMM_MIN_ROWS 8

/// Interleaves a [rows, k] block table (q8_0 or q4_0; rows a multiple of 16) into the R16 layout
/// of the same size: per 16 rows and block b, the 16 f16 scales (32 bytes), then 4-byte groups,
/// group-major (group g = bytes 4g..4g+3 of the block's values for rows 0..15): q8_0 stores
/// u = w + 128 for its 8 groups, q4_0 its 4 groups of packed nibbles as they are. Products on R16
/// weights follow the panel-GEMM order for every m.
void vidlm_quant_interleave(int format, const uint8_t *w, size_t rows, size_t k, uint8_t *out);

/// The fastest path this CPU runs.
int vidlm_quant_best_path(void);

/// Quantizes one row of k floats (k a multiple of 32) into k int8 `qs`, k/32 scales `d`
/// (amax/127; values round(x · (1/d)) to nearest even) and k/4 corrections `sums`: −128 · the
/// sum of each 4 consecutive int8 values (the VNNI path multiplies w + 128 by x and starts there).
void vidlm_quantize_x_row(const float *x, size_t k, int8_t *qs, float *d, int32_t *sums, int path);

/// y[i·ldy + r] = Σ_t W[r, t] · x_i[t] for r in [row_begin, row_end), i in [0, m); W rows of
/// k/32 blocks in `format` (row stride k/32 · block bytes; R16: whole panels of 16 rows, any
/// range of them); x rows as vidlm_quantize_x_row writes them, row strides k, k/32
/// and k/4.
/// `xcorr` (row stride k/32): each block's −128 · Σx, the sum of its 8 `sums` (the panel kernels
/// start from it); may be NULL, then it is computed per call.
void vidlm_quant_matmul(int format, int path, const uint8_t *w, size_t k, size_t row_begin, size_t row_end,
                        const int8_t *xqs, const float *xd, const int32_t *xsums, const int32_t *xcorr, size_t m,
                        float *y, size_t ldy);

#endif
