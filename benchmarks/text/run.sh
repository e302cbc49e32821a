#!/usr/bin/env bash
# Decoder benchmark: vidlm vs PyTorch (transformers) on the same random-weight checkpoints
# (TinyLlama-1.1B shape in f32 and bf16, OPT-1.3B shape in f32), 2 threads each, in one run:
# prefill of a 128-token prompt, greedy decode of 64 new tokens, peak RSS, plus a streaming-read
# bandwidth measurement for the weight-streaming roofline. vidlm runs under OpenBLAS's SkylakeX
# kernels (set for the run) and under the Haswell kernels this workplace forces. Writes
# benchmarks/text/results.json and results.md (copied into docs/benchmarks/text.md).
#
#   benchmarks/text/run.sh [runs]        (needs tools/.venv: tools/requirements.txt)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
work=benchmarks/.work/text
py=tools/.venv/bin/python
export PATH="/opt/swift/usr/bin:$PATH"
swift build -c release --product vidlm-bench >/dev/null
$py benchmarks/text/make_models.py "$work" >/dev/null
threads=2
results=()
bw=$(OPENBLAS_CORETYPE=SkylakeX VIDLM_THREADS=$threads .build/release/vidlm-bench bandwidth --mib 1024 --runs 10)
bwnp=$($py benchmarks/text/bandwidth.py $threads 10)
results+=("{\"tool\":\"bandwidth\",\"vidlm\":$bw,\"numpy\":$bwnp}")
for model in tinyllama-f32 tinyllama-bf16 opt-1.3b-f32; do
  dtype=float32
  [[ $model == *bf16 ]] && dtype=bfloat16
  for coretype in SkylakeX Haswell; do
    r=$(OPENBLAS_CORETYPE=$coretype VIDLM_THREADS=$threads /usr/bin/time -f '%M' -o /tmp/vidlm-text-rss \
        .build/release/vidlm-bench text --model "$work/$model" --prompt-tokens 128 --new-tokens 64 --runs "$runs")
    results+=("{\"model\":\"$model\",\"tool\":\"vidlm\",\"coretype\":\"$coretype\",\"rss_kb\":$(cat /tmp/vidlm-text-rss),\"run\":$r}")
  done
  r=$(/usr/bin/time -f '%M' -o /tmp/torch-text-rss $py benchmarks/text/torch_bench.py "$work/$model" $dtype 128 64 "$runs" $threads 2>/dev/null)
  results+=("{\"model\":\"$model\",\"tool\":\"pytorch\",\"rss_kb\":$(cat /tmp/torch-text-rss),\"run\":$r}")
done
printf '%s\n' "${results[@]}" | $py benchmarks/text/report.py "$work" > benchmarks/text/results.md
cat benchmarks/text/results.md
