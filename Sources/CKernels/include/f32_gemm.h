// An f32 GEMM on AVX-512F FMAs for the projections of towers, Q-Formers and prefill:
// y = x · Wᵀ with W the checkpoint's [out, in] row-major matrix: x packed once per product and
// shared read-only by every thread, blocks of weight rows packed per call into the caller's
// scratch (from 64 x rows; fewer read the weight rows in place), see f32_gemm.c. Its speed does not depend on which OpenBLAS kernel an environment
// variable selects; OpenBLAS remains the fallback without AVX-512.
#ifndef VIDLM_F32_GEMM_H
#define VIDLM_F32_GEMM_H

#include <stddef.h>

/// Number of floats of packed x for an m × k input (at least 1).
size_t vidlm_f32_packed_x_count(size_t m, size_t k);

/// Rows of x packed as one block: ranges given to vidlm_f32_pack_x_avx512 start at a multiple of
/// this (below 32 rows it exceeds m: x is packed in one call).
size_t vidlm_f32_pack_x_block_rows(size_t m);

/// Packs rows [row_begin, row_end) of x (m rows of k floats, row stride ldx) into `packed`
/// (vidlm_f32_packed_x_count(m, k) floats, 64-byte aligned, shared by all ranges); row_begin is
/// a multiple of vidlm_f32_pack_x_block_rows(m), and so is row_end unless it is m or more.
/// Packing all of x is rows [0, m); disjoint ranges may be packed by different threads. Call
/// only when vidlm_avx512_available() is 1.
void vidlm_f32_pack_x_avx512(const float *x, size_t ldx, size_t m, size_t k, size_t row_begin, size_t row_end,
                             float *packed);

/// The multiple of output rows a unit of work (one call's row range) should have for m x rows,
/// so that no weight panel is left part empty; units of a few times this many rows let a
/// packed x group serve several panels.
size_t vidlm_f32_gemm_tile_rows(size_t m);

/// Floats of the per-thread weight scratch vidlm_f32_gemm_avx512 needs.
size_t vidlm_f32_gemm_scratch_count(void);

/// y[i·ldy + r] (=, or += when `accumulate` is 1) bias[r] + Σₜ x[i][t]·w[r·k + t] for i in [0, m),
/// r in [row_begin, row_end); `bias` (indexed by output row) may be NULL; then, when
/// `activation` ≥ 0 (an `Activation.kernelID`), y = activation(y) on those outputs, as
/// vidlm_activation_avx512 would (the same function, while the block is in registers or L1);
/// `packed_x` from vidlm_f32_pack_x_avx512 with the same m, k.
/// `scratch`: vidlm_f32_gemm_scratch_count() floats, 64-byte aligned, owned by the calling thread.
/// Call only when vidlm_avx512_available() is 1.
void vidlm_f32_gemm_avx512(const float *packed_x, size_t m, const float *w, size_t k, size_t row_begin, size_t row_end,
                           float *y, size_t ldy, int accumulate, const float *bias, int activation, float *scratch);

/// vidlm_f32_gemm_avx512, then y[i·ldy + r] = residual[i·ldr + r] + y[i·ldy + r] on the same
/// outputs (`residual` may be NULL; it may not overlap y), added as each block is stored: a skip
/// connection without a pass of its own over three tensors.
void vidlm_f32_gemm_add_avx512(const float *packed_x, size_t m, const float *w, size_t k, size_t row_begin,
                               size_t row_end, float *y, size_t ldy, int accumulate, const float *bias, int activation,
                               const float *residual, size_t ldr, float *scratch);

/// Whether a product of m x rows over k can write the next product's packed x
/// (vidlm_f32_gemm_to_packed): from 64 x rows (the packed-panel layout, which the next product of
/// the same m reads), k within one slice of 1024.
int vidlm_f32_chain_supported(size_t m, size_t k);

/// The product of vidlm_f32_gemm_avx512 (accumulate 0) for output rows [row_begin, row_end), with
/// its outputs act(sums + bias) written straight into `packed_out`, the packed x
/// (vidlm_f32_packed_x_count(m, n) floats) of a next product over k = n, exactly as
/// vidlm_f32_pack_x_avx512 would pack that output; padding rows are zeros. row_begin is a
/// multiple of vidlm_f32_gemm_tile_rows(m); only where vidlm_f32_chain_supported(m, k).
void vidlm_f32_gemm_to_packed(const float *packed_x, size_t m, const float *w, size_t k, size_t row_begin,
                              size_t row_end, const float *bias, int activation, float *packed_out, size_t n,
                              float *scratch);

#endif
