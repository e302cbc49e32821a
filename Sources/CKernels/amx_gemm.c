#include "amx_gemm.h"

// Blocking (see the header): the weight rows of a call are packed a unit at a time, up to NB
// rows × a k slice of up to KC_MAX (1 MiB of bf16), which stays in L2 while every 32-row block
// of x passes over it; within a block, 2 × 2 tiles of y (32 x rows × 32 weight rows) accumulate in
// the eight tile registers (four sums, two x tiles, two weight tiles: the most sums eight
// registers allow) over the whole slice. Slices are as long as KC_MAX allows, split evenly:
// between slices the sums go out to y and come back, and y of a tower's MLP (a thousand rows
// × 6144 floats) lives in memory. With 512-element slices that traffic cost a third of the
// time: slices of up to 2048 with 1 MiB units ran 1.14-1.37× faster than 512 with 256 KiB on
// EVA ViT-g and SigLIP shapes (one core, Xeon with AMX, medians of nine interleaved rounds),
// 1.05× on prefill shapes; 3072 with 1.5 MiB was no faster and slower on fc2 (k 6144).
#define NB 256
#define KC_MAX 2048
#define SMALL_M 256  // x rows up to which gemm_small may run (its stage and the scratch allow)
// ... and x elements (bf16) up to which it does: gemm_small streams all of x past every 32 weight
// rows, at L2 speed only while x stays there (2 MiB on these Xeons). One core, one thread
// (2026-12-06), the packed path against gemm_small: with k 4096 × 11008 rows (LLaMA-7B gate/up)
// as fast at 192 x rows and 1.3× faster at 256; with k 11008 (its down projection) as fast at 128;
// with k 3584 slower at 192 and faster at 256; with k 2048 (TinyLlama) slower up to 256. About
// 1.5 MiB of x separates the two.
#define SMALL_X_ELEMENTS (768 * 1024)
#define TILE_K 32  // bf16 elements of k per tile row (64 bytes)

static size_t round_up32(size_t v) { return (v + 31) & ~(size_t)31; }

// Whether a product of m x rows over k runs gemm_small (x pair-interleaved) or the packed path;
// the packing and the product must agree, so both ask this.
static int small_path(size_t m, size_t k) { return m <= SMALL_M && m * round_up32(k) <= SMALL_X_ELEMENTS; }

// Packed x is tile-major: [16-row block][k step of 32][16 rows][32 bf16], so every tile load
// reads one contiguous KiB (row-major x with a 2-3 KiB row stride ran the tower GEMMs 10-30 %
// slower with two threads: a tile then spans 16 lines a page apart).
size_t vidlm_amx_packed_x_count(size_t m, size_t k) {
    size_t total = round_up32(m) * round_up32(k);
    return total ? total : 1;
}

size_t vidlm_amx_gemm_unit_rows(void) { return NB; }
size_t vidlm_amx_gemm_scratch_count(void) { return (size_t)(NB + 16) * KC_MAX; }  // packed unit + stage

#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <immintrin.h>
#include "amx_tiles.h"
#include "simd_math.h"
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

// The slice length for k: the fewest slices of at most KC_MAX, of equal length rounded up to
// whole tile steps (never past KC_MAX, which is a multiple of 32).
static size_t slice_for(size_t k) {
    size_t slices = (k + KC_MAX - 1) / KC_MAX;
    return round_up32((k + slices - 1) / slices);
}

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static int amx_checked = 0, amx_ok = 0;

int vidlm_amx_bf16_available(void) {
    // Racing first calls both ask; the request is idempotent and the answer the same.
    if (__atomic_load_n(&amx_checked, __ATOMIC_ACQUIRE)) return __atomic_load_n(&amx_ok, __ATOMIC_RELAXED);
    unsigned a, b, c, d;
    int ok = 0;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        int tile = (d >> 24) & 1, bf16 = (d >> 22) & 1;
        __builtin_cpu_init();
        // The tile data state is off until the process asks for it (Linux 5.16+); using a tile
        // register without permission raises SIGILL, so nothing runs unless the kernel said yes.
        if (tile && bf16 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512bf16"))
            ok = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
    }
    __atomic_store_n(&amx_ok, ok, __ATOMIC_RELAXED);
    __atomic_store_n(&amx_checked, 1, __ATOMIC_RELEASE);
    return ok;
}

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,amx-tile,amx-bf16")))

