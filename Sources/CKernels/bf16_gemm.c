#include "bf16_gemm.h"

// Two kernels, picked by the number of x rows (the same m must be passed to the packing and the
// product, so both agree on the layout):
//
// Below OUTER_ROWS x rows (prefill chunks, short prompts, one small image): the weight-broadcast
// kernel (broadcast_tile.h), broadcasting a pair of k of each of eight weight rows, read where
// they are stored, against three vectors of 16 x rows (transposed once per product). It replaced
// a dot-product kernel (4 x rows × 6 weight rows of 16-lane partial sums, ending in 24 horizontal
// sums per tile). One core of a Zen 5, weights from memory, against that kernel (one run, medians
// of 15): 32 × 2048 × 5632 360 → 477 GFLOP/s, 48 × 2560 × 10240 380 → 457, 51 rows (BLIP-2's
// prompt) 374 → 461, 96 × 2048 × 11264 419 → 476, 135 rows 445 → 485, 200 × 2048 × 5632 415 →
// 465; 16 rows 319 → 326.
//
// From OUTER_ROWS x rows (towers, long prompts): an outer-product kernel, the f32 GEMM's
// (f32_gemm.c) in bf16 pairs. A block of ONB weight rows × a k slice (512-768 KiB) is transposed
// into panels of 64 rows ([k pair][64 rows][2]: four vectors of output columns per pair of k) and
// stays in L2; x is packed [slice][group of 6 rows][k pair][6 pairs]; each step broadcasts six x
// pairs against four weight vectors into 24 accumulators that become 6 × 64 outputs as they are:
// no horizontal sums, whole-vector stores that add the bias, apply an activation and add a skip
// connection on the way. One core of a Zen 5, packing included: 1.04-1.18× the dot-product kernel
// on SigLIP-B/SO400M tower shapes, 1.07-1.13× on 512-812-row prompts of k 2048, 0.94-0.98× below
// 256 rows (the transposition of each weight block is then shared by too few x rows).
#define KC 2048
#define BROADCAST_TILE_ROWS 8  // VIDLM_BT_ROWS of broadcast_tile.h (x86-64 only)
#define OUTER_ROWS 256
#define OMR 6
#define ONV 4
#define ONRW (ONV * 16)  // weight rows per panel
#define ONB 128

// k is cut into slices of KC, the last one taking up to MAX_SLICE so that no slice is a short
// tail (as f32_gemm.c). Slices start at multiples of KC.
#define MAX_SLICE (KC + KC / 2)
static size_t slice_len(size_t k, size_t k0) { return k - k0 <= MAX_SLICE ? k - k0 : KC; }
static size_t last_slice_start(size_t k) { return k <= MAX_SLICE ? 0 : (k - MAX_SLICE + KC - 1) / KC * KC; }

static size_t pairs_of(size_t kc) { return (kc + 1) / 2; }

// The weight-broadcast kernel's packed x per k slice, in 32-bit pairs: whole 16-row blocks
// ([block][k pair][16]), then the rest rows (broadcast_tile.h) as rows of round_up32(kc) bf16.
static size_t rest_rows(size_t m) { return m % 16 <= 8 ? m % 16 : 0; }  // vidlm_bt_rest
static size_t round_up32(size_t v) { return (v + 31) & ~(size_t)31; }
static size_t pairs_per_slice(size_t m, size_t kc) {
    size_t rest = rest_rows(m);
    return (m - rest + 15) / 16 * 16 * pairs_of(kc) + rest * round_up32(kc) / 2;
}

size_t vidlm_bf16_packed_x_count(size_t m, size_t k) {
    size_t total = 0;
    if (m >= OUTER_ROWS) {
        for (size_t k0 = 0; k0 < k; k0 += slice_len(k, k0)) total += (m + OMR - 1) / OMR * OMR * 2 * pairs_of(slice_len(k, k0));
    } else {
        for (size_t k0 = 0; k0 < k; k0 += slice_len(k, k0)) total += 2 * pairs_per_slice(m, slice_len(k, k0));
    }
    return total ? total : 1;
}

size_t vidlm_bf16_gemm_scratch_count(void) { return (size_t)ONB * MAX_SLICE; }

size_t vidlm_bf16_pack_x_block_rows(size_t m) { return m >= OUTER_ROWS ? OMR : 16; }

size_t vidlm_bf16_gemm_tile_rows(size_t m) { return m >= OUTER_ROWS ? ONRW : BROADCAST_TILE_ROWS; }

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>
#include "amx_tiles.h"
#include "simd_math.h"
#include "outer_panel.h"
#include "broadcast_tile.h"
_Static_assert(VIDLM_BT_ROWS == BROADCAST_TILE_ROWS, "the tile rows the callers split by");

