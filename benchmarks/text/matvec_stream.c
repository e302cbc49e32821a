// How close vidlm's bf16 decoding kernel (vidlm_bf16_matvec_avx512bf16) comes to the memory's
// streaming rate. A model of one decoder token: LAYERS layers of q/k/v, o, gate/up and down
// weight rows (SmolLM2-1.7B's shapes, 3.2 GB of bf16 by default) multiplied with one x row by two
// threads that claim units of 256K weights, as vidlm's ParallelLoop does, and wait for each
// other after every matrix. Each round times that token, then a plain read of the same memory by
// the same two threads (each a contiguous half). The two alternate in one process because a
// shared VM's memory rate can move by 2x from one minute to the next; compare within a round.
// Prints one JSON object. Built and run by benchmarks/text/matvec_stream.sh.
#include <immintrin.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "half_kernels.h"

enum { PARTS = 4 };
static const size_t ROWS[PARTS] = {6144, 2048, 16384, 2048}, KS[PARTS] = {2048, 2048, 2048, 8192};
static size_t layers = 24, bytes;
static uint16_t *weights;
static uint16_t xb[8192] __attribute__((aligned(64)));
static float y[16384];
static atomic_size_t *claims;
static atomic_int arrived, generation;
static volatile float sink;

static double wall(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void barrier(void) {
    int g = atomic_load(&generation);
    if (atomic_fetch_add(&arrived, 1) == 1) {
        atomic_store(&arrived, 0);
        atomic_fetch_add(&generation, 1);
    } else {
        while (atomic_load(&generation) == g) _mm_pause();
    }
}

static void *token(void *arg) {
    (void)arg;
    const uint16_t *w = weights;
    size_t call = 0;
    for (size_t l = 0; l < layers; l++)
        for (int q = 0; q < PARTS; q++, call++) {
            size_t rows = ROWS[q], k = KS[q], unit = (1u << 18) / k;
            for (;;) {
                size_t r0 = atomic_fetch_add(&claims[call], 1) * unit;
                if (r0 >= rows) break;
                vidlm_bf16_matvec_avx512bf16(w, k, r0, r0 + unit < rows ? r0 + unit : rows, xb, k, 1, y, rows);
            }
            w += rows * k;
            barrier();
        }
    return NULL;
}

__attribute__((target("avx512f"))) static void *plain_read(void *arg) {
    size_t half = bytes / 2 / 256 * 256, start = arg ? half : 0, end = arg ? bytes / 256 * 256 : half;
    const char *p = (const char *)weights;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = start; i < end; i += 256) {
        s0 = _mm512_add_ps(s0, _mm512_loadu_ps((const float *)(p + i)));
        s1 = _mm512_add_ps(s1, _mm512_loadu_ps((const float *)(p + i + 64)));
        s2 = _mm512_add_ps(s2, _mm512_loadu_ps((const float *)(p + i + 128)));
        s3 = _mm512_add_ps(s3, _mm512_loadu_ps((const float *)(p + i + 192)));
    }
    sink = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    return NULL;
}

static double timed(void *(*fn)(void *)) {
    pthread_t t[2];
    double t0 = wall();
    for (size_t i = 0; i < 2; i++) pthread_create(&t[i], NULL, fn, (void *)i);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    return bytes / (wall() - t0) / 1e9;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, z = *(const double *)b;
    return (x > z) - (x < z);
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 8;
    if (argc > 2) layers = (size_t)atoi(argv[2]);
    if (rounds < 1 || rounds > 100 || layers < 1 || layers > 64 || !vidlm_avx512bf16_matvec_available()) {
        fprintf(stderr, "usage: matvec_stream [rounds 1-100] [layers 1-64]; needs AVX-512 BF16\n");
        return 1;
    }
    size_t per_layer = 0;
    for (int q = 0; q < PARTS; q++) per_layer += ROWS[q] * KS[q];
    bytes = per_layer * layers * 2;
    weights = aligned_alloc(64, bytes);
    claims = calloc(layers * PARTS, sizeof *claims);
    if (!weights || !claims) return 1;
    for (size_t i = 0; i < bytes / 2; i++) weights[i] = (uint16_t)(0x3c00 + (i & 63));
    for (int i = 0; i < 8192; i++) xb[i] = 0x3f80;
    double kernel[100], plain[100], ratio[100];
    printf("{\"bytes\": %zu, \"threads\": 2, \"rounds\": [", bytes);
    for (int r = 0; r < rounds; r++) {
        for (size_t i = 0; i < layers * PARTS; i++) atomic_store(&claims[i], 0);
        kernel[r] = timed(token);
        plain[r] = timed(plain_read);
        ratio[r] = kernel[r] / plain[r];
        printf("%s{\"matvec_gbs\": %.1f, \"plain_read_gbs\": %.1f}", r ? ", " : "", kernel[r], plain[r]);
    }
    qsort(kernel, rounds, sizeof(double), by_value);
    qsort(plain, rounds, sizeof(double), by_value);
    qsort(ratio, rounds, sizeof(double), by_value);
    printf("],\n \"median_matvec_gbs\": %.1f, \"median_plain_read_gbs\": %.1f, \"median_ratio\": %.3f}\n", kernel[rounds / 2],
           plain[rounds / 2], ratio[rounds / 2]);
    return 0;
}