TARGET void vidlm_amx_pack_x(const float *x, size_t ldx, size_t m, size_t k, size_t row_begin, size_t row_end,
                              uint16_t *packed) {
    size_t steps = round_up32(k) / TILE_K, rows = round_up32(m);
    if (row_end > rows) row_end = rows;
    if (small_path(m, k)) {
        // Pair-interleaved, 16 rows at a time: x is the second operand of the products.
        for (size_t i0 = row_begin / 16 * 16; i0 < row_end; i0 += 16) {
            uint16_t *dst = packed + (i0 / 16) * steps * 512;
            for (size_t s = 0; s < steps; s++) {
                size_t t = s * TILE_K, n = k - t < 32 ? k - t : 32;
                __mmask16 lo = n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1);
                __mmask16 hi = n >= 32 ? 0xffff : n <= 16 ? 0 : (__mmask16)((1u << (n - 16)) - 1);
                __m512i r[16];
                for (size_t j = 0; j < 16; j++) {
                    size_t i = i0 + j;
                    const float *src = i < m ? x + i * ldx + t : x;
                    __m256i p = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(i < m ? lo : 0, src));
                    __m256i q = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(i < m ? hi : 0, src + 16));
                    r[j] = _mm512_inserti64x4(_mm512_castsi256_si512(p), q, 1);
                }
                vidlm_transpose16x16_pairs(r);
                for (int p = 0; p < 16; p++) _mm512_store_si512(dst + s * 512 + p * 32, r[p]);
            }
        }
        return;
    }
    for (size_t i = row_begin; i < row_end; i++) {
        uint16_t *dst = packed + (i / 16) * steps * 512 + (i % 16) * TILE_K;
        for (size_t s = 0; s < steps; s++) {
            size_t t = s * TILE_K, n = i < m ? (k - t < 32 ? k - t : 32) : 0;
            __mmask16 lo = n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1);
            __mmask16 hi = n >= 32 ? 0xffff : n <= 16 ? 0 : (__mmask16)((1u << (n - 16)) - 1);
            const float *src = x + i * ldx + t;
            // vcvtneps2bf16 rounds to nearest even and keeps NaN a NaN
            __m256i p = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(lo, n ? src : x));
            __m256i q = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(hi, n ? src + 16 : x));
            _mm512_store_si512(dst + s * 512, _mm512_inserti64x4(_mm512_castsi256_si512(p), q, 1));
        }
    }
}

// Weight rows [r0, r1) of the k slice [k0, k0 + kc) → tiles [tile][step][16 pairs][16 rows][2],
// zero padded to whole tiles and steps (a tile is 1 KiB, read with a 64-byte stride). Each row's
// slice is first copied whole into `stage` (16 rows × `stride`, in L1/L2): read 64 bytes at a time
// across 16 rows, the weights came in at 2 GB/s (16 streams a page or more apart defeat the
// prefetchers); one sequential stream per row runs at memory speed.
TARGET static void pack_w(const uint16_t *w, size_t ldw, size_t r0, size_t r1, size_t k0, size_t kc, uint16_t *out,
                          uint16_t *stage, size_t stride) {
    size_t steps = round_up32(kc) / TILE_K, tiles = (r1 - r0 + 15) / 16, full = kc / TILE_K;
    for (size_t tile = 0; tile < tiles; tile++) {
        for (size_t j = 0; j < 16; j++) {
            size_t row = r0 + tile * 16 + j;
            uint16_t *dst = stage + j * stride;
            if (row >= r1) {
                for (size_t s = 0; s < steps; s++) _mm512_store_si512(dst + s * TILE_K, _mm512_setzero_si512());
                continue;
            }
            const uint16_t *src = w + row * ldw + k0;
            for (size_t s = 0; s < full; s++) _mm512_store_si512(dst + s * TILE_K, _mm512_loadu_si512(src + s * TILE_K));
            if (full < steps) {
                __mmask32 mk = (__mmask32)((1ull << (kc - full * TILE_K)) - 1);
                _mm512_store_si512(dst + full * TILE_K, _mm512_maskz_loadu_epi16(mk, src + full * TILE_K));
            }
        }
        for (size_t s = 0; s < steps; s++) {
            __m512i r[16];
            for (size_t j = 0; j < 16; j++) r[j] = _mm512_load_si512(stage + j * stride + s * TILE_K);
            vidlm_transpose16x16_pairs(r);
            uint16_t *dst = out + (tile * steps + s) * 512;
            for (int p = 0; p < 16; p++) _mm512_store_si512(dst + p * 32, r[p]);
        }
    }
}

