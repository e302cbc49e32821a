// A bf16 GEMM on Intel AMX (Sapphire Rapids and later): y = x · Wᵀ with x rounded to bf16
// (round to nearest even, as PyTorch's bf16 matmul and vidlm's AVX-512 BF16 GEMM do) and f32
// accumulation. W is the checkpoint's [out, in] bf16 matrix. One TDPBF16PS multiplies a 16 × 32
// tile of x by a 32 × 16 tile of Wᵀ: 16384 multiply-adds, eight times what one AVX-512
// `vdpbf16ps` does in the same issue slots, so towers and prefill in bf16 run several times
// faster than on the AVX-512 BF16 kernel. x is packed once per product (bf16 in 16 × 32 tiles,
// rows and k padded to 32) and shared read-only by every thread. For a large x (more than 256
// rows, or more than about 1.5 MiB of bf16) each call packs the blocks of weight rows it works on
// into its own scratch in the pair-interleaved ("VNNI") layout the instruction reads; for a small
// one the weights are read as stored and x is the pair-interleaved operand (amx_gemm.c).
#ifndef VIDLM_AMX_GEMM_H
#define VIDLM_AMX_GEMM_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has AMX-TILE and AMX-BF16 and the kernel lets this process use the tile
/// registers (asked for once, process-wide, with arch_prctl), else 0.
int vidlm_amx_bf16_available(void);

/// Number of uint16 elements of packed x for an m × k input (at least 1).
size_t vidlm_amx_packed_x_count(size_t m, size_t k);

/// Rounds rows [row_begin, row_end) of x (m rows of k floats, row stride ldx) to bf16 (nearest
/// even; NaN stays NaN) into `packed` (vidlm_amx_packed_x_count(m, k) elements, 64-byte
/// aligned): tile-major, [16-row block][32-element step of k][16 rows][32] (a small x, see above:
/// [16-row block][step][16 pairs of k][16 rows][2]; the product must be given the same m and k), zero
/// padded to 32 rows and a multiple of 32 elements of k. Packing all of x means rows [0, m
/// rounded up to 32); disjoint ranges (multiples of 32 rows) may be packed by different threads. Call only when vidlm_amx_bf16_available() is 1.
void vidlm_amx_pack_x(const float *x, size_t ldx, size_t m, size_t k, size_t row_begin, size_t row_end,
                      uint16_t *packed);

/// Output rows per unit of work the scratch below is sized for; callers split the output rows
/// into ranges of a multiple of 32 rows, at most this many, so no weight tile is half empty.
size_t vidlm_amx_gemm_unit_rows(void);

/// Number of uint16 elements of the per-thread weight scratch vidlm_amx_bf16_gemm needs.
size_t vidlm_amx_gemm_scratch_count(void);

/// y[i·ldy + r] (=, or += when `accumulate` is 1) bias[r] + Σₜ bf16(x[i][t])·w[r·k + t] for i in
/// [0, m), r in [row_begin, row_end), then the activation `activation` of elementwise_kernels.h on
/// the finished value (a negative id: none); `bias` (f32, indexed by output row) may be NULL;
/// `packed_x` from vidlm_amx_pack_x with the same m, k; w holds bf16, any alignment; sums are
/// f32 (the tile unit flushes denormal inputs and results to zero). `scratch`:
/// vidlm_amx_gemm_scratch_count() elements, 64-byte aligned, owned by the calling thread.
/// Call only when vidlm_amx_bf16_available() is 1.
void vidlm_amx_bf16_gemm(const uint16_t *packed_x, size_t m, const uint16_t *w, size_t k, size_t row_begin,
                         size_t row_end, float *y, size_t ldy, int accumulate, const float *bias, int activation,
                         uint16_t *scratch);

