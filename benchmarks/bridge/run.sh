#!/usr/bin/env bash
# Bridge benchmark: token merger + BLIP-2 Q-Former + language projection, vidlm vs PyTorch
# (tools/reference/vidlm_bridge.py mergers + transformers' Blip2QFormerModel) on the same random
# weights and ViT-g-shaped features (static and high-motion clips, 8 and 32 frames), 2 threads
# each, in one run. vidlm runs under OpenBLAS's SkylakeX kernels (set for the run) and under the
# Haswell kernels this workplace forces. Writes benchmarks/bridge/results.json and results.md
# (copied into docs/benchmarks/bridge.md).
#
#   benchmarks/bridge/run.sh [runs]        (needs tools/.venv: tools/requirements.txt)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
work=benchmarks/.work/bridge
py=tools/.venv/bin/python
export PATH="/opt/swift/usr/bin:$PATH"
swift build -c release --product vidlm-bench >/dev/null
$py benchmarks/bridge/make_inputs.py "$work" >/dev/null
threads=2
results=()
for coretype in SkylakeX Haswell; do
  r=$(OPENBLAS_CORETYPE=$coretype VIDLM_THREADS=$threads .build/release/vidlm-bench bridge "$work" --runs "$runs")
  results+=("{\"tool\":\"vidlm\",\"coretype\":\"$coretype\",\"run\":$r}")
done
r=$($py benchmarks/bridge/torch_bench.py "$work" "$runs" $threads 2>/dev/null)
results+=("{\"tool\":\"pytorch\",\"run\":$r}")
printf '%s\n' "${results[@]}" | $py benchmarks/bridge/report.py > benchmarks/bridge/results.md
cat benchmarks/bridge/results.md
