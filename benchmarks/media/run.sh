#!/usr/bin/env bash
# Media benchmark, end to end: clips -> venv -> vidlm-bench -> run.py -> report.
#
#   benchmarks/media/run.sh [run.py options, e.g. --reps 3]
#
# Writes docs/benchmarks/media.md and benchmarks/media/results.json. Work files (clips, venv,
# the exported source tree, the vidlm-bench copy) live in benchmarks/.work/ (gitignored).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$root/benchmarks/.work"
mkdir -p "$work"
cd "$root"

# 1. Clips (skipped when present).
"$here/make_clips.sh"

# 2. Python venv with the pinned anchors (reinstalled when requirements.txt changes).
venv="$work/venv"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    echo "run.sh: creating $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    if ! "$venv/bin/pip" install -q -r "$here/requirements.txt"; then
        # decord has no wheels for some platforms/Pythons: keep the rest, run.py records it.
        echo "run.sh: installing requirements.txt failed; retrying without decord" >&2
        grep -v '^decord' "$here/requirements.txt" > "$work/requirements-nodecord.txt"
        "$venv/bin/pip" install -q -r "$work/requirements-nodecord.txt"
    fi
    echo "$want" > "$stamp"
fi

# 3. vidlm-bench (release), run from a private copy so nothing rebuilt during the run can swap it.
#    Default: the committed HEAD, exported to benchmarks/.work/src (reproducible, and unaffected by
#    half-edited files in the working tree). VIDLM_BENCH_SOURCE=worktree builds the working tree
#    in place instead; VIDLM_BENCH_BIN=/path/to/vidlm-bench uses a prebuilt binary.
if ! command -v swift >/dev/null && [[ -x /opt/swift/usr/bin/swift ]]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi
if [[ -n "${VIDLM_BENCH_BIN:-}" ]]; then
    cp "$VIDLM_BENCH_BIN" "$work/vidlm-bench"
    export VIDLM_BENCH_GIT="${VIDLM_BENCH_GIT:-prebuilt $VIDLM_BENCH_BIN}"
elif [[ "${VIDLM_BENCH_SOURCE:-head}" == "worktree" ]]; then
    swift build -c release --product vidlm-bench
    cp "$(swift build -c release --show-bin-path)/vidlm-bench" "$work/vidlm-bench"
    rev="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    if [[ -n "$(git status --porcelain -- Sources Package.swift benchmarks/media/swift 2>/dev/null)" ]]; then
        rev="$rev + uncommitted working-tree changes"
    fi
    export VIDLM_BENCH_GIT="$rev (working tree)"
else
    src="$work/src"
    mkdir -p "$src"
    find "$src" -mindepth 1 -maxdepth 1 ! -name .build -exec rm -rf {} +
    git archive HEAD | tar -x -C "$src"
    [[ -f Package.resolved ]] && cp Package.resolved "$src/"
    (cd "$src" && swift build -c release --product vidlm-bench)
    cp "$(cd "$src" && swift build -c release --show-bin-path)/vidlm-bench" "$work/vidlm-bench"
    export VIDLM_BENCH_GIT="$(git rev-parse --short HEAD) (committed HEAD, built in benchmarks/.work/src)"
fi
bench="$work/vidlm-bench"

# 4. Benchmark.
"$venv/bin/python" "$here/run.py" --bench "$bench" --command "$(echo "benchmarks/media/run.sh $*" | sed "s/ *$//")" "$@"