int vidlm_avx512bf16_available(void) {
    __builtin_cpu_init();
    return (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512bf16")) ? 1 : 0;
}

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

// Columns [t, t + n) of an x row (n ≤ 32; the rest zero) → 32 bf16, round to nearest even
// (vcvtneps2bf16 keeps NaN a NaN).
TARGET static inline __m512i bf16_row32(const float *src, size_t n) {
    if (n >= 32) return (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + 16), _mm512_loadu_ps(src));
    __mmask16 lo = vidlm_tail_mask(n), hi = n > 16 ? vidlm_tail_mask(n - 16) : 0;
    return (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, n > 16 ? src + 16 : src), _mm512_maskz_loadu_ps(lo, src));
}

// ---- Weight-broadcast kernel (fewer than OUTER_ROWS x rows; broadcast_tile.h) ----

// Blocks [b0, b1) of 16 x rows → per k slice [block][k pair][16] 32-bit pairs, zero padded, by
// 16 × 16 transposes of pairs; the block after the whole ones, where the rest rows are, → those
// rows as they are ([row][round_up32(kc)] bf16, zero padded).
TARGET static void pack_x_columns(const float *x, size_t ldx, size_t m, size_t k, size_t b0, size_t b1, uint32_t *packed) {
    size_t blocks = vidlm_bt_blocks(m), rest = vidlm_bt_rest(m);
    if (b1 > blocks + (rest > 0)) b1 = blocks + (rest > 0);
    for (size_t k0 = 0; k0 < k; k0 += slice_len(k, k0)) {
        size_t kc = slice_len(k, k0), np = pairs_of(kc);
        for (size_t b = b0; b < b1; b++) {
            if (b == blocks) {
                for (size_t i = 0; i < rest; i++) {
                    const float *src = x + (blocks * 16 + i) * ldx + k0;
                    uint16_t *dst = (uint16_t *)(packed + blocks * 16 * np) + i * round_up32(kc);
                    for (size_t t = 0; t < kc; t += 32) _mm512_store_si512(dst + t, bf16_row32(src + t, kc - t));
                }
                continue;
            }
            uint32_t *dst = packed + b * np * 16;
            for (size_t t0 = 0; t0 < kc; t0 += 32) {
                size_t tn = kc - t0 < 32 ? kc - t0 : 32;
                __m512i r[16];
                for (size_t j = 0; j < 16; j++) {
                    size_t row = b * 16 + j;
                    r[j] = row < m ? bf16_row32(x + row * ldx + k0 + t0, tn) : _mm512_setzero_si512();
                }
                vidlm_transpose16x16_pairs(r);
                for (size_t t = 0; t < (tn + 1) / 2; t++) _mm512_store_si512(dst + (t0 / 2 + t) * 16, r[t]);
            }
        }
        packed += pairs_per_slice(m, kc);
    }
}

// Pair t of a weight row (two bf16, any alignment) as one 32-bit lane.
static inline int load_pair(const uint16_t *row, size_t t) {
    uint32_t v;
    memcpy(&v, row + 2 * t, 4);
    return (int)v;
}

// One step: pair t of k (pair_of_row_j: weight row j's, a 32-bit lane) against every block.
#define COLUMN_STEP(NB, t, pair_of_row_j)                                                                        \
    do {                                                                                                         \
        __m512bh xv[NB];                                                                                         \
        for (int u = 0; u < NB; u++) xv[u] = (__m512bh)_mm512_load_si512(a + u * stride + (t) * 16);             \
        for (int j = 0; j < VIDLM_BT_ROWS; j++) {                                                                \
            __m512bh wv = (__m512bh)_mm512_set1_epi32(pair_of_row_j);                                            \
            for (int u = 0; u < NB; u++) c[j][u] = _mm512_dpbf16_ps(c[j][u], xv[u], wv);                        \
        }                                                                                                        \
    } while (0)

