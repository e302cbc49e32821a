#!/usr/bin/env bash
# Load test of vidlm-server (benchmarks/serve/load.py) and batch throughput, release builds.
# Usage: benchmarks/serve/run.sh [load.py options, e.g. --clients 16 --seconds 60]
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=/opt/swift/usr/bin:$PATH
swift build -c release --product vidlm >/dev/null
swift build -c release --product vidlm-server >/dev/null
bin=$(swift build -c release --show-bin-path)
python3 benchmarks/serve/load.py --binary "$bin/vidlm-server" "$@"
# batch: every clip of samples/world once (7 clips, "what happens"), clips per minute.
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for f in samples/world/*.mp4; do echo "{\"media\": \"$PWD/$f\", \"question\": \"what happens\"}"; done > "$work/m.jsonl"
start=$(date +%s.%N)
"$bin/vidlm" batch "$work/m.jsonl" --output "$work/r.jsonl"
end=$(date +%s.%N)
python3 -c "import sys; n=int(sys.argv[3]); s=float(sys.argv[2])-float(sys.argv[1]); print(f'batch: {n} clips in {s:.2f} s = {60*n/s:.1f} clips/min (model load included)')" "$start" "$end" "$(wc -l < "$work/r.jsonl")"
