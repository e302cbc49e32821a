#include "f32_gemm.h"

// Block sizes: NB weight rows × KC floats (384 KiB) stay in L2 while every packed x group passes
// over them; a step is 16 k elements (one vector). The register tile is 4 x rows × 6 weight rows
// (24 accumulators, 10 loads per 24 FMAs). Measured with benchmarks/e2e/kernels.c (one thread,
// clang -O2, AMD Zen 4; six interleaved rounds, medians, 2026-12-06): 4 × 6 with NB 96 ran at
// 96-101 GFLOP/s on the tower shapes (82-86 % of the 117 GFLOP/s FMA peak) and 90 on TinyLlama
// prefill, where the earlier 8 × 3 with NB 48 ran at 76-87 and 76; 8 × 3 with KC 2048 at 84-93.
// (An earlier note found 8 × 3 faster; that was one run each on this VM, whose speed drifts by
// ±15 % between runs.)
#define MR 4
#define NR 6  // MR · NR must be a multiple of 8 (reduce8)
#define NB 96
#define KC 1024

static size_t round_up16(size_t v) { return (v + 15) & ~(size_t)15; }
static size_t slice_len(size_t k, size_t k0) { return k - k0 < KC ? k - k0 : KC; }

size_t vidlm_f32_packed_x_count(size_t m, size_t k) {
    size_t groups = (m + MR - 1) / MR, total = 0;
    for (size_t k0 = 0; k0 < k; k0 += KC) total += groups * MR * round_up16(slice_len(k, k0));
    return total ? total : 1;
}

size_t vidlm_f32_gemm_scratch_count(void) { return (size_t)((NB + NR - 1) / NR) * NR * KC; }

#if defined(__x86_64__)
#include <immintrin.h>
#include "simd_math.h"

#define TARGET __attribute__((target("avx512f")))

TARGET void vidlm_f32_pack_x_avx512(const float *x, size_t ldx, size_t m, size_t k, float *packed) {
    size_t groups = (m + MR - 1) / MR;
    for (size_t k0 = 0; k0 < k; k0 += KC) {
        size_t kc = slice_len(k, k0), steps = round_up16(kc) / 16;
        for (size_t g = 0; g < groups; g++)
            for (size_t s = 0; s < steps; s++)
                for (size_t r = 0; r < MR; r++) {
                    size_t row = g * MR + r, t = s * 16;
                    float *dst = packed + ((g * steps + s) * MR + r) * 16;
                    if (row >= m) {
                        _mm512_store_ps(dst, _mm512_setzero_ps());
                        continue;
                    }
                    _mm512_store_ps(dst, _mm512_maskz_loadu_ps(vidlm_tail_mask(kc - t), x + row * ldx + k0 + t));
                }
        packed += groups * MR * steps * 16;
    }
}

// Weight rows [r0, r1) of the k slice [k0, k0 + kc) → [tile][step][NR][16], zero padded.
TARGET static void pack_w(const float *w, size_t ldw, size_t r0, size_t r1, size_t k0, size_t kc, float *out) {
    size_t steps = round_up16(kc) / 16, tiles = (r1 - r0 + NR - 1) / NR;
    for (size_t tile = 0; tile < tiles; tile++)
        for (size_t j = 0; j < NR; j++) {
            size_t r = r0 + tile * NR + j;
            float *dst = out + tile * steps * NR * 16 + j * 16;
            if (r >= r1) {
                for (size_t s = 0; s < steps; s++) _mm512_store_ps(dst + s * NR * 16, _mm512_setzero_ps());
                continue;
            }
            const float *src = w + r * ldw + k0;
            for (size_t s = 0; s < steps; s++)
                _mm512_store_ps(dst + s * NR * 16, _mm512_maskz_loadu_ps(vidlm_tail_mask(kc - s * 16), src + s * 16));
        }
}


// One MR × NR tile over `steps` packed steps → its MR·NR sums (row-major). Kept apart from the
// store so that nothing but the accumulators competes for registers: with the bias store in the
// same function clang -O2 stopped keeping c[][] in registers and the kernel ran at half speed.
TARGET static void tile(const float *a, const float *b, size_t steps, float *sums) {
    __m512 c[MR][NR];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) c[i][j] = _mm512_setzero_ps();
    for (size_t s = 0; s < steps; s++) {
        __m512 bv[NR];
        for (int j = 0; j < NR; j++) bv[j] = _mm512_load_ps(b + j * 16);
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_load_ps(a + i * 16);
            for (int j = 0; j < NR; j++) c[i][j] = _mm512_fmadd_ps(av, bv[j], c[i][j]);
        }
        a += MR * 16;
        b += NR * 16;
    }
    for (int q = 0; q < MR * NR; q += 8) vidlm_reduce8(&c[0][0] + q, sums + q);
}

