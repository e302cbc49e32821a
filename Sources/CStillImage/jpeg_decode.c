// JPEG stills through libjpeg(-turbo), the decoder Pillow and torchcodec use, so that a photo's
// pixels are the ones transformers' image loaders give. libjpeg reports fatal errors by calling
// error_exit, which must not return: it longjmps back here (Swift cannot use setjmp).
#include "vidlm_jpeg.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf escape;
    int warnings;
    int truncated;
} error_manager;

static void on_error(j_common_ptr cinfo) {
    error_manager *err = (error_manager *)cinfo->err;
    longjmp(err->escape, 1);
}

// Warnings (level -1) are counted; libjpeg's trace messages are dropped. Nothing is printed.
static void on_message(j_common_ptr cinfo, int level) {
    error_manager *err = (error_manager *)cinfo->err;
    if (level < 0) {
        err->warnings += 1;
        // libjpeg pads a file that ends early with grey and calls it a warning; Pillow refuses it.
        if (err->base.msg_code == JWRN_JPEG_EOF) err->truncated = 1;
    }
}

static void write_message(j_common_ptr cinfo, char *message, size_t capacity) {
    char buffer[JMSG_LENGTH_MAX];
    cinfo->err->format_message(cinfo, buffer);
    if (capacity > 0) snprintf(message, capacity, "%s", buffer);
}

static void setup(struct jpeg_decompress_struct *cinfo, error_manager *err) {
    cinfo->err = jpeg_std_error(&err->base);
    err->base.error_exit = on_error;
    err->base.emit_message = on_message;
    err->warnings = 0;
    err->truncated = 0;
}

// Called right after setjmp in the caller, whose frame the error handler jumps back to.
static void open_source(struct jpeg_decompress_struct *cinfo, const uint8_t *data, size_t size) {
    jpeg_create_decompress(cinfo);
    jpeg_mem_src(cinfo, data, (unsigned long)size);
    jpeg_read_header(cinfo, TRUE);
}

// The caller's way out after a longjmp: libjpeg's sentence, then the decompressor freed.
static int fail(struct jpeg_decompress_struct *cinfo, char *message, size_t capacity) {
    write_message((j_common_ptr)cinfo, message, capacity);
    jpeg_destroy_decompress(cinfo);
    return -1;
}

int vidlm_jpeg_read_header(const uint8_t *data, size_t size, vidlm_jpeg_header *header,
                           char *message, size_t message_capacity) {
    struct jpeg_decompress_struct cinfo;
    error_manager err;
    setup(&cinfo, &err);
    if (setjmp(err.escape)) return fail(&cinfo, message, message_capacity);
    open_source(&cinfo, data, size);
    header->width = (int)cinfo.image_width;
    header->height = (int)cinfo.image_height;
    header->components = cinfo.num_components;
    jpeg_destroy_decompress(&cinfo);
    return 0;
}

int vidlm_jpeg_decode(const uint8_t *data, size_t size, uint8_t *out, size_t out_capacity,
                      int *warnings, char *message, size_t message_capacity) {
    struct jpeg_decompress_struct cinfo;
    error_manager err;
    setup(&cinfo, &err);
    if (setjmp(err.escape)) return fail(&cinfo, message, message_capacity);
    open_source(&cinfo, data, size);
    switch (cinfo.jpeg_color_space) {
    case JCS_CMYK:
    case JCS_YCCK:
        cinfo.out_color_space = JCS_CMYK;
        break;
    default:
        // Gray comes out replicated, as Pillow's L -> RGB conversion does.
        cinfo.out_color_space = JCS_RGB;
        break;
    }
    jpeg_start_decompress(&cinfo);
    size_t row_bytes = (size_t)cinfo.output_width * (size_t)cinfo.output_components;
    if (row_bytes * cinfo.output_height > out_capacity) {
        if (message_capacity > 0) snprintf(message, message_capacity, "the picture is larger than its header said");
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = out + row_bytes * cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    if (err.truncated) {
        if (message_capacity > 0) snprintf(message, message_capacity, "the JPEG data ends early (the file is truncated)");
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    *warnings = err.warnings;
    return 0;
}
