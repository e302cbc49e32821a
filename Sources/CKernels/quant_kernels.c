#include "quant_kernels.h"

#include <math.h>
#include <string.h>

// f16 → f32, exact (so every path gets the same scale whatever converts it).
static inline float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
    uint32_t bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (mant << 13);
    } else if (exp == 0) {
        // zero or subnormal: mant · 2^-24, exact in f32
        union { uint32_t u; float f; } v;
        float f = (float)mant * 5.9604644775390625e-08f;
        v.f = f;
        return (sign ? -v.f : v.f);
    } else {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    }
    union { uint32_t u; float f; } v = { bits };
    return v.f;
}

static inline size_t block_bytes(int format) { return format == VIDLM_Q8_0 ? 34 : 18; }

// The weight values of block `blk` as signed integers (q4_0: nibble − 8; element j < 16 is the
// low nibble of byte j, element j + 16 its high nibble).
static inline void decode_block(int format, const uint8_t *blk, int32_t out[32]) {
    if (format == VIDLM_Q8_0) {
        for (int t = 0; t < 32; t++) out[t] = (int8_t)blk[2 + t];
    } else {
        for (int t = 0; t < 16; t++) {
            out[t] = (int32_t)(blk[2 + t] & 0x0F) - 8;
            out[t + 16] = (int32_t)(blk[2 + t] >> 4) - 8;
        }
    }
}

static inline float reduce64(const float acc[64]) {
    float t[16], h8[8], h4[4], h2[2];
    for (int i = 0; i < 16; i++) t[i] = (acc[i] + acc[16 + i]) + (acc[32 + i] + acc[48 + i]);
    for (int i = 0; i < 8; i++) h8[i] = t[i] + t[i + 8];
    for (int i = 0; i < 4; i++) h4[i] = h8[i] + h8[i + 4];
    for (int i = 0; i < 2; i++) h2[i] = h4[i] + h4[i + 2];
    return h2[0] + h2[1];
}

static void quantize_x_row_portable(const float *x, size_t k, int8_t *qs, float *d, int32_t *sums) {
    for (size_t b = 0; b < k / 32; b++) {
        const float *src = x + b * 32;
        float amax = 0.0f;
        for (int t = 0; t < 32; t++) {
            float a = fabsf(src[t]);
            if (a > amax) amax = a;
        }
        float scale = amax / 127.0f;
        float inv = scale != 0.0f ? 1.0f / scale : 0.0f;
        d[b] = scale;
        for (int t = 0; t < 32; t++) qs[b * 32 + t] = (int8_t)lrintf(src[t] * inv);
        for (int j = 0; j < 8; j++) {
            const int8_t *q = qs + b * 32 + 4 * j;
            sums[b * 8 + j] = -128 * ((int32_t)q[0] + q[1] + q[2] + q[3]);
        }
    }
}

static float dot_portable(int format, const uint8_t *w, const int8_t *xq, const float *xd, size_t blocks) {
    float acc[64] = { 0 };
    int32_t wv[32];
    const size_t bb = block_bytes(format);
    for (size_t b = 0; b < blocks; b++) {
        const uint8_t *blk = w + b * bb;
        decode_block(format, blk, wv);
        const float scale = f16_to_f32((uint16_t)(blk[0] | (blk[1] << 8))) * xd[b];
        const int8_t *q = xq + b * 32;
        float *a = acc + ((b >> 1) & 3) * 16 + (b & 1) * 8;
        for (int j = 0; j < 8; j++) {
            int32_t p = wv[4 * j] * q[4 * j] + wv[4 * j + 1] * q[4 * j + 1] + wv[4 * j + 2] * q[4 * j + 2] +
                        wv[4 * j + 3] * q[4 * j + 3];
            a[j] = fmaf((float)p, scale, a[j]);
        }
    }
    return reduce64(acc);
}

static void matmul_portable(int format, const uint8_t *w, size_t k, size_t row_begin, size_t row_end,
                            const int8_t *xqs, const float *xd, size_t m, float *y, size_t ldy) {
    const size_t blocks = k / 32, row_bytes = blocks * block_bytes(format);
    for (size_t r = row_begin; r < row_end; r++)
        for (size_t i = 0; i < m; i++)
            y[i * ldy + r] = dot_portable(format, w + r * row_bytes, xqs + i * k, xd + i * blocks, blocks);
}

