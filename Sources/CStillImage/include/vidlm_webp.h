#ifndef VIDLM_WEBP_H
#define VIDLM_WEBP_H

#include <stddef.h>
#include <stdint.h>

/// Whether libwebp (libwebp.so.7, loaded on first use) is on this machine. Without it WebP
/// stills decode through libav.
int vidlm_webp_available(void);

/// The picture size of the WebP in `data`; 0 on success.
int vidlm_webp_size(const uint8_t *data, size_t size, int *width, int *height);

/// Decodes a still WebP to width·height·3 RGB bytes with libwebp's defaults (fancy chroma
/// upsampling; alpha dropped), the pixels Pillow and torchcodec give. 0 on success; -1 when
/// libwebp refuses the data (animated files among them).
int vidlm_webp_decode_rgb(const uint8_t *data, size_t size, uint8_t *out, size_t out_capacity, int stride);

#endif
