#!/usr/bin/env bash
# Generates the long/large inputs for benchmarks/long/run.sh into benchmarks/.work/long/
# (gitignored). Existing files are kept (delete one to regenerate it). Everything runs under
# `nice -n 19` so that it never slows other work on the machine.
#
#   long-2h-720p.mp4   1280x720, 5 fps, 7200 s (36,000 frames), H.264 ultrafast, GOP 40 (8 s)
#   long-1min-720p.mp4 the same encoding, 60 s (300 frames)
#   long-2h-720p.mkv   the 2-hour clip remuxed (stream copy) into Matroska: the packet-scan path
#   8k-hevc.mp4        7680x4320, 10 frames at 10 fps, HEVC (libx265 ultrafast; skipped without libx265)
#   8k-h264.mp4        the same picture in H.264 (libx264 ultrafast, level 6.2)
#   10k-320x180.mp4    320x180, 30 fps, 10,000 frames, H.264 ultrafast (x264 default GOP 250)
#   1000fps-16x16.mkv  16x16, 1000 fps, 60 s (60,000 tiny packets), H.264 ultrafast, Matroska
#
# Every clip draws its frame number (drawtext) over testsrc2 (the 16x16 one is plain testsrc2).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${VIDLM_LONG_WORK:-$(cd "$here/.." && pwd)/.work/long}"
mkdir -p "$work"
font=/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf
ff() { nice -n 19 ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }
label() {  # drawtext of the frame number, sized for a frame height $1
    if [[ -f "$font" ]]; then
        echo ",drawtext=fontfile=$font:text='%{n}':x=20:y=20:fontsize=$(( $1 / 8 )):fontcolor=white:box=1:boxcolor=black"
    fi
}

make() {  # make NAME ffmpeg-args...
    local name="$1"; shift
    local out="$work/$name"
    if [[ -s "$out" ]]; then echo "make_inputs: $name exists, skipping"; return; fi
    echo "make_inputs: generating $name ..."
    local tmp="$work/.tmp.${name}"
    local start=$SECONDS
    ff "$@" "$tmp"
    mv "$tmp" "$out"
    echo "make_inputs: $name done in $(( SECONDS - start )) s, $(du -h "$out" | cut -f1)"
}

x264_720p=(-c:v libx264 -preset ultrafast -g 40 -pix_fmt yuv420p -movflags +faststart -f mp4)

make long-2h-720p.mp4 -f lavfi -i "testsrc2=size=1280x720:rate=5$(label 720)" -t 7200 "${x264_720p[@]}"
make long-1min-720p.mp4 -f lavfi -i "testsrc2=size=1280x720:rate=5$(label 720)" -t 60 "${x264_720p[@]}"
make long-2h-720p.mkv -i "$work/long-2h-720p.mp4" -c copy -f matroska

# (grep -q on a pipe would end ffmpeg early with SIGPIPE, which pipefail reports as failure)
encoders="$(ffmpeg -hide_banner -encoders 2>/dev/null)"
if grep -q libx265 <<<"$encoders"; then
    make 8k-hevc.mp4 -f lavfi -i "testsrc2=size=7680x4320:rate=10$(label 4320)" -frames:v 10 \
        -c:v libx265 -preset ultrafast -x265-params log-level=error -pix_fmt yuv420p -tag:v hvc1 -f mp4
fi
make 8k-h264.mp4 -f lavfi -i "testsrc2=size=7680x4320:rate=10$(label 4320)" -frames:v 10 \
    -c:v libx264 -preset ultrafast -level 6.2 -pix_fmt yuv420p -f mp4

make 10k-320x180.mp4 -f lavfi -i "testsrc2=size=320x180:rate=30$(label 180)" -frames:v 10000 \
    -c:v libx264 -preset ultrafast -pix_fmt yuv420p -f mp4

make 1000fps-16x16.mkv -f lavfi -i "testsrc2=size=16x16:rate=1000" -t 60 \
    -c:v libx264 -preset ultrafast -pix_fmt yuv420p -f matroska
