#!/usr/bin/env bash
# Time to first token end to end (issue 24): `vidlm ask` vs transformers 5.23 `generate` with a
# streamer, from the media file to the first token and to 32 tokens, with peak RSS, on the same
# random-weight full-size checkpoints, frames and prompt, 2 threads each, one run per row:
# InstructBLIP-Video (EVA ViT-g + Q-Former + TinyLlama-shaped LLaMA) in f32 and bf16 with 4 and 8
# frames (and the f32 checkpoint with `--compute bf16`), BLIP-2 (EVA ViT-g + OPT-2.7B shape, bf16)
# on one image, SmolVLM2-2.2B bf16 on 8 frames. vidlm runs under this workplace's
# OPENBLAS_CORETYPE=Haswell and under OpenBLAS's own choice ("default"). kernels.c measures the
# per-core FMA / BF16-dot peaks and vidlm's GEMM and attention kernels in the same run.
# Writes benchmarks/e2e/results.json and results.md (docs/benchmarks/e2e.md quotes it).
#
#   benchmarks/e2e/run.sh          env: VLM_ROWS=row,... (only these), VLM_QUIET_LOAD / VLM_WAIT_MINUTES
set -euo pipefail
cd "$(dirname "$0")/../.."
work=benchmarks/.work/vlm
py=tools/.venv/bin/python
export PATH="/opt/swift/usr/bin:$PATH"
mkdir -p "$work"

swift build -c release --product vidlm >/tmp/vidlm-e2e-build.log 2>&1 || { cat /tmp/vidlm-e2e-build.log >&2; exit 1; }
swift build -c release --product vidlm-bench >>/tmp/vidlm-e2e-build.log 2>&1 || { cat /tmp/vidlm-e2e-build.log >&2; exit 1; }
# The kernel probe, compiled as SwiftPM compiles CKernels (clang -O2).
/opt/swift/usr/bin/clang -O2 -I Sources/CKernels/include $(pkg-config --cflags openblas) benchmarks/e2e/kernels.c \
  Sources/CKernels/f32_gemm.c Sources/CKernels/bf16_gemm.c Sources/CKernels/amx_gemm.c Sources/CKernels/attention_kernels.c Sources/CKernels/amx_attention.c \
  $(pkg-config --libs openblas) -lm -o /tmp/vidlm-e2e-kernels

# Models: benchmarks/vlm's (InstructBLIP-Video f32, SmolVLM2-2.2B bf16) and this benchmark's.
$py benchmarks/vlm/make_models.py "$work" instructblipvideo-f32 smolvlm2-2.2b-bf16 >&2
$py benchmarks/e2e/make_models.py "$work" >&2

if [ ! -f "$work/clip.mp4" ]; then
  scripts/install-deps.sh ffmpeg
  ffmpeg -v error -y -f lavfi -i testsrc2=size=1280x720:rate=30:duration=12 -c:v libx264 -preset medium \
    -profile:v high -pix_fmt yuv420p -g 60 "$work/clip.mp4"
fi
# The frames vidlm samples (segment centres), as PNGs for transformers' InstructBLIP-Video
# processor; the first of the 4 is BLIP-2's image.
for n in 4 8; do
  rm -rf "$work/frames$n"
  .build/release/vidlm frames "$work/clip.mp4" --count "$n" --output "$work/frames$n"
done
cp "$work/frames4/$(python3 -c "import json,sys; d=json.load(open('$work/frames4/frames.json')); e=d['frames'] if isinstance(d,dict) else d; print(e[0]['file'])")" "$work/image.png"

quiet=${VLM_QUIET_LOAD:-0.6}
deadline=$(( $(date +%s) + ${VLM_WAIT_MINUTES:-60} * 60 ))
while :; do
  load=$(cut -d' ' -f1 /proc/loadavg)
  if awk -v l="$load" -v q="$quiet" 'BEGIN { exit !(l < q) }'; then break; fi
  if [ "$(date +%s)" -ge "$deadline" ]; then echo "WARNING: never quiet (load $load); measuring anyway" >&2; break; fi
  echo "waiting for a quiet machine: 1-minute load $load (want < $quiet)" >&2
  sleep 60
done

VLM_SUITE=e2e E2E_KERNELS=/tmp/vidlm-e2e-kernels $py benchmarks/vlm/drive.py "$work" 1 benchmarks/e2e/results.json
$py benchmarks/e2e/report.py benchmarks/e2e/results.json > benchmarks/e2e/results.md
cat benchmarks/e2e/results.md
