// A bf16 GEMM on the AVX-512 BF16 dot-product instruction (vdpbf16ps) for prefill with bf16
// weights: y = x · Wᵀ with x rounded to bf16 (round to nearest even, as PyTorch's bf16 matmul
// does) and f32 accumulation. W is the checkpoint's [out, in] row-major matrix: each instruction
// multiplies 16 pairs of adjacent elements of a weight row and an x row, so packing is a plain
// copy of 64-byte pieces (no transposition). x is rounded and packed once per product
// (`vidlm_bf16_pack_x_avx512bf16`) and shared read-only by every thread; each call packs the
// blocks of weight rows it works on into its own aligned scratch.
#ifndef VIDLM_BF16_GEMM_H
#define VIDLM_BF16_GEMM_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU (and OS) runs the functions below, else 0.
int vidlm_avx512bf16_available(void);

/// Number of uint16 elements of packed x for an m × k input (at least 1).
size_t vidlm_bf16_packed_x_count(size_t m, size_t k);

/// Rounds x (m rows of k floats, row stride ldx) to bf16 (nearest even; NaN stays NaN) into
/// `packed`, which holds vidlm_bf16_packed_x_count(m, k) elements and is 64-byte aligned: per
/// k slice, groups of 4 rows interleaved 32 elements at a time, zero padded.
/// Call only when vidlm_avx512bf16_available() is 1.
void vidlm_bf16_pack_x_avx512bf16(const float *x, size_t ldx, size_t m, size_t k, uint16_t *packed);

/// Number of uint16 elements of the per-thread weight scratch vidlm_bf16_gemm_avx512bf16 needs.
size_t vidlm_bf16_gemm_scratch_count(void);

/// y[i·ldy + r] (=, or += when `accumulate` is 1) bias[r] + Σₜ bf16(x[i][t])·w[r·k + t] for i in
/// [0, m), r in [row_begin, row_end); `bias` (f32, indexed by output row) may be NULL;
/// `packed_x` from vidlm_bf16_pack_x_avx512bf16 with the same m, k;
/// w holds bf16, any alignment; sums are f32. `scratch`: vidlm_bf16_gemm_scratch_count()
/// elements, 64-byte aligned, owned by the calling thread.
/// Call only when vidlm_avx512bf16_available() is 1.
void vidlm_bf16_gemm_avx512bf16(const uint16_t *packed_x, size_t m, const uint16_t *w, size_t k, size_t row_begin,
                                size_t row_end, float *y, size_t ldy, int accumulate, const float *bias, uint16_t *scratch);

#endif
