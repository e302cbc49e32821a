#!/usr/bin/env bash
# Generates the synthetic benchmark clips into benchmarks/.work/ (gitignored).
#
#   clip-1min.mp4   1280x720, 30 fps, 60 s  (1800 frames)
#   clip-10min.mp4  1280x720, 30 fps, 600 s (18000 frames)
#
# H.264 (libx264) yuv420p in MP4 with the *default* x264 GOP: keyint 250, min-keyint 25,
# scenecut on, default B-frames (3, adaptive). Only the preset is lowered (veryfast) so that
# generation is quick on 2 cores; GOP/B-frame settings are the defaults.
#
# Content: testsrc2 (moving pattern + frame counter) averaged with a scrolling rule-110 cellular
# automaton (rendered at 320x180 and upscaled bicubically: textured motion over the whole frame)
# plus light temporal noise, so every frame changes and the bitrate (~3-4 Mbit/s) and decode cost
# are those of ordinary 720p video rather than of a near-static test card. (Not mandelbrot: its
# cost per frame explodes as it zooms, which made the 10-minute clip take over 20 minutes.)
#
# Existing files are kept (delete them to regenerate).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${VIDLM_BENCH_WORK:-$(cd "$here/.." && pwd)/.work}"
mkdir -p "$work"

graph="cellauto=s=320x180:r=30:rule=110:random_fill_ratio=0.5:random_seed=1,scale=1280:720:flags=bicubic[m];testsrc2=s=1280x720:r=30[t];[t][m]blend=all_mode=average,noise=alls=6:allf=t,format=yuv420p"

make_clip() {
    local name="$1" seconds="$2"
    local out="$work/$name"
    if [[ -s "$out" ]]; then
        echo "make_clips: $out exists, skipping"
        return
    fi
    echo "make_clips: generating $out (${seconds}s) ..."
    ffmpeg -hide_banner -loglevel error -nostdin -y \
        -f lavfi -i "$graph" -t "$seconds" \
        -c:v libx264 -preset veryfast -pix_fmt yuv420p \
        -movflags +faststart \
        "$out.tmp.mp4"
    mv "$out.tmp.mp4" "$out"
}

make_clip clip-1min.mp4 60
make_clip clip-10min.mp4 600
ls -l "$work"/clip-*.mp4
