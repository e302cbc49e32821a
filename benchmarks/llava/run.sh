#!/usr/bin/env bash
# The LLaVA line and CLIP zero-shot benchmark (issue 20): vidlm vs transformers 5.23 (PyTorch) on the
# same random-weight, full-size checkpoints written once by transformers' save_pretrained
# (benchmarks/llava/make_models.py): LLaVA-OneVision-0.5B (SigLIP-SO400M + Qwen2-0.5B) in f32 and bf16
# on 8 frames of the 12 s 720p clip, LLaVA-1.5-7B (CLIP ViT-L/14-336 + LLaMA-7B, bf16) on one 336x336
# image: `vidlm ask --json` vs `generate` with a streamer, 2 threads each, 32 greedy tokens, one run
# per tool and row: time to first token, decode tok/s, peak RSS, with the prompt ids, frame indices
# and greedy ids checked equal. CLIP ViT-B/32 and ViT-L/14 (f32): `vidlm classify` on 100 images vs
# CLIPModel with CLIPProcessor (batches of 16), same labels and template: images/s with and without
# the model load, probabilities compared. vidlm runs under OPENBLAS_CORETYPE=Haswell (this
# workplace's setting) and OpenBLAS's own choice ("default"); kernels.c measures the dtype peaks.
# Writes benchmarks/llava/results.json and results.md (docs/benchmarks/llava.md quotes it).
#
#   benchmarks/llava/run.sh     env: VLM_ROWS=row,... (only these), VLM_QUIET_LOAD / VLM_WAIT_MINUTES,
#                               and drive.py's (VLM_FRAMES, VLM_NEW_TOKENS, VLM_IMAGES, ... for smoke runs)
set -euo pipefail
cd "$(dirname "$0")/../.."
suite=${SUITE:-llava}
work=benchmarks/.work/vlm
py=tools/.venv/bin/python
export PATH="/opt/swift/usr/bin:$PATH"
mkdir -p "$work"

# Release build (retried: other sessions may be editing Sources/ mid-build) and the kernel probe,
# compiled as SwiftPM compiles CKernels (clang -O2).
for product in vidlm vidlm-bench; do
  for attempt in 1 2 3 4 5 6; do
    if swift build -c release --product "$product" >/tmp/vidlm-$suite-build.log 2>&1; then break; fi
    if [ "$attempt" = 6 ]; then cat /tmp/vidlm-$suite-build.log >&2; exit 1; fi
    echo "build of $product failed (attempt $attempt), retrying in 60 s" >&2
    sleep 60
  done
done
/opt/swift/usr/bin/clang -O2 -I Sources/CKernels/include $(pkg-config --cflags openblas) benchmarks/e2e/kernels.c \
  Sources/CKernels/f32_gemm.c Sources/CKernels/bf16_gemm.c Sources/CKernels/amx_gemm.c Sources/CKernels/attention_kernels.c \
  Sources/CKernels/amx_attention.c \
  $(pkg-config --libs openblas) -o /tmp/vidlm-e2e-kernels

# Models (skipped when present) and media.
if [ "$suite" = qwenvl ]; then
  $py benchmarks/qwenvl/make_models.py "$work" >&2
else
  $py benchmarks/llava/make_models.py "$work" >&2
fi
benchmarks/vlm/make_media.sh "$work"

quiet=${VLM_QUIET_LOAD:-0.6}
deadline=$(( $(date +%s) + ${VLM_WAIT_MINUTES:-60} * 60 ))
while :; do
  load=$(cut -d' ' -f1 /proc/loadavg)
  if awk -v l="$load" -v q="$quiet" 'BEGIN { exit !(l < q) }'; then break; fi
  if [ "$(date +%s)" -ge "$deadline" ]; then echo "WARNING: never quiet (load $load); measuring anyway" >&2; break; fi
  echo "waiting for a quiet machine: 1-minute load $load (want < $quiet)" >&2
  sleep 60
done

VLM_SUITE=$suite E2E_KERNELS=/tmp/vidlm-e2e-kernels $py benchmarks/vlm/drive.py "$work" 1 "benchmarks/$suite/results.json"
$py benchmarks/vlm/suite_report.py "benchmarks/$suite/results.json" > "benchmarks/$suite/results.md"
cat "benchmarks/$suite/results.md"
