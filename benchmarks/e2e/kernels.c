// Per-core peaks and vidlm's kernels on the shapes of the benchmark's towers and decoders, timed by
// the thread's own CPU clock (CLOCK_THREAD_CPUTIME_ID), one thread, best of 5, so the figure is
// the kernel's rate while it runs even on a shared machine. Prints one JSON object.
//   peaks: AVX-512 FMA (f32) and vdpbf16ps (bf16) issue rates with no memory traffic (24
//          independent sums: 12 under-read Intel's two FMA ports by a third), and on a
//          CPU with AMX the TDPBF16PS rate (four tile sums, operands already in tiles);
//   gemm: vidlm_f32_gemm_avx512 / vidlm_bf16_gemm_avx512bf16 / vidlm_amx_bf16_gemm (packing
//         included) and OpenBLAS sgemm (single-threaded) on y = x·Wᵀ shapes (m tokens, k in, n out);
//   attention: vidlm_attention_avx512 (f32 and bf16) and vidlm_attention_amx over L tokens of
//              width dh, one head;
//   read bandwidth: the rate two threads stream 1 GiB from memory (each half, wall clock, best of
//              5), for comparison with decoding, which reads every decoder weight once per token
//              (on a shared VM it varies from run to run; see benchmarks/vlm/report.py).
// Built by benchmarks/e2e/run.sh against Sources/CKernels and -lopenblas.
#include <cblas.h>
#include <pthread.h>
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "amx_gemm.h"
#include "attention_kernels.h"
#include "bf16_gemm.h"
#include "f32_gemm.h"

void openblas_set_num_threads(int);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *alloc64(size_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64); }

__attribute__((target("avx512f,avx512bf16,avx512bw,avx512vl"), noinline)) static double peak_bf16(long it) {
    __m512 c[24];
    for (int i = 0; i < 24; i++) c[i] = _mm512_setzero_ps();
    __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3c00);
    double t0 = now();
    for (long i = 0; i < it; i++) {
        for (int j = 0; j < 24; j++) c[j] = _mm512_dpbf16_ps(c[j], a, b);
        __asm__ volatile("" ::"v"(a));
    }
    double t = now() - t0;
    float s = 0;
    for (int i = 0; i < 24; i++) s += _mm512_reduce_add_ps(c[i]);
    if (s == 1) printf(" ");
    return it * 24.0 * 64 / t / 1e9;
}

__attribute__((target("avx512f"), noinline)) static double peak_fma(long it) {
    __m512 c[24];
    for (int i = 0; i < 24; i++) c[i] = _mm512_setzero_ps();
    __m512 a = _mm512_set1_ps(1.0001f), b = _mm512_set1_ps(0.5f);
    double t0 = now();
    for (long i = 0; i < it; i++) {
        for (int j = 0; j < 24; j++) c[j] = _mm512_fmadd_ps(c[j], a, b);
        __asm__ volatile("" ::"v"(a));
    }
    double t = now() - t0;
    float s = 0;
    for (int i = 0; i < 24; i++) s += _mm512_reduce_add_ps(c[i]);
    if (s == 1) printf(" ");
    return it * 24.0 * 32 / t / 1e9;
}

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16], reserved2[16];
} tile_config;

__attribute__((target("amx-tile,amx-bf16"), noinline)) static double peak_amx(long it) {
    tile_config cfg = {.palette = 1};
    for (int t = 0; t < 8; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; }
    static uint16_t ones[16 * 32] __attribute__((aligned(64)));
    for (int i = 0; i < 16 * 32; i++) ones[i] = 0x3c00;
    _tile_loadconfig(&cfg);
    _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
    _tile_loadd(4, ones, 64); _tile_loadd(5, ones, 64); _tile_loadd(6, ones, 64); _tile_loadd(7, ones, 64);
    double t0 = now();
    for (long i = 0; i < it; i++) {
        _tile_dpbf16ps(0, 4, 6); _tile_dpbf16ps(1, 4, 7); _tile_dpbf16ps(2, 5, 6); _tile_dpbf16ps(3, 5, 7);
    }
    double t = now() - t0;
    _tile_release();
    return it * 4.0 * 16 * 16 * 32 * 2 / t / 1e9;
}