// 32 x rows × 32 weight rows over `steps` tile steps, added to (`load`) or written over the
// block of y at `y` (row stride ldy_bytes) straight from and to the sum tiles: going through a
// buffer and a vector pass cost as much as a quarter of the tile products at 256-element slices.
TARGET static void block2x2(const uint16_t *a0, const uint16_t *a1, const uint16_t *b0, const uint16_t *b1, size_t steps,
                            float *y, size_t ldy_bytes, int load) {
    char *y1 = (char *)y + 16 * ldy_bytes;
    if (load) {
        _tile_loadd(0, y, ldy_bytes);
        _tile_loadd(1, y + 16, ldy_bytes);
        _tile_loadd(2, y1, ldy_bytes);
        _tile_loadd(3, y1 + 64, ldy_bytes);
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    vidlm_tiles_2x2((const char *)a0, (const char *)a1, 64, 1024, (const char *)b0, (const char *)b1, 1024, steps);
    _tile_stored(0, y, ldy_bytes);
    _tile_stored(1, y + 16, ldy_bytes);
    _tile_stored(2, y1, ldy_bytes);
    _tile_stored(3, y1 + 64, ldy_bytes);
}

// An edge block (fewer than 32 valid x rows or weight rows): 2 × 1 or 2 × 2 tiles of sums →
// `out` (32 × 32 floats, row stride 32), for `store` to copy the part that exists.
TARGET static void edge_block(const uint16_t *a0, const uint16_t *a1, const uint16_t *b0, const uint16_t *b1,
                              size_t steps, float *out) {
    if (b1) {
        block2x2(a0, a1, b0, b1, steps, out, 128, 0);
        return;
    }
    _tile_zero(0);
    _tile_zero(2);
    for (size_t s = 0; s < steps; s++) {
        _tile_loadd(4, a0 + s * 512, 64);
        _tile_loadd(6, b0 + s * 512, 64);
        _tile_loadd(5, a1 + s * 512, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(2, 5, 6);
    }
    _tile_stored(0, out, 128);
    _tile_stored(2, out + 16 * 32, 128);
}

// The finished 32 × 32 block of y: y = residual + act(y + bias), bias (32 floats), act (< 0:
// none) and residual (row stride ldr) optional. Done while the block is in L1: a tower's
// activation as a pass of its own read and wrote the MLP's whole hidden state from memory again
// (4 % of SmolVLM2's bf16 towers), and its residual sums were a pass over three tensors.
TARGET static void finish_block(float *y, size_t ldy, const float *bias, int act, const float *residual, size_t ldr) {
    __m512 b0 = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps(), b1 = bias ? _mm512_loadu_ps(bias + 16) : b0;
    for (size_t i = 0; i < 32; i++) {
        float *row = y + i * ldy;
        __m512 v0 = _mm512_loadu_ps(row), v1 = _mm512_loadu_ps(row + 16);
        if (bias) {
            v0 = _mm512_add_ps(v0, b0);
            v1 = _mm512_add_ps(v1, b1);
        }
        if (act >= 0) {
            v0 = vidlm_activate16(act, v0);
            v1 = vidlm_activate16(act, v1);
        }
        if (residual) {
            v0 = _mm512_add_ps(_mm512_loadu_ps(residual + i * ldr), v0);
            v1 = _mm512_add_ps(_mm512_loadu_ps(residual + i * ldr + 16), v1);
        }
        _mm512_storeu_ps(row, v0);
        _mm512_storeu_ps(row + 16, v1);
    }
}

// Writes the `rows` × `cols` corner of a 32 × 32 block of sums that exists: y = (y if
// accumulating) + bias (when given) + sums, then the activation `act` (< 0: none) and the
// residual (row stride ldr; both given only with the last k slice), 16 columns per masked
// vector. y is not read unless accumulating (a fresh output may hold denormal garbage; see
// bf16_gemm.c).
TARGET static void store(const float *sums, float *y, size_t ldy, size_t rows, size_t cols, int accumulate,
                         const float *bias, int act, const float *residual, size_t ldr) {
    __mmask16 m0 = cols >= 16 ? 0xffff : (__mmask16)((1u << cols) - 1);
    __mmask16 m1 = cols >= 32 ? 0xffff : cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1);
    __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
    for (size_t i = 0; i < rows; i++) {
        float *row = y + i * ldy;
        __m512 v0 = _mm512_add_ps(_mm512_load_ps(sums + i * 32), b0);
        __m512 v1 = _mm512_add_ps(_mm512_load_ps(sums + i * 32 + 16), b1);
        if (accumulate) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, row));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, row + 16));
        }
        if (act >= 0) {
            v0 = vidlm_activate16(act, v0);
            v1 = vidlm_activate16(act, v1);
        }
        if (residual) {
            v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, residual + i * ldr), v0);
            v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, residual + i * ldr + 16), v1);
        }
        _mm512_mask_storeu_ps(row, m0, v0);
        _mm512_mask_storeu_ps(row + 16, m1, v1);
    }
}

