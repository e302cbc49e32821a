// A bf16 GEMM on the AVX-512 BF16 dot-product instruction (vdpbf16ps) for prefill with bf16
// weights: y = x · Wᵀ with x rounded to bf16 (round to nearest even, as PyTorch's bf16 matmul
// does) and f32 accumulation. W is the checkpoint's [out, in] row-major matrix; each instruction
// multiplies 16 pairs of adjacent k elements. x is rounded and packed once per product
// (`vidlm_bf16_pack_x_avx512bf16`, by row ranges that threads may share out) and shared
// read-only by every thread; each call packs the blocks of weight rows it works on into its own
// aligned scratch (copied for the dot-product kernel of short inputs, transposed into pairs for
// the outer-product kernel of long ones; see bf16_gemm.c).
#ifndef VIDLM_BF16_GEMM_H
#define VIDLM_BF16_GEMM_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU (and OS) runs the functions below, else 0.
int vidlm_avx512bf16_available(void);

/// Number of uint16 elements of packed x for an m × k input (at least 1).
size_t vidlm_bf16_packed_x_count(size_t m, size_t k);

/// Rows of x packed as one block: ranges given to vidlm_bf16_pack_x_avx512bf16 start at a
/// multiple of this.
size_t vidlm_bf16_pack_x_block_rows(size_t m);

/// Rounds rows [row_begin, row_end) of x (m rows of k floats, row stride ldx) to bf16 (nearest
/// even; NaN stays NaN) into `packed`, which holds vidlm_bf16_packed_x_count(m, k) elements, is
/// 64-byte aligned and is shared by all ranges (the layout depends on m: see bf16_gemm.c);
/// row_begin is a multiple of vidlm_bf16_pack_x_block_rows(m), and so is row_end unless it is m
/// or more. Packing all of x is rows [0, m); disjoint ranges may be packed by different threads.
/// Call only when vidlm_avx512bf16_available() is 1.
void vidlm_bf16_pack_x_avx512bf16(const float *x, size_t ldx, size_t m, size_t k, size_t row_begin, size_t row_end,
                                  uint16_t *packed);

/// The multiple of output rows a unit of work (one call's row range) should have for m x rows,
/// so that no weight tile or panel is left part empty.
size_t vidlm_bf16_gemm_tile_rows(size_t m);

/// Number of uint16 elements of the per-thread weight scratch vidlm_bf16_gemm_avx512bf16 needs.
size_t vidlm_bf16_gemm_scratch_count(void);

/// y[i·ldy + r] (=, or += when `accumulate` is 1) bias[r] + Σₜ bf16(x[i][t])·w[r·k + t] for i in
/// [0, m), r in [row_begin, row_end); `bias` (f32, indexed by output row) may be NULL; then, when
/// `activation` ≥ 0 (an `Activation.kernelID`), y = activation(y) on those outputs, as
/// vidlm_activation_avx512 would (the same function, while the block is in registers or L1);
/// `packed_x` from vidlm_bf16_pack_x_avx512bf16 with the same m, k;
/// w holds bf16, any alignment; sums are f32. `scratch`: vidlm_bf16_gemm_scratch_count()
/// elements, 64-byte aligned, owned by the calling thread.
/// Call only when vidlm_avx512bf16_available() is 1.
void vidlm_bf16_gemm_avx512bf16(const uint16_t *packed_x, size_t m, const uint16_t *w, size_t k, size_t row_begin,
                                size_t row_end, float *y, size_t ldy, int accumulate, const float *bias, int activation,
                                uint16_t *scratch);

/// vidlm_bf16_gemm_avx512bf16, then y[i·ldy + r] = residual[i·ldr + r] + y[i·ldy + r] on the same
/// outputs (`residual` may be NULL; it may not overlap y), added as each block is stored: a skip
/// connection without a pass of its own over three tensors.
void vidlm_bf16_gemm_add_avx512bf16(const uint16_t *packed_x, size_t m, const uint16_t *w, size_t k, size_t row_begin,
                                    size_t row_end, float *y, size_t ldy, int accumulate, const float *bias,
                                    int activation, const float *residual, size_t ldr, uint16_t *scratch);

/// Whether a product of m x rows over k can write the next product's packed x
/// (vidlm_bf16_gemm_to_packed): from 256 x rows (the outer-product layout, which the next
/// product of the same m reads), k within one slice of 2048.
int vidlm_bf16_chain_supported(size_t m, size_t k);

/// The product of vidlm_bf16_gemm_avx512bf16 (accumulate 0) for output rows [row_begin, row_end),
/// with its outputs act(sums + bias) rounded to bf16 straight into `packed_out`, the packed x
/// (vidlm_bf16_packed_x_count(m, n) elements) of a next product over k = n, exactly as
/// vidlm_bf16_pack_x_avx512bf16 would pack that output; padding is zeros. row_begin is a multiple
/// of vidlm_bf16_gemm_tile_rows(m); only where vidlm_bf16_chain_supported(m, k).
void vidlm_bf16_gemm_to_packed(const uint16_t *packed_x, size_t m, const uint16_t *w, size_t k, size_t row_begin,
                               size_t row_end, const float *bias, int activation, uint16_t *packed_out, size_t n,
                               uint16_t *scratch);

/// LLaMA's gated MLP before its down projection: act(x·gateᵀ + gate_bias) · (x·upᵀ + up_bias)
/// for hidden columns [row_begin, row_end) (gate and up both [n, k]), rounded to bf16 straight
/// into `packed_out`, the packed x of the down projection over k = n, as the two products, the
/// gated activation and vidlm_bf16_pack_x_avx512bf16 would give it. Biases may be NULL;
/// row_begin is a multiple of vidlm_bf16_gemm_tile_rows(m); only where
/// vidlm_bf16_chain_supported(m, k).
void vidlm_bf16_gated_to_packed(const uint16_t *packed_x, size_t m, const uint16_t *gate, const uint16_t *up, size_t k,
                                size_t row_begin, size_t row_end, const float *gate_bias, const float *up_bias,
                                int activation, uint16_t *packed_out, size_t n, uint16_t *scratch);

#endif
