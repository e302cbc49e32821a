#!/usr/bin/env python3
"""Regenerate the sample media in samples/ (deterministic; needs the ffmpeg/ffprobe CLI and numpy).

Usage:  python3 samples/make_samples.py

How each file is made (all from ffmpeg's built-in lavfi sources, no external input;
single-threaded encoders and bitexact flags so reruns give identical bytes on the same
ffmpeg build):

  clip.mp4      4 s, 320x240, 25 fps. A mandelbrot zoom (start_scale 2.5 -> 0.05) with a
                128x96 testsrc2 inset gliding across it. H.264 High (libx264 crf 26, preset
                medium, yuv420p) + a mono 48 kHz AAC track (440 Hz sine with beeps).
  clip.webm     3 s, 320x240, 25 fps. smptehdbars averaged with Conway's game of life
                (life, 80x60 cells scaled x4, seed 42, with mould) and a slowly rotating
                hue. VP9 (libvpx-vp9 crf 36, cpu-used 4, 1 thread, no row-mt) + mono Opus
                (660 Hz sine).
  portrait.mp4  3 s, 25 fps, phone-style portrait: the upright picture is 180x320 (testsrc2
                drawn at 180x320, with a red 40x40 square at its bottom-left), stored turned
                90 deg counter-clockwise as 320x180 H.264 (crf 26), with a tkhd display
                matrix that says "rotate 90 deg clockwise for display" (the matrix iPhones
                write; ffprobe reports rotation -90). Players (and ffmpeg's autorotate) show
                it upright at 180x320. The matrix is patched into tkhd directly, so this does
                not depend on how a given ffmpeg version treats -metadata rotate /
                -display_rotation. No audio.
  photo.png     640x480 still: a mandelbrot close-up (one frame of the lavfi source), rgb24 PNG.
  photo.jpg     The same picture as a baseline 4:2:0 JPEG, -q:v 3.
"""

import os
import struct
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1"]


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.stderr.write(p.stderr.decode(errors="replace"))
        raise SystemExit("failed: " + " ".join(cmd))
    return p.stdout


def out(name):
    return os.path.join(HERE, name)


def ffmpeg(*args):
    run(["ffmpeg", "-v", "error", "-y", *args])


def find_box(data, types, start=0, end=None):
    end = len(data) if end is None else end
    i = start
    while i + 8 <= end:
        size, typ = struct.unpack(">I4s", data[i:i + 8])
        hdr = 8
        if size == 1:
            size, hdr = struct.unpack(">Q", data[i + 8:i + 16])[0], 16
        elif size == 0:
            size = end - i
        if typ == types[0]:
            return (i, hdr, size) if len(types) == 1 else find_box(data, types[1:], i + hdr, i + size)
        i += size
    raise KeyError(types)


def set_rotate_cw90(path):
    """tkhd matrix (0,1,0,-1,0,0,h,0,1): display = stored picture turned 90 deg clockwise."""
    data = bytearray(open(path, "rb").read())
    i, hdr, _ = find_box(data, [b"moov", b"trak", b"tkhd"])
    off = i + hdr + (4 + 8 + 8 + 4 + 4 + 8 + 8 + 8 if data[i + hdr] == 1 else 4 + 4 + 4 + 4 + 4 + 4 + 8 + 8)
    th = struct.unpack(">I", data[off + 40:off + 44])[0]
    data[off:off + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, th, 0, 0x40000000)
    open(path, "wb").write(bytes(data))


def frame0(path, *extra):
    info = run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
                "-of", "default=nw=1:nk=1", path]).decode().split()[:2]
    return run(["ffmpeg", "-v", "error", "-i", path, *extra, "-frames:v", "1", "-f", "rawvideo",
                "-pix_fmt", "rgb24", "-"]), [int(v) for v in info]


def main():
    x264 = ["-c:v", "libx264", "-preset", "medium", "-pix_fmt", "yuv420p", "-threads", "1"]

    ffmpeg("-f", "lavfi", "-i",
           "mandelbrot=s=320x240:r=25:start_scale=2.5:end_scale=0.05:end_pts=400[m];"
           "testsrc2=s=128x96:r=25[t];[m][t]overlay=x='20+t*50':y='130-t*20'",
           "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:beep_factor=4",
           "-t", "4", *x264, "-crf", "26", "-c:a", "aac", "-b:a", "48k", "-ac", "1", *BITEXACT, out("clip.mp4"))

    ffmpeg("-f", "lavfi", "-i",
           "smptehdbars=s=320x240:r=25,format=yuv420p[b];"
           "life=s=80x60:r=25:seed=42:mold=10:life_color=#ffff40:death_color=#802020:mold_color=#203080,"
           "scale=320:240:flags=neighbor,format=yuv420p[l];[b][l]blend=all_mode=average,hue=h=t*40",
           "-f", "lavfi", "-i", "sine=frequency=660:sample_rate=48000",
           "-t", "3", "-c:v", "libvpx-vp9", "-b:v", "0", "-crf", "36", "-cpu-used", "4", "-deadline", "good",
           "-threads", "1", "-row-mt", "0", "-pix_fmt", "yuv420p", "-c:a", "libopus", "-b:a", "32k", "-ac", "1",
           *BITEXACT, out("clip.webm"))

    # portrait: draw upright 180x320, store it turned counter-clockwise (320x180), matrix turns it back
    upright = "testsrc2=s=180x320:r=25,drawbox=x=0:y=ih-40:w=40:h=40:color=red:t=fill"
    ffmpeg("-f", "lavfi", "-i", upright + ",transpose=cclock", "-t", "3", *x264, "-crf", "26", *BITEXACT,
           out("portrait.mp4"))
    set_rotate_cw90(out("portrait.mp4"))
    # check: ffprobe sees rotation -90, and autorotated frame 0 matches the upright reference
    sd = run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream_side_data=rotation",
              "-of", "csv=p=0", out("portrait.mp4")]).decode().strip()
    assert sd.strip(",") == "-90", sd
    ref = run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", upright, "-frames:v", "1", "-f", "rawvideo",
               "-pix_fmt", "rgb24", "-"])
    got, (w, h) = frame0(out("portrait.mp4"))
    assert (w, h) == (320, 180) and len(got) == len(ref) == 180 * 320 * 3
    a = np.frombuffer(ref, np.uint8).reshape(320, 180, 3).astype(int)
    b = np.frombuffer(got, np.uint8).reshape(320, 180, 3).astype(int)
    assert np.abs(a - b).mean() < 8, np.abs(a - b).mean()
    assert b[-36:, :36, 0].mean() > 200 and b[-36:, :36, 1].mean() < 60   # red square bottom-left when upright

    ffmpeg("-f", "lavfi", "-i", "mandelbrot=s=640x480:start_x=-0.743643887:start_y=0.131825904:"
           "start_scale=0.02:end_scale=0.02:inner=period", "-frames:v", "1", "-pix_fmt", "rgb24",
           "-c:v", "png", *BITEXACT, "-update", "1", out("photo.png"))
    ffmpeg("-i", out("photo.png"), "-pix_fmt", "yuvj420p", "-c:v", "mjpeg", "-q:v", "3", *BITEXACT,
           "-update", "1", out("photo.jpg"))

    for name in ("clip.mp4", "clip.webm", "portrait.mp4", "photo.png", "photo.jpg"):
        size = os.path.getsize(out(name))
        assert size < 1_000_000, (name, size)
        print("%-13s %8d bytes" % (name, size))


if __name__ == "__main__":
    main()
