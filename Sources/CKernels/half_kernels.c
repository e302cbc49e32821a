#include "half_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "simd_math.h"

int vidlm_avx512_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
}

static inline float bf16_to_float(uint16_t h) {
    union { uint32_t u; float f; } v = { (uint32_t)h << 16 };
    return v.f;
}

// One weight row against one x row, front to back (rows one after the other: one sequential
// stream per work unit, as the f32 and f16 kernels and the dot-product kernel below). The 64-byte
// block of 32 halves is read as 16 32-bit lanes: lane t holds element 2t (low half) and 2t+1
// (high half), so a shift and a mask widen the even and odd elements with no shuffles, matching
// the deinterleaved x. Four sums keep four FMA chains in flight.
__attribute__((target("avx512f")))
static float dot_row(const uint16_t *w, const float *xs, const float *x, size_t k) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    __m512 b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();
    const __m512i high = _mm512_set1_epi32((int)0xFFFF0000u);
    size_t blocks = k / 32, b = 0;
    for (; b + 2 <= blocks; b += 2) {
        __m512i u = _mm512_loadu_si512((const void *)(w + b * 32));
        __m512i v = _mm512_loadu_si512((const void *)(w + b * 32 + 32));
        a0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(u, 16)), _mm512_loadu_ps(xs + b * 32), a0);
        a1 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(u, high)), _mm512_loadu_ps(xs + b * 32 + 16), a1);
        b0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(v, 16)), _mm512_loadu_ps(xs + b * 32 + 32), b0);
        b1 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(v, high)), _mm512_loadu_ps(xs + b * 32 + 48), b1);
    }
    for (; b < blocks; b++) {
        __m512i u = _mm512_loadu_si512((const void *)(w + b * 32));
        a0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(u, 16)), _mm512_loadu_ps(xs + b * 32), a0);
        a1 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(u, high)), _mm512_loadu_ps(xs + b * 32 + 16), a1);
    }
    float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(b0, b1)));
    for (size_t i = blocks * 32; i < k; i++) s += bf16_to_float(w[i]) * x[i];
    return s;
}

__attribute__((target("avx512f")))
void vidlm_bf16_matvec_avx512(const uint16_t *w, size_t k, size_t row_begin, size_t row_end,
                              const float *x, size_t ldx, const float *xs, size_t xs_stride, size_t m,
                              float *y, size_t ldy) {
    for (size_t r = row_begin; r < row_end; r++)  // a row stays in L1 for the x rows after the first
        for (size_t j = 0; j < m; j++) y[j * ldy + r] = dot_row(w + r * k, xs + j * xs_stride, x + j * ldx, k);
}

// ---- f16 weights ----
// vcvtph2ps widens 16 halves exactly (subnormals, Inf and NaN included), so x stays in its
// original order. Rows one after the other, each front to back (VIDLM_DEFINE_FMA_MATVEC).
#define F16_LOAD(p, mask) _mm512_cvtph_ps(_mm256_maskz_loadu_epi16((mask), (p)))
VIDLM_DEFINE_FMA_MATVEC(f16, __attribute__((target("avx512f,avx512bw,avx512vl"))), uint16_t, F16_LOAD)

int vidlm_f16_matvec_available(void) {
    __builtin_cpu_init();
    return (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) ? 1 : 0;
}

__attribute__((target("avx512f,avx512bw,avx512vl")))
void vidlm_f16_matvec_avx512(const uint16_t *w, size_t k, size_t row_begin, size_t row_end, const float *x, size_t ldx,
                             size_t m, float *y, size_t ldy) {
    f16_matvec(w, k, row_begin, row_end, x, ldx, m, y, ldy, 0);
}

// ---- x already bf16 (AVX-512 BF16) ----
// vdpbf16ps multiplies 32 bf16 pairs and adds them into 16 f32 lanes in one instruction, so a
// 64-byte weight block costs one load and one dot product instead of a load, two widening
// operations and two FMAs: with the weights in L2 the widening kernel above ran at 36 GB/s a core
// (6.5 cycles a block), below what two cores can stream from memory here. The products are the
// same (bf16 × bf16 is exact in f32); only the summation order differs.
#define DP_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

