// Fused multi-head attention for one head on AVX-512F, chosen at run time (the Swift kernels in
// Attention.swift / CachedAttention.swift are the portable fallback). Scores are computed a tile
// of query rows at a time against all keys, so the [heads, Lq, Lk] score tensor is never
// materialised: a tile is ≤ 128 KiB and stays in L2 with the head's packed keys and values.
#ifndef VIDLM_ATTENTION_KERNELS_H
#define VIDLM_ATTENTION_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// Floats of scratch (64-byte aligned, owned by the calling thread) the kernel needs for these sizes.
size_t vidlm_attention_scratch_floats(size_t lq, size_t lk, size_t dh);

/// out[i] = softmax_j(scale · q[i]·k[j] + key_bias[j], masked) · v for i in [0, lq), one head.
/// q, k, v, out: rows of dh floats with row strides q_row, k_row, v_row, out_row (elements).
/// causal != 0: query i sees keys j ≤ i + (lk − lq) (a KV cache ends with the queries).
/// key_bias: lk floats added to every query's logits (−inf masks a key), or NULL.
/// A query that sees no key gets zeros. `bf16` != 0 rounds q, k, the probabilities and v to bf16
/// and multiplies them with the AVX-512 BF16 dot-product instruction (f32 sums), as PyTorch's
/// bf16 attention does; call it so only when vidlm_avx512bf16_available() is 1.
/// Call only when vidlm_avx512_available() is 1.
void vidlm_attention_avx512(const float *q, size_t q_row, const float *k, size_t k_row, const float *v, size_t v_row,
                            size_t lq, size_t lk, size_t dh, float scale, int causal, const float *key_bias,
                            float *out, size_t out_row, int bf16, float *scratch);

/// Floats of scratch (64-byte aligned, owned by the calling thread) vidlm_attention_amx needs.
size_t vidlm_attention_amx_scratch_floats(size_t lk, size_t dh);

/// vidlm_attention_avx512 with `bf16` = 1 (same arguments and rounding) on Intel AMX tiles:
/// blocks of 32 query rows against all keys, scores and P · V as tile products. Call only when
/// vidlm_amx_bf16_available() is 1.
void vidlm_attention_amx(const float *q, size_t q_row, const float *k, size_t k_row, const float *v, size_t v_row,
                         size_t lq, size_t lk, size_t dh, float scale, int causal, const float *key_bias,
                         float *out, size_t out_row, float *scratch);

/// vidlm_attention_amx in two steps, for query heads that share one key/value head (grouped-query
/// attention): the keys and values packed once into `packed_kv` (vidlm_attention_amx_kv_floats
/// floats, 64-byte aligned), then each query head attended with the per-block `scratch` of
/// vidlm_attention_amx_work_floats floats. The results equal vidlm_attention_amx's bit for bit.
/// Call only when vidlm_amx_bf16_available() is 1.
size_t vidlm_attention_amx_kv_floats(size_t lk, size_t dh);
size_t vidlm_attention_amx_work_floats(size_t lk, size_t dh);
void vidlm_attention_amx_pack_kv(const float *k, size_t k_row, const float *v, size_t v_row, size_t lk, size_t dh,
                                 float *packed_kv);
void vidlm_attention_amx_packed(const float *q, size_t q_row, const float *packed_kv, size_t lq, size_t lk, size_t dh,
                                float scale, int causal, const float *key_bias, float *out, size_t out_row,
                                float *scratch);

/// One decoding step of attention for the query heads [head0, head0 + heads), query head h reading
/// key/value head h / group: out[i·dh, (i+1)·dh) = softmax_j(scale · q_i·k[j]) · v over keys
/// [0, n) for the call's i-th head, with q and out `heads` rows of dh floats each. keys/values
/// point at the columns of key/value head head0 / group in rows of stride kv_row (every key/value
/// head of a position side by side, as the cache holds them). `scores`: heads × (n rounded up to
/// 16) floats of scratch. A head's result does not depend on the other heads of the call.
/// Call only when vidlm_avx512_available() is 1.
void vidlm_attention_decode_avx512(const float *q, size_t heads, size_t group, size_t head0, size_t dh,
                                   const float *keys, const float *values, size_t kv_row, size_t n, float scale,
                                   float *out, float *scores);

/// vidlm_attention_decode_avx512 as a bf16 model computes it: the unnormalised probabilities are
/// rounded to bf16 before they weigh the values (sums stay f32), as vidlm_attention_amx and the
/// vdpbf16ps kernel round them. q, keys and values must already hold bf16 values (the caller
/// rounds them), so the products are those of the tile kernels. Call only when
/// vidlm_avx512_available() is 1.
void vidlm_attention_decode_bf16_avx512(const float *q, size_t heads, size_t group, size_t head0, size_t dh,
                                        const float *keys, const float *values, size_t kv_row, size_t n,
                                        float scale, float *out, float *scores);

/// vidlm_attention_decode_avx512 on a half-precision cache: keys and values are f16 rows (widened
/// exactly on load). Call only when vidlm_f16_matvec_available() is 1 (AVX-512 F, BW and VL).
void vidlm_attention_decode_f16_avx512(const float *q, size_t heads, size_t group, size_t head0, size_t dh,
                                       const uint16_t *keys, const uint16_t *values, size_t kv_row, size_t n,
                                       float scale, float *out, float *scores);

/// y[i] = 2^t[i] as bf16 attention's softmax computes its numerators (the polynomial shared by
/// the AMX, bf16-dot and bf16 decoding kernels), for tests. AVX-512F.
void vidlm_exp2_avx512(const float *t, float *y, size_t n);

/// vidlm_attention_decode_bf16_avx512 on a bf16 cache (keys and values bf16 rows, widened exactly
/// on load; q must hold bf16 values). Call only when vidlm_f16_matvec_available() is 1 (AVX-512
/// F, BW and VL).
void vidlm_attention_decode_bf16_cache_avx512(const float *q, size_t heads, size_t group, size_t head0, size_t dh,
                                              const uint16_t *keys, const uint16_t *values, size_t kv_row,
                                              size_t n, float scale, float *out, float *scores);

/// y = softmax(x) over n floats (in place allowed); a row of all −inf becomes zeros. AVX-512F.
void vidlm_softmax_row_avx512(const float *x, float *y, size_t n);

#endif
