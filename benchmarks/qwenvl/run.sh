#!/usr/bin/env bash
# The Qwen-VL benchmark (issue 21): vidlm vs transformers 5.23 (PyTorch) on the same random-weight,
# full-size Qwen2.5-VL-3B checkpoint (bf16) written once by transformers' save_pretrained
# (benchmarks/qwenvl/make_models.py), on the 10 s 720p clip at the video processor's 2 fps and on one
# 1280x720 image: `vidlm ask --json` vs `generate` with a streamer, 2 threads each, 32 greedy tokens,
# one run per tool and row: time to first token, decode tok/s, peak RSS and the visual token count,
# with the prompt ids, frame indices and greedy ids checked equal. Same steps as benchmarks/llava/run.sh
# (which it runs with SUITE=qwenvl). Writes benchmarks/qwenvl/results.json and results.md
# (docs/benchmarks/qwenvl.md quotes it).
#
#   benchmarks/qwenvl/run.sh    env: as benchmarks/llava/run.sh
set -euo pipefail
SUITE=qwenvl exec "$(dirname "$0")/../llava/run.sh"
