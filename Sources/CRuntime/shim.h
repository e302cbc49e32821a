#ifndef VIDLM_CRUNTIME_SHIM_H
#define VIDLM_CRUNTIME_SHIM_H
#if defined(__linux__)
#include <malloc.h>
#include <sys/prctl.h>
#endif

// Keeps large freed blocks in glibc's heap instead of returning them to the kernel, so
// per-layer activation buffers are reused rather than page-faulted in (and zeroed) again. glibc
// refuses an mmap threshold above 32 MiB (HEAP_MAX_SIZE / 2), and blocks above it would still be
// mapped and unmapped on every use (a batch of frames' MLP activations is ~50 MiB), so mmap is
// turned off for malloc altogether (M_MMAP_MAX 0): every block comes from the heap (files are
// still mapped by their own mmap calls). One arena (M_ARENA_MAX 1): the settings above hold
// only for the main arena; a thread's own arena is a chain of 64 MiB mapped heaps that glibc
// unmaps as they empty, so activations allocated on worker threads were page-faulted in again
// layer after layer (Qwen2.5-VL-3B's tower on a 1280×720 picture: 3.2 M minor faults and
// 13.9 s; one arena: 0.3 M and 7.5 s). No-op elsewhere.
static inline void vidlm_keep_freed_memory(void) {
#if defined(__linux__) && defined(M_MMAP_THRESHOLD)
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_ARENA_MAX, 1);
#endif
}

// The opposite, for commands that only stream frames (no tensors): blocks over 128 KiB are
// mapped and returned when freed, so a long export's RSS stays near what is live (glibc's
// growing default threshold otherwise fragments the heap by tens of MiB over many frames).
static inline void vidlm_return_freed_memory(void) {
#if defined(__linux__) && defined(M_MMAP_THRESHOLD)
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
}

// Names the calling thread (Linux shows up to 15 characters); no-op elsewhere.
static inline void vidlm_name_this_thread(const char *name) {
#if defined(__linux__)
    prctl(PR_SET_NAME, name, 0, 0, 0);
#else
    (void)name;
#endif
}

// A short pause inside spin-wait loops (x86 PAUSE, the ARM yield hint elsewhere): it lets the
// other hyper-thread run and saves power while a worker waits for the next parallel loop.
static inline void vidlm_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
#endif