DP_TARGET static inline __m512bh load_bh(const uint16_t *p, size_t tail) {
    if (tail == 0) return (__m512bh)_mm512_loadu_si512((const void *)p);
    return (__m512bh)_mm512_maskz_loadu_epi16((__mmask32)((1ull << tail) - 1), p);
}

// One weight row against one bf16 x row, read front to back with four sums in flight. A work
// unit's rows are adjacent, so a unit is one sequential stream, which the hardware prefetchers
// follow across page boundaries at the memory's full rate. What this replaced read eight rows side
// by side (eight streams 4 KiB apart) with the next eight prefetched into L2, tuned on a Xeon. On
// two Zen 5 cores, a C model of a 1.7B decoder's token (24 layers' q/k/v, o, gate/up and down
// rows in units of 256K weights claimed by two threads, the two kernels alternated in one process
// because this VM's memory rate moves by up to 2x from minute to minute) streamed 37-51 GB/s with
// the old kernel and 45-73 GB/s with this one, the rate of a plain read of the same memory; a
// software prefetch 1 or 4 KiB ahead in the stream cost 3-5 %. SmolVLM2-2.2B bf16 decoding
// (`vidlm generate`, 64 tokens, interleaved processes): 11.2-14.2 → 11.7-16.3 tok/s.
DP_TARGET static float dp_row(const uint16_t *w, size_t k, const uint16_t *xb) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    size_t b = 0;
    for (; b + 128 <= k; b += 128) {
        a0 = _mm512_dpbf16_ps(a0, load_bh(w + b, 0), load_bh(xb + b, 0));
        a1 = _mm512_dpbf16_ps(a1, load_bh(w + b + 32, 0), load_bh(xb + b + 32, 0));
        a2 = _mm512_dpbf16_ps(a2, load_bh(w + b + 64, 0), load_bh(xb + b + 64, 0));
        a3 = _mm512_dpbf16_ps(a3, load_bh(w + b + 96, 0), load_bh(xb + b + 96, 0));
    }
    for (; b + 32 <= k; b += 32) a0 = _mm512_dpbf16_ps(a0, load_bh(w + b, 0), load_bh(xb + b, 0));
    if (b < k) a1 = _mm512_dpbf16_ps(a1, load_bh(w + b, k - b), load_bh(xb + b, k - b));
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

int vidlm_avx512bf16_matvec_available(void) {
    __builtin_cpu_init();
    return (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512bf16")) ? 1 : 0;
}

DP_TARGET void vidlm_bf16_matvec_avx512bf16(const uint16_t *w, size_t k, size_t row_begin, size_t row_end,
                                            const uint16_t *xb, size_t ldxb, size_t m, float *y, size_t ldy) {
    for (size_t r = row_begin; r < row_end; r++)  // a row stays in L1 for the x rows after the first
        for (size_t j = 0; j < m; j++) y[j * ldy + r] = dp_row(w + r * k, k, xb + j * ldxb);
}

#else

int vidlm_avx512_available(void) { return 0; }

int vidlm_avx512bf16_matvec_available(void) { return 0; }

int vidlm_f16_matvec_available(void) { return 0; }

void vidlm_f16_matvec_avx512(const uint16_t *w, size_t k, size_t row_begin, size_t row_end, const float *x, size_t ldx,
                             size_t m, float *y, size_t ldy) {
    (void)w; (void)k; (void)row_begin; (void)row_end; (void)x; (void)ldx; (void)m; (void)y; (void)ldy;
}

void vidlm_bf16_matvec_avx512bf16(const uint16_t *w, size_t k, size_t row_begin, size_t row_end,
                                  const uint16_t *xb, size_t ldxb, size_t m, float *y, size_t ldy) {
    (void)w; (void)k; (void)row_begin; (void)row_end; (void)xb; (void)ldxb; (void)m; (void)y; (void)ldy;
}

void vidlm_bf16_matvec_avx512(const uint16_t *w, size_t k, size_t row_begin, size_t row_end,
                              const float *x, size_t ldx, const float *xs, size_t xs_stride, size_t m,
                              float *y, size_t ldy) {
    (void)w; (void)k; (void)row_begin; (void)row_end; (void)x; (void)ldx; (void)xs; (void)xs_stride;
    (void)m; (void)y; (void)ldy;
}

#endif