// The panel-GEMM order (see quant_kernels.h): one FMA chain per output over the blocks.
static void gemm_portable(int format, const uint8_t *w, size_t k, size_t row_begin, size_t row_end,
                          const int8_t *xqs, const float *xd, size_t m, float *y, size_t ldy) {
    const size_t blocks = k / 32, bb = block_bytes(format), row_bytes = blocks * bb;
    int32_t wv[32];
    for (size_t r = row_begin; r < row_end; r++) {
        const uint8_t *wrow = w + r * row_bytes;
        for (size_t i = 0; i < m; i++) {
            float acc = 0.0f;
            for (size_t b = 0; b < blocks; b++) {
                const uint8_t *blk = wrow + b * bb;
                decode_block(format, blk, wv);
                const int8_t *q = xqs + i * k + b * 32;
                int32_t p = 0;
                for (int t = 0; t < 32; t++) p += wv[t] * q[t];
                const float scale = f16_to_f32((uint16_t)(blk[0] | (blk[1] << 8))) * xd[i * blocks + b];
                acc = fmaf((float)p, scale, acc);
            }
            y[i * ldy + r] = acc;
        }
    }
}

static inline int is_r16(int format) { return format == VIDLM_Q8_0_R16 || format == VIDLM_Q4_0_R16; }

// Bytes of one 16-row block-panel of the R16 layout: 16 f16 scales, then the 4-byte groups.
static inline size_t r16_block_bytes(int q4) { return q4 ? 32 + 256 : 32 + 512; }

void vidlm_quant_interleave(int format, const uint8_t *w, size_t rows, size_t k, uint8_t *out) {
    const int q4 = format == VIDLM_Q4_0;
    const size_t blocks = k / 32, bb = block_bytes(format), row_bytes = blocks * bb, pb = r16_block_bytes(q4);
    const int groups = q4 ? 4 : 8;
    for (size_t p = 0; p < rows / 16; p++)
        for (size_t b = 0; b < blocks; b++) {
            uint8_t *dst = out + (p * blocks + b) * pb;
            for (int i = 0; i < 16; i++) {
                const uint8_t *blk = w + (p * 16 + i) * row_bytes + b * bb;
                dst[2 * i] = blk[0];
                dst[2 * i + 1] = blk[1];
                for (int g = 0; g < groups; g++)
                    for (int t = 0; t < 4; t++) {
                        const uint8_t v = blk[2 + 4 * g + t];
                        dst[32 + g * 64 + i * 4 + t] = q4 ? v : (uint8_t)(v ^ 0x80);
                    }
            }
        }
}

// The signed values of row `i` of an R16 block-panel, in element order.
static inline void decode_r16(int q4, const uint8_t *blk, int i, int32_t out[32]) {
    for (int j = 0; j < (q4 ? 16 : 32); j++) {
        const uint8_t v = blk[32 + (j / 4) * 64 + i * 4 + j % 4];
        if (q4) {
            out[j] = (int32_t)(v & 0x0F) - 8;
            out[j + 16] = (int32_t)(v >> 4) - 8;
        } else {
            out[j] = (int32_t)(int8_t)(v ^ 0x80);
        }
    }
}

static void gemm_portable_r16(int q4, const uint8_t *w, size_t k, size_t row_begin, size_t row_end,
                              const int8_t *xqs, const float *xd, size_t m, float *y, size_t ldy) {
    const size_t blocks = k / 32, pb = r16_block_bytes(q4);
    int32_t wv[32];
    for (size_t r = row_begin; r < row_end; r++) {
        const uint8_t *panel = w + (r / 16) * blocks * pb;
        const int lane = (int)(r % 16);
        for (size_t i = 0; i < m; i++) {
            float acc = 0.0f;
            for (size_t b = 0; b < blocks; b++) {
                const uint8_t *blk = panel + b * pb;
                decode_r16(q4, blk, lane, wv);
                const int8_t *q = xqs + i * k + b * 32;
                int32_t p = 0;
                for (int t = 0; t < 32; t++) p += wv[t] * q[t];
                const float scale = f16_to_f32((uint16_t)(blk[2 * lane] | (blk[2 * lane + 1] << 8))) * xd[i * blocks + b];
                acc = fmaf((float)p, scale, acc);
            }
            y[i * ldy + r] = acc;
        }
    }
}

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdlib.h>

// Software prefetch distance in bytes of weights (a few rows' worth of blocks ahead).
#define QPREFETCH 2048

#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,f16c,fma")))
#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,f16c,fma")))

int vidlm_quant_best_path(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512dq") || !__builtin_cpu_supports("avx512vl"))
        return VIDLM_QPATH_PORTABLE;
    return __builtin_cpu_supports("avx512vnni") ? VIDLM_QPATH_AVX512VNNI : VIDLM_QPATH_AVX512BW;
}

