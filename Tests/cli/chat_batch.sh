#!/usr/bin/env bash
# `vidlm chat` through a pseudo-terminal (script(1)) and `vidlm batch` (results, per-item errors,
# exit status, --resume after a torn line, --shard I/N, bad manifests), against the built-in model.
# Usage: Tests/cli/chat_batch.sh path/to/vidlm
set -u
vidlm=$(cd "$(dirname "${1:?usage: $0 path/to/vidlm}")" && pwd)/$(basename "$1")
samples="$(cd "$(dirname "$0")/../../samples" && pwd)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0; failed=0
caption="the blue square appears, then the triangle changes colour from red to yellow."
ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
check() { if eval "$2"; then ok; else fail "$1"; fi; }

# --- chat in a terminal: two questions, /reset, an unknown command, a missing file, /quit.
printf 'what happens\n/frobnicate\n/video %s/nope.mp4\n/reset\nwhat happens\n/quit\n' "$samples" > "$work/typed"
script -q -e -c "\"$vidlm\" chat \"$samples/world/sequence.mp4\"" /dev/null < "$work/typed" > "$work/chat.out" 2>&1
rc=$?
tr -d '\r' < "$work/chat.out" > "$work/chat.txt"
check "chat exits 0 on /quit (got $rc)" '[ "$rc" -eq 0 ]'
check "chat answers twice in the terminal" '[ "$(grep -c "$caption" "$work/chat.txt")" -eq 2 ]'
check "chat shows its prompt" 'grep -q "^> " "$work/chat.txt"'
check "chat names an unknown command" 'grep -q "unknown command /frobnicate" "$work/chat.txt"'
check "chat says a missing file is missing and goes on" 'grep -q "nope.mp4: no such file" "$work/chat.txt"'
check "chat confirms /reset" 'grep -q "conversation cleared" "$work/chat.txt"'
# End of input (no /quit) also ends the session; a missing media file is one error line.
printf 'what happens\n' | "$vidlm" chat "$samples/world/sequence.mp4" > "$work/piped" 2>/dev/null
check "chat from a pipe prints just the answer" '[ "$(cat "$work/piped")" = "$caption" ]'
"$vidlm" chat "$samples/nope.mp4" < /dev/null > "$work/out" 2> "$work/err"; rc=$?
check "chat with a missing file: exit 1, one line" '[ "$rc" -eq 1 ] && [ "$(wc -l < "$work/err")" -eq 1 ]'

# --- batch: three items, one failing.
cat > "$work/m.jsonl" <<JSON
{"id": "seq", "media": "$samples/world/sequence.mp4", "question": "what happens"}
{"id": "missing", "media": "$samples/world/nope.mp4"}
{"id": "grows", "media": "$samples/world/grows.mp4", "questions": ["what happens", "what changes"]}
# comments and blank lines are skipped

{"media": "$samples/world/moves-left.mp4", "question": "what happens"}
JSON
"$vidlm" batch "$work/m.jsonl" --output "$work/all.jsonl" 2> "$work/err"; rc=$?
check "batch with a failing item exits 1 (got $rc)" '[ "$rc" -eq 1 ]'
check "batch says how many failed" 'grep -q "1 of 4 items failed" "$work/err"'
check "batch writes one line per item" '[ "$(wc -l < "$work/all.jsonl")" -eq 4 ]'
check "batch answers the first item" 'grep "\"id\":\"seq\"" "$work/all.jsonl" | grep -q "$caption"'
check "batch records the failure" 'grep "\"id\":\"missing\"" "$work/all.jsonl" | grep -q "\"error\":.*no such file"'
check "batch answers every question of an item" '[ "$(grep "\"id\":\"grows\"" "$work/all.jsonl" | grep -o "\"question\"" | wc -l)" -eq 2 ]'
check "batch numbers items without an id by line" 'grep -q "\"id\":\"line-6\"" "$work/all.jsonl"'
"$vidlm" batch "$work/m.jsonl" --output "$work/all.jsonl" > /dev/null 2> "$work/err"; rc=$?
check "batch refuses to overwrite results without --resume" '[ "$rc" -eq 1 ] && grep -q "pass --resume" "$work/err"'

# --resume after a crash: keep the first result, add a torn line; only missing items run again.
head -n 1 "$work/all.jsonl" > "$work/resumed.jsonl"
printf '{"id":"grows","answ' >> "$work/resumed.jsonl"
"$vidlm" batch "$work/m.jsonl" --output "$work/resumed.jsonl" --resume 2> /dev/null
check "resume runs only what is missing (seq kept once)" '[ "$(grep -c "\"id\":\"seq\"" "$work/resumed.jsonl")" -eq 1 ]'
check "resume cuts the torn line and completes every item" \
  '[ "$(wc -l < "$work/resumed.jsonl")" -eq 4 ] && python_free_ids=$(grep -o "\"id\":\"[^\"]*\"" "$work/resumed.jsonl" | sort | tr -d "\n") && [ "$python_free_ids" = "$(grep -o "\"id\":\"[^\"]*\"" "$work/all.jsonl" | sort | tr -d "\n")" ]'
check "every resumed line is whole JSON" '! grep -q "\"answ$" "$work/resumed.jsonl"'

# --shard: the shards split the items without overlap and together cover them all.
for i in 0 1; do "$vidlm" batch "$work/m.jsonl" --output "$work/shard$i.jsonl" --shard "$i/2" 2> /dev/null; done
ids() { grep -o "\"id\":\"[^\"]*\"" "$@" | sed 's/.*"id"://' | sort; }
check "shard 0/2 takes items 0 and 2" '[ "$(ids "$work/shard0.jsonl" | tr "\n" " ")" = "\"grows\" \"seq\" " ]'
check "shards cover every item once" '[ "$(cat "$work/shard0.jsonl" "$work/shard1.jsonl" | ids | tr "\n" " ")" = "$(ids "$work/all.jsonl" | tr "\n" " ")" ]'

# --- bad input: one sentence, exit 1, no results file.
bad() {
  local what=$1; shift
  rm -f "$work/bad.jsonl"
  "$vidlm" batch "$@" --output "$work/bad.jsonl" > "$work/out" 2> "$work/err"; local rc=$?
  if [ "$rc" -eq 1 ] && [ "$(wc -l < "$work/err")" -eq 1 ] && [ ! -e "$work/bad.jsonl" ] && [ ! -s "$work/out" ]; then ok
  else fail "batch $what (exit $rc): $(head -c 200 "$work/err")"; fi
}
printf '{"media": "a.mp4"}\nnot json\n' > "$work/notjson.jsonl"
bad "line that is not JSON" "$work/notjson.jsonl"
check "the error names the line" 'grep -q "notjson.jsonl:2: not a JSON object" "$work/err"'
printf '{"id": 1, "media": "a.mp4"}\n{"id": "1", "media": "b.mp4"}\n' > "$work/dup.jsonl"
bad "duplicate id" "$work/dup.jsonl"
printf '{"question": "what"}\n' > "$work/nomedia.jsonl"
bad "line without media" "$work/nomedia.jsonl"
printf '{"media": "a.mp4", "frames": 0}\n' > "$work/frames.jsonl"
bad "frames 0" "$work/frames.jsonl"
bad "shard 3/2" "$work/m.jsonl" --shard 3/2
bad "shard x" "$work/m.jsonl" --shard x
bad "missing manifest" "$work/none.jsonl"

echo "chat/batch: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