// Few x rows (prefill): the weights are the first operand, read as they are stored (a tile is
// 16 weight rows × 32 elements of k, row stride k), x pair-interleaved the second, so no weight
// is ever repacked; the sums are tiles of yᵀ, transposed on the way out. With packed weights,
// packing cost more than the products below a few hundred rows (TinyLlama's 135-row gate+up:
// products alone ran 2.2× faster than packing plus products). Against the packed path, one core
// of a Xeon with AMX, interleaved rounds: 1.1-1.2× at 135 rows, 1.6-1.9× at 48, 2.6× at 16,
// 1.05-1.15× at 256, slower from about 300 (x no longer stays in L2 across weight blocks).
// Software prefetch of the next weight block (T0 or T1) made it 5-20 % slower. Blocks of 32 weight rows × 32 x
// rows accumulate over all of k in the tiles; a block with fewer than 32 weight rows (the end
// of a matrix whose rows are not a multiple of 32), or the last step of a k that is not a
// multiple of 32, is first copied into `stage`, zero padded, for each x block (reading whole
// tile rows past the matrix could cross into an unmapped page).
TARGET static void gemm_small(const uint16_t *xp, size_t m, const uint16_t *w, size_t k, size_t row_begin,
                              size_t row_end, float *y, size_t ldy, int accumulate, const float *bias, int act,
                              const float *residual, size_t ldr, uint16_t *stage) {
    size_t xsteps = round_up32(k) / TILE_K, full = k / TILE_K, xblocks = round_up32(m) / 32;
    float out[16 * 16] __attribute__((aligned(64)));
    for (size_t r = row_begin; r < row_end; r += 32) {
        size_t nr = row_end - r < 32 ? row_end - r : 32;
        for (size_t xb = 0; xb < xblocks; xb++) {
            const char *b0 = (const char *)(xp + 2 * xb * xsteps * 512), *b1 = b0 + xsteps * 1024;
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            // Whole steps of whole 32-row blocks are read in place; the rest (a block cut short:
            // all of it; otherwise the last step of a k that is not a multiple of 32) is staged.
            size_t direct = nr == 32 ? full : 0;
            for (size_t k0 = 0, n; k0 < xsteps; k0 += n) {
                const char *a0, *a1;
                size_t lda;
                if (k0 < direct) {
                    n = direct - k0 < KC_MAX / TILE_K ? direct - k0 : KC_MAX / TILE_K;
                    a0 = (const char *)(w + r * k + k0 * TILE_K);
                    a1 = a0 + 16 * k * 2;
                    lda = k * 2;
                } else {
                    // rows [r, r + nr) × steps [k0, k0 + n) → stage [32][n · 32], zero padded
                    n = xsteps - k0 < KC_MAX / TILE_K ? xsteps - k0 : KC_MAX / TILE_K;
                    size_t stride = n * TILE_K, t0 = k0 * TILE_K, len = k - t0 < stride ? k - t0 : stride;
                    for (size_t j = 0; j < 32; j++) {
                        uint16_t *dst = stage + j * stride;
                        memset(dst, 0, stride * 2);
                        if (j < nr) memcpy(dst, w + (r + j) * k + t0, len * 2);
                    }
                    a0 = (const char *)stage;
                    a1 = a0 + 16 * stride * 2;
                    lda = stride * 2;
                }
                vidlm_tiles_2x2(a0, a1, lda, 64, b0 + k0 * 1024, b1 + k0 * 1024, 1024, n);
            }
            // Tile (i, j) holds weight rows r + 16i .. × x rows 32xb + 16j ..: transpose into y.
            for (int t = 0; t < 4; t++) {
                size_t wr = r + (t >> 1) * 16, xr = xb * 32 + (t & 1) * 16;
                if (wr >= row_end || xr >= m) continue;
                switch (t) {
                    case 0: _tile_stored(0, out, 64); break;
                    case 1: _tile_stored(1, out, 64); break;
                    case 2: _tile_stored(2, out, 64); break;
                    default: _tile_stored(3, out, 64); break;
                }
                __m512i v[16];
                for (int i = 0; i < 16; i++) v[i] = _mm512_load_si512(out + i * 16);
                vidlm_transpose16x16_pairs(v);  // 32-bit elements: a float transpose
                size_t cols = row_end - wr < 16 ? row_end - wr : 16, rows = m - xr < 16 ? m - xr : 16;
                __mmask16 mask = cols >= 16 ? 0xffff : (__mmask16)((1u << cols) - 1);
                __m512 add = bias ? _mm512_maskz_loadu_ps(mask, bias + wr) : _mm512_setzero_ps();
                for (size_t i = 0; i < rows; i++) {
                    float *dst = y + (xr + i) * ldy + wr;
                    __m512 sum = _mm512_add_ps(_mm512_castsi512_ps(v[i]), add);
                    if (accumulate) sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(mask, dst));
                    if (act >= 0) sum = vidlm_activate16(act, sum);
                    if (residual) sum = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, residual + (xr + i) * ldr + wr), sum);
                    _mm512_mask_storeu_ps(dst, mask, sum);
                }
            }
        }
    }
}