/// vidlm_amx_bf16_gemm, then y = residual + y on those outputs (residual[i·ldr + r]; NULL: none),
/// as a separate pass adding the residual stream would (a transformer block's skip connection),
/// while each block of y is in cache.
void vidlm_amx_bf16_gemm_add(const uint16_t *packed_x, size_t m, const uint16_t *w, size_t k, size_t row_begin,
                             size_t row_end, float *y, size_t ldy, int accumulate, const float *bias, int activation,
                             const float *residual, size_t ldr, uint16_t *scratch);

/// 1 when a product of m x rows over k reads x in the tile-major layout (the large-x path), the
/// one vidlm_amx_pack_layernorm and vidlm_amx_bf16_gemm_to_packed write; else 0.
int vidlm_amx_x_is_tiled(size_t m, size_t k);

/// What vidlm_layernorm_avx512 would write for rows [row_begin, row_end) of x (m rows of d
/// floats, row stride ldx), rounded and packed as vidlm_amx_pack_x(…, m, d, row_begin, row_end,
/// …) would pack that output, bit for bit, without storing it in f32. Only when
/// vidlm_amx_x_is_tiled(m, d) is 1; same row ranges as vidlm_amx_pack_x.
void vidlm_amx_pack_layernorm(const float *x, size_t ldx, size_t m, size_t d, size_t row_begin, size_t row_end,
                              const float *weight, const float *bias, float eps, uint16_t *packed);

/// 1 when a product of m x rows over k can write its n outputs per row straight into the packed
/// x of the next product (vidlm_amx_bf16_gemm_to_packed): both take the large-x layout and k
/// fits one slice of the weight packing. Else 0 (pack the f32 output as usual).
int vidlm_amx_chain_supported(size_t m, size_t k, size_t n);

/// The outputs vidlm_amx_bf16_gemm would write for rows [row_begin, row_end) of a fresh y
/// (accumulate 0) of row width n, rounded to bf16 and written where vidlm_amx_pack_x(y, n, m, n,
/// …) would put them in `packed_out` (vidlm_amx_packed_x_count(m, n) elements, 64-byte aligned),
/// padding included, bit for bit: the product's f32 output is never stored. row_begin is a
/// multiple of 32, and so is row_end unless it is n; ranges covering [0, n) fill all of
/// `packed_out`. Only when vidlm_amx_chain_supported(m, k, n) is 1.
void vidlm_amx_bf16_gemm_to_packed(const uint16_t *packed_x, size_t m, const uint16_t *w, size_t k, size_t row_begin,
                                   size_t row_end, const float *bias, int activation, uint16_t *packed_out, size_t n,
                                   uint16_t *scratch);

/// Output columns per unit of work of vidlm_amx_bf16_gated_to_packed (its scratch holds that
/// many gate rows and as many up rows).
size_t vidlm_amx_gated_unit_rows(void);

/// A gated MLP's hidden state (LLaMA's SwiGLU) packed for its down projection: for columns r in
/// [row_begin, row_end) of n, activation(g) · u with g = Σₜ bf16(x[i][t])·gate[r·k + t] (+
/// gate_bias[r]) and u likewise from `up` (+ up_bias[r]), rounded to bf16 where
/// vidlm_amx_pack_x would put the f32 result of that product, bit for bit (as
/// vidlm_amx_bf16_gemm of gate and up side by side, then vidlm_activation_avx512 on g, the
/// product with u, and vidlm_amx_pack_x). row_begin is a multiple of 32, and so is row_end
/// unless it is n; ranges covering [0, n) fill all of `packed_out`. Only when
/// vidlm_amx_chain_supported(m, k, n) is 1; `scratch` as for vidlm_amx_bf16_gemm.
void vidlm_amx_bf16_gated_to_packed(const uint16_t *packed_x, size_t m, const uint16_t *gate, const uint16_t *up,
                                    size_t k, size_t row_begin, size_t row_end, const float *gate_bias,
                                    const float *up_bias, int activation, uint16_t *packed_out, size_t n,
                                    uint16_t *scratch);

#endif