AVX512_TARGET
static inline float reduce16_avx512(__m512 acc) {
    __m256 h8 = _mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1));
    __m128 h4 = _mm_add_ps(_mm256_castps256_ps128(h8), _mm256_extractf128_ps(h8, 1));
    __m128 h2 = _mm_add_ps(h4, _mm_movehl_ps(h4, h4));
    __m128 h1 = _mm_add_ss(h2, _mm_shuffle_ps(h2, h2, 1));
    return _mm_cvtss_f32(h1);
}

AVX512_TARGET
static void quantize_x_row_avx512(const float *x, size_t k, int8_t *qs, float *d, int32_t *sums) {
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
    for (size_t b = 0; b < k / 32; b++) {
        __m512 v0 = _mm512_loadu_ps(x + b * 32), v1 = _mm512_loadu_ps(x + b * 32 + 16);
        __m512 m = _mm512_max_ps(_mm512_and_ps(v0, absmask), _mm512_and_ps(v1, absmask));
        float amax = _mm512_reduce_max_ps(m);
        float scale = amax / 127.0f;
        float inv = scale != 0.0f ? 1.0f / scale : 0.0f;
        d[b] = scale;
        __m512 iv = _mm512_set1_ps(inv);
        // cvtps rounds to nearest even (MXCSR default), as lrintf does.
        __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, iv));
        __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, iv));
        _mm_storeu_si128((__m128i *)(qs + b * 32), _mm512_cvtepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(qs + b * 32 + 16), _mm512_cvtepi32_epi8(q1));
        // lane sums of 4 consecutive values: pairwise adds of the 32-bit lanes
        __m512i s01 = _mm512_add_epi32(_mm512_permutex2var_epi32(q0, _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0), q1),
                                       _mm512_permutex2var_epi32(q0, _mm512_setr_epi32(1, 5, 9, 13, 17, 21, 25, 29, 0, 0, 0, 0, 0, 0, 0, 0), q1));
        __m512i s23 = _mm512_add_epi32(_mm512_permutex2var_epi32(q0, _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30, 0, 0, 0, 0, 0, 0, 0, 0), q1),
                                       _mm512_permutex2var_epi32(q0, _mm512_setr_epi32(3, 7, 11, 15, 19, 23, 27, 31, 0, 0, 0, 0, 0, 0, 0, 0), q1));
        __m512i lane = _mm512_add_epi32(s01, s23);
        _mm256_storeu_si256((__m256i *)(sums + b * 8), _mm512_castsi512_si256(_mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(lane, 7))));
    }
}

// 64 bytes: the weights of blocks b and b+1 (b+1 only when `two`) as unsigned bytes u = w + B,
// B = 128 (q8_0: the int8 with its top bit flipped) or 8 (q4_0: the nibble itself).
AVX512_TARGET
static inline __m512i load_pair_unsigned(int format, const uint8_t *blk, int two) {
    if (format == VIDLM_Q8_0) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(blk + 2));
        __m256i b = two ? _mm256_loadu_si256((const __m256i *)(blk + 36)) : _mm256_setzero_si256();
        return _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1), _mm512_set1_epi8((char)0x80));
    }
    // [a, a, b, b] (16-byte lanes), then the high nibbles in lanes 1 and 3: [lo_a, hi_a, lo_b, hi_b].
    __m512i v = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(blk + 2)));
    if (two) v = _mm512_mask_broadcast_i32x4(v, 0xFF00, _mm_loadu_si128((const __m128i *)(blk + 20)));
    v = _mm512_mask_srli_epi16(v, 0xFF00FF00u, v, 4);
    return _mm512_and_si512(v, _mm512_set1_epi8(0x0F));
}

// The kernels take 16 blocks at a time: their 16 f16 weight scales are gathered (stride: the
// block size) and widened at once, multiplied by the x rows' 16 scales, and each block pair's
// scale vector (lanes 0-7: block b, 8-15: block b+1) is a permutation of that register. Block
// pairs rotate over 4 accumulators per x row, so 4 FMA chains are in flight.
//
// Integer products, exact on both paths: the VNNI path multiplies u = w + B by x (vpdpbusd:
// unsigned × signed bytes) starting from the x row's correction −B·Σx of each 4-element lane
// (−128·Σx is stored; q4_0's −8·Σx is that shifted right by 4). The BW path moves the sign of w
// onto x so that |w| is unsigned; |w| ≤ 127 and |x| ≤ 127, so maddubs' 16-bit pair sums (≤ 32258)
// never saturate. NX (1-4 x rows) is a compile-time constant in each instance, so the
// accumulators stay in registers; each weight pair is decoded once for all NX rows.
#define BW_PREP                                                                                          \
    __m512i w = _mm512_sub_epi8(u, format == VIDLM_Q8_0 ? _mm512_set1_epi8((char)0x80) : _mm512_set1_epi8(8)); \
    __m512i aw = _mm512_abs_epi8(w);                                                                     \
    __mmask64 neg = _mm512_movepi8_mask(w);
