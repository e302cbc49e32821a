// AVX-512F row kernels for the element-wise work around the GEMMs (activations, layer norm),
// chosen at run time like the others; the Swift versions (VectorMath, Tensor.layerNorm) are the
// portable fallback. Swift's SIMD16 compiles to the package's SSE2 baseline, four lanes at a time.
#ifndef VIDLM_ELEMENTWISE_KERNELS_H
#define VIDLM_ELEMENTWISE_KERNELS_H

#include <stddef.h>

/// Activations as PyTorch defines them (ids match Swift's `Activation`): 0 gelu (erf), 1 gelu tanh
/// approximation, 2 quick gelu x·σ(1.702x), 3 silu, 4 relu. y = f(x) over n floats (y may be x).
/// Call only when vidlm_avx512_available() is 1.
void vidlm_activation_avx512(int kind, const float *x, float *y, size_t n);

/// Layer normalisation of `rows` rows of d floats (biased variance, as PyTorch); weight and bias
/// (d floats) may be NULL. Call only when vidlm_avx512_available() is 1.
void vidlm_layernorm_avx512(const float *x, float *y, size_t rows, size_t d, const float *weight, const float *bias,
                            float eps);

#endif