int vidlm_amx_chain_supported(size_t m, size_t k, size_t n) {
    return k > 0 && k <= KC_MAX && !small_path(m, k) && !small_path(m, n);
}

int vidlm_amx_x_is_tiled(size_t m, size_t k) { return !small_path(m, k); }

TARGET void vidlm_amx_pack_layernorm(const float *x, size_t ldx, size_t m, size_t d, size_t row_begin, size_t row_end,
                                     const float *weight, const float *bias, float eps, uint16_t *packed) {
    size_t steps = round_up32(d) / TILE_K, rows = round_up32(m);
    if (row_end > rows) row_end = rows;
    for (size_t i = row_begin; i < row_end; i++) {
        uint16_t *dst = packed + (i / 16) * steps * 512 + (i % 16) * TILE_K;
        if (i >= m || d == 0) {
            for (size_t s = 0; s < steps; s++) _mm512_store_si512(dst + s * 512, _mm512_setzero_si512());
            continue;
        }
        const float *row = x + i * ldx;
        __m512 mean, inv;
        vidlm_layernorm_stats(row, d, eps, &mean, &inv);
        for (size_t s = 0; s < steps; s++) {
            size_t t = s * TILE_K;
            __mmask16 lo = vidlm_tail_mask(d - t), hi = d - t > 16 ? vidlm_tail_mask(d - t - 16) : 0;
            __m512 v0 = _mm512_maskz_mov_ps(lo, vidlm_layernorm16(row, t, lo, mean, inv, weight, bias));
            __m512 v1 = _mm512_maskz_mov_ps(hi, vidlm_layernorm16(row, t + 16, hi, mean, inv, weight, bias));
            __m256i p = (__m256i)_mm512_cvtneps_pbh(v0), q = (__m256i)_mm512_cvtneps_pbh(v1);
            _mm512_store_si512(dst + s * 512, _mm512_inserti64x4(_mm512_castsi256_si512(p), q, 1));
        }
    }
}

// The sums of a 32 × 32 block (row stride 32; `rows` x rows and `cols` outputs valid) → bias,
// activation, bf16, into the tile-major packed x of the next product at x block `b`, k step `s`
// (`steps` per 16-row block), zeros where rows or outputs do not exist: what finish_block or
// store and then vidlm_amx_pack_x would give.
TARGET static void emit_packed(const float *sums, size_t rows, size_t cols, const float *bias, int act, uint16_t *out,
                               size_t b, size_t s, size_t steps) {
    __mmask16 m0 = cols >= 16 ? 0xffff : (__mmask16)((1u << cols) - 1);
    __mmask16 m1 = cols >= 32 ? 0xffff : cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1);
    __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
    for (size_t i = 0; i < 32; i++) {
        uint16_t *dst = out + ((2 * b + i / 16) * steps + s) * 512 + (i % 16) * TILE_K;
        if (i >= rows) {
            _mm512_store_si512(dst, _mm512_setzero_si512());
            continue;
        }
        __m512 v0 = _mm512_load_ps(sums + i * 32), v1 = _mm512_load_ps(sums + i * 32 + 16);
        // As vidlm_amx_bf16_gemm stores: an edge block adds the (zero) bias always, a whole one
        // only a real bias (−0 + 0 is +0: the zeros' signs match too).
        if (bias || rows < 32 || cols < 32) {
            v0 = _mm512_add_ps(v0, b0);
            v1 = _mm512_add_ps(v1, b1);
        }
        if (act >= 0) {
            v0 = vidlm_activate16(act, v0);
            v1 = vidlm_activate16(act, v1);
        }
        __m256i p = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_mov_ps(m0, v0));
        __m256i q = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_mov_ps(m1, v1));
        _mm512_store_si512(dst, _mm512_inserti64x4(_mm512_castsi256_si512(p), q, 1));
    }
}

