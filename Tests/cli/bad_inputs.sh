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
frames "$media/../stills/jpeg_truncated.jpg"                    # Pillow refuses it too
frames "$media/../fuzz/media/webp-alpha-libav-abort"         # libav's WebP decoder aborted on it
expect_error "count 0" frames "$media/cfr_bframes.mp4" --count 0 --output "$work/out"
expect_error "probe missing" probe /nonexistent.mp4
expect_error "probe text" probe "$media/text.mp4"
clip="$media/../parity/clip_tiny"
image="$clip/cases/image/input.png"
expect_error "classify no labels" classify "$image" --model "$clip" --labels ""
expect_error "classify empty labels" classify "$image" --model "$clip" --labels ",,"
expect_error "classify template without {}" classify "$image" --model "$clip" --labels "a,b" --template "a photo"
expect_error "classify without a text tower" classify "$image" --model "$media/../parity/llava_tiny" --labels "a,b"
expect_error "classify missing media" classify /nonexistent.png --model "$clip" --labels "a,b"
expect_error "classify zero frames" classify "$media/cfr_bframes.mp4" --model "$clip" --labels "a,b" --frames 0
expect_error "embed without a text tower" embed "$image" --model "$media/../parity/llava_tiny" --json
expect_error "embed text too long" embed --text "$(printf 'word %.0s' $(seq 1 60))" --model "$clip" --json

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