static double wall(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct {
    const char *p;
    size_t bytes;
    float sum;
} read_job;

// Eight independent sums of 64-byte loads, as a decoding matvec streams its weight rows.
__attribute__((target("avx512f"))) static void *read_half(void *arg) {
    read_job *j = arg;
    __m512 s[8];
    for (int i = 0; i < 8; i++) s[i] = _mm512_setzero_ps();
    for (size_t o = 0; o < j->bytes; o += 512)
        for (int i = 0; i < 8; i++) s[i] = _mm512_add_ps(s[i], _mm512_load_ps((const float *)(j->p + o + 64 * i)));
    for (int i = 1; i < 8; i++) s[0] = _mm512_add_ps(s[0], s[i]);
    j->sum = _mm512_reduce_add_ps(s[0]);
    return NULL;
}

static double read_bandwidth(void) {
    size_t bytes = (size_t)1 << 30;
    char *buf = alloc64(bytes);
    for (size_t i = 0; i < bytes; i += 64) buf[i] = (char)i;
    double best = 0;
    for (int r = 0; r < 5; r++) {
        read_job a = {buf, bytes / 2, 0}, b = {buf + bytes / 2, bytes / 2, 0};
        pthread_t t;
        double t0 = wall();
        int started = pthread_create(&t, NULL, read_half, &b) == 0;
        read_half(&a);
        if (started) pthread_join(t, NULL);
        else read_half(&b);
        if (b.sum != b.sum || a.sum == 12345) printf(" ");  // keeps the sums live
        double gbs = bytes / (wall() - t0) / 1e9;
        best = gbs > best ? gbs : best;
    }
    free(buf);
    return best;
}

static double best_of(double v[5]) {
    double b = v[0];
    for (int i = 1; i < 5; i++) b = v[i] > b ? v[i] : b;
    return b;
}

static void gemm(const char *name, size_t m, size_t k, size_t n, int first) {
    float *x = alloc64(m * k * 4), *wf = alloc64(n * k * 4), *y = alloc64(m * n * 4);
    uint16_t *wb = alloc64(n * k * 2);
    for (size_t i = 0; i < m * k; i++) x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    for (size_t i = 0; i < n * k; i++) { wf[i] = (float)((i * 40503u) % 1000) / 50000.0f; wb[i] = 0x3c23; }
    double flop = 2.0 * m * n * k, r_f32[5], r_bf16[5], r_ob[5], r_amx[5] = {0};
    int amx = vidlm_amx_bf16_available();
    uint16_t *xpa = alloc64(vidlm_amx_packed_x_count(m, k) * 2), *sa = alloc64(vidlm_amx_gemm_scratch_count() * 2);
    float *xp32 = alloc64(vidlm_f32_packed_x_count(m, k) * 4), *s32 = alloc64(vidlm_f32_gemm_scratch_count() * 4);
    uint16_t *xp16 = alloc64(vidlm_bf16_packed_x_count(m, k) * 2), *s16 = alloc64(vidlm_bf16_gemm_scratch_count() * 2);
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        vidlm_f32_pack_x_avx512(x, k, m, k, 0, m, xp32);
        vidlm_f32_gemm_avx512(xp32, m, wf, k, 0, n, y, n, 0, NULL, -1, s32);
        r_f32[r] = flop / (now() - t0) / 1e9;
        t0 = now();
        vidlm_bf16_pack_x_avx512bf16(x, k, m, k, 0, m, xp16);
        vidlm_bf16_gemm_avx512bf16(xp16, m, wb, k, 0, n, y, n, 0, NULL, -1, s16);
        r_bf16[r] = flop / (now() - t0) / 1e9;
        t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1, x, (int)k, wf, (int)k, 0, y, (int)n);
        r_ob[r] = flop / (now() - t0) / 1e9;
        if (amx) {
            t0 = now();
            vidlm_amx_pack_x(x, k, m, k, 0, (m + 31) / 32 * 32, xpa);
            vidlm_amx_bf16_gemm(xpa, m, wb, k, 0, n, y, n, 0, NULL, -1, sa);
            r_amx[r] = flop / (now() - t0) / 1e9;
        }
    }
    printf("%s\n  {\"shape\": \"%s\", \"m\": %zu, \"k\": %zu, \"n\": %zu, \"vidlm_f32\": %.1f, \"vidlm_bf16\": %.1f, \"openblas_f32\": %.1f",
           first ? "" : ",", name, m, k, n, best_of(r_f32), best_of(r_bf16), best_of(r_ob));
    if (amx) printf(", \"vidlm_amx_bf16\": %.1f", best_of(r_amx));
    printf("}");
    free(x); free(wf); free(y); free(wb); free(xp32); free(s32); free(xp16); free(s16); free(xpa); free(sa);
}

