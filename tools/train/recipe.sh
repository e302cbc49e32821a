#!/usr/bin/env bash
# The shipped models/vidlm-shapes, from nothing: one seeded run of train.py with its defaults
# (under an hour on this project's 2-core CPU; see models/vidlm-shapes/MODEL_CARD.md):
#   - a byte-level BPE tokenizer on the world's text;
#   - 45 000 clips and 5 000 stills rendered through H.264 yuv420p (seed 2469);
#   - stage 1: the vision tower alone on single frames (3 000 steps, per-patch position loss);
#   - stage 1c: the video Q-Former alone learns every clip's scene table, directions included,
#     from cached merged tokens, read by attention pooling (10 000 steps);
#   - stage 2: the projection and decoder on the frozen Q-Former's cached outputs (6 500 steps).
#
#   tools/train/recipe.sh [OUT]      (OUT defaults to models/vidlm-shapes; needs tools/.venv)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-models/vidlm-shapes}
py=tools/.venv/bin/python
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
$py tools/train/train.py --out "$work/run"
mkdir -p "$out"
cp "$work/run"/* "$out"/
echo "wrote $out (MODEL_CARD.md is kept as it was)"
