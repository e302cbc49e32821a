// WebP stills through libwebp, the decoder Pillow and torchcodec use: libav's WebP decoder gives
// 4:2:0 YUV that swscale upsamples differently (up to ±100 at colour edges). libwebp is opened
// at run time so that building vidlm needs no WebP headers; its decode ABI (libwebp.so.7) is
// stable, and the two functions used are declared here as libwebp's decode.h declares them.
#include "vidlm_webp.h"

#include <dlfcn.h>
#include <pthread.h>

typedef int (*get_info_fn)(const uint8_t *, size_t, int *, int *);
typedef uint8_t *(*decode_rgb_into_fn)(const uint8_t *, size_t, uint8_t *, size_t, int);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static get_info_fn get_info = 0;
static decode_rgb_into_fn decode_rgb_into = 0;

static void load(void) {
    void *lib = dlopen("libwebp.so.7", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    get_info = (get_info_fn)dlsym(lib, "WebPGetInfo");
    decode_rgb_into = (decode_rgb_into_fn)dlsym(lib, "WebPDecodeRGBInto");
    if (!get_info || !decode_rgb_into) { get_info = 0; decode_rgb_into = 0; }
}

int vidlm_webp_available(void) {
    pthread_once(&once, load);
    return get_info != 0;
}

int vidlm_webp_size(const uint8_t *data, size_t size, int *width, int *height) {
    if (!vidlm_webp_available()) return -1;
    return get_info(data, size, width, height) ? 0 : -1;
}

int vidlm_webp_decode_rgb(const uint8_t *data, size_t size, uint8_t *out, size_t out_capacity, int stride) {
    if (!vidlm_webp_available()) return -1;
    return decode_rgb_into(data, size, out, out_capacity, stride) ? 0 : -1;
}
