#!/usr/bin/env bash
# End-to-end video-language benchmark (issue 19): vidlm vs transformers 5.23 (PyTorch) on the same
# random-weight, full-size checkpoints written once by transformers' save_pretrained
# (SmolVLM2-256M-Video and SmolVLM2-2.2B shapes in f32 and bf16, InstructBLIP-Video with EVA ViT-g +
# Q-Former + a TinyLlama-shaped decoder in f32), the same 12 s 720p H.264 clip and the same frames
# (8 for SmolVLM2, sampled by the video processor's rule; 4 segment centres for InstructBLIP-Video),
# 2 threads each, 32 greedy tokens with no stop token: time to first token, decode tok/s, peak RSS.
# vidlm runs with OPENBLAS_CORETYPE=Haswell (what this workplace sets); extra vidlm rows with
# SkylakeX. Writes benchmarks/vlm/results.json and prints the Markdown table (results.md), which
# docs/benchmarks/vlm.md quotes.
#
#   benchmarks/vlm/run.sh [runs]          (default 2 timed runs per tool and row)
#   env: VLM_ROWS=smolvlm2-256m-f32,...   only these rows
#        VLM_RUNS_22B_F32=1               fewer runs for the slowest row
#        VLM_EXTRA_CORETYPE=""            skip the extra vidlm rows (default SkylakeX)
#        VLM_QUIET_LOAD=0.6 VLM_WAIT_MINUTES=60   wait until the 1-minute load is below this
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-2}
work=benchmarks/.work/vlm
py=tools/.venv/bin/python
export PATH="/opt/swift/usr/bin:$PATH"
mkdir -p "$work"

# Release build (retried: other sessions may be editing Sources/ mid-build).
for product in vidlm vidlm-bench; do
  for attempt in 1 2 3 4 5 6; do
    if swift build -c release --product "$product" >/tmp/vidlm-vlm-build.log 2>&1; then break; fi
    if [ "$attempt" = 6 ]; then cat /tmp/vidlm-vlm-build.log >&2; exit 1; fi
    echo "build of $product failed (attempt $attempt), retrying in 60 s" >&2
    sleep 60
  done
done

# Models (skipped when present; ~24 GiB in all; the 2.2B f32 folder alone is ~9 GiB).
avail_kb=$(df -Pk "$work" | awk 'NR==2 {print $4}')
need_kb=$((26 * 1024 * 1024))
if [ ! -d "$work/smolvlm2-2.2b-f32" ] && [ "$avail_kb" -lt "$need_kb" ]; then
  echo "only $((avail_kb / 1024 / 1024)) GiB free under $work: skipping the 2.2B f32 model" >&2
  $py benchmarks/vlm/make_models.py "$work" smolvlm2-256m-f32 smolvlm2-256m-bf16 smolvlm2-2.2b-bf16 instructblipvideo-f32 >&2
else
  $py benchmarks/vlm/make_models.py "$work" >&2
fi

# The clip: 12 s of testsrc2 at 1280x720, 30 fps, H.264 High with B-frames.
if [ ! -f "$work/clip.mp4" ]; then
  scripts/install-deps.sh ffmpeg
  ffmpeg -v error -y -f lavfi -i testsrc2=size=1280x720:rate=30:duration=12 -c:v libx264 -preset medium \
    -profile:v high -pix_fmt yuv420p -g 60 "$work/clip.mp4"
fi
# InstructBLIP-Video's 4 frames (segment centres), decoded by vidlm, for transformers' processor.
rm -rf "$work/frames4"
.build/release/vidlm frames "$work/clip.mp4" --count 4 --output "$work/frames4"

# Wait for a quiet machine (other sessions run builds and fuzzers on these 2 cores).
quiet=${VLM_QUIET_LOAD:-0.6}
deadline=$(( $(date +%s) + ${VLM_WAIT_MINUTES:-60} * 60 ))
while :; do
  load=$(cut -d' ' -f1 /proc/loadavg)
  if awk -v l="$load" -v q="$quiet" 'BEGIN { exit !(l < q) }'; then break; fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "WARNING: the machine never got quiet (1-minute load $load >= $quiet); measuring anyway" >&2
    break
  fi
  echo "waiting for a quiet machine: 1-minute load $load (want < $quiet)" >&2
  sleep 60
done

$py benchmarks/vlm/drive.py "$work" "$runs" benchmarks/vlm/results.json
$py benchmarks/vlm/report.py benchmarks/vlm/results.json > benchmarks/vlm/results.md
cat benchmarks/vlm/results.md
