#include "f32_gemm.h"

// Two kernels, picked by the number of x rows (the same m must be passed to the packing and the
// product, so both agree on the layout):
//
// From BROADCAST_ROWS rows (towers, long prompts): an outer-product kernel. A block of NB weight
// rows × a k slice (512-768 KiB) is transposed into panels of 64 rows ([k][64]: four vectors of
// output columns per k) and stays in L2; x is packed [slice][group of 6 rows][k][6]; each step
// broadcasts six x values against four weight vectors into 24 accumulators that become 6 × 64
// outputs as they are, with no horizontal sums. On a Xeon (Emerald Rapids, one core, the tower
// and prefill shapes of benchmarks/e2e/kernels.c, interleaved rounds) it ran 1.2-1.4× faster
// than a dot-product kernel on packed blocks (4 x rows × 6 weight rows of 16-lane partial sums:
// its weight tiles stream from L2 at 32 bytes a cycle, more than that L2 serves under the FMAs,
// and each tile ends in 24 horizontal sums), at 80-90 % of the FMA peak on the tower shapes;
// 12 × 32 and 14 × 32 ran at half speed (clang spills), 8 × 48 like 6 × 64.
//
// Below BROADCAST_ROWS rows (prefill chunks, short prompts, Q-Formers): the weight-broadcast
// kernel (broadcast_tile.h): x is transposed once, the weights are read where they are stored and
// never transposed, whose cost the outer-product kernel shares among too few x rows here. One
// core of a Zen 5, weights from memory, against the kernels it replaced (the dot-product kernel
// reading weight rows in place below 64 rows, the outer-product kernel from 64; one run, medians of
// 15): 16 × 2048 × 5632 115 → 185 GFLOP/s, 32 rows 152 → 235, 48 × 2560 × 10240 153 → 228, 51
// rows 158 → 231, 64 × 2048 × 5632 161 → 206, 96 × 2048 × 11264 180 → 219, 135 rows 207 → 233;
// equal at 300 rows.
#define BROADCAST_ROWS 256
#define MR 6
#define NV 4
#define NRW (NV * 16)  // weight rows per panel
#define NB 128
#define KC 1024
#define BROADCAST_TILE_ROWS 8  // VIDLM_BT_ROWS of broadcast_tile.h (x86-64 only)

static size_t round_up16(size_t v) { return (v + 15) & ~(size_t)15; }
// k is cut into slices of KC, the last one taking up to MAX_SLICE so that no slice is a short
// tail (a tower's k of 1152 had been 1024 + 128: the second pass over y and the tail's per-panel
// overhead cost SigLIP-SO400M's fc1 8 %). Slices start at multiples of KC.
#define MAX_SLICE (KC + KC / 2)
static size_t slice_len(size_t k, size_t k0) { return k - k0 <= MAX_SLICE ? k - k0 : KC; }
static size_t last_slice_start(size_t k) { return k <= MAX_SLICE ? 0 : (k - MAX_SLICE + KC - 1) / KC * KC; }

// The weight-broadcast kernel's packed x per k slice: whole 16-row blocks ([block][k][16]), then
// the rest rows (broadcast_tile.h) as rows of round_up16(kc) floats.
static size_t rest_rows(size_t m) { return m % 16 <= 8 ? m % 16 : 0; }  // vidlm_bt_rest
static size_t rows_per_slice(size_t m, size_t kc) {
    size_t rest = rest_rows(m);
    return (m - rest + 15) / 16 * 16 * kc + rest * round_up16(kc);
}

size_t vidlm_f32_packed_x_count(size_t m, size_t k) {
    size_t total = 0;
    if (m < BROADCAST_ROWS) {
        for (size_t k0 = 0; k0 < k; k0 += slice_len(k, k0)) total += rows_per_slice(m, slice_len(k, k0));
    } else {
        total = (m + MR - 1) / MR * MR * k;
    }
    return total ? total : 1;
}

size_t vidlm_f32_gemm_scratch_count(void) { return (size_t)NB * MAX_SLICE; }