// `tile` reading the NR weight rows where they are (`rows[j]` + k0, kc floats each) instead of
// from a packed block: for few x rows, packing a block costs as long as using it (it is read from
// memory once, written and read back), while six sequential row streams run at memory speed
// under the FMAs. Rows past the matrix point at zeros.
TARGET static void tile_direct(const float *a, const float *const *rows, size_t kc, float *sums) {
    __m512 c[MR][NR];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) c[i][j] = _mm512_setzero_ps();
    size_t full = kc / 16, steps = round_up16(kc) / 16;
    for (size_t s = 0; s < steps; s++) {
        __m512 bv[NR];
        if (s < full)
            for (int j = 0; j < NR; j++) bv[j] = _mm512_loadu_ps(rows[j] + s * 16);
        else
            for (int j = 0; j < NR; j++) bv[j] = _mm512_maskz_loadu_ps(vidlm_tail_mask(kc - s * 16), rows[j] + s * 16);
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_load_ps(a + i * 16);
            for (int j = 0; j < NR; j++) c[i][j] = _mm512_fmadd_ps(av, bv[j], c[i][j]);
        }
        a += MR * 16;
    }
    for (int q = 0; q < MR * NR; q += 8) vidlm_reduce8(&c[0][0] + q, sums + q);
}

// Up to this many groups of MR x rows (64 rows: prefill chunks, one small image), weight rows are
// read in place (`tile_direct`): OPT-2.7B's fc1 at 48 rows went from 62 to 74 GFLOP/s
// (benchmarks/e2e/kernels.c, medians of five interleaved rounds); at 135 rows it made no
// difference.
#define DIRECT_GROUPS 16

static const float zero_row[KC] __attribute__((aligned(64)));

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

TARGET void vidlm_f32_gemm_avx512(const float *packed_x, size_t m, const float *w, size_t k, size_t row_begin,
                                  size_t row_end, float *y, size_t ldy, int accumulate, const float *bias, float *wp) {
    if (m == 0 || row_begin >= row_end) return;
    if (k == 0) {
        for (size_t i = 0; i < m; i++)
            for (size_t r = row_begin; r < row_end; r++)
                y[i * ldy + r] = (accumulate ? y[i * ldy + r] : 0.0f) + (bias ? bias[r] : 0.0f);
        return;
    }
    size_t groups = (m + MR - 1) / MR;
    for (size_t k0 = 0; k0 < k; k0 += KC) {
        size_t kc = slice_len(k, k0), steps = round_up16(kc) / 16;
        int acc = k0 > 0 ? 1 : accumulate;
        for (size_t n0 = row_begin; n0 < row_end; n0 += NB) {
            size_t n1 = n0 + NB < row_end ? n0 + NB : row_end;
            size_t tiles = (n1 - n0 + NR - 1) / NR;
            if (groups <= DIRECT_GROUPS) {
                // A tile's weight rows stay in L1 while each x group passes over them.
                for (size_t t = 0; t < tiles; t++) {
                    size_t r = n0 + t * NR, cols = n1 - r < NR ? n1 - r : NR;
                    const float *rows[NR];
                    for (size_t j = 0; j < NR; j++) rows[j] = j < cols ? w + (r + j) * k + k0 : zero_row;
                    for (size_t g = 0; g < groups; g++) {
                        size_t xr = m - g * MR < MR ? m - g * MR : MR;
                        float sums[MR * NR];
                        tile_direct(packed_x + g * steps * MR * 16, rows, kc, sums);
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
                    tile(packed_x + g * steps * MR * 16, wp + t * steps * NR * 16, steps, sums);
                    store(sums, y + g * MR * ldy + r, ldy, rows, cols, acc, bias && k0 == 0 ? bias + r : NULL);
                }
            }
        }
        packed_x += groups * MR * steps * 16;
    }
}

#else

void vidlm_f32_pack_x_avx512(const float *x, size_t ldx, size_t m, size_t k, float *packed) {
    (void)x; (void)ldx; (void)m; (void)k; (void)packed;
}

void vidlm_f32_gemm_avx512(const float *packed_x, size_t m, const float *w, size_t k, size_t row_begin, size_t row_end,
                           float *y, size_t ldy, int accumulate, const float *bias, float *scratch) {
    (void)bias; (void)packed_x; (void)m; (void)w; (void)k; (void)row_begin; (void)row_end; (void)y; (void)ldy; (void)accumulate;
    (void)scratch;
}

#endif
