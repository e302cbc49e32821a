#!/usr/bin/env bash
# Chat-template rendering: vidlm's Jinja engine vs jinja2 as transformers configures it, on the
# same template (the corpus's most complex: macros + tools), conversation (20 turns) and context,
# in one run. Median microseconds per render; writes benchmarks/chat_template/results.json.
# Rendering is single-threaded on both sides, so OPENBLAS_CORETYPE and thread counts do not
# apply (recorded anyway).
#
#   benchmarks/chat_template/run.sh [renders]        (needs tools/.venv: tools/requirements.txt)
set -euo pipefail
cd "$(dirname "$0")/../.."
renders=${1:-2000}
py=tools/.venv/bin/python
export PATH="/opt/swift/usr/bin:$PATH"
swift build -c release --product vidlm-bench >/dev/null
rows=()
for template in 22-macros-tools 03-qwen3-thinking-tools 01-chatml-qwen2; do
  j=$($py benchmarks/chat_template/jinja2_bench.py --renders "$renders" --template "$template")
  v=$(.build/release/vidlm-bench template --template "$template" --renders "$renders")
  rows+=("{\"jinja2\":$j,\"vidlm\":$v}")
done
out=benchmarks/chat_template/results.json
{
  printf '{"command":"benchmarks/chat_template/run.sh %s","cpu":"%s","openblas_coretype":"%s","rows":[' \
    "$renders" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" "${OPENBLAS_CORETYPE:-unset}"
  (IFS=,; printf '%s' "${rows[*]}")
  printf ']}\n'
} > "$out"
$py - "$out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("| template | jinja2 µs | vidlm µs | vidlm / jinja2 |")
print("|---|---:|---:|---:|")
for row in r["rows"]:
    j, v = row["jinja2"], row["vidlm"]
    print(f"| {j['template']} ({j['conversation']}) | {j['median_us']} | {v['median_us']} | {v['median_us'] / j['median_us']:.2f} |")
PY
