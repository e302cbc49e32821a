#!/usr/bin/env bash
# Serving benchmarks (issue 23), release builds; docs/benchmarks/serve.md records the runs.
#
#   benchmarks/serve/run.sh [load.py options, e.g. --clients 16 --seconds 60 --anchor-seconds 30]
#       the load test of vidlm-server (benchmarks/serve/load.py), then `vidlm batch` over every clip
#       of samples/world with the built-in model (clips per minute)
#   benchmarks/serve/run.sh batch-vs-transformers [batch_vs_transformers.py options, e.g. --clips 2]
#       `vidlm batch` against a Python loop over transformers on a SmolVLM2-256M-shaped checkpoint
#       (made once under benchmarks/.work/vlm by benchmarks/vlm/make_models.py; needs tools/.venv,
#       `make tools/.venv/bin/python`, or PY=path/to/python with transformers 5.23 and torch)
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=/opt/swift/usr/bin:$PATH
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Package.swift || echo ' (with local changes)')" >&2

if [ "${1:-}" = batch-vs-transformers ]; then
  shift
  py=${PY:-tools/.venv/bin/python}
  [ -x "$py" ] || { echo "no $py: make tools/.venv/bin/python (or set PY)" >&2; exit 1; }
  swift build -c release --product vidlm >/dev/null
  [ -f benchmarks/.work/vlm/smolvlm2-256m-f32/model.safetensors ] ||
    "$py" benchmarks/vlm/make_models.py benchmarks/.work/vlm smolvlm2-256m-f32 >&2
  exec "$py" benchmarks/serve/batch_vs_transformers.py --vidlm .build/release/vidlm "$@"
fi

swift build -c release --product vidlm >/dev/null
swift build -c release --product vidlm-server >/dev/null
bin=$(swift build -c release --show-bin-path)
python3 benchmarks/serve/load.py --binary "$bin/vidlm-server" "$@"
# batch: every clip of samples/world once (one question each), clips per minute, model load included.
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for f in samples/world/*.mp4; do echo "{\"media\": \"$PWD/$f\", \"question\": \"what happens\"}"; done > "$work/m.jsonl"
start=$(date +%s.%N)
"$bin/vidlm" batch "$work/m.jsonl" --output "$work/r.jsonl"
end=$(date +%s.%N)
python3 -c "import sys; n=int(sys.argv[3]); s=float(sys.argv[2])-float(sys.argv[1]); print(f'batch: {n} clips in {s:.2f} s = {60*n/s:.1f} clips/min (model load included)')" "$start" "$end" "$(wc -l < "$work/r.jsonl")"
