#include "f32_matvec.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "simd_math.h"

// Rows one after the other, each front to back (see VIDLM_DEFINE_FMA_MATVEC): OpenBLAS's generic
// sgemv (what Debian's OpenBLAS runs on a CPU it does not know) streamed about two thirds of a
// plain two-thread read of the same memory on this project's VM.
#define F32_LOAD(p, mask) _mm512_maskz_loadu_ps((mask), (p))
VIDLM_DEFINE_FMA_MATVEC(f32, __attribute__((target("avx512f"))), float, F32_LOAD)

__attribute__((target("avx512f"))) void vidlm_f32_matvec_avx512(const float *w, size_t k, size_t row_begin,
                                                                size_t row_end, const float *x, size_t ldx, size_t m,
                                                                float *y, size_t ldy, int accumulate) {
    f32_matvec(w, k, row_begin, row_end, x, ldx, m, y, ldy, accumulate);
}

#else

void vidlm_f32_matvec_avx512(const float *w, size_t k, size_t row_begin, size_t row_end, const float *x, size_t ldx,
                             size_t m, float *y, size_t ldy, int accumulate) {
    (void)w; (void)k; (void)row_begin; (void)row_end; (void)x; (void)ldx; (void)m; (void)y; (void)ldy; (void)accumulate;
}

#endif