# ask / caption / image / generate: bad models, tokenizers, media, options and prompts.
vidlm_tiny="$parity/e2e_vidlm_tiny"
mkdir -p "$work/m-unknown" "$work/m-notok" "$work/m-badtok" "$work/m-badconfig"
echo '{"model_type": "resnet"}' > "$work/m-unknown/config.json"
cp "$vidlm_tiny/config.json" "$vidlm_tiny/model.safetensors" "$work/m-notok/"
cp "$vidlm_tiny/config.json" "$vidlm_tiny/model.safetensors" "$work/m-badtok/"
echo '{"version": "1.0", "model": {"type": "Unigram", "vocab": []}}' > "$work/m-badtok/tokenizer.json"
cp "$vidlm_tiny/model.safetensors" "$vidlm_tiny/tokenizer.json" "$work/m-badconfig/"
sed 's/"num_video_query_tokens": 4/"num_video_query_tokens": "four"/' "$vidlm_tiny/config.json" > "$work/m-badconfig/config.json"
clip="$media/cfr_bframes.mp4"
expect_error "ask missing model" ask "$clip" "what happens?" --model "$work/none"
expect_error "ask unknown model_type" ask "$clip" "what happens?" --model "$work/m-unknown"
expect_error "ask missing tokenizer" ask "$clip" "what happens?" --model "$work/m-notok"
expect_error "ask unsupported tokenizer" ask "$clip" "what happens?" --model "$work/m-badtok"
expect_error "ask bad config value" ask "$clip" "what happens?" --model "$work/m-badconfig"
expect_error "ask missing media" ask /nonexistent.mp4 "what happens?" --model "$vidlm_tiny"
expect_error "ask text file" ask "$media/text.mp4" "what happens?" --model "$vidlm_tiny"
expect_error "ask audio only" ask "$media/audio_only.m4a" "what happens?" --model "$vidlm_tiny"
expect_error "ask empty clip" ask "$media/empty.mp4" "what happens?" --model "$vidlm_tiny"
expect_error "ask empty question" ask "$clip" "  " --model "$vidlm_tiny"
expect_error "ask no question" ask "$clip" --model "$vidlm_tiny"
expect_error "ask zero frames" ask "$clip" "what happens?" --frames 0 --model "$vidlm_tiny"
expect_error "ask negative temperature" ask "$clip" "what happens?" --temperature=-1 --model "$vidlm_tiny"
expect_error "ask start after end" ask "$clip" "what happens?" --start 60 --model "$vidlm_tiny"
expect_error "caption bad pixels" caption --pixels "$tiny/expected.safetensors" --model "$vidlm_tiny"
expect_error "image too many arguments" image "$media/still.png" "a" "b" --model "$vidlm_tiny"
long=$(printf 'word %.0s' $(seq 1 400))
expect_error "generate prompt too long" generate --model "$vidlm_tiny" --prompt "$long"
expect_error "generate unknown model_type" generate --model "$work/m-unknown" --prompt "hi"
expect_error "generate missing tokenizer" generate --model "$work/m-notok" --prompt "hi"
expect_error "generate bad top-p" generate --model "$vidlm_tiny" --prompt "hi" --top-p 0
expect_error "features stage the family lacks" features "$media/still.png" --model "$parity/e2e_blip2_opt" --stage merged --output "$work/out"
# Qwen-VL: a picture of aspect ratio above 200, a zero sampling rate, max_pixels below min_pixels.
qwen="$parity/qwen2_vl_tiny"
expect_error "qwen picture of aspect ratio above 200" ask "$qwen/cases/bad/too_wide.png" "what is it?" --model "$qwen"
expect_error "qwen fps 0" ask "$media/cfr_bframes.mp4" "what happens?" --fps 0 --model "$qwen"
mkdir -p "$work/m-qwenpix" && cp -r "$qwen"/*.json "$qwen"/*.jinja "$qwen"/*.safetensors "$work/m-qwenpix"/
sed -i 's/"longest_edge": 12544/"longest_edge": 100/' "$work/m-qwenpix/processor_config.json"
expect_error "qwen max_pixels below min_pixels" ask "$media/still.png" "what is it?" --model "$work/m-qwenpix"
rm -rf "$work/m-qwenpix"
# Qwen3-VL: the same, and a clip of fewer frames than its temporal patch.
qwen3="$parity/qwen3_vl_tiny"
expect_error "qwen3 picture of aspect ratio above 200" ask "$qwen/cases/bad/too_wide.png" "what is it?" --model "$qwen3"
expect_error "qwen3 fps 0" ask "$media/cfr_bframes.mp4" "what happens?" --fps 0 --model "$qwen3"
expect_error "qwen3 one frame" ask "$media/cfr_bframes.mp4" "what happens?" --frames 1 --model "$qwen3"
mkdir -p "$work/m-qwen3pix" && cp -r "$qwen3"/*.json "$qwen3"/*.jinja "$qwen3"/*.safetensors "$work/m-qwen3pix"/
sed -i 's/"longest_edge": 16384/"longest_edge": 100/' "$work/m-qwen3pix/processor_config.json"
expect_error "qwen3 max_pixels below min_pixels" ask "$media/still.png" "what is it?" --model "$work/m-qwen3pix"
rm -rf "$work/m-qwen3pix"
# eval frame-order: manifest errors name the line; K = 0 with shuffle; missing/corrupt clips
# are rows in the report and make the exit status 1 at the end (checked separately below).
mkdir -p "$work/m-eval"
printf '{"video": "a.mp4", "caption": "x"}\nnot json\n' > "$work/m-eval/bad.jsonl"
printf '{"video": "a.mp4", "caption": ""}\n' > "$work/m-eval/empty.jsonl"
expect_error "eval malformed line" eval frame-order --manifest "$work/m-eval/bad.jsonl" --model "$vidlm_tiny"
expect_error "eval empty caption" eval frame-order --manifest "$work/m-eval/empty.jsonl" --model "$vidlm_tiny"
expect_error "eval missing manifest" eval frame-order --manifest "$work/m-eval/none.jsonl" --model "$vidlm_tiny"
expect_error "eval shuffle with K=0" eval frame-order --manifest "$work/m-eval/bad.jsonl" --mode shuffle --shuffles 0 --model "$vidlm_tiny"
expect_error "eval bad mode" eval frame-order --manifest "$work/m-eval/bad.jsonl" --mode sideways --model "$vidlm_tiny"
cp "$clip" "$work/m-eval/a.mp4"
printf '{"video": "a.mp4", "caption": "x"}\n{"video": "gone.mp4", "caption": "y"}\n' > "$work/m-eval/partial.jsonl"
"$vidlm" eval frame-order --manifest "$work/m-eval/partial.jsonl" --model "$vidlm_tiny" --frames 2 --output "$work/m-eval/report.json" \
  >"$work/stdout" 2>"$work/stderr"
if [ $? -eq 1 ] && grep -q '"failed" : 1' "$work/m-eval/report.json" && grep -q "ERROR" "$work/stdout"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "FAIL: eval with a missing clip reports it and exits 1"
fi
rm -rf "$work"/m-*

# Good paths: an answer as JSON with the generated ids, and streamed text.
if "$vidlm" ask "$clip" "what happens?" --model "$vidlm_tiny" --frames 2 --max-tokens 3 --json 2>/dev/null >"$work/answer.json" \
   && grep -q '"token_ids"' "$work/answer.json" && grep -q '"prompt_token_ids"' "$work/answer.json" && grep -q '"frames"' "$work/answer.json"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "FAIL: ask good path"
fi
if "$vidlm" generate --model "$vidlm_tiny" --prompt "hello" --max-tokens 3 --json 2>/dev/null | grep -q '"token_ids"'; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "FAIL: generate good path"
fi
rm -f "$work/answer.json"

# Chat templates: a model whose template is broken, raises, or is missing; options that need --chat.
mkdir -p "$work/m-chat"
cp "$vidlm_tiny"/config.json "$vidlm_tiny"/model.safetensors "$vidlm_tiny"/tokenizer.json "$vidlm_tiny"/tokenizer_config.json "$work/m-chat/"
expect_error "generate --chat without a template" generate --model "$work/m-chat" --prompt "hi" --chat
expect_error "generate --system without --chat" generate --model "$work/m-chat" --prompt "hi" --system "be brief"
printf '{%% for m in messages %%}\n{{ m.content }}\n{%% if m.role == "user" %%}\nU\n{%% endfor %%}\n' > "$work/m-chat/chat_template.jinja"
expect_error "template with an unclosed if" generate --model "$work/m-chat" --prompt "hi" --chat
printf 'a\n{{ raise_exception("Only user turns,\nplease.") if messages[0].role != "user" }}{{ messages[0].content }}' > "$work/m-chat/chat_template.jinja"
expect_error "template that raises" generate --model "$work/m-chat" --prompt "hi" --system "s" --chat
printf '{%% macro f(n) %%}{{ f(n + 1) }}{%% endmacro %%}{{ f(0) }}' > "$work/m-chat/chat_template.jinja"
expect_error "template that recurses forever" generate --model "$work/m-chat" --prompt "hi" --chat
printf '{%% for i in range(99999) %%}{%% for j in range(99999) %%}{%% endfor %%}{%% endfor %%}' > "$work/m-chat/chat_template.jinja"
expect_error "template that loops (almost) forever" generate --model "$work/m-chat" --prompt "hi" --chat
printf '{%% include "x.jinja" %%}' > "$work/m-chat/chat_template.jinja"
expect_error "unsupported construct" generate --model "$work/m-chat" --prompt "hi" --chat
printf '{{ messages | shout }}' > "$work/m-chat/chat_template.jinja"
expect_error "unknown filter" generate --model "$work/m-chat" --prompt "hi" --chat
printf '[{"role": "user", "content": ' > "$work/m-chat/messages.json"
printf '{%% for m in messages %%}<{{ m.role }}>{{ m.content }}{%% endfor %%}{%% if add_generation_prompt %%}<assistant>{%% endif %%}' > "$work/m-chat/chat_template.jinja"
expect_error "messages file that is not JSON" generate --model "$work/m-chat" --messages "$work/m-chat/messages.json" --chat
# Good path: the rendered prompt and its ids come back in the JSON.
printf '[{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}]' > "$work/m-chat/messages.json"
if "$vidlm" generate --model "$work/m-chat" --messages "$work/m-chat/messages.json" --chat --max-tokens 2 --json 2>/dev/null >"$work/chat.json" \
   && grep -q '"prompt" : "<system>s<user>hi<assistant>"' "$work/chat.json" && grep -q '"prompt_token_ids"' "$work/chat.json"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "FAIL: generate --chat good path: $(head -c 300 "$work/chat.json")"
fi
rm -rf "$work/m-chat" "$work/chat.json"

# The good path writes the folder whole.
if "$vidlm" frames "$media/cfr_bframes.mp4" --count 3 --output "$work/out" 2>/dev/null \
   && [ "$(ls "$work/out" | wc -l)" -eq 4 ] && grep -q '"index"' "$work/out/frames.json"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "FAIL: frames good path"
fi
rm -rf "$work/out"

# The built-in model when the binary lives outside the checkout (issue 22). Copied alone, with no
# model anywhere (HOME, XDG dirs and VIDLM_MODEL pointed away): one sentence that lists where it
# looked and what to do. With the model under $XDG_DATA_HOME: the demo answer, and nothing on a
# stderr that is not a terminal.
repo="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$work/m-bin/bin" "$work/m-bin/home" "$work/m-bin/data/vidlm/models"
cp "$vidlm" "$work/m-bin/bin/vidlm"
copied() { (cd "$work/m-bin" && env -u VIDLM_MODEL -u XDG_DATA_HOME HOME="$work/m-bin/home" XDG_DATA_DIRS="$work/m-bin/none" "$@"); }
copied "$work/m-bin/bin/vidlm" ask "$repo/samples/world/sequence.mp4" "what happens" >"$work/stdout" 2>"$work/stderr"
rc=$?
looked=yes
for where in "$work/m-bin/bin/models/vidlm-shapes" "$work/m-bin/share/vidlm/models/vidlm-shapes" \
             "$work/m-bin/home/.local/share/vidlm/models/vidlm-shapes" "$work/m-bin/none/vidlm/models/vidlm-shapes" \
             "make install" "~/.local/share/vidlm/models/" "--model DIR"; do
  grep -qF -- "$where" "$work/stderr" || looked="no ($where)"
done
if [ "$rc" -eq 1 ] && [ "$(wc -l <"$work/stderr")" -eq 1 ] && [ ! -s "$work/stdout" ] && [ "$looked" = yes ]; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "FAIL: copied binary without a model (exit $rc, lists the places: $looked): $(head -c 600 "$work/stderr")"
fi
ln -s "$repo/models/vidlm-shapes" "$work/m-bin/data/vidlm/models/vidlm-shapes"
demo="the blue square appears, then the triangle changes colour from red to yellow."
copied env XDG_DATA_HOME="$work/m-bin/data" "$work/m-bin/bin/vidlm" ask "$repo/samples/world/sequence.mp4" "what happens" \
  >"$work/stdout" 2>"$work/stderr"
rc=$?
if [ "$rc" -eq 0 ] && [ "$(cat "$work/stdout")" = "$demo" ] && [ ! -s "$work/stderr" ]; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "FAIL: copied binary with the model in XDG_DATA_HOME (exit $rc): $(head -c 300 "$work/stdout") $(head -c 300 "$work/stderr")"
fi
# A model's generation_config.json that the engine cannot use: one sentence naming the file.
mkdir -p "$work/m-gen"
cp "$vidlm_tiny"/config.json "$vidlm_tiny"/model.safetensors "$vidlm_tiny"/tokenizer.json "$work/m-gen/"
echo '{"bad_words_ids": [[5], []]}' > "$work/m-gen/generation_config.json"
expect_error "generation config with an empty bad word" ask "$clip" "what happens?" --model "$work/m-gen"
echo '{"repetition_penalty": "high"}' > "$work/m-gen/generation_config.json"
expect_error "generation config with a wrong type" ask "$clip" "what happens?" --model "$work/m-gen"
echo '{"repetition_penalty": 1.0, "bad_words_ids": [[5]]' > "$work/m-gen/generation_config.json"
expect_error "generation config that is not JSON" ask "$clip" "what happens?" --model "$work/m-gen"
expect_error "ask bad --repetition-penalty" ask "$clip" "what happens?" --model "$vidlm_tiny" --repetition-penalty 0
# On a terminal the built-in model says once what it is; never with --json, never with --model.
if command -v script >/dev/null; then
  notice="built-in demo model"
  on_tty() { script -qec "$1" /dev/null </dev/null 2>/dev/null | tr -d '\r'; }
  q="$repo/samples/world/sequence.mp4 'what happens'"
  plain=$(on_tty "env -u VIDLM_MODEL XDG_DATA_HOME='$work/m-bin/data' '$vidlm' ask $q")
  json=$(on_tty "env -u VIDLM_MODEL XDG_DATA_HOME='$work/m-bin/data' '$vidlm' ask $q --json")
  named=$(on_tty "'$vidlm' ask $q --model '$repo/models/vidlm-shapes'")
  if [ "$(grep -c "$notice" <<<"$plain")" -eq 1 ] && grep -qF "$demo" <<<"$plain" \
     && ! grep -q "$notice" <<<"$json" && grep -q '"answer"' <<<"$json" \
     && ! grep -q "$notice" <<<"$named" && grep -qF "$demo" <<<"$named"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAIL: built-in model notice on a terminal: $(head -c 400 <<<"$plain")"
  fi
fi
# quantize: bad types, parts, models and outputs; the output folder never appears, nor its
# temporary twin. A good quantized copy first (it loads and answers), then errors around it.
shapes="$repo/models/vidlm-shapes"
if "$vidlm" quantize "$shapes" "$work/m-q8" --type q8_0 >"$work/stdout" 2>/dev/null && [ ! -s "$work/stdout" ] \
   && "$vidlm" ask "$clip" "what happens?" --model "$work/m-q8" >"$work/stdout" 2>/dev/null && [ -s "$work/stdout" ]; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "FAIL: quantize q8_0 then ask"
fi
expect_error "quantize unknown type" quantize "$shapes" "$work/out" --type q5_1
expect_error "quantize unknown part" quantize "$shapes" "$work/out" --type q8_0 --skip decoder
expect_error "quantize missing model" quantize "$work/none" "$work/out" --type q8_0
expect_error "quantize inner size not a multiple of 32" quantize "$vidlm_tiny" "$work/out" --type q4_0
# q4_k falls back to q8_0 where a weight is not a multiple of 256 wide, but not below 32.
expect_error "quantize q4_k, inner size not a multiple of 32" quantize "$vidlm_tiny" "$work/out" --type q4_k
if "$vidlm" quantize "$shapes" "$work/m-q4k" --type q4_k >"$work/stdout" 2>"$work/stderr" && [ ! -s "$work/stdout" ] \
   && grep -q "q8_0 (inner size 192 is not a multiple of 256)" "$work/stderr" \
   && "$vidlm" ask "$clip" "what happens?" --model "$work/m-q4k" >"$work/stdout" 2>/dev/null && [ -s "$work/stdout" ]; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "FAIL: quantize q4_k (with its q8_0 fallback) then ask"
fi
expect_error "quantize already quantized" quantize "$work/m-q8" "$work/out" --type q4_0
mkdir -p "$work/m-exists"
expect_error "quantize into an existing folder" quantize "$shapes" "$work/m-exists" --type q8_0
# A block table whose header says 68-byte blocks (same byte count): corrupted, refused on load.
cp -r "$work/m-q8" "$work/m-corrupt"
LC_ALL=C sed -i '0,/,6,34\]/s//,3,68]/' "$work/m-corrupt/model.safetensors"
expect_error "ask with a corrupted block table" ask "$clip" "what happens?" --model "$work/m-corrupt"
cp "$shapes/config.json" "$work/m-corrupt/config.json"  # no quantization_config: the table is what fails
expect_error "quantize a corrupted block table" quantize "$work/m-corrupt" "$work/out" --type q8_0
rm -rf "$work"/m-*
echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
