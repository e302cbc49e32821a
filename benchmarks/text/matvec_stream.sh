#!/usr/bin/env bash
# vidlm's bf16 decoding kernel against a plain read of the same memory (see matvec_stream.c).
#   benchmarks/text/matvec_stream.sh [rounds] [layers]
set -euo pipefail
cd "$(dirname "$0")/../.."
/opt/swift/usr/bin/clang -O2 -I Sources/CKernels/include -I Sources/CKernels benchmarks/text/matvec_stream.c \
  Sources/CKernels/half_kernels.c -lpthread -o /tmp/vidlm-matvec-stream
echo "# OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} (not used: no BLAS here); $(grep -m1 'model name' /proc/cpuinfo)" >&2
/tmp/vidlm-matvec-stream "$@"
