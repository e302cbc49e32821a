#include "bf16_gemm.h"

// Tile and block sizes (see the header): an MR × NR tile of y is MR·NR accumulators of 16 partial
// sums; a step of 32 k elements loads MR + NR vectors for MR·NR dot-product instructions.
// NB weight rows × KC k elements (192 KiB of bf16) are packed and stay in L2 while every packed x
// group passes over them. KC 1024 ran 12 % slower (twice the horizontal reductions), KC 3072/4096
// no faster; NB 96 no faster than 48 on this machine (AMD Zen 5, 1 MiB L2).
#define MR 4
#define NR 6  // MR · NR must be a multiple of 8 (reduce8)
#define NB 48
#define KC 2048

static size_t round_up32(size_t v) { return (v + 31) & ~(size_t)31; }
static size_t slice_len(size_t k, size_t k0) { return k - k0 < KC ? k - k0 : KC; }

size_t vidlm_bf16_packed_x_count(size_t m, size_t k) {
    size_t groups = (m + MR - 1) / MR, total = 0;
    for (size_t k0 = 0; k0 < k; k0 += KC) total += groups * MR * round_up32(slice_len(k, k0));
    return total ? total : 1;
}

size_t vidlm_bf16_gemm_scratch_count(void) { return (size_t)((NB + NR - 1) / NR) * NR * KC; }

#if defined(__x86_64__)
#include <immintrin.h>
#include "simd_math.h"

int vidlm_avx512bf16_available(void) {
    __builtin_cpu_init();
    return (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512bf16")) ? 1 : 0;
}

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

TARGET void vidlm_bf16_pack_x_avx512bf16(const float *x, size_t ldx, size_t m, size_t k, uint16_t *packed) {
    size_t groups = (m + MR - 1) / MR;
    for (size_t k0 = 0; k0 < k; k0 += KC) {
        size_t kc = slice_len(k, k0), steps = round_up32(kc) / 32;
        for (size_t g = 0; g < groups; g++)
            for (size_t s = 0; s < steps; s++)
                for (size_t r = 0; r < MR; r++) {
                    size_t row = g * MR + r, t = s * 32, n = kc - t < 32 ? kc - t : 32;
                    uint16_t *dst = packed + ((g * steps + s) * MR + r) * 32;
                    if (row >= m) {
                        _mm512_store_si512(dst, _mm512_setzero_si512());
                        continue;
                    }
                    __mmask16 lo = n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1);
                    __mmask16 hi = n >= 32 ? 0xffff : n <= 16 ? 0 : (__mmask16)((1u << (n - 16)) - 1);
                    const float *src = x + row * ldx + k0 + t;
                    // vcvtneps2bf16 rounds to nearest even and keeps NaN a NaN
                    __m256i a = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(lo, src));
                    __m256i b = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(hi, src + 16));
                    _mm512_store_si512(dst, _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1));
                }
        packed += groups * MR * steps * 32;
    }
}

// Weight rows [r0, r1) of the k slice [k0, k0 + kc) → [tile][step][NR][32], zero padded, so that
// a tile's NR rows are one sequential, 64-byte aligned stream (the checkpoint's rows are usually
// not 64-byte aligned: unaligned reads straight from it ran ~20 % slower).
TARGET static void pack_w(const uint16_t *w, size_t ldw, size_t r0, size_t r1, size_t k0, size_t kc, uint16_t *out) {
    size_t steps = round_up32(kc) / 32, tiles = (r1 - r0 + NR - 1) / NR;
    for (size_t tile = 0; tile < tiles; tile++)
        for (size_t j = 0; j < NR; j++) {
            size_t r = r0 + tile * NR + j;
            uint16_t *dst = out + tile * steps * NR * 32 + j * 32;
            if (r >= r1) {
                for (size_t s = 0; s < steps; s++) _mm512_store_si512(dst + s * NR * 32, _mm512_setzero_si512());
                continue;
            }
            const uint16_t *src = w + r * ldw + k0;
            size_t s = 0;
            for (; (s + 1) * 32 <= kc; s++) _mm512_store_si512(dst + s * NR * 32, _mm512_loadu_si512(src + s * 32));
            if (s < steps) {
                __mmask32 mk = (__mmask32)((1ull << (kc - s * 32)) - 1);
                _mm512_store_si512(dst + s * NR * 32, _mm512_maskz_loadu_epi16(mk, src + s * 32));
            }
        }
}


