#!/usr/bin/env bash
# Long and large inputs (issue 22): bounded memory, proportional time.
#
#   benchmarks/long/run.sh [--reps N] [--only 2h,mkv,8k,10k,1000fps]
#
# Builds vidlm (release, scratch folder .build-long) if it is missing, generates the inputs into
# benchmarks/.work/long/ if they are missing (make_inputs.sh; about 4 GB, mostly the 2-hour clip
# and its Matroska copy), then measures every command with /usr/bin/time (wall, CPU, peak RSS)
# and writes benchmarks/long/results.json (about 10 minutes on 2 cores with --reps 3). Everything
# runs under `nice -n 19`.
# VIDLM=path/to/vidlm uses another binary.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
export PATH=/opt/swift/usr/bin:$PATH
vidlm="${VIDLM:-$root/.build-long/release/vidlm}"
if [[ ! -x "$vidlm" ]]; then
    nice -n 19 swift build -c release --scratch-path .build-long --product vidlm
fi
avail_gb=$(df -BG --output=avail "$root" | tail -1 | tr -dc 0-9)
if (( avail_gb < 8 )); then
    echo "run.sh: only ${avail_gb} GB free; the inputs need about 4 GB plus room for frame output" >&2
    exit 1
fi
"$here/make_inputs.sh"
exec nice -n 19 python3 "$here/run.py" --vidlm "$vidlm" "$@"
