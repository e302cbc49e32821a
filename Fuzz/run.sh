#!/usr/bin/env bash
# `make fuzz`: builds the libFuzzer targets (Fuzz/build.sh), runs each for FUZZ_SECONDS, and prints
# a summary (execs, exec/s, coverage, crashes). docs/fuzzing.md explains the targets.
#
#   Fuzz/run.sh [target ...]        default: every target
#   FUZZ_SECONDS=600                 per target (libFuzzer -max_total_time)
#   FUZZ_JOBS=1                      targets run at once (each uses one core)
#   FUZZ_ARGS="..."                  extra libFuzzer flags
#   FUZZ_CONFIG=release              or debug (Fuzz/build.sh)
#
# New corpus entries go to Fuzz/.work/corpus/<target> (kept between runs, not committed); crashes,
# leaks, timeouts and OOMs to Fuzz/.work/artifacts/<target>/; logs to Fuzz/.work/logs/. The exit
# status is non-zero if any target left an artifact.
set -uo pipefail
cd "$(dirname "$0")"
ALL=(safetensors shard-index config tokenizer-json tokenizer-text manifest media)
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL[@]}")
SECS=${FUZZ_SECONDS:-600}
JOBS=${FUZZ_JOBS:-1}
WORK=$PWD/.work
BIN=$PWD/../.build-fuzz/${FUZZ_CONFIG:-release}

./build.sh || exit 1

# Seconds one input may take before libFuzzer calls it a hang (and before it reports a slow unit,
# which this script counts as a failure too). Media inputs can claim large
# pictures: a fuzzed MP4 with 4216×1008 frames takes 10-17 s here, nearly all of it coverage
# instrumentation in the resampler's inner loop (0.17 s for the same requests in a release build).
timeout_for() {
    case $1 in
        media) echo 30 ;;
        *) echo 10 ;;
    esac
}

run_one() {
    local t=$1
    local corpus=$WORK/corpus/$t artifacts=$WORK/artifacts/$t log=$WORK/logs/$t.log
    mkdir -p "$corpus" "$artifacts" "$WORK/logs"
    local seeds=("$PWD/corpus/$t")
    [ -d "$PWD/../Tests/Fixtures/fuzz/$t" ] && seeds+=("$PWD/../Tests/Fixtures/fuzz/$t")
    touch "$WORK/logs/$t.start"
    echo "fuzz-$t: ${SECS}s → $log"
    # Leaks are checked after every input (libFuzzer -detect_leaks); the check at exit is off
    # because objects held by globals for the whole run (e.g. fixed tokenizers) are reached only
    # through Swift enum payload pointers with tag bits, which LeakSanitizer cannot follow.
    # shellcheck disable=SC2086
    LSAN_OPTIONS="suppressions=$PWD/lsan.supp:print_suppressions=0" \
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:leak_check_at_exit=0}" \
    nice -n 10 "$BIN/fuzz-$t" -max_total_time="$SECS" -rss_limit_mb=2048 -timeout="$(timeout_for "$t")" \
        -report_slow_units="$(timeout_for "$t")" -print_final_stats=1 -artifact_prefix="$artifacts/" ${FUZZ_ARGS:-} \
        "$corpus" "${seeds[@]}" >"$log" 2>&1
}

for t in "${TARGETS[@]}"; do
    [ -x "$BIN/fuzz-$t" ] || { echo "no such fuzz target: $t (known: ${ALL[*]})" >&2; exit 2; }
done
running=0
for t in "${TARGETS[@]}"; do
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
done
wait

failed=0
printf '\n%-16s %12s %9s %8s %8s %8s %8s  %s\n' target execs exec/s cov ft corpus rss_mb result
for t in "${TARGETS[@]}"; do
    log=$WORK/logs/$t.log
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    rss=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    last=$(grep -E '^#[0-9]+.*cov: [0-9]+' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*')
    ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*')
    corp=$(grep -o 'corp: [0-9]*' <<<"$last" | grep -o '[0-9]*$')
    found=$(find "$WORK/artifacts/$t" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'slow-unit-*' \) -newer "$WORK/logs/$t.start" 2>/dev/null | wc -l)
    result=ok
    if [ "$found" -gt 0 ] || grep -qE '^==[0-9]+==ERROR|deadly signal|Fatal error' "$log"; then
        result="FAILED ($found artifact(s), see $log)"; failed=1
    fi
    printf '%-16s %12s %9s %8s %8s %8s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}" "$result"
done
exit $failed