// One MR × NR tile over `steps` packed steps → its MR·NR sums (row-major). Kept apart from the
// store so that nothing but the accumulators competes for registers (see f32_gemm.c).
TARGET __attribute__((noinline)) static void tile(const uint16_t *a, const uint16_t *b, size_t steps, float *sums) {
    __m512 c[MR][NR];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) c[i][j] = _mm512_setzero_ps();
    for (size_t s = 0; s < steps; s++) {
        __m512bh bv[NR];
        for (int j = 0; j < NR; j++) bv[j] = (__m512bh)_mm512_load_si512(b + j * 32);
        for (int i = 0; i < MR; i++) {
            __m512bh av = (__m512bh)_mm512_load_si512(a + i * 32);
            for (int j = 0; j < NR; j++) c[i][j] = _mm512_dpbf16_ps(c[i][j], av, bv[j]);
        }
        a += MR * 32;
        b += NR * 32;
    }
    for (int q = 0; q < MR * NR; q += 8) vidlm_reduce8(&c[0][0] + q, sums + q);
}

// Writes the `rows` × `cols` corner of a tile's sums that exists: y = (y if accumulating) +
// bias (when given) + sums. One loop per case: y is not read unless accumulating (a fresh output
// holds garbage; folded into one expression, clang read it anyway, and denormal garbage cost
// microcode assists: the bf16 kernel fell from 88 % to 55 % of its peak).
static void store(const float *sums, float *y, size_t ldy, size_t rows, size_t cols, int accumulate, const float *bias) {
    for (size_t i = 0; i < rows; i++) {
        float *row = y + i * ldy;
        const float *s = sums + i * NR;
        if (accumulate && bias)
            for (size_t j = 0; j < cols; j++) row[j] += bias[j] + s[j];
        else if (accumulate)
            for (size_t j = 0; j < cols; j++) row[j] += s[j];
        else if (bias)
            for (size_t j = 0; j < cols; j++) row[j] = bias[j] + s[j];
        else
            for (size_t j = 0; j < cols; j++) row[j] = s[j];
    }
}

// `tile` reading the NR weight rows where they are (`rows[j]`, kc bf16 each; the packed block is
// the same 32-element chunks, so only where they are read from changes) instead of from a packed
// block: for few x rows, packing costs as long as using the block. Rows past the matrix point at
// zeros.
TARGET __attribute__((noinline)) static void tile_direct(const uint16_t *a, const uint16_t *const *rows, size_t kc,
                                                         float *sums) {
    __m512 c[MR][NR];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) c[i][j] = _mm512_setzero_ps();
    size_t full = kc / 32, steps = round_up32(kc) / 32;
    for (size_t s = 0; s < steps; s++) {
        __m512bh bv[NR];
        if (s < full) {
            for (int j = 0; j < NR; j++) bv[j] = (__m512bh)_mm512_loadu_si512(rows[j] + s * 32);
        } else {
            __mmask32 mk = (__mmask32)((1ull << (kc - s * 32)) - 1);
            for (int j = 0; j < NR; j++) bv[j] = (__m512bh)_mm512_maskz_loadu_epi16(mk, rows[j] + s * 32);
        }
        for (int i = 0; i < MR; i++) {
            __m512bh av = (__m512bh)_mm512_load_si512(a + i * 32);
            for (int j = 0; j < NR; j++) c[i][j] = _mm512_dpbf16_ps(c[i][j], av, bv[j]);
        }
        a += MR * 32;
    }
    for (int q = 0; q < MR * NR; q += 8) vidlm_reduce8(&c[0][0] + q, sums + q);
}

