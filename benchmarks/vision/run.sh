#!/usr/bin/env bash
# Vision tower benchmark: vidlm vs PyTorch (transformers) on the same random-weight checkpoints,
# batch of 8 frames, 2 threads each, in one run. Writes benchmarks/vision/results.json and prints
# a Markdown table (copied into docs/benchmarks/vision.md with the date and machine).
#
#   benchmarks/vision/run.sh [repeats]        (needs tools/.venv: tools/requirements.txt)
set -euo pipefail
cd "$(dirname "$0")/../.."
repeats=${1:-3}
work=benchmarks/.work/vision
py=tools/.venv/bin/python
export PATH="/opt/swift/usr/bin:$PATH"
swift build -c release --product vidlm-bench >/dev/null
$py benchmarks/vision/make_models.py "$work" >/dev/null
threads=2
results=()
for model in clip-vit-l14 eva-vit-g14; do
  for coretype in Haswell SkylakeX; do
    r=$(OPENBLAS_CORETYPE=$coretype VIDLM_THREADS=$threads /usr/bin/time -f '%M' -o /tmp/vidlm-rss .build/release/vidlm-bench vision "$work/$model" --batch 8 --repeat "$repeats")
    peak=$(OPENBLAS_CORETYPE=$coretype VIDLM_THREADS=$threads .build/release/vidlm-bench sgemm --repeat 5)
    results+=("{\"model\":\"$model\",\"tool\":\"vidlm\",\"coretype\":\"$coretype\",\"rss_kb\":$(cat /tmp/vidlm-rss),\"run\":$r,\"sgemm\":$peak}")
  done
  r=$(/usr/bin/time -f '%M' -o /tmp/torch-rss $py benchmarks/vision/torch_bench.py "$work/$model" 8 "$repeats" $threads)
  results+=("{\"model\":\"$model\",\"tool\":\"pytorch\",\"rss_kb\":$(cat /tmp/torch-rss),\"run\":$r}")
done
printf '%s\n' "${results[@]}" | $py benchmarks/vision/report.py "$work" > benchmarks/vision/results.md
cat benchmarks/vision/results.md
