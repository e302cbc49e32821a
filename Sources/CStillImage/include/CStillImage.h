#include "vidlm_jpeg.h"
#include "vidlm_webp.h"
