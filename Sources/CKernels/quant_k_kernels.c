#include "quant_k_kernels.h"
#include "quant_kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// Offsets inside one K16 super-block panel (see quant_k_kernels.h).
enum { K16_D = 0, K16_DMIN = 32, K16_SC = 64, K16_MIN = 192, K16_QS = 320 };

// f16 → f32, exact.
static inline float k_f16_to_f32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
    union { uint32_t u; float f; } v;
    if (exp == 0x1F) {
        v.u = sign | 0x7F800000u | (mant << 13);
    } else if (exp == 0) {
        const float f = (float)mant * 5.9604644775390625e-08f;
        return sign ? -f : f;
    } else {
        v.u = sign | ((exp + 112u) << 23) | (mant << 13);
    }
    return v.f;
}

// Scale and min of sub-block j from the 12 packed bytes (6 bits each): j < 4 in the low 6 bits
// of bytes j and j + 4; j ≥ 4 in the nibbles of byte j + 4 with their top 2 bits in the top
// bits of bytes j − 4 and j.
static inline void unpack_scale_min(const uint8_t *s, int j, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4));
        *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

void vidlm_q4k_interleave_panel(const uint8_t *w, size_t row_bytes, size_t rows, size_t k, uint8_t *panel) {
    const size_t blocks = k / 256;
    memset(panel, 0, blocks * VIDLM_Q4K_K16_BLOCK_BYTES);
    for (size_t b = 0; b < blocks; b++) {
        uint8_t *dst = panel + b * VIDLM_Q4K_K16_BLOCK_BYTES;
        for (size_t i = 0; i < rows && i < 16; i++) {
            const uint8_t *blk = w + i * row_bytes + b * VIDLM_Q4K_BLOCK_BYTES;
            memcpy(dst + K16_D + 2 * i, blk, 2);
            memcpy(dst + K16_DMIN + 2 * i, blk + 2, 2);
            for (int j = 0; j < 8; j++) unpack_scale_min(blk + 4, j, dst + K16_SC + 16 * j + i, dst + K16_MIN + 16 * j + i);
            for (int c = 0; c < 4; c++)
                for (int g = 0; g < 8; g++) memcpy(dst + K16_QS + 512 * c + 64 * g + 4 * i, blk + 16 + 32 * c + 4 * g, 4);
        }
    }
}

void vidlm_q4k_interleave(const uint8_t *w, size_t rows, size_t k, uint8_t *out) {
    const size_t row_bytes = k / 256 * VIDLM_Q4K_BLOCK_BYTES, panel_bytes = k / 256 * VIDLM_Q4K_K16_BLOCK_BYTES;
    for (size_t p = 0; p < rows / 16; p++) vidlm_q4k_interleave_panel(w + p * 16 * row_bytes, row_bytes, 16, k, out + p * panel_bytes);
}

