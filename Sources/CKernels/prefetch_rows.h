// Software prefetch of rows a share at a time (decoding attention, attention_decode.c: the cache
// rows ahead of the ones in use), so that their memory traffic overlaps the arithmetic instead of
// stalling the loads that reach them.
#ifndef VIDLM_PREFETCH_ROWS_H
#define VIDLM_PREFETCH_ROWS_H
#include <immintrin.h>
#include <stddef.h>

/// Share `part` of `parts` of the cache lines of rows [r0, r1) of w (a row every `row_bytes`),
/// bytes [offset, offset + bytes) of each row (one line more, for rows not 64-byte aligned).
static inline void vidlm_prefetch_rows_share(const void *w, size_t row_bytes, size_t r0, size_t r1, size_t offset,
                                             size_t bytes, size_t part, size_t parts) {
    if (r0 >= r1 || parts == 0) return;
    size_t lines = (bytes + 63) / 64 + 1, total = (r1 - r0) * lines;
    size_t i0 = part * total / parts, i1 = (part + 1) * total / parts;
    if (i0 >= i1) return;
    size_t line = i0 % lines;
    const char *p = (const char *)w + (r0 + i0 / lines) * row_bytes + offset;
    for (size_t i = i0; i < i1; i++) {
        _mm_prefetch(p + line * 64, _MM_HINT_T1);
        if (++line == lines) {
            line = 0;
            p += row_bytes;
        }
    }
}

#endif
