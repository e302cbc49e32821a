// AVX-512 kernels for y = x · Wᵀ with W in bf16 (decoding), picked at run time.
// Swift's SIMD types compile to the package's baseline target (SSE2), where widening bf16 and
// multiplying costs more than streaming the weights; these functions are compiled for AVX-512F
// alone (`target` attribute), so the rest of the package keeps running on any x86-64.
#ifndef VIDLM_HALF_KERNELS_H
#define VIDLM_HALF_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU (and OS) runs the AVX-512F kernels below, else 0.
int vidlm_avx512_available(void);

/// y[j·ldy + r] = Σᵢ W[r, i]·x[j·ldx + i] for r in [row_begin, row_end), j in [0, m); W is bf16
/// with row stride k elements. `xs` holds each x row rearranged as HalfPrecisionKernels.deinterleave
/// does (each whole 32-element block: its 16 even elements, then its 16 odd ones), row stride
/// `xs_stride` floats; `x` is the original rows (used for the last k mod 32 elements).
/// Call only when vidlm_avx512_available() is 1.
void vidlm_bf16_matvec_avx512(const uint16_t *w, size_t k, size_t row_begin, size_t row_end,
                              const float *x, size_t ldx, const float *xs, size_t xs_stride, size_t m,
                              float *y, size_t ldy);

/// 1 when this CPU runs vidlm_bf16_matvec_avx512bf16 (AVX-512 F, BW, VL and BF16), else 0.
int vidlm_avx512bf16_matvec_available(void);

/// y[j·ldy + r] = Σᵢ W[r, i]·xb[j·ldxb + i] for r in [row_begin, row_end), j in [0, m), with W and
/// the x rows `xb` both bf16 (x rounded beforehand, as the bf16 path does anyway): one AVX-512
/// BF16 dot product per 32 elements. Call only when vidlm_avx512bf16_matvec_available() is 1.
void vidlm_bf16_matvec_avx512bf16(const uint16_t *w, size_t k, size_t row_begin, size_t row_end,
                                  const uint16_t *xb, size_t ldxb, size_t m, float *y, size_t ldy);

/// 1 when this CPU runs vidlm_f16_matvec_avx512 (AVX-512 F, BW and VL), else 0.
int vidlm_f16_matvec_available(void);

/// y[j·ldy + r] = Σᵢ W[r, i]·x[j·ldx + i] for r in [row_begin, row_end), j in [0, m), with W in
/// f16 (row stride k elements, widened exactly by vcvtph2ps: Inf and NaN propagate) and x the
/// original f32 rows. Call only when vidlm_f16_matvec_available() is 1.
void vidlm_f16_matvec_avx512(const uint16_t *w, size_t k, size_t row_begin, size_t row_end, const float *x, size_t ldx,
                             size_t m, float *y, size_t ldy);

/// y[i] = x[i] rounded to f16 (nearest even), i < n.
void vidlm_f32_to_f16(const float *x, uint16_t *y, size_t n);

/// y[i] = x[i] widened from f16 (exact), i < n.
void vidlm_f16_to_f32(const uint16_t *x, float *y, size_t n);

/// y[i] = x[i] rounded to bf16 (nearest even; NaN stays NaN), i < n. AVX-512 where the CPU has it.
void vidlm_f32_to_bf16(const float *x, uint16_t *y, size_t n);

/// y[i] = x[i] rounded to the nearest bf16 (ties to even), kept as f32: NaN stays NaN (quiet),
/// values that round past the largest bf16 become ±Inf; i < n, y may be x. AVX-512 where the
/// CPU has it.
void vidlm_round_bf16(const float *x, float *y, size_t n);

/// y[i] = x[i] widened from bf16 (exact), i < n.
void vidlm_bf16_to_f32(const uint16_t *x, float *y, size_t n);

#endif