size_t vidlm_f32_gemm_tile_rows(size_t m) { return m < BROADCAST_ROWS ? BROADCAST_TILE_ROWS : NRW; }

size_t vidlm_f32_pack_x_block_rows(size_t m) { return m < BROADCAST_ROWS ? 16 : MR; }

#if defined(__x86_64__)
#include <immintrin.h>
#include "amx_tiles.h"
#include "simd_math.h"
#include "outer_panel.h"
#include "broadcast_tile.h"
_Static_assert(VIDLM_BT_ROWS == BROADCAST_TILE_ROWS, "the tile rows the callers split by");

#define TARGET __attribute__((target("avx512f")))

// ---- Weight-broadcast kernel (fewer than BROADCAST_ROWS x rows; broadcast_tile.h) ----

// Blocks [b0, b1) of 16 x rows → per k slice [block][k][16], zero padded, by 16 × 16
// transposes; the block after the whole ones, where the rest rows are, → those rows as they are
// ([row][round_up16(kc)], zero padded).
TARGET static void pack_x_columns(const float *x, size_t ldx, size_t m, size_t k, size_t b0, size_t b1, float *packed) {
    size_t blocks = vidlm_bt_blocks(m), rest = vidlm_bt_rest(m);
    if (b1 > blocks + (rest > 0)) b1 = blocks + (rest > 0);
    for (size_t k0 = 0; k0 < k; k0 += slice_len(k, k0)) {
        size_t kc = slice_len(k, k0);
        for (size_t b = b0; b < b1; b++) {
            if (b == blocks) {
                for (size_t i = 0; i < rest; i++) {
                    const float *src = x + (blocks * 16 + i) * ldx + k0;
                    float *dst = packed + blocks * 16 * kc + i * round_up16(kc);
                    for (size_t t = 0; t < kc; t += 16)
                        _mm512_store_ps(dst + t, _mm512_maskz_loadu_ps(vidlm_tail_mask(kc - t), src + t));
                }
                continue;
            }
            float *dst = packed + b * kc * 16;
            for (size_t t0 = 0; t0 < kc; t0 += 16) {
                size_t tn = kc - t0 < 16 ? kc - t0 : 16;
                __mmask16 mask = vidlm_tail_mask(tn);
                __m512i r[16];
                for (size_t j = 0; j < 16; j++) {
                    size_t row = b * 16 + j;
                    r[j] = row < m ? _mm512_maskz_loadu_epi32(mask, x + row * ldx + k0 + t0) : _mm512_setzero_si512();
                }
                vidlm_transpose16x16_pairs(r);  // 32-bit elements: a float transpose
                for (size_t t = 0; t < tn; t++) _mm512_store_si512(dst + (t0 + t) * 16, r[t]);
            }
        }
        packed += rows_per_slice(m, kc);
    }
}

// sums[j][u] = weight row j (wrows[j], kc floats) · the x rows of block u (a: [kc][16], blocks
// `stride` floats apart) for u < NB ≤ VIDLM_BT_BLOCKS: per k, NB vector loads and eight
// broadcasts for 8 · NB FMAs. Where `next` is given, the next tile's rows are prefetched at the
// pace these are read (a line of each per 16 steps). One function per NB, each keeping its sums in
// registers (stored once at the end: the epilogue inlined here kept clang from it).
#define COLUMN_SUMS(NB)                                                                                          \
    TARGET __attribute__((noinline)) static void column_sums##NB(const float *a, size_t stride,                  \
                                                                const float *const *wrows,                      \
                                                                const float *const *next, size_t kc,            \
                                                                __m512 sums[VIDLM_BT_ROWS][VIDLM_BT_BLOCKS]) {  \
        __m512 c[VIDLM_BT_ROWS][NB];                                                                             \
        for (int j = 0; j < VIDLM_BT_ROWS; j++)                                                                  \
            for (int u = 0; u < NB; u++) c[j][u] = _mm512_setzero_ps();                                          \
        for (size_t t = 0; t < kc; t++) {                                                                        \
            if (next && t % 16 == 0)                                                                             \
                for (int j = 0; j < VIDLM_BT_ROWS; j++) _mm_prefetch((const char *)(next[j] + t), _MM_HINT_T1);  \
            __m512 xv[NB];                                                                                       \
            for (int u = 0; u < NB; u++) xv[u] = _mm512_load_ps(a + u * stride + t * 16);                        \
            for (int j = 0; j < VIDLM_BT_ROWS; j++) {                                                            \
                __m512 wv = _mm512_set1_ps(wrows[j][t]);                                                         \
                for (int u = 0; u < NB; u++) c[j][u] = _mm512_fmadd_ps(xv[u], wv, c[j][u]);                      \
            }                                                                                                    \
        }                                                                                                        \
        for (int j = 0; j < VIDLM_BT_ROWS; j++)                                                                  \
            for (int u = 0; u < NB; u++) sums[j][u] = c[j][u];                                                   \
    }