// sums[j][u] = weight row j (wrows[j], kc bf16) · the x rows of block u (a: [pairs][16], blocks
// `stride` pairs apart) for u < NB ≤ VIDLM_BT_BLOCKS: per pair of k, NB vector loads and eight
// broadcasts for 8 · NB dot products. An odd last element is broadcast alone (the element after
// it may lie past the matrix). Where `next` is given, the next tile's rows are prefetched at the
// pace these are read (a line of each per 16 pairs). One function per NB, each keeping its sums in
// registers (stored once at the end). The odd element has its own step after the loop: a choice
// inside it cost a fifth of the speed at -O2, the level SwiftPM builds C at.
#define COLUMN_SUMS(NB)                                                                                          \
    TARGET __attribute__((noinline)) static void column_sums##NB(const uint32_t *a, size_t stride,               \
                                                                const uint16_t *const *wrows,                   \
                                                                const uint16_t *const *next, size_t kc,         \
                                                                __m512 sums[VIDLM_BT_ROWS][VIDLM_BT_BLOCKS]) {  \
        __m512 c[VIDLM_BT_ROWS][NB];                                                                             \
        for (int j = 0; j < VIDLM_BT_ROWS; j++)                                                                  \
            for (int u = 0; u < NB; u++) c[j][u] = _mm512_setzero_ps();                                          \
        size_t full = kc / 2;                                                                                    \
        for (size_t t = 0; t < full; t++) {                                                                      \
            if (next && t % 16 == 0)                                                                             \
                for (int j = 0; j < VIDLM_BT_ROWS; j++) _mm_prefetch((const char *)(next[j] + 2 * t), _MM_HINT_T1); \
            COLUMN_STEP(NB, t, load_pair(wrows[j], t));                                                          \
        }                                                                                                        \
        if (kc & 1) COLUMN_STEP(NB, full, (int)wrows[j][kc - 1]);                                                \
        for (int j = 0; j < VIDLM_BT_ROWS; j++)                                                                  \
            for (int u = 0; u < NB; u++) sums[j][u] = c[j][u];                                                   \
    }
COLUMN_SUMS(1)
COLUMN_SUMS(2)
COLUMN_SUMS(3)
#undef COLUMN_SUMS
#undef COLUMN_STEP

// out[i][j] = rest row i (a + i · lda, kc bf16 zero padded to 32) · weight row j, for i < R ≤ 3:
// 16-lane partial sums (per 32 k, R x loads and eight weight loads, the tile's rows in L1, for
// 8 · R dot products), reduced at the end. One function per R, each keeping its sums in registers.
#define REST_SUMS(R)                                                                                             \
    TARGET __attribute__((noinline)) static void rest_sums##R(const uint16_t *a, size_t lda,                     \
                                                             const uint16_t *const *wrows, size_t kc,           \
                                                             float out[3][VIDLM_BT_ROWS]) {                     \
        __m512 c[R][VIDLM_BT_ROWS];                                                                              \
        for (int i = 0; i < R; i++)                                                                              \
            for (int j = 0; j < VIDLM_BT_ROWS; j++) c[i][j] = _mm512_setzero_ps();                               \
        for (size_t t = 0; t < kc; t += 32) {                                                                    \
            __mmask32 mask = kc - t >= 32 ? 0xffffffffu : (__mmask32)((1u << (kc - t)) - 1);                    \
            __m512bh xv[R];                                                                                      \
            for (int i = 0; i < R; i++) xv[i] = (__m512bh)_mm512_load_si512(a + i * lda + t);                    \
            for (int j = 0; j < VIDLM_BT_ROWS; j++) {                                                            \
                __m512bh wv = (__m512bh)_mm512_maskz_loadu_epi16(mask, wrows[j] + t);                            \
                for (int i = 0; i < R; i++) c[i][j] = _mm512_dpbf16_ps(c[i][j], xv[i], wv);                      \
            }                                                                                                    \
        }                                                                                                        \
        for (int i = 0; i < R; i++) vidlm_reduce8(c[i], out[i]);                                                 \
    }
REST_SUMS(1)
REST_SUMS(2)
REST_SUMS(3)
#undef REST_SUMS

static const uint16_t zero_row[MAX_SLICE] __attribute__((aligned(64)));