size_t vidlm_amx_gated_unit_rows(void) { return NB / 2; }

// The gated block: activation(g + gate bias) · (u + up bias) for 32 x rows × 16 columns (g and
// u sums with row stride 32, bias pointers at the block's first column or NULL), rounded to
// bf16 into half a tile row of the next product's packed x (`half` 0 or 1 of step s), zeros
// where rows or columns do not exist.
TARGET static void emit_gated16(const float *g, const float *u, size_t rows, size_t cols, int edge,
                                const float *gate_bias, const float *up_bias, int act, uint16_t *out, size_t b, size_t s,
                                size_t half, size_t steps) {
    __mmask16 mk = vidlm_tail_mask(cols);
    __m512 gb = gate_bias ? _mm512_maskz_loadu_ps(mk, gate_bias) : _mm512_setzero_ps();
    __m512 ub = up_bias ? _mm512_maskz_loadu_ps(mk, up_bias) : _mm512_setzero_ps();
    for (size_t i = 0; i < 32; i++) {
        uint16_t *dst = out + ((2 * b + i / 16) * steps + s) * 512 + (i % 16) * TILE_K + half * 16;
        if (i >= rows || cols == 0) {
            _mm256_store_si256((__m256i *)dst, _mm256_setzero_si256());
            continue;
        }
        __m512 gv = _mm512_load_ps(g + i * 32), uv = _mm512_load_ps(u + i * 32);
        if (gate_bias || edge) gv = _mm512_add_ps(gv, gb);  // as emit_packed
        if (up_bias || edge) uv = _mm512_add_ps(uv, ub);
        __m512 h = _mm512_maskz_mov_ps(mk, _mm512_mul_ps(vidlm_activate16(act, gv), uv));
        _mm256_store_si256((__m256i *)dst, (__m256i)_mm512_cvtneps_pbh(h));
    }
}

// The products of a chain (see the header): units of weight rows packed as vidlm_amx_bf16_gemm
// packs them (NB rows; with `up`, NB / 2 rows of each of the two matrices side by side), each
// 32 × 32 block of sums emitted into the next product's packed x as it finishes.
TARGET static void chain_to_packed(const uint16_t *packed_x, size_t m, const uint16_t *w, const uint16_t *up, size_t k,
                                   size_t row_begin, size_t row_end, const float *bias, const float *up_bias,
                                   int activation, uint16_t *packed_out, size_t n, uint16_t *wp) {
    if (m == 0 || row_begin >= row_end || !vidlm_amx_chain_supported(m, k, n)) return;
    vidlm_tiles_configure();
    size_t steps = round_up32(k) / TILE_K, blocks = round_up32(m) / 32, out_steps = round_up32(n) / TILE_K;
    size_t unit = up ? NB / 2 : NB;
    uint16_t *wpk = wp, *upk = wp + unit * steps * TILE_K, *stage = wp + (size_t)NB * KC_MAX;
    float ws[32 * 32] __attribute__((aligned(64))), us[32 * 32] __attribute__((aligned(64)));
    for (size_t n0 = row_begin; n0 < row_end; n0 += unit) {
        size_t n1 = n0 + unit < row_end ? n0 + unit : row_end;
        size_t tiles = (n1 - n0 + 15) / 16;
        pack_w(w, k, n0, n1, 0, k, wpk, stage, round_up32(k));
        if (up) pack_w(up, k, n0, n1, 0, k, upk, stage, round_up32(k));
        for (size_t b = 0; b < blocks; b++) {
            const uint16_t *a0 = packed_x + 2 * b * steps * 512, *a1 = a0 + steps * 512;
            size_t xr = m - b * 32 < 32 ? m - b * 32 : 32;
            for (size_t t = 0; t < tiles; t += 2) {
                size_t r = n0 + t * 16, cols = n1 - r < 32 ? n1 - r : 32, second = t + 1 < tiles;
                const uint16_t *w0 = wpk + t * steps * 512;
                edge_block(a0, a1, w0, second ? w0 + steps * 512 : NULL, steps, ws);
                if (!up) {
                    emit_packed(ws, xr, cols, bias ? bias + r : NULL, activation, packed_out, b, r / TILE_K, out_steps);
                    continue;
                }
                const uint16_t *u0 = upk + t * steps * 512;
                edge_block(a0, a1, u0, second ? u0 + steps * 512 : NULL, steps, us);
                for (size_t half = 0; half < 2; half++) {
                    size_t c = cols > half * 16 ? cols - half * 16 : 0;
                    emit_gated16(ws + half * 16, us + half * 16, xr, c > 16 ? 16 : c, xr < 32 || cols < 32,
                                 bias ? bias + r + half * 16 : NULL, up_bias ? up_bias + r + half * 16 : NULL,
                                 activation, packed_out, b, r / TILE_K, half, out_steps);
                }
            }
        }
    }
    _tile_release();
}

