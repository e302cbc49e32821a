// An AVX-512F matrix-vector kernel for decoding with f32 weights: y = x · Wᵀ for a few x rows,
// W the checkpoint's [out, in] row-major matrix read once, in place. OpenBLAS's sgemv is the
// fallback without AVX-512; its speed depends on the kernel OpenBLAS picks for the CPU (a CPU
// newer than the OpenBLAS build gets its generic SSE3 kernel: Debian 12's on a Xeon with AMX
// streamed 14 GB/s of weights where this kernel streams about 22).
#ifndef VIDLM_F32_MATVEC_H
#define VIDLM_F32_MATVEC_H

#include <stddef.h>

/// y[j·ldy + r] (=, or += when `accumulate` is 1) Σᵢ W[r, i]·x[j·ldx + i] for r in
/// [row_begin, row_end), j in [0, m); W has row stride k. Call only when
/// vidlm_avx512_available() is 1.
void vidlm_f32_matvec_avx512(const float *w, size_t k, size_t row_begin, size_t row_end, const float *x, size_t ldx,
                             size_t m, float *y, size_t ldy, int accumulate);

#endif