// The weight-broadcast kernel over weight rows [row_begin, row_end): a tile's eight rows (32-48
// KiB of a k slice) stay in L1 while every x block passes over them from L2; the first pass prefetches
// the next tile's rows.
TARGET static void gemm_columns(const uint32_t *packed_x, size_t m, const uint16_t *w, size_t k, size_t row_begin,
                                size_t row_end, float *y, size_t ldy, int accumulate, const float *bias, int act,
                                const float *residual, size_t ldr) {
    size_t blocks = vidlm_bt_blocks(m), rest = vidlm_bt_rest(m), passes = (blocks + VIDLM_BT_BLOCKS - 1) / VIDLM_BT_BLOCKS;
    for (size_t k0 = 0; k0 < k; k0 += slice_len(k, k0)) {
        size_t kc = slice_len(k, k0), np = pairs_of(kc);
        int acc = k0 > 0 ? 1 : accumulate, last = k0 + kc >= k;
        for (size_t r = row_begin; r < row_end; r += VIDLM_BT_ROWS) {
            size_t cols = row_end - r < VIDLM_BT_ROWS ? row_end - r : VIDLM_BT_ROWS;
            const uint16_t *rows[VIDLM_BT_ROWS], *next[VIDLM_BT_ROWS];
            for (size_t j = 0; j < VIDLM_BT_ROWS; j++) {
                rows[j] = j < cols ? w + (r + j) * k + k0 : zero_row;
                next[j] = r + cols + j < row_end ? w + (r + cols + j) * k + k0 : zero_row;
            }
            struct vidlm_bt_out o = {y + r, ldy, cols, acc, bias && k0 == 0 ? bias + r : NULL, last ? act : -1,
                                     last && residual ? residual + r : NULL, ldr};
            for (size_t p = 0; p < passes; p++) {
                size_t b = p * VIDLM_BT_BLOCKS, nb = blocks - b < VIDLM_BT_BLOCKS ? blocks - b : VIDLM_BT_BLOCKS;
                size_t n = m - b * 16 < nb * 16 ? m - b * 16 : nb * 16;  // the pass's rows that exist
                const uint32_t *a = packed_x + b * np * 16;
                const uint16_t *const *pf = p == 0 ? next : NULL;
                __m512 sums[VIDLM_BT_ROWS][VIDLM_BT_BLOCKS];
                if (nb == 3)
                    column_sums3(a, np * 16, rows, pf, kc, sums);
                else if (nb == 2)
                    column_sums2(a, np * 16, rows, pf, kc, sums);
                else
                    column_sums1(a, np * 16, rows, pf, kc, sums);
                vidlm_bt_store_blocks(sums, nb, b * 16, n, &o);
            }
            // The rest rows, up to three at a time, against the tile's rows (in L1 by now).
            const uint16_t *ra = (const uint16_t *)(packed_x + blocks * 16 * np);
            for (size_t i0 = 0; i0 < rest; i0 += 3) {
                size_t nr = rest - i0 < 3 ? rest - i0 : 3, lda = round_up32(kc);
                float out[3][VIDLM_BT_ROWS];
                if (nr == 3)
                    rest_sums3(ra + i0 * lda, lda, rows, kc, out);
                else if (nr == 2)
                    rest_sums2(ra + i0 * lda, lda, rows, kc, out);
                else
                    rest_sums1(ra + i0 * lda, lda, rows, kc, out);
                vidlm_bt_store_rest(out, nr, blocks * 16 + i0, &o);
            }
        }
        packed_x += pairs_per_slice(m, kc);
    }
}

// ---- Outer-product kernel (OUTER_ROWS x rows or more) ----

// Groups [g0, g1) of OMR x rows → per k slice [group][k pair][OMR] 32-bit pairs, zero padded:
// one step's OMR pairs side by side, each row's 32 columns rounded to 16 pairs and the six rows
// interleaved by permutes (outer_panel.h; OMR is its 6).
TARGET static void pack_x_outer(const float *x, size_t ldx, size_t m, size_t k, size_t g0, size_t g1, uint32_t *packed) {
    size_t groups = (m + OMR - 1) / OMR;
    if (g1 > groups) g1 = groups;
    struct vidlm_interleave6 il;
    vidlm_interleave6_init(&il);
    for (size_t k0 = 0; k0 < k; k0 += slice_len(k, k0)) {
        size_t kc = slice_len(k, k0), np = pairs_of(kc);
        for (size_t g = g0; g < g1; g++) {
            uint32_t *dst = packed + g * np * OMR;
            for (size_t t = 0; t < kc; t += 32) {
                size_t n = kc - t < 32 ? kc - t : 32;
                __m512i r[OMR];
                for (size_t i = 0; i < OMR; i++) {
                    size_t row = g * OMR + i;
                    r[i] = row < m ? bf16_row32(x + row * ldx + k0 + t, n) : _mm512_setzero_si512();
                }
                vidlm_interleave6_store(&il, r, (n + 1) / 2, dst + t / 2 * OMR);
            }
        }
        packed += groups * OMR * np;
    }
}