// The reference order on one K16 panel: lanes whose bit is set in `rows` are stored.
static void panel_portable(const uint8_t *panel, size_t k, const int8_t *xqs, const float *xd, const float *negsum,
                           size_t m, float *y, size_t ldy, unsigned rows) {
    const size_t blocks = k / 256, xb = k / 32;
    for (int lane = 0; lane < 16; lane++) {
        if (!(rows >> lane & 1u)) continue;
        for (size_t i = 0; i < m; i++) {
            float acc = 0.0f;
            for (size_t s = 0; s < blocks; s++) {
                const uint8_t *blk = panel + s * VIDLM_Q4K_K16_BLOCK_BYTES;
                const float d = k_f16_to_f32((uint16_t)(blk[K16_D + 2 * lane] | blk[K16_D + 2 * lane + 1] << 8));
                const float dmin = k_f16_to_f32((uint16_t)(blk[K16_DMIN + 2 * lane] | blk[K16_DMIN + 2 * lane + 1] << 8));
                for (int j = 0; j < 8; j++) {
                    const size_t b = s * 8 + (size_t)j;
                    const int8_t *q = xqs + i * k + b * 32;
                    const uint8_t *nib = blk + K16_QS + 512 * (j / 2) + 4 * lane;
                    int32_t p = 0;
                    for (int t = 0; t < 32; t++) {
                        const uint8_t v = nib[64 * (t / 4) + t % 4];
                        p += (int32_t)((j & 1) ? v >> 4 : v & 0x0F) * q[t];
                    }
                    float t = (float)p * (d * (float)blk[K16_SC + 16 * j + lane]);
                    t = fmaf(negsum[i * xb + b], dmin * (float)blk[K16_MIN + 16 * j + lane], t);
                    acc = fmaf(t, xd[i * xb + b], acc);
                }
            }
            y[i * ldy + (size_t)lane] = acc;
        }
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

#define K_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,f16c,fma")))
#define K_VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,f16c,fma")))

// u: nibbles (0..15) of 4 bytes of 16 rows; x4: 4 bytes of x broadcast. VNNI multiplies them
// directly (unsigned × signed); BW with maddubs (pair sums ≤ 2·15·128, no saturation).
#define K_DOT_VNNI(ACC, U, X4) _mm512_dpbusd_epi32(ACC, U, X4)
#define K_DOT_BW(ACC, U, X4) _mm512_add_epi32(ACC, _mm512_madd_epi16(_mm512_maddubs_epi16(U, X4), _mm512_set1_epi16(1)))

#ifndef K_PREFETCH
#define K_PREFETCH 2
#endif

// One sub-block j of super-block s (HALF: j's nibbles are the high ones of its chunk) for NX x
// rows. HALF is a constant in each use, so the nibble selection compiles without branches.
#define K_SUB(DOT, NX, HALF)                                                                              \
    {                                                                                                     \
        const int j = 2 * c + (HALF);                                                                     \
        const size_t b = s * 8 + (size_t)j;                                                               \
        const __m512 ws = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(                       \
                                               _mm_loadu_si128((const __m128i *)(blk + K16_SC + 16 * j))))); \
        const __m512 wm = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(                    \
                                                 _mm_loadu_si128((const __m128i *)(blk + K16_MIN + 16 * j))))); \
        __m512i u[8];                                                                                     \
        for (int g = 0; g < 8; g++) {                                                                     \
            const __m512i v = _mm512_loadu_si512((const void *)(nib + 64 * g));                           \
            u[g] = _mm512_and_si512((HALF) ? _mm512_srli_epi16(v, 4) : v, low4);                          \
        }                                                                                                 \
        _Pragma("GCC unroll 8")                                                                           \
        for (int r = 0; r < NX; r++) {                                                                    \
            const int8_t *xv = xq + r * k + b * 32;                                                       \
            __m512i acc = _mm512_setzero_si512();                                                         \
            _Pragma("GCC unroll 8")                                                                       \
            for (int g = 0; g < 8; g++) {                                                                 \
                int32_t x4;                                                                               \
                memcpy(&x4, xv + 4 * g, 4);                                                               \
                acc = DOT(acc, u[g], _mm512_set1_epi32(x4));                                              \
            }                                                                                             \
            __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), ws);                                        \
            t = _mm512_fmadd_ps(_mm512_set1_ps(negsum[r * xb + b]), wm, t);                               \
            out[r] = _mm512_fmadd_ps(t, _mm512_set1_ps(xd[r * xb + b]), out[r]);                          \
        }                                                                                                 \
    }

// NX x rows against one K16 panel; 16 rows' outputs per register, stored under `rows`.
#define DEFINE_K_PANEL(NAME, TARGET, DOT, NX)                                                             \
    TARGET static void NAME(const uint8_t *panel, size_t blocks, size_t k, const int8_t *xq, const float *xd, \
                            const float *negsum, float *y, size_t ldy, __mmask16 rows) {                  \
        const size_t xb = k / 32;                                                                         \
        const __m512i low4 = _mm512_set1_epi8(0x0F);                                                      \
        __m512 out[NX];                                                                                   \
        for (int r = 0; r < NX; r++) out[r] = _mm512_setzero_ps();                                        \
        for (size_t s = 0; s < blocks; s++) {                                                             \
            const uint8_t *blk = panel + s * VIDLM_Q4K_K16_BLOCK_BYTES;                                   \
            for (int l = 0; l < VIDLM_Q4K_K16_BLOCK_BYTES; l += 256)                                      \
                _mm_prefetch((const char *)blk + K_PREFETCH * VIDLM_Q4K_K16_BLOCK_BYTES + l, _MM_HINT_T0); \
            const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(blk + K16_D)));         \
            const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(blk + K16_DMIN)));   \
            for (int c = 0; c < 4; c++) {                                                                 \
                const uint8_t *nib = blk + K16_QS + 512 * c;                                              \
                K_SUB(DOT, NX, 0)                                                                         \
                K_SUB(DOT, NX, 1)                                                                         \
            }                                                                                             \
        }                                                                                                 \
        for (int r = 0; r < NX; r++) _mm512_mask_storeu_ps(y + r * ldy, rows, out[r]);                    \
    }