// Up to this many groups of MR x rows (64 rows: prefill chunks, one small image), weight rows are
// read in place (`tile_direct`): OPT-2.7B's fc1 at 48 rows went from 62 to 74 GFLOP/s in the f32
// kernel, which has the same structure (benchmarks/e2e/kernels.c, medians of five rounds).
#define DIRECT_GROUPS 16

static const uint16_t zero_row[KC] __attribute__((aligned(64)));

TARGET void vidlm_bf16_gemm_avx512bf16(const uint16_t *packed_x, size_t m, const uint16_t *w, size_t k,
                                       size_t row_begin, size_t row_end, float *y, size_t ldy, int accumulate,
                                       const float *bias, uint16_t *wp) {
    if (m == 0 || row_begin >= row_end) return;
    if (k == 0) {
        for (size_t i = 0; i < m; i++)
            for (size_t r = row_begin; r < row_end; r++)
                y[i * ldy + r] = (accumulate ? y[i * ldy + r] : 0.0f) + (bias ? bias[r] : 0.0f);
        return;
    }
    size_t groups = (m + MR - 1) / MR;
    for (size_t k0 = 0; k0 < k; k0 += KC) {
        size_t kc = slice_len(k, k0), steps = round_up32(kc) / 32;
        int acc = k0 > 0 ? 1 : accumulate;
        for (size_t n0 = row_begin; n0 < row_end; n0 += NB) {
            size_t n1 = n0 + NB < row_end ? n0 + NB : row_end;
            size_t tiles = (n1 - n0 + NR - 1) / NR;
            if (groups <= DIRECT_GROUPS) {
                // A tile's weight rows stay in L1 while each x group passes over them.
                for (size_t t = 0; t < tiles; t++) {
                    size_t r = n0 + t * NR, cols = n1 - r < NR ? n1 - r : NR;
                    const uint16_t *rows[NR];
                    for (size_t j = 0; j < NR; j++) rows[j] = j < cols ? w + (r + j) * k + k0 : zero_row;
                    for (size_t g = 0; g < groups; g++) {
                        size_t xr = m - g * MR < MR ? m - g * MR : MR;
                        float sums[MR * NR];
                        tile_direct(packed_x + g * steps * MR * 32, rows, kc, sums);
                        store(sums, y + g * MR * ldy + r, ldy, xr, cols, acc, bias && k0 == 0 ? bias + r : NULL);
                    }
                }
                continue;
            }
            pack_w(w, k, n0, n1, k0, kc, wp);
            for (size_t g = 0; g < groups; g++) {
                size_t rows = m - g * MR < MR ? m - g * MR : MR;
                for (size_t t = 0; t < tiles; t++) {
                    size_t r = n0 + t * NR, cols = n1 - r < NR ? n1 - r : NR;
                    float sums[MR * NR];
                    tile(packed_x + g * steps * MR * 32, wp + t * steps * NR * 32, steps, sums);
                    store(sums, y + g * MR * ldy + r, ldy, rows, cols, acc, bias && k0 == 0 ? bias + r : NULL);
                }
            }
        }
        packed_x += groups * MR * steps * 32;
    }
}

#else

int vidlm_avx512bf16_available(void) { return 0; }

void vidlm_bf16_pack_x_avx512bf16(const float *x, size_t ldx, size_t m, size_t k, uint16_t *packed) {
    (void)x; (void)ldx; (void)m; (void)k; (void)packed;
}

void vidlm_bf16_gemm_avx512bf16(const uint16_t *packed_x, size_t m, const uint16_t *w, size_t k, size_t row_begin,
                                size_t row_end, float *y, size_t ldy, int accumulate, const float *bias, uint16_t *scratch) {
    (void)bias; (void)packed_x; (void)m; (void)w; (void)k; (void)row_begin; (void)row_end; (void)y; (void)ldy; (void)accumulate;
    (void)scratch;
}

#endif