// Weight rows [r0, r1) of the slice [k0, k0 + kc) → panels [panel][k pair][ONRW] of 32-bit pairs,
// zero padded, by 16 × 16 transposes of pairs (rows are read 64 bytes at a time, 16 streams).
TARGET static void pack_w_outer(const uint16_t *w, size_t ldw, size_t r0, size_t r1, size_t k0, size_t kc, uint32_t *out) {
    size_t panels = (r1 - r0 + ONRW - 1) / ONRW, np = pairs_of(kc);
    for (size_t p = 0; p < panels; p++) {
        uint32_t *dst = out + p * np * ONRW;
        for (size_t j0 = 0; j0 < ONRW; j0 += 16)
            for (size_t t0 = 0; t0 < kc; t0 += 32) {
                size_t tn = kc - t0 < 32 ? kc - t0 : 32;
                __mmask32 mask = tn == 32 ? 0xffffffffu : (__mmask32)((1u << tn) - 1);
                __m512i r[16];
                for (size_t j = 0; j < 16; j++) {
                    size_t row = r0 + p * ONRW + j0 + j;
                    r[j] = row < r1 ? _mm512_maskz_loadu_epi16(mask, w + row * ldw + k0 + t0) : _mm512_setzero_si512();
                }
                vidlm_transpose16x16_pairs(r);
                for (size_t t = 0; t < (tn + 1) / 2; t++) _mm512_store_si512(dst + (t0 / 2 + t) * ONRW + j0, r[t]);
            }
    }
}

// c[OMR][ONV] = the sums of OMR x rows (a: [np][OMR] pairs) × one panel of ONRW weight rows (b:
// [np][ONRW] pairs): six broadcast pairs against four weight vectors per step. A macro, so that
// each kernel keeps the 24 accumulators in registers as its own code (see f32_gemm.c).
#define PAIR_PANEL_SUMS(c, a, b, np)                                                                        \
    do {                                                                                                    \
        const uint32_t *pa_ = (a), *pb_ = (b);                                                              \
        for (int i_ = 0; i_ < OMR; i_++)                                                                    \
            for (int v_ = 0; v_ < ONV; v_++) (c)[i_][v_] = _mm512_setzero_ps();                              \
        for (size_t t_ = 0; t_ < (np); t_++) {                                                              \
            __m512bh bv_[ONV];                                                                              \
            for (int v_ = 0; v_ < ONV; v_++) bv_[v_] = (__m512bh)_mm512_load_si512(pb_ + v_ * 16);          \
            for (int i_ = 0; i_ < OMR; i_++) {                                                              \
                __m512bh av_ = (__m512bh)_mm512_set1_epi32((int)pa_[i_]);                                   \
                for (int v_ = 0; v_ < ONV; v_++) (c)[i_][v_] = _mm512_dpbf16_ps((c)[i_][v_], av_, bv_[v_]); \
            }                                                                                               \
            pa_ += OMR;                                                                                     \
            pb_ += ONRW;                                                                                    \
        }                                                                                                   \
    } while (0)

// OMR x rows (a: [np][OMR] pairs) × one panel of ONRW weight rows (b: [np][ONRW] pairs) over np
// pairs of k, written to the `rows` × `cols` corner of y that exists: y = (y if accumulating) +
// bias (when given) + sums, then act(y) when act ≥ 0, then residual + y when a residual (row
// stride ldr) is given (both for the last k slice only). y is not read unless accumulating.
TARGET static void panel(const uint32_t *a, const uint32_t *b, size_t np, float *y, size_t ldy, size_t rows, size_t cols,
                         int accumulate, const float *bias, int act, const float *residual, size_t ldr) {
    __m512 c[OMR][ONV];
    PAIR_PANEL_SUMS(c, a, b, np);
    vidlm_store_panel6x4(c, y, ldy, rows, cols, accumulate, bias, act, residual, ldr);
}

TARGET static void gemm_outer(const uint32_t *packed_x, size_t m, const uint16_t *w, size_t k, size_t row_begin,
                              size_t row_end, float *y, size_t ldy, int accumulate, const float *bias, int activation,
                              const float *residual, size_t ldr, uint32_t *wp) {
    size_t groups = (m + OMR - 1) / OMR;
    for (size_t k0 = 0; k0 < k; k0 += slice_len(k, k0)) {
        size_t kc = slice_len(k, k0), np = pairs_of(kc);
        int acc = k0 > 0 ? 1 : accumulate, act = k0 + kc >= k ? activation : -1;
        const float *res = k0 + kc >= k ? residual : NULL;
        for (size_t n0 = row_begin; n0 < row_end; n0 += ONB) {
            size_t n1 = n0 + ONB < row_end ? n0 + ONB : row_end, panels = (n1 - n0 + ONRW - 1) / ONRW;
            pack_w_outer(w, k, n0, n1, k0, kc, wp);
            // A group of x (24 KiB) stays in L1 while the block's panels stream from L2.
            for (size_t g = 0; g < groups; g++) {
                size_t rows = m - g * OMR < OMR ? m - g * OMR : OMR;
                if (g + 1 < groups) {  // the next group's rows of y and of the residual, if they will be read
                    size_t next0 = (g + 1) * OMR, next1 = next0 + OMR < m ? next0 + OMR : m;
                    if (acc) vidlm_prefetch_block_rows(y, ldy, next0, next1, n0, n1);
                    if (res) vidlm_prefetch_block_rows(res, ldr, next0, next1, n0, n1);
                }
                for (size_t p = 0; p < panels; p++) {
                    size_t r = n0 + p * ONRW, cols = n1 - r < ONRW ? n1 - r : ONRW;
                    panel(packed_x + g * OMR * np, wp + p * np * ONRW, np, y + g * OMR * ldy + r, ldy, rows, cols, acc,
                          bias && k0 == 0 ? bias + r : NULL, act, res ? res + g * OMR * ldr + r : NULL, ldr);
                }
            }
        }
        packed_x += groups * OMR * np;
    }
}