#define BW_DOT(XV, CORR)                                                                                 \
    _mm512_madd_epi16(_mm512_maddubs_epi16(aw, _mm512_mask_sub_epi8(XV, neg, _mm512_setzero_si512(), XV)), ones16)
#define VNNI_PREP
#define VNNI_DOT(XV, CORR) _mm512_dpbusd_epi32(format == VIDLM_Q8_0 ? (CORR) : _mm512_srai_epi32((CORR), 4), u, XV)

#define DEFINE_ROW_KERNEL(NAME, TARGET, PREP, DOT, NX)                                                    \
    TARGET static void NAME(int format, const uint8_t *wrow, size_t blocks, const int8_t *xq, size_t ldq,  \
                            const float *xd, size_t ldd, const int32_t *xc, size_t ldc, float *y, size_t ldy) { \
        const size_t bb = block_bytes(format);                                                            \
        __m512 acc[NX][4];                                                                                \
        for (int i = 0; i < NX; i++)                                                                      \
            for (int a = 0; a < 4; a++) acc[i][a] = _mm512_setzero_ps();                                  \
        const __m512i ones16 = _mm512_set1_epi16(1);                                                      \
        (void)ones16; (void)xc; (void)ldc;                                                                \
        const __m512i offsets = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), \
                                                   _mm512_set1_epi32((int)bb));                           \
        const __m512i pair0 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);            \
        const __m512i two = _mm512_set1_epi32(2);                                                         \
        for (size_t b0 = 0; b0 < blocks; b0 += 16) {                                                      \
            const size_t nb = blocks - b0 < 16 ? blocks - b0 : 16;                                        \
            const __mmask16 bm = (__mmask16)(nb == 16 ? 0xFFFFu : ((1u << nb) - 1u));                     \
            __m512i g = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), bm, offsets, wrow + b0 * bb, 1); \
            __m512 ws = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(g));                                        \
            __m512 sc[NX];                                                                                \
            for (int i = 0; i < NX; i++) sc[i] = _mm512_mul_ps(ws, _mm512_maskz_loadu_ps(bm, xd + i * ldd + b0)); \
            __m512i pidx = pair0;                                                                         \
            for (size_t bq = b0; bq < b0 + nb; bq += 8) {                                                 \
                _Pragma("GCC unroll 4")                                                                   \
                for (int a = 0; a < 4; a++) {                                                             \
                    const size_t b = bq + 2 * (size_t)a;                                                  \
                    if (b >= b0 + nb) break;                                                              \
                    const int pairs = b + 1 < blocks;                                                     \
                    const uint8_t *blk = wrow + b * bb;                                                   \
                    _mm_prefetch((const char *)blk + QPREFETCH, _MM_HINT_T0);                             \
                    __m512i u = load_pair_unsigned(format, blk, pairs);                                   \
                    PREP                                                                                  \
                    const __mmask16 lanes = pairs ? 0xFFFF : 0x00FF;                                      \
                    _Pragma("GCC unroll 4")                                                               \
                    for (int i = 0; i < NX; i++) {                                                        \
                        __m512i xv = pairs ? _mm512_loadu_si512((const void *)(xq + i * ldq + b * 32))    \
                                           : _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(xq + i * ldq + b * 32))); \
                        __m512i corr = pairs ? _mm512_loadu_si512((const void *)(xc + i * ldc + b * 8))   \
                                             : _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(xc + i * ldc + b * 8))); \
                        (void)corr;                                                                       \
                        __m512i p = DOT(xv, corr);                                                        \
                        __m512 s = _mm512_permutexvar_ps(pidx, sc[i]);                                    \
                        acc[i][a] = _mm512_mask3_fmadd_ps(_mm512_cvtepi32_ps(p), s, acc[i][a], lanes);   \
                    }                                                                                     \
                    pidx = _mm512_add_epi32(pidx, two);                                                   \
                }                                                                                         \
            }                                                                                             \
        }                                                                                                 \
        for (int i = 0; i < NX; i++)                                                                      \
            y[i * ldy] = reduce16_avx512(_mm512_add_ps(_mm512_add_ps(acc[i][0], acc[i][1]),               \
                                                       _mm512_add_ps(acc[i][2], acc[i][3])));             \
    }