COLUMN_SUMS(1)
COLUMN_SUMS(2)
COLUMN_SUMS(3)
#undef COLUMN_SUMS

// out[i][j] = rest row i (a + i · lda, kc floats zero padded to 16) · weight row j, for i < R ≤ 3:
// 16-lane partial sums (per 16 k, R x loads and eight weight loads, the tile's rows in L1, for
// 8 · R FMAs), reduced at the end. One function per R, each keeping its sums in registers.
#define REST_SUMS(R)                                                                                             \
    TARGET __attribute__((noinline)) static void rest_sums##R(const float *a, size_t lda, const float *const *wrows, \
                                                             size_t kc, float out[3][VIDLM_BT_ROWS]) {          \
        __m512 c[R][VIDLM_BT_ROWS];                                                                              \
        for (int i = 0; i < R; i++)                                                                              \
            for (int j = 0; j < VIDLM_BT_ROWS; j++) c[i][j] = _mm512_setzero_ps();                               \
        for (size_t t = 0; t < kc; t += 16) {                                                                    \
            __mmask16 mask = vidlm_tail_mask(kc - t);                                                            \
            __m512 xv[R];                                                                                        \
            for (int i = 0; i < R; i++) xv[i] = _mm512_load_ps(a + i * lda + t);                                 \
            for (int j = 0; j < VIDLM_BT_ROWS; j++) {                                                            \
                __m512 wv = _mm512_maskz_loadu_ps(mask, wrows[j] + t);                                           \
                for (int i = 0; i < R; i++) c[i][j] = _mm512_fmadd_ps(xv[i], wv, c[i][j]);                       \
            }                                                                                                    \
        }                                                                                                        \
        for (int i = 0; i < R; i++) vidlm_reduce8(c[i], out[i]);                                                 \
    }
REST_SUMS(1)
REST_SUMS(2)
REST_SUMS(3)
#undef REST_SUMS

static const float zero_row[MAX_SLICE] __attribute__((aligned(64)));