// The same block as `panel` (one k slice, not accumulating) with act(sums + bias) rounded to bf16
// and written into the next product's packed x instead of y: rows of x group g, columns r … r +
// cols of its k (`next_k` wide, packed by pack_x_outer: [slice][group][pair][OMR]). The 64
// columns of a panel are 32 pairs in one slice of the next product (KC is a multiple of 64).
// Rows past m and columns past cols are zeros, as pack_x_outer pads them.
TARGET static void store_packed_pairs(__m512 v[OMR][ONV], size_t cols, size_t g, size_t groups, size_t r,
                                      size_t next_k, uint32_t *packed_out, const struct vidlm_interleave6 *il) {
    __m512i lo[OMR], hi[OMR];  // each row's pairs 0-15 and 16-31 of the panel
    for (size_t i = 0; i < OMR; i++) {
        lo[i] = (__m512i)_mm512_cvtne2ps_pbh(v[i][1], v[i][0]);
        hi[i] = (__m512i)_mm512_cvtne2ps_pbh(v[i][3], v[i][2]);
    }
    size_t slice0 = r / KC * KC < last_slice_start(next_k) ? r / KC * KC : last_slice_start(next_k);
    size_t kk = r - slice0, np_next = pairs_of(slice_len(next_k, slice0));
    uint32_t *dst = packed_out + groups * OMR * (slice0 / 2) + g * OMR * np_next + kk / 2 * OMR;
    size_t pairs = (cols + 1) / 2;
    vidlm_interleave6_store(il, lo, pairs < 16 ? pairs : 16, dst);
    if (pairs > 16) vidlm_interleave6_store(il, hi, pairs - 16, dst + 16 * OMR);
}

// c + bias, then act when act ≥ 0, on the block's existing rows and columns; zeros elsewhere.
TARGET static inline __m512 finished(__m512 c, size_t i, size_t q, size_t rows, size_t cols, const float *bias, int act) {
    __mmask16 mask = i < rows ? vidlm_tail_mask(cols > q * 16 ? cols - q * 16 : 0) : 0;
    __m512 add = bias ? _mm512_maskz_loadu_ps(mask, bias + q * 16) : _mm512_setzero_ps();
    __m512 sum = _mm512_add_ps(c, add);
    if (act >= 0) sum = vidlm_activate16(act, sum);
    return _mm512_maskz_mov_ps(mask, sum);
}

// The same block as `panel` (one k slice, not accumulating) with act(sums + bias) rounded to bf16
// and written into the next product's packed x instead of y: rows of x group g, columns r … r +
// cols of its k (`next_k` wide, packed by pack_x_outer: [slice][group][pair][OMR]). The 64
// columns of a panel are 32 pairs in one slice of the next product (KC is a multiple of 64).
// Rows past m and columns past cols are zeros, as pack_x_outer pads them.
TARGET static void panel_to_packed(const uint32_t *a, const uint32_t *b, size_t np, size_t rows, size_t cols,
                                   const float *bias, int act, size_t g, size_t groups, size_t r, size_t next_k,
                                   uint32_t *packed_out, const struct vidlm_interleave6 *il) {
    __m512 c[OMR][ONV];
    PAIR_PANEL_SUMS(c, a, b, np);
    for (size_t i = 0; i < OMR; i++)
        for (size_t q = 0; q < ONV; q++) c[i][q] = finished(c[i][q], i, q, rows, cols, bias, act);
    store_packed_pairs(c, cols, g, groups, r, next_k, packed_out, il);
}