DEFINE_K_PANEL(k_vnni_8, K_VNNI_TARGET, K_DOT_VNNI, 8)
DEFINE_K_PANEL(k_vnni_4, K_VNNI_TARGET, K_DOT_VNNI, 4)
DEFINE_K_PANEL(k_vnni_2, K_VNNI_TARGET, K_DOT_VNNI, 2)
DEFINE_K_PANEL(k_vnni_1, K_VNNI_TARGET, K_DOT_VNNI, 1)
DEFINE_K_PANEL(k_bw_8, K_AVX512_TARGET, K_DOT_BW, 8)
DEFINE_K_PANEL(k_bw_4, K_AVX512_TARGET, K_DOT_BW, 4)
DEFINE_K_PANEL(k_bw_2, K_AVX512_TARGET, K_DOT_BW, 2)
DEFINE_K_PANEL(k_bw_1, K_AVX512_TARGET, K_DOT_BW, 1)

typedef void (*k_panel_kernel)(const uint8_t *, size_t, size_t, const int8_t *, const float *, const float *,
                               float *, size_t, __mmask16);

// All x rows against one panel, 8 rows at a time then 4/2/1.
static void panel_vector(int vnni, const uint8_t *panel, size_t k, const int8_t *xqs, const float *xd,
                         const float *negsum, size_t m, float *y, size_t ldy, unsigned rows) {
    static const k_panel_kernel table[2][4] = {
        { k_bw_1, k_bw_2, k_bw_4, k_bw_8 },
        { k_vnni_1, k_vnni_2, k_vnni_4, k_vnni_8 },
    };
    const size_t xb = k / 32;
    size_t i = 0;
    while (i < m) {
        const size_t left = m - i;
        const int which = left >= 8 ? 3 : left >= 4 ? 2 : left >= 2 ? 1 : 0;
        table[vnni][which](panel, k / 256, k, xqs + i * k, xd + i * xb, negsum + i * xb, y + i * ldy, ldy, (__mmask16)rows);
        i += (size_t)1 << which;
    }
}
#endif

static void run_panel(int path, const uint8_t *panel, size_t k, const int8_t *xqs, const float *xd, const float *negsum,
                      size_t m, float *y, size_t ldy, unsigned rows) {
#if defined(__x86_64__)
    if (path != VIDLM_QPATH_PORTABLE) {
        panel_vector(path == VIDLM_QPATH_AVX512VNNI, panel, k, xqs, xd, negsum, m, y, ldy, rows);
        return;
    }
#endif
    (void)path;
    panel_portable(panel, k, xqs, xd, negsum, m, y, ldy, rows);
}

int vidlm_q4k_matmul(int interleaved, int path, const uint8_t *w, size_t k, size_t row_begin, size_t row_end,
                     const int8_t *xqs, const float *xd, const float *negsum, size_t m, float *y, size_t ldy) {
    const size_t blocks = k / 256, panel_bytes = blocks * VIDLM_Q4K_K16_BLOCK_BYTES;
    const size_t row_bytes = blocks * VIDLM_Q4K_BLOCK_BYTES;
    uint8_t *scratch = NULL;
    if (!interleaved) {
        scratch = aligned_alloc(64, (panel_bytes + 63) / 64 * 64);
        if (!scratch) return 0;
    }
    // Ranges need not start or end on 16 rows: the rows outside the range are not stored.
    for (size_t p = row_begin / 16; p * 16 < row_end; p++) {
        const size_t lo = row_begin > p * 16 ? row_begin - p * 16 : 0;
        const size_t hi = row_end < p * 16 + 16 ? row_end - p * 16 : 16;
        const unsigned rows = ((1u << hi) - 1u) & ~((1u << lo) - 1u);
        const uint8_t *panel;
        if (interleaved) {
            panel = w + p * panel_bytes;
        } else {
            vidlm_q4k_interleave_panel(w + p * 16 * row_bytes, row_bytes, hi, k, scratch);
            panel = scratch;
        }
        run_panel(path, panel, k, xqs, xd, negsum, m, y + p * 16, ldy, rows);
    }
    free(scratch);
    return 1;
}
