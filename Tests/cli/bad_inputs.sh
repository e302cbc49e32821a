#!/usr/bin/env bash
# CLI contract for bad input: exit status 1 (not a crash), exactly one line on stderr, nothing on
# stdout, and no output folder left behind. Usage: Tests/cli/bad_inputs.sh path/to/vidlm
set -u
vidlm=${1:?usage: $0 path/to/vidlm}
media="$(cd "$(dirname "$0")/../Fixtures/media" && pwd)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0; failed=0

expect_error() {  # description, then the command's arguments
  local what=$1; shift
  rm -rf "$work/out" "$work"/.out.partial-*
  "$vidlm" "$@" >"$work/stdout" 2>"$work/stderr"
  local rc=$? lines
  lines=$(wc -l <"$work/stderr")
  if [ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] && [ ! -s "$work/stdout" ] && [ ! -e "$work/out" ] \
     && [ -z "$(ls -A "$work" | grep -v -e '^stdout$' -e '^stderr$')" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $what (exit $rc, $lines stderr lines): $(head -c 300 "$work/stderr")"
  fi
}

frames() { expect_error "frames $1" frames "$1" --count 2 --output "$work/out" "${@:2}"; }
frames /nonexistent.mp4
frames "$media"
frames "$media/empty.mp4"
frames "$media/text.mp4"
frames "$media/truncated.mp4"
frames "$media/audio_only.m4a"
frames "$media/unknown_codec.mp4"
frames "$media/cfr_bframes.mp4" --start 60
frames "$media/cfr_bframes.mp4" --start 2 --end 1
frames "$media/cfr_bframes.mp4" --size 0x10
expect_error "count 0" frames "$media/cfr_bframes.mp4" --count 0 --output "$work/out"
expect_error "probe missing" probe /nonexistent.mp4
expect_error "probe text" probe "$media/text.mp4"

# The good path writes the folder whole.
if "$vidlm" frames "$media/cfr_bframes.mp4" --count 3 --output "$work/out" 2>/dev/null \
   && [ "$(ls "$work/out" | wc -l)" -eq 4 ] && grep -q '"index"' "$work/out/frames.json"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "FAIL: frames good path"
fi
rm -rf "$work/out"
echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
