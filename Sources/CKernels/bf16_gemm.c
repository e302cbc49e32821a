#include "bf16_gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

int vidlm_avx512bf16_available(void) {
    __builtin_cpu_init();
    return (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512bf16")) ? 1 : 0;
}

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

TARGET void vidlm_f32_to_bf16_avx512bf16(const float *x, size_t n, uint16_t *out) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(out + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 mk = (__mmask16)((1u << (n - i)) - 1);
        __m256i v = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mk, x + i));
        _mm256_mask_storeu_epi16(out + i, mk, v);
    }
}

TARGET static inline float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }

// An MR × NR tile of y: MR rows of x against NR weight rows over k elements (one slice), MR·NR
// accumulators of 16 partial sums each (reduced at the end). Each step of 32 elements loads MR + NR
// vectors for MR·NR dot-product instructions.
#define TILE(MR, NR)                                                                                   \
    TARGET static void tile_##MR##x##NR(const uint16_t *xb, size_t ldx, const uint16_t *w, size_t ldw, \
                                         size_t k, float *y, size_t ldy, int accumulate) {                      \
        __m512 c[MR][NR];                                                                              \
        for (int i = 0; i < MR; i++)                                                                   \
            for (int j = 0; j < NR; j++) c[i][j] = _mm512_setzero_ps();                                \
        size_t t = 0;                                                                                  \
        for (; t + 32 <= k; t += 32) {                                                                 \
            __m512bh b[NR];                                                                            \
            for (int j = 0; j < NR; j++) b[j] = (__m512bh)_mm512_loadu_si512(w + j * ldw + t);           \
            for (int i = 0; i < MR; i++) {                                                             \
                __m512bh a = (__m512bh)_mm512_loadu_si512(xb + i * ldx + t);                           \
                for (int j = 0; j < NR; j++) c[i][j] = _mm512_dpbf16_ps(c[i][j], a, b[j]);             \
            }                                                                                          \
        }                                                                                              \
        if (t < k) {                                                                                   \
            __mmask32 mk = (__mmask32)((1ull << (k - t)) - 1);                                         \
            __m512bh b[NR];                                                                            \
            for (int j = 0; j < NR; j++) b[j] = (__m512bh)_mm512_maskz_loadu_epi16(mk, w + j * ldw + t); \
            for (int i = 0; i < MR; i++) {                                                             \
                __m512bh a = (__m512bh)_mm512_maskz_loadu_epi16(mk, xb + i * ldx + t);                 \
                for (int j = 0; j < NR; j++) c[i][j] = _mm512_dpbf16_ps(c[i][j], a, b[j]);             \
            }                                                                                          \
        }                                                                                              \
        for (int i = 0; i < MR; i++)                                                                   \
            for (int j = 0; j < NR; j++) {                                                             \
                float s = hsum(c[i][j]);                                                               \
                y[i * ldy + j] = accumulate ? y[i * ldy + j] + s : s;                                  \
            }                                                                                          \
    }

TILE(4, 6)
TILE(4, 1)
TILE(1, 6)
TILE(1, 1)

// Weight rows are taken NB at a time and k in slices of KC: an NB × KC block of W (192 KiB) stays
// in L2 while every x row's slice (m × 4 KiB) passes over it. Without the k slices, k = 5632 (a
// TinyLlama down projection) ran at 40 % of the k = 2048 rate, its rows too long for the caches.
#define NB 48
#define KC 2048

TARGET void vidlm_bf16_gemm_avx512bf16(const uint16_t *xb, size_t ldx, size_t m, const uint16_t *w, size_t k,
                                       size_t row_begin, size_t row_end, float *y, size_t ldy, int accumulate) {
    for (size_t k0 = 0; k0 < k || k0 == 0; k0 += KC) {
        size_t kc = k - k0 < KC ? k - k0 : KC;
        int acc = k0 > 0 ? 1 : accumulate;
        const uint16_t *x0 = xb + k0, *w0 = w + k0;
        for (size_t n0 = row_begin; n0 < row_end; n0 += NB) {
            size_t n1 = n0 + NB < row_end ? n0 + NB : row_end;
            size_t i = 0;
            for (; i + 4 <= m; i += 4) {
                size_t r = n0;
                for (; r + 6 <= n1; r += 6) tile_4x6(x0 + i * ldx, ldx, w0 + r * k, k, kc, y + i * ldy + r, ldy, acc);
                for (; r < n1; r++) tile_4x1(x0 + i * ldx, ldx, w0 + r * k, k, kc, y + i * ldy + r, ldy, acc);
            }
            for (; i < m; i++) {
                size_t r = n0;
                for (; r + 6 <= n1; r += 6) tile_1x6(x0 + i * ldx, ldx, w0 + r * k, k, kc, y + i * ldy + r, ldy, acc);
                for (; r < n1; r++) tile_1x1(x0 + i * ldx, ldx, w0 + r * k, k, kc, y + i * ldy + r, ldy, acc);
            }
        }
        if (k == 0) break;
    }
}

#else

int vidlm_avx512bf16_available(void) { return 0; }

void vidlm_f32_to_bf16_avx512bf16(const float *x, size_t n, uint16_t *out) { (void)x; (void)n; (void)out; }

void vidlm_bf16_gemm_avx512bf16(const uint16_t *xb, size_t ldx, size_t m, const uint16_t *w, size_t k,
                                size_t row_begin, size_t row_end, float *y, size_t ldy, int accumulate) {
    (void)xb; (void)ldx; (void)m; (void)w; (void)k; (void)row_begin; (void)row_end; (void)y; (void)ldy;
    (void)accumulate;
}

#endif
