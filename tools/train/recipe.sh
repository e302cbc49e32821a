#!/usr/bin/env bash
# The shipped models/vidlm-shapes, from nothing: one seeded run of train.py with its defaults
# (seed 2468; about 56 min on this project's 2-core CPU, no GPU needed; see
# models/vidlm-shapes/MODEL_CARD.md, "Training"). MODEL_CARD.md in OUT is left as it is.
#
#   tools/train/recipe.sh [OUT]      (OUT defaults to models/vidlm-shapes; needs tools/.venv:
#                                     python3 -m venv tools/.venv && tools/.venv/bin/pip install
#                                     -r tools/requirements.txt)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-models/vidlm-shapes}
exec tools/.venv/bin/python tools/train/train.py --out "$out"