// LLaMA's gated MLP: act(x·gateᵀ + gate bias) · (x·upᵀ + up bias) for one panel of gate rows and
// the same panel of up rows, as `panel_to_packed` writes it (the gate block waits on the stack
// while the up block is summed: 48 accumulators do not fit the 32 registers).
TARGET static void gated_panel_to_packed(const uint32_t *a, const uint32_t *bg, const uint32_t *bu, size_t np, size_t rows,
                                         size_t cols, const float *gate_bias, const float *up_bias, int act, size_t g,
                                         size_t groups, size_t r, size_t next_k, uint32_t *packed_out,
                                         const struct vidlm_interleave6 *il) {
    __m512 c[OMR][ONV], gated[OMR][ONV];
    PAIR_PANEL_SUMS(c, a, bg, np);
    for (size_t i = 0; i < OMR; i++)
        for (size_t q = 0; q < ONV; q++) gated[i][q] = finished(c[i][q], i, q, rows, cols, gate_bias, act);
    PAIR_PANEL_SUMS(c, a, bu, np);
    for (size_t i = 0; i < OMR; i++)
        for (size_t q = 0; q < ONV; q++) gated[i][q] = _mm512_mul_ps(gated[i][q], finished(c[i][q], i, q, rows, cols, up_bias, -1));
    store_packed_pairs(gated, cols, g, groups, r, next_k, packed_out, il);
}

int vidlm_bf16_chain_supported(size_t m, size_t k) { return m >= OUTER_ROWS && k > 0 && k <= MAX_SLICE; }

TARGET void vidlm_bf16_gemm_to_packed(const uint16_t *packed_x, size_t m, const uint16_t *w, size_t k, size_t row_begin,
                                      size_t row_end, const float *bias, int activation, uint16_t *packed_out, size_t n,
                                      uint16_t *scratch) {
    if (!vidlm_bf16_chain_supported(m, k) || row_begin >= row_end) return;
    size_t groups = (m + OMR - 1) / OMR, np = pairs_of(k);
    const uint32_t *px = (const uint32_t *)packed_x;
    uint32_t *wp = (uint32_t *)scratch;
    struct vidlm_interleave6 il;
    vidlm_interleave6_init(&il);
    for (size_t n0 = row_begin; n0 < row_end; n0 += ONB) {
        size_t n1 = n0 + ONB < row_end ? n0 + ONB : row_end, panels = (n1 - n0 + ONRW - 1) / ONRW;
        pack_w_outer(w, k, n0, n1, 0, k, wp);
        for (size_t g = 0; g < groups; g++) {
            size_t rows = m - g * OMR < OMR ? m - g * OMR : OMR;
            for (size_t p = 0; p < panels; p++) {
                size_t r = n0 + p * ONRW, cols = n1 - r < ONRW ? n1 - r : ONRW;
                panel_to_packed(px + g * OMR * np, wp + p * np * ONRW, np, rows, cols, bias ? bias + r : NULL, activation,
                                g, groups, r, n, (uint32_t *)packed_out, &il);
            }
        }
    }
}

TARGET void vidlm_bf16_gated_to_packed(const uint16_t *packed_x, size_t m, const uint16_t *gate, const uint16_t *up,
                                       size_t k, size_t row_begin, size_t row_end, const float *gate_bias,
                                       const float *up_bias, int activation, uint16_t *packed_out, size_t n,
                                       uint16_t *scratch) {
    if (!vidlm_bf16_chain_supported(m, k) || row_begin >= row_end) return;
    size_t groups = (m + OMR - 1) / OMR, np = pairs_of(k);
    const uint32_t *px = (const uint32_t *)packed_x;
    uint32_t *wg = (uint32_t *)scratch, *wu = wg + np * ONRW;  // one panel of each: half the scratch
    struct vidlm_interleave6 il;
    vidlm_interleave6_init(&il);
    for (size_t n0 = row_begin; n0 < row_end; n0 += ONRW) {
        size_t n1 = n0 + ONRW < row_end ? n0 + ONRW : row_end, cols = n1 - n0;
        pack_w_outer(gate, k, n0, n1, 0, k, wg);
        pack_w_outer(up, k, n0, n1, 0, k, wu);
        for (size_t g = 0; g < groups; g++) {
            size_t rows = m - g * OMR < OMR ? m - g * OMR : OMR;
            gated_panel_to_packed(px + g * OMR * np, wg, wu, np, rows, cols, gate_bias ? gate_bias + n0 : NULL,
                                  up_bias ? up_bias + n0 : NULL, activation, g, groups, n0, n, (uint32_t *)packed_out, &il);
        }
    }
}

TARGET void vidlm_bf16_pack_x_avx512bf16(const float *x, size_t ldx, size_t m, size_t k, size_t row_begin, size_t row_end,
                                         uint16_t *packed) {
    size_t block = vidlm_bf16_pack_x_block_rows(m), g0 = row_begin / block, g1 = (row_end + block - 1) / block;
    if (m >= OUTER_ROWS)
        pack_x_outer(x, ldx, m, k, g0, g1, (uint32_t *)packed);
    else
        pack_x_columns(x, ldx, m, k, g0, g1, (uint32_t *)packed);
}

