#!/usr/bin/env bash
# The media of the LLaVA / CLIP (benchmarks/llava) and Qwen-VL (benchmarks/qwenvl) benchmarks, made
# once under WORK with ffmpeg (skipped when present):
#   clip.mp4      12 s of testsrc2, 1280x720, 30 fps, H.264 High with B-frames (benchmarks/vlm's clip)
#   clip10.mp4    the same pattern, 10 s (issue 21's "10-second 720p clip")
#   image1280.png the clip's frame at 5 s, 1280x720 (issue 21's image)
#   image336.png  that frame scaled to 336 px high and centre-cropped to 336x336 (LLaVA-1.5's image)
#   images100/    100 JPEGs (640x480, quality 3) spread over the clip: the CLIP classify rows' pictures
#
#   benchmarks/vlm/make_media.sh WORK
set -euo pipefail
work=$1
mkdir -p "$work"
command -v ffmpeg >/dev/null || "$(dirname "$0")/../../scripts/install-deps.sh" ffmpeg
x264=(-c:v libx264 -preset medium -profile:v high -pix_fmt yuv420p -g 60)
[ -f "$work/clip.mp4" ] || ffmpeg -v error -y -f lavfi -i testsrc2=size=1280x720:rate=30:duration=12 "${x264[@]}" "$work/clip.mp4"
[ -f "$work/clip10.mp4" ] || ffmpeg -v error -y -f lavfi -i testsrc2=size=1280x720:rate=30:duration=10 "${x264[@]}" "$work/clip10.mp4"
[ -f "$work/image1280.png" ] || ffmpeg -v error -y -ss 5 -i "$work/clip.mp4" -frames:v 1 "$work/image1280.png"
[ -f "$work/image336.png" ] || ffmpeg -v error -y -ss 5 -i "$work/clip.mp4" -vf "scale=-2:336,crop=336:336" -frames:v 1 "$work/image336.png"
if [ "$(ls "$work/images100" 2>/dev/null | wc -l)" != 100 ]; then
  rm -rf "$work/images100"
  mkdir -p "$work/images100"
  ffmpeg -v error -y -i "$work/clip.mp4" -vf "fps=100/12,scale=640:480" -frames:v 100 -q:v 3 "$work/images100/%03d.jpg"
fi