DEFINE_ROW_KERNEL(row_bw_1, AVX512_TARGET, BW_PREP, BW_DOT, 1)
DEFINE_ROW_KERNEL(row_bw_2, AVX512_TARGET, BW_PREP, BW_DOT, 2)
DEFINE_ROW_KERNEL(row_bw_3, AVX512_TARGET, BW_PREP, BW_DOT, 3)
DEFINE_ROW_KERNEL(row_bw_4, AVX512_TARGET, BW_PREP, BW_DOT, 4)
DEFINE_ROW_KERNEL(row_vnni_1, VNNI_TARGET, VNNI_PREP, VNNI_DOT, 1)
DEFINE_ROW_KERNEL(row_vnni_2, VNNI_TARGET, VNNI_PREP, VNNI_DOT, 2)
DEFINE_ROW_KERNEL(row_vnni_3, VNNI_TARGET, VNNI_PREP, VNNI_DOT, 3)
DEFINE_ROW_KERNEL(row_vnni_4, VNNI_TARGET, VNNI_PREP, VNNI_DOT, 4)

typedef void (*row_kernel)(int, const uint8_t *, size_t, const int8_t *, size_t, const float *, size_t,
                           const int32_t *, size_t, float *, size_t);

static void matmul_avx512(int vnni, int format, const uint8_t *w, size_t k, size_t row_begin, size_t row_end,
                          const int8_t *xqs, const float *xd, const int32_t *xc, size_t m, float *y, size_t ldy) {
    static const row_kernel bw[4] = { row_bw_1, row_bw_2, row_bw_3, row_bw_4 };
    static const row_kernel vn[4] = { row_vnni_1, row_vnni_2, row_vnni_3, row_vnni_4 };
    const row_kernel *kernels = vnni ? vn : bw;
    const size_t blocks = k / 32, row_bytes = blocks * block_bytes(format);
    for (size_t r = row_begin; r < row_end; r++) {
        for (size_t i = 0; i < m; i += 4) {
            size_t nx = m - i < 4 ? m - i : 4;
            kernels[nx - 1](format, w + r * row_bytes, blocks, xqs + i * k, k, xd + i * blocks, blocks, xc + i * (k / 4), k / 4,
                            y + i * ldy + r, ldy);
        }
    }
}

// ---- Panel kernels (R16 weights; row-layout weights with m ≥ VIDLM_QGEMM_MIN_ROWS) ----
//
// One 512-bit integer dot product multiplies 4 bytes of each of 16 rows (lane i = row i) by 4
// broadcast bytes of x; after a block's 8 groups the 16 lanes hold the 16 rows' exact block dots,
// each then converted and added with one FMA (the panel-GEMM order).

// Row-layout rows [0, n) (n ≤ 16; missing rows zero) repacked into one R16 panel, with gathers
// (16 rows at a time).
AVX512_TARGET
static void repack_panel(int format, const uint8_t *w, size_t row_bytes, size_t blocks, size_t n, uint8_t *panel) {
    const int q4 = format == VIDLM_Q4_0;
    const size_t bb = block_bytes(format), pb = r16_block_bytes(q4);
    const __mmask16 rows = (__mmask16)(n >= 16 ? 0xFFFFu : ((1u << n) - 1u));
    const __m512i row_offsets = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                                   _mm512_set1_epi32((int)row_bytes));
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    for (size_t b = 0; b < blocks; b++) {
        const uint8_t *blk = w + b * bb;
        uint8_t *out = panel + b * pb;
        __m512i g16 = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), rows, row_offsets, blk, 1);
        _mm256_storeu_si256((__m256i *)out, _mm512_cvtepi32_epi16(g16));
        for (int g = 0; g < (q4 ? 4 : 8); g++) {
            __m512i v = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), rows, row_offsets, blk + 2 + 4 * g, 1);
            _mm512_storeu_si512((void *)(out + 32 + g * 64), q4 ? v : _mm512_xor_si512(v, bias));
        }
    }
}