// The weight-broadcast kernel over weight rows [row_begin, row_end): a tile's eight rows (32-48
// KiB of a k slice) stay in L1 while every x block passes over them from L2; the first pass prefetches
// the next tile's rows.
TARGET static void gemm_columns(const float *packed_x, size_t m, const float *w, size_t k, size_t row_begin,
                                size_t row_end, float *y, size_t ldy, int accumulate, const float *bias, int act,
                                const float *residual, size_t ldr) {
    size_t blocks = vidlm_bt_blocks(m), rest = vidlm_bt_rest(m), passes = (blocks + VIDLM_BT_BLOCKS - 1) / VIDLM_BT_BLOCKS;
    for (size_t k0 = 0; k0 < k; k0 += slice_len(k, k0)) {
        size_t kc = slice_len(k, k0);
        int acc = k0 > 0 ? 1 : accumulate, last = k0 + kc >= k;
        for (size_t r = row_begin; r < row_end; r += VIDLM_BT_ROWS) {
            size_t cols = row_end - r < VIDLM_BT_ROWS ? row_end - r : VIDLM_BT_ROWS;
            const float *rows[VIDLM_BT_ROWS], *next[VIDLM_BT_ROWS];
            for (size_t j = 0; j < VIDLM_BT_ROWS; j++) {
                rows[j] = j < cols ? w + (r + j) * k + k0 : zero_row;
                next[j] = r + cols + j < row_end ? w + (r + cols + j) * k + k0 : zero_row;
            }
            struct vidlm_bt_out o = {y + r, ldy, cols, acc, bias && k0 == 0 ? bias + r : NULL, last ? act : -1,
                                     last && residual ? residual + r : NULL, ldr};
            for (size_t p = 0; p < passes; p++) {
                size_t b = p * VIDLM_BT_BLOCKS, nb = blocks - b < VIDLM_BT_BLOCKS ? blocks - b : VIDLM_BT_BLOCKS;
                size_t n = m - b * 16 < nb * 16 ? m - b * 16 : nb * 16;  // the pass's rows that exist
                const float *a = packed_x + b * kc * 16, *const *pf = p == 0 ? next : NULL;
                __m512 sums[VIDLM_BT_ROWS][VIDLM_BT_BLOCKS];
                if (nb == 3)
                    column_sums3(a, kc * 16, rows, pf, kc, sums);
                else if (nb == 2)
                    column_sums2(a, kc * 16, rows, pf, kc, sums);
                else
                    column_sums1(a, kc * 16, rows, pf, kc, sums);
                vidlm_bt_store_blocks(sums, nb, b * 16, n, &o);
            }
            // The rest rows, up to three at a time, against the tile's rows (in L1 by now).
            const float *ra = packed_x + blocks * 16 * kc;
            for (size_t i0 = 0; i0 < rest; i0 += 3) {
                size_t nr = rest - i0 < 3 ? rest - i0 : 3, lda = round_up16(kc);
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
        packed_x += rows_per_slice(m, kc);
    }
}

// ---- Outer-product kernel (BROADCAST_ROWS x rows or more) ----

// Groups [g0, g1) of x → [slice][group of MR rows][k][MR], zero padded: one step's MR values
// side by side. Sixteen steps of a group's six rows are 96 consecutive floats, interleaved by
// permutes (outer_panel.h; the element-by-element loop before the gathers that preceded them
// was 4.5 % of SmolVLM2-256M's f32 samples, the gathers were slow on a Zen 5).
TARGET static void pack_x_outer(const float *x, size_t ldx, size_t m, size_t k, size_t g0, size_t g1, float *packed) {
    size_t groups = (m + MR - 1) / MR;
    if (g1 > groups) g1 = groups;
    struct vidlm_interleave6 il;
    vidlm_interleave6_init(&il);
    for (size_t k0 = 0; k0 < k; k0 += slice_len(k, k0)) {
        size_t kc = slice_len(k, k0);
        for (size_t g = g0; g < g1; g++) {
            float *dst = packed + g * kc * MR;
            for (size_t t = 0; t < kc; t += 16) {
                size_t n = kc - t < 16 ? kc - t : 16;
                __mmask16 mask = vidlm_tail_mask(n);
                __m512i r[MR];
                for (size_t i = 0; i < MR; i++) {
                    size_t row = g * MR + i;
                    r[i] = row < m ? _mm512_castps_si512(_mm512_maskz_loadu_ps(mask, x + row * ldx + k0 + t)) : _mm512_setzero_si512();
                }
                vidlm_interleave6_store(&il, r, n, (uint32_t *)(dst + t * MR));
            }
        }
        packed += groups * MR * kc;
    }
}

// Weight rows [r0, r1) of the slice [k0, k0 + kc) → panels [panel][k][NRW], zero padded, by
// 16 × 16 transposes (rows are read 64 bytes at a time, 16 streams).
TARGET static void pack_w_outer(const float *w, size_t ldw, size_t r0, size_t r1, size_t k0, size_t kc, float *out) {
    size_t panels = (r1 - r0 + NRW - 1) / NRW;
    for (size_t p = 0; p < panels; p++) {
        float *dst = out + p * kc * NRW;
        for (size_t j0 = 0; j0 < NRW; j0 += 16)
            for (size_t t0 = 0; t0 < kc; t0 += 16) {
                size_t tn = kc - t0 < 16 ? kc - t0 : 16;
                __mmask16 mask = vidlm_tail_mask(tn);
                __m512i r[16];
                for (size_t j = 0; j < 16; j++) {
                    size_t row = r0 + p * NRW + j0 + j;
                    r[j] = row < r1 ? _mm512_maskz_loadu_epi32(mask, w + row * ldw + k0 + t0) : _mm512_setzero_si512();
                }
                vidlm_transpose16x16_pairs(r);  // 32-bit elements: a float transpose
                for (size_t t = 0; t < tn; t++) _mm512_store_si512(dst + (t0 + t) * NRW + j0, r[t]);
            }
    }
}

// c[MR][NV] = the sums of MR x rows (a: [kc][MR]) × one panel of NRW weight rows (b: [kc][NRW]):
// six broadcasts against four weight vectors per step. A macro, so that each kernel keeps the
// 24 accumulators in registers as its own code.
#define PANEL_SUMS(c, a, b, kc)                                                                \
    do {                                                                                       \
        const float *pa_ = (a), *pb_ = (b);                                                    \
        for (int i_ = 0; i_ < MR; i_++)                                                        \
            for (int v_ = 0; v_ < NV; v_++) (c)[i_][v_] = _mm512_setzero_ps();                 \
        for (size_t t_ = 0; t_ < (kc); t_++) {                                                 \
            __m512 bv_[NV];                                                                    \
            for (int v_ = 0; v_ < NV; v_++) bv_[v_] = _mm512_load_ps(pb_ + v_ * 16);           \
            for (int i_ = 0; i_ < MR; i_++) {                                                  \
                __m512 av_ = _mm512_set1_ps(pa_[i_]);                                          \
                for (int v_ = 0; v_ < NV; v_++) (c)[i_][v_] = _mm512_fmadd_ps(av_, bv_[v_], (c)[i_][v_]); \
            }                                                                                  \
            pa_ += MR;                                                                         \
            pb_ += NRW;                                                                        \
        }                                                                                      \
    } while (0)

// MR x rows × one panel of NRW weight rows over kc steps, written to the `rows` × `cols` corner
// of y that exists: y = (y if accumulating) + bias (when given) + sums, then act(y) when act ≥ 0,
// then residual + y when a residual (row stride ldr) is given (both for the last k slice only).
// y is not read unless accumulating (see store_direct).
TARGET static void panel(const float *a, const float *b, size_t kc, float *y, size_t ldy, size_t rows, size_t cols,
                         int accumulate, const float *bias, int act, const float *residual, size_t ldr) {
    __m512 c[MR][NV];
    PANEL_SUMS(c, a, b, kc);
    vidlm_store_panel6x4(c, y, ldy, rows, cols, accumulate, bias, act, residual, ldr);
}

// The same block as `panel` (one k slice, not accumulating) with act(sums + bias) written into
// the next product's packed x instead of y: rows `row0 …` of x block group g, columns r … r +
// cols of its k (`next_k` wide, packed by pack_x_outer: [slice][group][step][MR]). The 64 columns
// of a panel lie in one slice of the next product (KC is a multiple of 64); each column's MR
// values are consecutive there, so each 16-column vector of the six rows is interleaved as
// pack_x_outer interleaves x. Rows past m are zeros, as pack_x_outer pads them.
TARGET static void panel_to_packed(const float *a, const float *b, size_t kc, size_t rows, size_t cols, const float *bias,
                                   int act, size_t g, size_t groups, size_t r, size_t next_k, float *packed_out,
                                   const struct vidlm_interleave6 *il) {
    __m512 c[MR][NV];
    PANEL_SUMS(c, a, b, kc);
    size_t slice0 = r / KC * KC, kk, kc_next;
    if (slice0 > last_slice_start(next_k)) slice0 = last_slice_start(next_k);
    kk = r - slice0;
    kc_next = slice_len(next_k, slice0);
    float *dst = packed_out + groups * MR * slice0 + g * MR * kc_next + kk * MR;
    for (int v = 0; v < NV && (size_t)v * 16 < cols; v++) {
        size_t n = cols - v * 16 < 16 ? cols - v * 16 : 16;
        __mmask16 mask = vidlm_tail_mask(n);
        __m512 add = bias ? _mm512_maskz_loadu_ps(mask, bias + v * 16) : _mm512_setzero_ps();
        __m512i rv[MR];
        for (size_t i = 0; i < MR; i++) {
            __m512 sum = _mm512_add_ps(c[i][v], add);
            if (act >= 0) sum = vidlm_activate16(act, sum);
            rv[i] = i < rows ? _mm512_castps_si512(sum) : _mm512_setzero_si512();
        }
        vidlm_interleave6_store(il, rv, n, (uint32_t *)(dst + v * 16 * MR));
    }
}

TARGET static void gemm_outer(const float *packed_x, size_t m, const float *w, size_t k, size_t row_begin,
                              size_t row_end, float *y, size_t ldy, int accumulate, const float *bias, int activation,
                              const float *residual, size_t ldr, float *wp) {
    size_t groups = (m + MR - 1) / MR;
    for (size_t k0 = 0; k0 < k; k0 += slice_len(k, k0)) {
        size_t kc = slice_len(k, k0);
        int acc = k0 > 0 ? 1 : accumulate, act = k0 + kc >= k ? activation : -1;
        const float *res = k0 + kc >= k ? residual : NULL;
        for (size_t n0 = row_begin; n0 < row_end; n0 += NB) {
            size_t n1 = n0 + NB < row_end ? n0 + NB : row_end, panels = (n1 - n0 + NRW - 1) / NRW;
            pack_w_outer(w, k, n0, n1, k0, kc, wp);
            // A group of x (24 KiB) stays in L1 while the block's panels stream from L2.
            for (size_t g = 0; g < groups; g++) {
                size_t rows = m - g * MR < MR ? m - g * MR : MR;
                if (g + 1 < groups) {  // the next group's rows of y and of the residual, if they will be read
                    size_t next0 = (g + 1) * MR, next1 = next0 + MR < m ? next0 + MR : m;
                    if (acc) vidlm_prefetch_block_rows(y, ldy, next0, next1, n0, n1);
                    if (res) vidlm_prefetch_block_rows(res, ldr, next0, next1, n0, n1);
                }
                for (size_t p = 0; p < panels; p++) {
                    size_t r = n0 + p * NRW, cols = n1 - r < NRW ? n1 - r : NRW;
                    panel(packed_x + g * MR * kc, wp + p * kc * NRW, kc, y + g * MR * ldy + r, ldy, rows, cols, acc,
                          bias && k0 == 0 ? bias + r : NULL, act, res ? res + g * MR * ldr + r : NULL, ldr);
                }
            }
        }
        packed_x += groups * MR * kc;
    }
}

int vidlm_f32_chain_supported(size_t m, size_t k) { return m >= BROADCAST_ROWS && k > 0 && k <= MAX_SLICE; }

TARGET void vidlm_f32_gemm_to_packed(const float *packed_x, size_t m, const float *w, size_t k, size_t row_begin,
                                     size_t row_end, const float *bias, int activation, float *packed_out, size_t n,
                                     float *wp) {
    if (!vidlm_f32_chain_supported(m, k) || row_begin >= row_end) return;
    size_t groups = (m + MR - 1) / MR;
    struct vidlm_interleave6 il;
    vidlm_interleave6_init(&il);
    for (size_t n0 = row_begin; n0 < row_end; n0 += NB) {
        size_t n1 = n0 + NB < row_end ? n0 + NB : row_end, panels = (n1 - n0 + NRW - 1) / NRW;
        pack_w_outer(w, k, n0, n1, 0, k, wp);
        for (size_t g = 0; g < groups; g++) {
            size_t rows = m - g * MR < MR ? m - g * MR : MR;
            for (size_t p = 0; p < panels; p++) {
                size_t r = n0 + p * NRW, cols = n1 - r < NRW ? n1 - r : NRW;
                panel_to_packed(packed_x + g * MR * k, wp + p * k * NRW, k, rows, cols, bias ? bias + r : NULL, activation,
                                g, groups, r, n, packed_out, &il);
            }
        }
    }
}

TARGET void vidlm_f32_pack_x_avx512(const float *x, size_t ldx, size_t m, size_t k, size_t row_begin, size_t row_end,
                                     float *packed) {
    if (m < BROADCAST_ROWS) {
        pack_x_columns(x, ldx, m, k, row_begin / 16, (row_end + 15) / 16, packed);  // the rest rows: one more block
    } else {
        pack_x_outer(x, ldx, m, k, row_begin / MR, (row_end + MR - 1) / MR, packed);
    }
}

TARGET void vidlm_f32_gemm_avx512(const float *packed_x, size_t m, const float *w, size_t k, size_t row_begin,
                                  size_t row_end, float *y, size_t ldy, int accumulate, const float *bias, int activation,
                                  float *wp) {
    vidlm_f32_gemm_add_avx512(packed_x, m, w, k, row_begin, row_end, y, ldy, accumulate, bias, activation, NULL, 0, wp);
}

TARGET void vidlm_f32_gemm_add_avx512(const float *packed_x, size_t m, const float *w, size_t k, size_t row_begin,
                                      size_t row_end, float *y, size_t ldy, int accumulate, const float *bias,
                                      int activation, const float *residual, size_t ldr, float *wp) {
    if (m == 0 || row_begin >= row_end) return;
    if (k == 0) {
        for (size_t i = 0; i < m; i++)
            for (size_t r = row_begin; r < row_end; r++)
                y[i * ldy + r] = (accumulate ? y[i * ldy + r] : 0.0f) + (bias ? bias[r] : 0.0f);
        if (activation >= 0) vidlm_activate_block(y + row_begin, ldy, m, row_end - row_begin, activation);
        if (residual) vidlm_add_residual_block(y + row_begin, ldy, m, row_end - row_begin, residual + row_begin, ldr);
        return;
    }
    if (m < BROADCAST_ROWS)
        gemm_columns(packed_x, m, w, k, row_begin, row_end, y, ldy, accumulate, bias, activation, residual, ldr);
    else
        gemm_outer(packed_x, m, w, k, row_begin, row_end, y, ldy, accumulate, bias, activation, residual, ldr, wp);
}

#else

int vidlm_f32_chain_supported(size_t m, size_t k) {
    (void)m; (void)k;
    return 0;
}

void vidlm_f32_gemm_to_packed(const float *packed_x, size_t m, const float *w, size_t k, size_t row_begin,
                              size_t row_end, const float *bias, int activation, float *packed_out, size_t n,
                              float *scratch) {
    (void)packed_x; (void)m; (void)w; (void)k; (void)row_begin; (void)row_end; (void)bias; (void)activation;
    (void)packed_out; (void)n; (void)scratch;
}

void vidlm_f32_pack_x_avx512(const float *x, size_t ldx, size_t m, size_t k, size_t row_begin, size_t row_end,
                             float *packed) {
    (void)x; (void)ldx; (void)m; (void)k; (void)row_begin; (void)row_end; (void)packed;
}

void vidlm_f32_gemm_add_avx512(const float *packed_x, size_t m, const float *w, size_t k, size_t row_begin,
                               size_t row_end, float *y, size_t ldy, int accumulate, const float *bias, int activation,
                               const float *residual, size_t ldr, float *scratch) {
    (void)residual; (void)ldr;
    vidlm_f32_gemm_avx512(packed_x, m, w, k, row_begin, row_end, y, ldy, accumulate, bias, activation, scratch);
}

void vidlm_f32_gemm_avx512(const float *packed_x, size_t m, const float *w, size_t k, size_t row_begin, size_t row_end,
                           float *y, size_t ldy, int accumulate, const float *bias, int activation, float *scratch) {
    (void)bias; (void)activation; (void)packed_x; (void)m; (void)w; (void)k; (void)row_begin; (void)row_end; (void)y; (void)ldy; (void)accumulate;
    (void)scratch;
}

#endif