TARGET void vidlm_bf16_gemm_avx512bf16(const uint16_t *packed_x, size_t m, const uint16_t *w, size_t k, size_t row_begin,
                                       size_t row_end, float *y, size_t ldy, int accumulate, const float *bias,
                                       int activation, uint16_t *scratch) {
    vidlm_bf16_gemm_add_avx512bf16(packed_x, m, w, k, row_begin, row_end, y, ldy, accumulate, bias, activation, NULL, 0,
                                   scratch);
}

TARGET void vidlm_bf16_gemm_add_avx512bf16(const uint16_t *packed_x, size_t m, const uint16_t *w, size_t k,
                                           size_t row_begin, size_t row_end, float *y, size_t ldy, int accumulate,
                                           const float *bias, int activation, const float *residual, size_t ldr,
                                           uint16_t *scratch) {
    if (m == 0 || row_begin >= row_end) return;
    if (k == 0) {
        for (size_t i = 0; i < m; i++)
            for (size_t r = row_begin; r < row_end; r++)
                y[i * ldy + r] = (accumulate ? y[i * ldy + r] : 0.0f) + (bias ? bias[r] : 0.0f);
        if (activation >= 0) vidlm_activate_block(y + row_begin, ldy, m, row_end - row_begin, activation);
        if (residual) vidlm_add_residual_block(y + row_begin, ldy, m, row_end - row_begin, residual + row_begin, ldr);
        return;
    }
    if (m >= OUTER_ROWS)
        gemm_outer((const uint32_t *)packed_x, m, w, k, row_begin, row_end, y, ldy, accumulate, bias, activation, residual,
                   ldr, (uint32_t *)scratch);
    else
        gemm_columns((const uint32_t *)packed_x, m, w, k, row_begin, row_end, y, ldy, accumulate, bias, activation, residual,
                     ldr);
}

#else

int vidlm_avx512bf16_available(void) { return 0; }

int vidlm_bf16_chain_supported(size_t m, size_t k) {
    (void)m; (void)k;
    return 0;
}

void vidlm_bf16_gated_to_packed(const uint16_t *packed_x, size_t m, const uint16_t *gate, const uint16_t *up, size_t k,
                                size_t row_begin, size_t row_end, const float *gate_bias, const float *up_bias,
                                int activation, uint16_t *packed_out, size_t n, uint16_t *scratch) {
    (void)packed_x; (void)m; (void)gate; (void)up; (void)k; (void)row_begin; (void)row_end; (void)gate_bias;
    (void)up_bias; (void)activation; (void)packed_out; (void)n; (void)scratch;
}

void vidlm_bf16_gemm_to_packed(const uint16_t *packed_x, size_t m, const uint16_t *w, size_t k, size_t row_begin,
                               size_t row_end, const float *bias, int activation, uint16_t *packed_out, size_t n,
                               uint16_t *scratch) {
    (void)packed_x; (void)m; (void)w; (void)k; (void)row_begin; (void)row_end; (void)bias; (void)activation;
    (void)packed_out; (void)n; (void)scratch;
}

void vidlm_bf16_pack_x_avx512bf16(const float *x, size_t ldx, size_t m, size_t k, size_t row_begin, size_t row_end,
                                  uint16_t *packed) {
    (void)x; (void)ldx; (void)m; (void)k; (void)row_begin; (void)row_end; (void)packed;
}

void vidlm_bf16_gemm_avx512bf16(const uint16_t *packed_x, size_t m, const uint16_t *w, size_t k, size_t row_begin,
                                size_t row_end, float *y, size_t ldy, int accumulate, const float *bias, int activation,
                                uint16_t *scratch) {
    (void)packed_x; (void)m; (void)w; (void)k; (void)row_begin; (void)row_end; (void)y; (void)ldy; (void)accumulate;
    (void)bias; (void)activation; (void)scratch;
}

void vidlm_bf16_gemm_add_avx512bf16(const uint16_t *packed_x, size_t m, const uint16_t *w, size_t k, size_t row_begin,
                                    size_t row_end, float *y, size_t ldy, int accumulate, const float *bias,
                                    int activation, const float *residual, size_t ldr, uint16_t *scratch) {
    (void)packed_x; (void)m; (void)w; (void)k; (void)row_begin; (void)row_end; (void)y; (void)ldy; (void)accumulate;
    (void)bias; (void)activation; (void)residual; (void)ldr; (void)scratch;
}

#endif
