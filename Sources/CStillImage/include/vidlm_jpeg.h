#ifndef VIDLM_JPEG_H
#define VIDLM_JPEG_H

#include <stddef.h>
#include <stdint.h>

/// What a JPEG's header says, read without decoding any pixels.
typedef struct {
    int width;
    int height;
    /// 1 gray, 3 YCbCr/RGB, 4 CMYK/YCCK.
    int components;
} vidlm_jpeg_header;

/// Reads the header of the JPEG in `data`. Returns 0, or -1 with one sentence in `message`.
int vidlm_jpeg_read_header(const uint8_t *data, size_t size, vidlm_jpeg_header *header,
                           char *message, size_t message_capacity);

/// Decodes the JPEG in `data` with libjpeg's defaults (integer IDCT, fancy chroma upsampling:
/// what Pillow and torchcodec use) into `out`: width·height·3 RGB bytes for gray and colour
/// pictures (gray replicated), width·height·4 CMYK bytes as libjpeg outputs them for CMYK/YCCK.
/// Returns 0; -1 with one sentence in `message` on an error or a truncated file. `warnings`
/// counts the damaged-data warnings libjpeg decoded past.
int vidlm_jpeg_decode(const uint8_t *data, size_t size, uint8_t *out, size_t out_capacity,
                      int *warnings, char *message, size_t message_capacity);

#endif
