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
     && [ -z "$(ls -A "$work" | grep -v -e '^stdout$' -e '^stderr$' -e '^m-' -e '\.safetensors$')" ]; then
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

# features: bad model directories and bad pixel files; the output file never appears.
parity="$(cd "$(dirname "$0")/../Fixtures/parity" && pwd)"
tiny="$parity/clip_vision_tiny"
mkdir -p "$work/m-unknown" "$work/m-types" "$work/m-noweights"
echo '{"model_type": "resnet"}' > "$work/m-unknown/config.json"
echo '{"model_type": "clip_vision_model", "hidden_size": "wide"}' > "$work/m-types/config.json"
cp "$tiny/config.json" "$work/m-noweights/config.json"
head -c 100 "$tiny/inputs.safetensors" > "$work/truncated.safetensors"
# A valid safetensors file holding pixel_values [1, 3, 4, 4]: smaller than one 8x8 patch.
header='{"pixel_values":{"dtype":"F32","shape":[1,3,4,4],"data_offsets":[0,192]}}'
{ printf "\\x$(printf %02x ${#header})\\x00\\x00\\x00\\x00\\x00\\x00\\x00"; printf '%s' "$header"; head -c 192 /dev/zero; } > "$work/small.safetensors"
feat() { expect_error "features $1" features --output "$work/out" "${@:2}"; }
feat "missing model" "$media/still.png" --model "$work/none"
feat "unknown model_type" "$media/still.png" --model "$work/m-unknown"
feat "wrong config type" "$media/still.png" --model "$work/m-types"
feat "no weights" "$media/still.png" --model "$work/m-noweights"
feat "truncated pixels" --model "$tiny" --pixels "$work/truncated.safetensors"
feat "pixels without pixel_values" --model "$tiny" --pixels "$tiny/expected.safetensors"
feat "image smaller than a patch" --model "$tiny" --pixels "$work/small.safetensors"
feat "bad media" "$media/text.mp4" --model "$tiny"
rm -rf "$work"/m-* "$work"/*.safetensors

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