TARGET void vidlm_amx_bf16_gated_to_packed(const uint16_t *packed_x, size_t m, const uint16_t *gate, const uint16_t *up,
                                           size_t k, size_t row_begin, size_t row_end, const float *gate_bias,
                                           const float *up_bias, int activation, uint16_t *packed_out, size_t n,
                                           uint16_t *wp) {
    chain_to_packed(packed_x, m, gate, up, k, row_begin, row_end, gate_bias, up_bias, activation, packed_out, n, wp);
}

TARGET void vidlm_amx_bf16_gemm_to_packed(const uint16_t *packed_x, size_t m, const uint16_t *w, size_t k,
                                          size_t row_begin, size_t row_end, const float *bias, int activation,
                                          uint16_t *packed_out, size_t n, uint16_t *wp) {
    chain_to_packed(packed_x, m, w, NULL, k, row_begin, row_end, bias, NULL, activation, packed_out, n, wp);
}

TARGET void vidlm_amx_bf16_gemm(const uint16_t *packed_x, size_t m, const uint16_t *w, size_t k, size_t row_begin,
                                size_t row_end, float *y, size_t ldy, int accumulate, const float *bias, int activation,
                                uint16_t *wp) {
    vidlm_amx_bf16_gemm_add(packed_x, m, w, k, row_begin, row_end, y, ldy, accumulate, bias, activation, NULL, 0, wp);
}

TARGET void vidlm_amx_bf16_gemm_add(const uint16_t *packed_x, size_t m, const uint16_t *w, size_t k, size_t row_begin,
                                    size_t row_end, float *y, size_t ldy, int accumulate, const float *bias, int activation,
                                    const float *residual, size_t ldr, uint16_t *wp) {
    if (m == 0 || row_begin >= row_end) return;
    if (k == 0) {
        for (size_t i = 0; i < m; i++) {
            float *row = y + i * ldy;
            for (size_t r = row_begin; r < row_end; r++) row[r] = (accumulate ? row[r] : 0.0f) + (bias ? bias[r] : 0.0f);
            for (size_t r = row_begin; activation >= 0 && r < row_end; r += 16) {
                __mmask16 mk = row_end - r >= 16 ? 0xffff : (__mmask16)((1u << (row_end - r)) - 1);
                _mm512_mask_storeu_ps(row + r, mk, vidlm_activate16(activation, _mm512_maskz_loadu_ps(mk, row + r)));
            }
            for (size_t r = row_begin; residual && r < row_end; r++) row[r] = residual[i * ldr + r] + row[r];
        }
        return;
    }
    // The tile configuration is per thread: set it on entry, release the tiles on exit (a thread
    // holding tile state makes every context switch save 8 KiB more).
    vidlm_tiles_configure();
    if (small_path(m, k)) {
        gemm_small(packed_x, m, w, k, row_begin, row_end, y, ldy, accumulate, bias, activation, residual, ldr, wp);
        _tile_release();
        return;
    }
    size_t xsteps = round_up32(k) / TILE_K, blocks = round_up32(m) / 32;
    float sums[32 * 32] __attribute__((aligned(64)));
    size_t slice = slice_for(k);
    for (size_t k0 = 0; k0 < k; k0 += slice) {
        size_t kc = k - k0 < slice ? k - k0 : slice, steps = round_up32(kc) / TILE_K;
        int acc = k0 > 0 ? 1 : accumulate, last = k0 + kc >= k;
        for (size_t n0 = row_begin; n0 < row_end; n0 += NB) {
            size_t n1 = n0 + NB < row_end ? n0 + NB : row_end;
            size_t tiles = (n1 - n0 + 15) / 16;
            pack_w(w, k, n0, n1, k0, kc, wp, wp + (size_t)NB * KC_MAX, slice);
            for (size_t b = 0; b < blocks; b++) {
                const uint16_t *a0 = packed_x + (2 * b * xsteps + k0 / TILE_K) * 512, *a1 = a0 + xsteps * 512;
                size_t xr = m - b * 32 < 32 ? m - b * 32 : 32;
                float *yb = y + b * 32 * ldy;
                const float *rb = residual && last ? residual + b * 32 * ldr : NULL;
                for (size_t t = 0; t < tiles; t += 2) {
                    size_t r = n0 + t * 16, cols = n1 - r < 32 ? n1 - r : 32;
                    const uint16_t *b0 = wp + t * steps * 512, *b1 = t + 1 < tiles ? b0 + steps * 512 : NULL;
                    if (xr == 32 && cols == 32) {
                        // Whole block: sums accumulate in y itself; the bias and the activation
                        // join after the last slice.
                        block2x2(a0, a1, b0, b1, steps, yb + r, ldy * 4, acc);
                        if (last && (bias || activation >= 0 || rb))
                            finish_block(yb + r, ldy, bias ? bias + r : NULL, activation, rb ? rb + r : NULL, ldr);
                    } else {
                        edge_block(a0, a1, b0, b1, steps, sums);
                        store(sums, yb + r, ldy, xr, cols, acc, bias && k0 == 0 ? bias + r : NULL, last ? activation : -1,
                              rb ? rb + r : NULL, ldr);
                    }
                }
            }
        }
    }
    _tile_release();
}