// VNNI multiplies u (q8_0: w + 128; q4_0: the nibble, w + 8) by x from the block's correction
// (−128·Σx, or −8·Σx = that / 16); BW recovers w and moves its sign onto x (|w| ≤ 128, |x| ≤ 127:
// maddubs' pair sums never saturate) and starts from 0.
#define PANEL_INIT_VNNI(CORR, Q4) _mm512_set1_epi32((Q4) ? (CORR) >> 4 : (CORR))
#define PANEL_DOT_VNNI(ACC, U, XB, Q4) _mm512_dpbusd_epi32(ACC, U, XB)
#define PANEL_INIT_BW(CORR, Q4) _mm512_setzero_si512()
#define PANEL_DOT_BW(ACC, U, XB, Q4)                                                                      \
    ({                                                                                                    \
        __m512i w_ = (Q4) ? _mm512_sub_epi8(U, _mm512_set1_epi8(8)) : _mm512_xor_si512(U, _mm512_set1_epi8((char)0x80)); \
        __m512i xs_ = _mm512_mask_sub_epi8(XB, _mm512_movepi8_mask(w_), _mm512_setzero_si512(), XB);      \
        _mm512_add_epi32(ACC, _mm512_madd_epi16(_mm512_maddubs_epi16(_mm512_abs_epi8(w_), xs_),           \
                                                _mm512_set1_epi16(1)));                                   \
    })

// Software prefetch distance of the panel kernels, in block-panels ahead.
#ifndef PANEL_PREFETCH
#define PANEL_PREFETCH 4
#endif

#define DEFINE_PANEL_KERNEL(NAME, TARGET, INIT, DOT, NX, Q4)                                              \
    TARGET static void NAME(const uint8_t *panel, size_t blocks, const int8_t *xq, size_t ldq,            \
                            const float *xd, size_t ldd, const int32_t *corr, size_t ldc, float *y,        \
                            size_t ldy, __mmask16 rows) {                                                 \
        const size_t pb = r16_block_bytes(Q4);                                                            \
        __m512 out[NX];                                                                                   \
        for (int c = 0; c < NX; c++) out[c] = _mm512_setzero_ps();                                        \
        for (size_t b = 0; b < blocks; b++) {                                                             \
            const uint8_t *blk = panel + b * pb;                                                          \
            _mm_prefetch((const char *)blk + PANEL_PREFETCH * pb, _MM_HINT_T0);                           \
            _mm_prefetch((const char *)blk + PANEL_PREFETCH * pb + 256, _MM_HINT_T0);                     \
            const __m512 ws = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)blk));                  \
            __m512i u[8];                                                                                 \
            if (Q4) {                                                                                     \
                const __m512i low4 = _mm512_set1_epi8(0x0F);                                              \
                for (int g = 0; g < 4; g++) {                                                             \
                    const __m512i v = _mm512_loadu_si512((const void *)(blk + 32 + g * 64));              \
                    u[g] = _mm512_and_si512(v, low4);                                                     \
                    u[g + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);                           \
                }                                                                                         \
            } else {                                                                                      \
                for (int g = 0; g < 8; g++) u[g] = _mm512_loadu_si512((const void *)(blk + 32 + g * 64)); \
            }                                                                                             \
            _Pragma("GCC unroll 8")                                                                       \
            for (int c = 0; c < NX; c++) {                                                                \
                const int8_t *xb = xq + c * ldq + b * 32;                                                 \
                __m512i acc = INIT(corr[c * ldc + b], Q4);                                                \
                _Pragma("GCC unroll 8")                                                                   \
                for (int g = 0; g < 8; g++) {                                                             \
                    int32_t x4;                                                                           \
                    memcpy(&x4, xb + 4 * g, 4);                                                             \
                    acc = DOT(acc, u[g], _mm512_set1_epi32(x4), Q4);                                      \
                }                                                                                         \
                const __m512 sc = _mm512_mul_ps(ws, _mm512_set1_ps(xd[c * ldd + b]));                     \
                out[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), sc, out[c]);                             \
            }                                                                                             \
        }                                                                                                 \
        for (int c = 0; c < NX; c++) _mm512_mask_storeu_ps(y + c * ldy, rows, out[c]);                    \
    }

