#!/usr/bin/env bash
# `vidlm chat` through a pseudo-terminal (script(1)): commands, Ctrl-C while an answer streams and
# at the prompt, a conversation outgrowing the context; and `vidlm batch` (results, per-item errors,
# exit status, --resume after a torn line and of failed items, --shard I/N, bad manifests). Against
# the built-in model, and a tiny random SmolVLM fixture where a chat template or long answers matter.
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
# A question too long for the built-in model's 128 positions: said plainly, no history to drop.
printf 'what happens\n%s\n' "$(printf 'why %.0s' $(seq 1 60))" | "$vidlm" chat "$samples/world/sequence.mp4" > "$work/piped" 2> "$work/err"; rc=$?
check "chat says a question does not fit the context and goes on (exit $rc)" \
  '[ "$rc" -eq 0 ] && grep -q "do not fit the model.s context" "$work/err" && ! grep -q "outgrew" "$work/err" && [ "$(cat "$work/piped")" = "$caption" ]'
"$vidlm" chat "$samples/nope.mp4" < /dev/null > "$work/out" 2> "$work/err"; rc=$?
check "chat with a missing file: exit 1, one line" '[ "$rc" -eq 1 ] && [ "$(wc -l < "$work/err")" -eq 1 ]'

# --- chat in a terminal, step by step. script(1) runs chat in a pseudo-terminal whose input is a
# FIFO we write to only when the transcript shows the chat is ready, so Ctrl-C (byte 3, which the
# terminal turns into SIGINT) lands at a known moment: while an answer streams, or at the prompt.
# Every wait is bounded (60 s); script and chat get killed after 120 s whatever happens.
pty_start() {  # NAME COMMAND...: starts the session; its transcript is $work/NAME.raw
  pty=$1; shift
  mkfifo "$work/$pty.in"
  timeout -k 5 120 script -q -e -c "exec $(printf '%q ' "$@")" /dev/null < "$work/$pty.in" > "$work/$pty.raw" 2>&1 &
  pty_pid=$!
  exec 3> "$work/$pty.in"
}
transcript() { tr -d '\r' < "$work/$pty.raw"; }
send() { printf '%b' "$1" >&3; }
until_true() {  # CONDITION (evaluated): polls every 20 ms, gives up after 60 s
  local deadline=$((SECONDS + 60))
  until eval "$1"; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "timed out waiting for: $1" >&2; return 1; fi
    sleep 0.02
  done
}
prompts() { transcript | grep -c '^> '; }
pty_end() { exec 3>&-; wait "$pty_pid"; }  # the exit status of chat (script -e passes it on)
# The text between the line after the one equal to $1 and the next line starting with $2.
between() { transcript | awk -v a="$1" -v b="$2" 'on && index($0, b) == 1 { exit } on { print } $0 == a { on = 1 }'; }

# A tiny random SmolVLM (Tests/Fixtures/parity/smolvlm_tiny, chat template, context 2048) whose
# generation_config.json bans its end token, so every answer is exactly --max-tokens tokens of
# noise (long enough to be interrupted, the same length whatever the numerics), and bans every
# token whose bytes are not printable ASCII (ids 0-1, 96-221, 223-257 of its byte-level BPE; the
# special tokens 460-500), so answers are one line of plain text a shell can compare.
fixture="$(cd "$(dirname "$0")/../Fixtures/parity/smolvlm_tiny" && pwd)"
tiny="$work/tiny"; mkdir -p "$tiny"
for f in chat_template.jinja config.json model.safetensors processor_config.json tokenizer.json tokenizer_config.json; do
  ln -s "$fixture/$f" "$tiny/$f"
done
banned=$(for r in "0 1" "96 221" "223 257" "460 500"; do seq $r; done | sed 's/.*/[&]/' | paste -sd, -)
echo "{\"bos_token_id\": 0, \"eos_token_id\": 460, \"pad_token_id\": 1, \"bad_words_ids\": [$banned]}" > "$tiny/generation_config.json"
long=1000
expect_a1=$(printf 'what happens\n' | "$vidlm" chat "$samples/world/sequence.mp4" --model "$tiny" --frames 2 --max-tokens "$long" 2> /dev/null)
expect_a2=$(printf 'describe it\n' | "$vidlm" chat "$samples/world/sequence.mp4" --model "$tiny" --frames 2 --max-tokens "$long" 2> /dev/null)
check "the two noise answers differ and are long, one printable line each" \
  '[ "$expect_a1" != "$expect_a2" ] && [ "${#expect_a1}" -gt 500 ] && ! printf "%s\n%s" "$expect_a1" "$expect_a2" | grep -q "[^ -~]"'

# (a) Ctrl-C while an answer streams stops it, says so, and the session goes on.
pty_start stop "$vidlm" chat "$samples/world/sequence.mp4" --model "$tiny" --frames 2 --max-tokens "$long"
until_true '[ "$(prompts)" -ge 1 ]' && send 'what happens\n'
# The answer has started: the line after the question holds some text.
until_true '[ "$(between "> what happens" "vidlm:" | head -c 8 | wc -c)" -ge 8 ]' && send '\003'
until_true 'transcript | grep -q "answer stopped"' && until_true '[ "$(prompts)" -ge 2 ]' && send 'describe it\n'
until_true '[ "$(prompts)" -ge 3 ]' && send '/quit\n'
pty_end; rc=$?
stopped=$(between "> what happens" "vidlm: answer stopped" | sed 's/\^C//g')
check "chat after Ctrl-C and /quit exits 0 (got $rc)" '[ "$rc" -eq 0 ]'
check "Ctrl-C says the answer stopped, once" \
  '[ "$(transcript | grep -cx "vidlm: answer stopped (Ctrl-C); it is not kept in the conversation.")" -eq 1 ]'
