// Kernels for y = x · Wᵀ with W in llama.cpp's q4_K blocks: super-blocks of 256 weights, 144
// bytes each — f16 d, f16 dmin, 12 bytes packing eight 6-bit scales sc_j and eight 6-bit mins m_j
// (one per sub-block of 32), then 128 bytes of nibbles: for chunk c (64 weights), byte l holds
// weight 64c + l in its low nibble and weight 64c + 32 + l in its high nibble. Weight value:
// d·sc_j·q − dmin·m_j.
//
// x is quantized per 32-element block as for q8_0/q4_0 (quant_kernels.h: int8 values, f32 scale
// xd_b, corrections −128·Σx per block). Every path computes, per output, over the sub-blocks
// b = 0, 1, … of the row in order, starting from 0:
//   P_b = Σ_{t<32} q[t]·x[t] (exact int), N_b = −Σ_{t<32} x[t] (exact int),
//   t = float(P_b) · (d·sc_j);  t = fma(float(N_b), dmin·m_j, t);  y = fma(t, xd_b, y)
// with d, dmin widened from f16 exactly and d·sc_j, dmin·m_j exact in f32 (11 × 6 bits), so the
// portable and AVX-512 paths agree bit for bit. (x's scale is applied once per sub-block, after
// the weight's scale and min: one multiply and two FMAs per 16 rows and x row.)
//
// Weights are kept in memory in the K16 layout (vidlm_q4k_interleave): per 16 rows and
// super-block, 2368 bytes — 16 f16 d, 16 f16 dmin, the 8 scales of the 16 rows unpacked to bytes
// (scale j of row i at 64 + 16j + i), the 8 mins likewise (at 192 + 16j + i), then per chunk c
// 512 bytes: 4-byte group g of the chunk's 32 nibble bytes for rows 0..15 (row i at
// 320 + 512c + 64g + 4i). One 512-bit integer dot product then works on 4 bytes of 16 rows.
#ifndef VIDLM_QUANT_K_KERNELS_H
#define VIDLM_QUANT_K_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#define VIDLM_Q4K_BLOCK_BYTES 144
#define VIDLM_Q4K_K16_BLOCK_BYTES 2368

/// Interleaves `rows` rows (at most 16; missing rows are zero) of a q4_K table of row stride
/// `row_bytes` into one K16 panel of k/256 super-blocks.
void vidlm_q4k_interleave_panel(const uint8_t *w, size_t row_bytes, size_t rows, size_t k, uint8_t *panel);

/// Interleaves a whole [rows, k] q4_K table (rows a multiple of 16) into the K16 layout.
void vidlm_q4k_interleave(const uint8_t *w, size_t rows, size_t k, uint8_t *out);

/// y[i·ldy + r] = Σ_t W[r, t] · x_i[t] for r in [row_begin, row_end), i in [0, m), in the order
/// above. `interleaved`: W is in the K16 layout (any row range; panels are whole); otherwise W
/// rows are q4_K tables of k/256 blocks, repacked 16 rows at a time. x as vidlm_quantize_x_row
/// writes it (row strides k and k/32), `negsum` each block's −Σx as a float (row stride k/32; the
/// kernels read it by broadcast). Returns 0 only for row-layout weights, when the scratch panel
/// cannot be allocated (K16 weights need none).
int vidlm_q4k_matmul(int interleaved, int path, const uint8_t *w, size_t k, size_t row_begin, size_t row_end,
                     const int8_t *xqs, const float *xd, const float *negsum, size_t m, float *y, size_t ldy);

#endif