DEFINE_PANEL_KERNEL(q8_vnni_8, VNNI_TARGET, PANEL_INIT_VNNI, PANEL_DOT_VNNI, 8, 0)
DEFINE_PANEL_KERNEL(q8_vnni_4, VNNI_TARGET, PANEL_INIT_VNNI, PANEL_DOT_VNNI, 4, 0)
DEFINE_PANEL_KERNEL(q8_vnni_2, VNNI_TARGET, PANEL_INIT_VNNI, PANEL_DOT_VNNI, 2, 0)
DEFINE_PANEL_KERNEL(q8_vnni_1, VNNI_TARGET, PANEL_INIT_VNNI, PANEL_DOT_VNNI, 1, 0)
DEFINE_PANEL_KERNEL(q8_bw_8, AVX512_TARGET, PANEL_INIT_BW, PANEL_DOT_BW, 8, 0)
DEFINE_PANEL_KERNEL(q8_bw_4, AVX512_TARGET, PANEL_INIT_BW, PANEL_DOT_BW, 4, 0)
DEFINE_PANEL_KERNEL(q8_bw_2, AVX512_TARGET, PANEL_INIT_BW, PANEL_DOT_BW, 2, 0)
DEFINE_PANEL_KERNEL(q8_bw_1, AVX512_TARGET, PANEL_INIT_BW, PANEL_DOT_BW, 1, 0)
DEFINE_PANEL_KERNEL(q4_vnni_8, VNNI_TARGET, PANEL_INIT_VNNI, PANEL_DOT_VNNI, 8, 1)
DEFINE_PANEL_KERNEL(q4_vnni_4, VNNI_TARGET, PANEL_INIT_VNNI, PANEL_DOT_VNNI, 4, 1)
DEFINE_PANEL_KERNEL(q4_vnni_2, VNNI_TARGET, PANEL_INIT_VNNI, PANEL_DOT_VNNI, 2, 1)
DEFINE_PANEL_KERNEL(q4_vnni_1, VNNI_TARGET, PANEL_INIT_VNNI, PANEL_DOT_VNNI, 1, 1)
DEFINE_PANEL_KERNEL(q4_bw_8, AVX512_TARGET, PANEL_INIT_BW, PANEL_DOT_BW, 8, 1)
DEFINE_PANEL_KERNEL(q4_bw_4, AVX512_TARGET, PANEL_INIT_BW, PANEL_DOT_BW, 4, 1)
DEFINE_PANEL_KERNEL(q4_bw_2, AVX512_TARGET, PANEL_INIT_BW, PANEL_DOT_BW, 2, 1)
DEFINE_PANEL_KERNEL(q4_bw_1, AVX512_TARGET, PANEL_INIT_BW, PANEL_DOT_BW, 1, 1)

typedef void (*panel_kernel)(const uint8_t *, size_t, const int8_t *, size_t, const float *, size_t,
                             const int32_t *, size_t, float *, size_t, __mmask16);

// All x rows against one R16 panel, 8 rows at a time then 4/2/1.
static void panel_rows(int vnni, int q4, const uint8_t *panel, size_t blocks, size_t k, const int8_t *xqs,
                       const float *xd, const int32_t *corr, size_t m, float *y, size_t ldy, __mmask16 rows) {
    static const panel_kernel table[2][2][4] = {
        { { q8_bw_1, q8_bw_2, q8_bw_4, q8_bw_8 }, { q8_vnni_1, q8_vnni_2, q8_vnni_4, q8_vnni_8 } },
        { { q4_bw_1, q4_bw_2, q4_bw_4, q4_bw_8 }, { q4_vnni_1, q4_vnni_2, q4_vnni_4, q4_vnni_8 } },
    };
    const panel_kernel *kernels = table[q4][vnni];
    size_t i = 0;
    while (i < m) {
        const size_t left = m - i;
        const int which = left >= 8 ? 3 : left >= 4 ? 2 : left >= 2 ? 1 : 0;
        kernels[which](panel, blocks, xqs + i * k, k, xd + i * blocks, blocks, corr + i * blocks, blocks, y + i * ldy, ldy, rows);
        i += (size_t)1 << which;
    }
}

// Row-layout weights, m ≥ VIDLM_QGEMM_MIN_ROWS: each 16 rows repacked into a scratch panel.
// Returns 0 when the scratch cannot be allocated.
static int gemm_avx512(int vnni, int format, const uint8_t *w, size_t k, size_t row_begin, size_t row_end,
                       const int8_t *xqs, const float *xd, const int32_t *corr, size_t m, float *y, size_t ldy) {
    const int q4 = format == VIDLM_Q4_0;
    const size_t blocks = k / 32, row_bytes = blocks * block_bytes(format);
    uint8_t *panel = aligned_alloc(64, (blocks * r16_block_bytes(q4) + 63) / 64 * 64);
    if (!panel) return 0;
    for (size_t r0 = row_begin; r0 < row_end; r0 += 16) {
        const size_t n = row_end - r0 < 16 ? row_end - r0 : 16;
        repack_panel(format, w + r0 * row_bytes, row_bytes, blocks, n, panel);
        panel_rows(vnni, q4, panel, blocks, k, xqs, xd, corr, m, y + r0, ldy, (__mmask16)(n >= 16 ? 0xFFFFu : ((1u << n) - 1u)));
    }
    free(panel);
    return 1;
}

