#ifndef VIDLM_CZLIB_SHIM_H
#define VIDLM_CZLIB_SHIM_H

#include <zlib.h>

// deflateInit is a macro (it passes the library's version and stream size); Swift cannot call it.
static inline int vidlm_deflate_init(z_stream *stream, int level) { return deflateInit(stream, level); }

#endif