static void attention(const char *name, size_t l, size_t dh, int first) {
    size_t row = 3 * dh;
    float *qkv = alloc64(l * row * 4), *out = alloc64(l * dh * 4);
    for (size_t i = 0; i < l * row; i++) qkv[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    float *s = alloc64(vidlm_attention_scratch_floats(l, l, dh) * 4);
    float *sa = alloc64(vidlm_attention_amx_scratch_floats(l, dh) * 4);
    int amx = vidlm_amx_bf16_available();
    double flop = 4.0 * l * l * dh, rf[5], rb[5], ra[5] = {0};
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        vidlm_attention_avx512(qkv, row, qkv + dh, row, qkv + 2 * dh, row, l, l, dh, 0.125f, 0, NULL, out, dh, 0, s);
        rf[r] = flop / (now() - t0) / 1e9;
        t0 = now();
        vidlm_attention_avx512(qkv, row, qkv + dh, row, qkv + 2 * dh, row, l, l, dh, 0.125f, 0, NULL, out, dh, 1, s);
        rb[r] = flop / (now() - t0) / 1e9;
        if (amx) {
            t0 = now();
            vidlm_attention_amx(qkv, row, qkv + dh, row, qkv + 2 * dh, row, l, l, dh, 0.125f, 0, NULL, out, dh, sa);
            ra[r] = flop / (now() - t0) / 1e9;
        }
    }
    printf("%s\n  {\"shape\": \"%s\", \"tokens\": %zu, \"head_dim\": %zu, \"vidlm_f32\": %.1f, \"vidlm_bf16\": %.1f",
           first ? "" : ",", name, l, dh, best_of(rf), best_of(rb));
    if (amx) printf(", \"vidlm_amx_bf16\": %.1f", best_of(ra));
    printf("}");
    free(qkv); free(out); free(s); free(sa);
}

int main(void) {
    openblas_set_num_threads(1);
    double pf[5], pb[5];
    for (int r = 0; r < 5; r++) { pf[r] = peak_fma(50000000); pb[r] = peak_bf16(50000000); }
    printf("{\"clock\": \"CLOCK_THREAD_CPUTIME_ID\", \"threads\": 1, \"peak_fma_f32\": %.1f, \"peak_dot_bf16\": %.1f,",
           best_of(pf), best_of(pb));
    if (vidlm_amx_bf16_available()) {
        double pa[5];
        for (int r = 0; r < 5; r++) pa[r] = peak_amx(2000000);
        printf(" \"peak_amx_bf16\": %.1f,", best_of(pa));
    }
    printf("\n\"gemm\": [");
    // EVA ViT-g (4 frames x 257 tokens): qkv, fc1, fc2; SigLIP-SO400M (8 x 729): fc1; SigLIP-B/16 at
    // 512 px (1024 tokens): qkv; TinyLlama prefill (135 tokens): gate+up; OPT-2.7B prefill: fc1.
    gemm("EVA ViT-g qkv", 1028, 1408, 4224, 1);
    gemm("EVA ViT-g fc1", 1028, 1408, 6144, 0);
    gemm("EVA ViT-g fc2", 1028, 6144, 1408, 0);
    gemm("SigLIP-SO400M fc1", 2916, 1152, 4304, 0);
    gemm("SigLIP-B/16 qkv", 1024, 768, 2304, 0);
    gemm("TinyLlama prefill gate+up", 135, 2048, 11264, 0);
    gemm("OPT-2.7B prefill fc1", 48, 2560, 10240, 0);
    printf("],\n\"attention\": [");
    attention("EVA ViT-g", 257, 88, 1);
    attention("SigLIP-SO400M", 729, 72, 0);
    attention("SigLIP-B/16 512 px", 1024, 64, 0);
    printf("],\n\"read_bandwidth_2_threads_gbs\": %.1f}\n", read_bandwidth());
    return 0;
}