void vidlm_quantize_x_row(const float *x, size_t k, int8_t *qs, float *d, int32_t *sums, int path) {
    if (path != VIDLM_QPATH_PORTABLE) quantize_x_row_avx512(x, k, qs, d, sums);
    else quantize_x_row_portable(x, k, qs, d, sums);
}

// Each block's correction −128·Σx from the 8 per-4 sums quantize_x_row stored.
static void block_corrections(const int32_t *xsums, size_t k, size_t m, int32_t *corr) {
    const size_t blocks = k / 32;
    for (size_t i = 0; i < m; i++)
        for (size_t b = 0; b < blocks; b++) {
            const int32_t *s = xsums + i * (k / 4) + b * 8;
            corr[i * blocks + b] = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
        }
}

void vidlm_quant_matmul(int format, int path, const uint8_t *w, size_t k, size_t row_begin, size_t row_end,
                        const int8_t *xqs, const float *xd, const int32_t *xsums, const int32_t *xcorr, size_t m,
                        float *y, size_t ldy) {
    const int panels = is_r16(format) || m >= VIDLM_QGEMM_MIN_ROWS;
    if (!panels) {
        if (path == VIDLM_QPATH_PORTABLE) matmul_portable(format, w, k, row_begin, row_end, xqs, xd, m, y, ldy);
        else matmul_avx512(path == VIDLM_QPATH_AVX512VNNI, format, w, k, row_begin, row_end, xqs, xd, xsums, m, y, ldy);
        return;
    }
    if (path == VIDLM_QPATH_PORTABLE) {
        if (is_r16(format)) gemm_portable_r16(format == VIDLM_Q4_0_R16, w, k, row_begin, row_end, xqs, xd, m, y, ldy);
        else gemm_portable(format, w, k, row_begin, row_end, xqs, xd, m, y, ldy);
        return;
    }
    const size_t blocks = k / 32;
    int32_t *owned = NULL;
    const int32_t *corr = xcorr;
    if (!corr) {
        owned = malloc(m * blocks * sizeof(int32_t));
        if (!owned) {
            // No memory for the corrections: the portable path computes the same floats.
            if (is_r16(format)) gemm_portable_r16(format == VIDLM_Q4_0_R16, w, k, row_begin, row_end, xqs, xd, m, y, ldy);
            else gemm_portable(format, w, k, row_begin, row_end, xqs, xd, m, y, ldy);
            return;
        }
        block_corrections(xsums, k, m, owned);
        corr = owned;
    }
    const int vnni = path == VIDLM_QPATH_AVX512VNNI;
    if (is_r16(format)) {
        const int q4 = format == VIDLM_Q4_0_R16;
        const size_t pb = r16_block_bytes(q4);
        // Ranges need not start or end on a panel: the rows outside it are computed, not stored.
        for (size_t p = row_begin / 16; p * 16 < row_end; p++) {
            const size_t lo = row_begin > p * 16 ? row_begin - p * 16 : 0;
            const size_t hi = row_end < p * 16 + 16 ? row_end - p * 16 : 16;
            const __mmask16 rows = (__mmask16)((((1u << hi) - 1u)) & ~((1u << lo) - 1u));
            panel_rows(vnni, q4, w + p * blocks * pb, blocks, k, xqs, xd, corr, m, y + p * 16, ldy, rows);
        }
    } else if (!gemm_avx512(vnni, format, w, k, row_begin, row_end, xqs, xd, corr, m, y, ldy)) {
        gemm_portable(format, w, k, row_begin, row_end, xqs, xd, m, y, ldy);
    }
    free(owned);
}

#else

int vidlm_quant_best_path(void) { return VIDLM_QPATH_PORTABLE; }

void vidlm_quantize_x_row(const float *x, size_t k, int8_t *qs, float *d, int32_t *sums, int path) {
    (void)path;
    quantize_x_row_portable(x, k, qs, d, sums);
}

void vidlm_quant_matmul(int format, int path, const uint8_t *w, size_t k, size_t row_begin, size_t row_end,
                        const int8_t *xqs, const float *xd, const int32_t *xsums, const int32_t *xcorr, size_t m,
                        float *y, size_t ldy) {
    (void)path; (void)xsums; (void)xcorr;
    if (is_r16(format)) gemm_portable_r16(format == VIDLM_Q4_0_R16, w, k, row_begin, row_end, xqs, xd, m, y, ldy);
    else if (m >= VIDLM_QGEMM_MIN_ROWS) gemm_portable(format, w, k, row_begin, row_end, xqs, xd, m, y, ldy);
    else matmul_portable(format, w, k, row_begin, row_end, xqs, xd, m, y, ldy);
}

#endif
