// A bf16 GEMM on the AVX-512 BF16 dot-product instruction (vdpbf16ps) for prefill with bf16
// weights: y = x · Wᵀ with x rounded to bf16 (round to nearest even, as PyTorch's bf16 matmul
// does) and f32 accumulation. It reads W straight from the checkpoint's [out, in] row-major
// layout: each instruction multiplies 16 pairs of adjacent elements of a weight row and an x
// row, so no packing or transposition of the weights is needed.
#ifndef VIDLM_BF16_GEMM_H
#define VIDLM_BF16_GEMM_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU (and OS) runs vidlm_bf16_gemm_avx512bf16, else 0.
int vidlm_avx512bf16_available(void);

/// out[i] = bf16(x[i]) for i in [0, n), round to nearest even (NaN stays NaN).
/// Call only when vidlm_avx512bf16_available() is 1.
void vidlm_f32_to_bf16_avx512bf16(const float *x, size_t n, uint16_t *out);

/// y[i·ldy + r] (=, or += when `accumulate` is 1) Σₜ xb[i·ldx + t]·w[r·k + t] for i in [0, m),
/// r in [row_begin, row_end); xb and w hold bf16, sums are f32. Any k (the tail is masked).
/// Call only when vidlm_avx512bf16_available() is 1.
void vidlm_bf16_gemm_avx512bf16(const uint16_t *xb, size_t ldx, size_t m, const uint16_t *w, size_t k,
                                size_t row_begin, size_t row_end, float *y, size_t ldy, int accumulate);

#endif
