#ifndef VIDLM_COPENBLAS_SHIM_H
#define VIDLM_COPENBLAS_SHIM_H
#include <cblas.h>
#endif