#else

int vidlm_amx_bf16_available(void) { return 0; }

int vidlm_amx_chain_supported(size_t m, size_t k, size_t n) {
    (void)m; (void)k; (void)n;
    return 0;
}

int vidlm_amx_x_is_tiled(size_t m, size_t k) {
    (void)m; (void)k;
    return 0;
}

void vidlm_amx_pack_layernorm(const float *x, size_t ldx, size_t m, size_t d, size_t row_begin, size_t row_end,
                              const float *weight, const float *bias, float eps, uint16_t *packed) {
    (void)x; (void)ldx; (void)m; (void)d; (void)row_begin; (void)row_end; (void)weight; (void)bias; (void)eps;
    (void)packed;
}

size_t vidlm_amx_gated_unit_rows(void) { return NB / 2; }

void vidlm_amx_bf16_gated_to_packed(const uint16_t *packed_x, size_t m, const uint16_t *gate, const uint16_t *up,
                                    size_t k, size_t row_begin, size_t row_end, const float *gate_bias,
                                    const float *up_bias, int activation, uint16_t *packed_out, size_t n,
                                    uint16_t *scratch) {
    (void)packed_x; (void)m; (void)gate; (void)up; (void)k; (void)row_begin; (void)row_end; (void)gate_bias;
    (void)up_bias; (void)activation; (void)packed_out; (void)n; (void)scratch;
}

void vidlm_amx_bf16_gemm_to_packed(const uint16_t *packed_x, size_t m, const uint16_t *w, size_t k, size_t row_begin,
                                   size_t row_end, const float *bias, int activation, uint16_t *packed_out, size_t n,
                                   uint16_t *scratch) {
    (void)packed_x; (void)m; (void)w; (void)k; (void)row_begin; (void)row_end; (void)bias; (void)activation;
    (void)packed_out; (void)n; (void)scratch;
}

void vidlm_amx_pack_x(const float *x, size_t ldx, size_t m, size_t k, size_t row_begin, size_t row_end,
                      uint16_t *packed) {
    (void)x; (void)ldx; (void)m; (void)k; (void)row_begin; (void)row_end; (void)packed;
}

void vidlm_amx_bf16_gemm_add(const uint16_t *packed_x, size_t m, const uint16_t *w, size_t k, size_t row_begin,
                             size_t row_end, float *y, size_t ldy, int accumulate, const float *bias, int activation,
                             const float *residual, size_t ldr, uint16_t *scratch) {
    (void)residual; (void)ldr;
    vidlm_amx_bf16_gemm(packed_x, m, w, k, row_begin, row_end, y, ldy, accumulate, bias, activation, scratch);
}

void vidlm_amx_bf16_gemm(const uint16_t *packed_x, size_t m, const uint16_t *w, size_t k, size_t row_begin,
                         size_t row_end, float *y, size_t ldy, int accumulate, const float *bias, int activation,
                         uint16_t *scratch) {
    (void)packed_x; (void)m; (void)w; (void)k; (void)row_begin; (void)row_end; (void)y; (void)ldy; (void)accumulate;
    (void)bias; (void)activation; (void)scratch;
}

#endif