check "the stopped answer was cut: a strict, non-empty prefix of the whole one" \
  '[ -n "$stopped" ] && [ "${#stopped}" -lt "${#expect_a1}" ] && [ "${expect_a1#"$stopped"}" != "$expect_a1" ]'
check "the next question is answered in full, as in a fresh conversation (the stopped turn is not kept)" \
  '[ "$(between "> describe it" "> ")" = "$expect_a2" ]'

# (b) Ctrl-C at the prompt drops the half-typed line, says how to leave, and the session goes on
# (before any answer, when the old handler was not installed yet, and after one).
pty_start prompt "$vidlm" chat "$samples/world/sequence.mp4"
until_true '[ "$(prompts)" -ge 1 ]' && send '/frob'
until_true 'transcript | grep -q "/frob"' && send '\003'
until_true '[ "$(prompts)" -ge 2 ]' && send 'what happens\n'
until_true '[ "$(prompts)" -ge 3 ]' && send '/qu'
until_true 'transcript | grep -q "^> /qu"' && send '\003'
until_true '[ "$(prompts)" -ge 4 ]' && send 'what happens\n'
until_true '[ "$(prompts)" -ge 5 ]' && send '/quit\n'
pty_end; rc=$?
check "chat with Ctrl-C at the prompt exits 0 on /quit (got $rc)" '[ "$rc" -eq 0 ]'
check "Ctrl-C at the prompt says how to leave, each time" \
  '[ "$(transcript | grep -cx "vidlm: Ctrl-C stops an answer; type /quit or press Ctrl-D to leave.")" -eq 2 ]'
check "the half-typed lines were dropped (no /frobwhat…, no early /quit): both questions answered" \
  '[ "$(transcript | grep -cx "$caption")" -eq 2 ] && ! transcript | grep -q "unknown command"'

# (c) A conversation longer than the context (the tiny model with a 200-position context, 2
# frames = 122 prompt positions, 8-token answers): the oldest turns go, chat says so, answers go on.
ctx="$work/ctx"; mkdir -p "$ctx"
cp -P "$tiny"/* "$ctx"/ && rm "$ctx/config.json"
sed 's/"max_position_embeddings": 2048/"max_position_embeddings": 200/' "$fixture/config.json" > "$ctx/config.json"
check "the short-context model really has 200 positions" 'grep -q "\"max_position_embeddings\": 200" "$ctx/config.json"'
pty_start overflow "$vidlm" chat "$samples/world/sequence.mp4" --model "$ctx" --frames 2 --max-tokens 8
questions="what happens|and then|why|what colour|where|how many|who|when|which one|is it red"
n=0
IFS='|' read -ra qs <<< "$questions"
for q in "${qs[@]}"; do
  n=$((n + 1))
  until_true '[ "$(prompts)" -ge '"$n"' ]' && send "$q\n"
done
until_true '[ "$(prompts)" -ge '"$((n + 1))"' ]' && send '/quit\n'
pty_end; rc=$?
dropped="vidlm: the conversation outgrew the model's context: dropped its oldest question and answer."
check "chat with an overflowing conversation exits 0 (got $rc)" '[ "$rc" -eq 0 ]'
check "chat says when it drops the oldest turns" '[ "$(transcript | grep -cxF "$dropped")" -ge 2 ]'
check "the first turns fit: no drop before the fourth question" \
  '! transcript | awk -v d="$dropped" "/^> what colour/ { exit } \$0 == d { found = 1 } END { exit !found }"'
answered=0
for q in "${qs[@]}"; do
  [ -n "$(between "> $q" "> " | grep -vxF "$dropped" | tr -d '[:space:]')" ] && answered=$((answered + 1))
done
check "every question of the overflowing conversation is answered ($answered of ${#qs[@]})" '[ "$answered" -eq "${#qs[@]}" ]'

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

# --resume tries failed items again: their new line follows the old one, nothing else runs twice.
printf '{"id": "seq", "media": "%s/world/sequence.mp4", "question": "what happens"}\n{"id": "late", "media": "%s/late.mp4", "question": "what happens"}\n' \
  "$samples" "$work" > "$work/late.jsonl"
"$vidlm" batch "$work/late.jsonl" --output "$work/late-out.jsonl" 2> /dev/null; rc=$?
check "the item whose clip is missing fails (exit $rc)" '[ "$rc" -eq 1 ] && grep "\"id\":\"late\"" "$work/late-out.jsonl" | grep -q "\"error\""'
cp "$samples/world/sequence.mp4" "$work/late.mp4"
"$vidlm" batch "$work/late.jsonl" --output "$work/late-out.jsonl" --resume 2> /dev/null; rc=$?
check "resume answers the failed item and exits 0 (got $rc)" '[ "$rc" -eq 0 ]'
check "resume appends the retried item after its error line, the answered item untouched" \
  '[ "$(wc -l < "$work/late-out.jsonl")" -eq 3 ] && [ "$(grep -c "\"id\":\"seq\"" "$work/late-out.jsonl")" -eq 1 ] && tail -n 1 "$work/late-out.jsonl" | grep "\"id\":\"late\"" | grep -q "$caption"'

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
bad "shard 2/0" "$work/m.jsonl" --shard 2/0
bad "shard -1/2" "$work/m.jsonl" --shard=-1/2
bad "shard 1/2/3" "$work/m.jsonl" --shard 1/2/3
check "a bad shard names the form it wants" 'grep -q "must be I/N with 0 ≤ I < N" "$work/err"'
bad "missing manifest" "$work/none.jsonl"

echo "chat/batch: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
