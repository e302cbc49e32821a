#!/usr/bin/env python3
"""Generate the deterministic test media in Tests/Fixtures/media/ and its manifest.json.

Usage (from anywhere):  python3 tools/media/make_test_clips.py [--out DIR] [--only exactness]

`--only exactness` rebuilds just exactness/ (one small clip per timeline path and container,
CFR and VFR, and exactness/expected.json with ffprobe's pts for every frame).

Needs: Python 3.9+, numpy, and the ffmpeg / ffprobe CLI (written against ffmpeg 5.1).
Every file is rebuilt from scratch on every run; the script then decodes every file
with the ffmpeg CLI and checks the index code, so a run that finishes is a run that
verified itself. The manifest holds what ffprobe (the oracle) reports.

Index code (what the Swift tests decode)
----------------------------------------
Every video frame shows its own presentation-order index n (0 = first displayed frame)
in the top-left of the *upright* (display-matrix-applied) picture: bit i of n
(LSB first, i = 0..15) is a B x B square at x in [i*B, (i+1)*B), y in [0, B);
white (255,255,255) = 1, black (0,0,0) = 0. Read the centre pixel of each block
(x = i*B + B/2, y = B/2) and threshold luma at 128. B is in the manifest ("block").
A pure-red square (255,0,0) of "marker" x "marker" pixels sits at the bottom-left
corner of the upright picture (orientation marker). Below the code row the picture
carries content that changes every frame (scrolling colour waves, a moving box and a
seeded noise patch) so the encoder produces real P/B frames.
Stills carry the code for 1234 (huge_8k.png: 4321 with B = 64).
"""

import argparse
import hashlib
import json
import math
import os
import re
import struct
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(ROOT, "Tests", "Fixtures", "media")

W, H, B, MARKER = 160, 96, 8, 16
QP = 10  # near-lossless, High profile (qp 0 would force the High 4:4:4 Predictive profile)
X264_COMMON = ["-c:v", "libx264", "-preset", "medium", "-pix_fmt", "yuv420p", "-threads", "1"]
BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1",
            "-sws_flags", "bicubic+accurate_rnd+bitexact"]

OUT = DEFAULT_OUT


# --------------------------------------------------------------------------- helpers

def clean(msg):
    """ffmpeg messages without heap addresses and absolute paths (keeps the manifest deterministic)."""
    msg = re.sub(r" @ 0x[0-9a-f]+", "", msg)
    return msg.replace(OUT + os.sep, "").strip()


def run(cmd, input=None, check=True):
    p = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and p.returncode != 0:
        sys.stderr.write(p.stderr.decode(errors="replace"))
        raise SystemExit("command failed (%d): %s" % (p.returncode, " ".join(cmd)))
    return p


def path(name):
    return os.path.join(OUT, name)


def ffprobe(name, *args):
    p = run(["ffprobe", "-v", "error", "-of", "json", *args, path(name)], check=False)
    try:
        js = json.loads(p.stdout.decode() or "{}")
    except json.JSONDecodeError:
        js = {}
    return js, clean(p.stderr.decode(errors="replace")), p.returncode


def code_block_image(value, w, h, b, marker, bg=None):
    """Upright canvas (h, w, 3) with the code row and the red marker only."""
    img = np.zeros((h, w, 3), np.uint8) if bg is None else bg
    img[0:b, :, :] = 64                       # code row background (grey right of the bits)
    for i in range(16):
        img[0:b, i * b:(i + 1) * b, :] = 255 if (value >> i) & 1 else 0
    if marker:
        img[h - marker:h, 0:marker, :] = (255, 0, 0)
    return img


_grid_cache = {}


def _wave(period, amp=90, phase=0.0):
    """Integer wave table (math.sin, rounded once) so pixels do not depend on numpy's SIMD sin."""
    return np.array([int(round(128 + amp * math.sin(2 * math.pi * k / period + phase))) for k in range(period)],
                    np.int64)


_WAVE_R, _WAVE_G, _WAVE_B = _wave(53), _wave(82), _wave(67, phase=math.pi / 2)


def content_frame(idx, w=W, h=H, b=B, marker=MARKER, seed=0):
    """Upright picture for frame idx: moving content + code row + marker (integer arithmetic only)."""
    key = (w, h)
    if key not in _grid_cache:
        _grid_cache[key] = np.mgrid[0:h, 0:w].astype(np.int64)
    yy, xx = _grid_cache[key]
    r = _WAVE_R[(xx + 2 * idx) % 53]                    # scrolls left 2 px/frame
    g = _WAVE_G[(2 * yy + xx - 6 * idx) % 82]           # diagonal drift
    bl = _WAVE_B[(xx - yy + idx + seed) % 67]
    img = np.stack([r, g, bl], -1).astype(np.uint8)
    # bouncing box (kept away from the marker and the code row)
    bw = 20
    span_x = max(1, w - bw - 24)
    span_y = max(1, h - bw - b - 4)
    px = 24 + abs((idx * 3 + seed * 7) % (2 * span_x) - span_x)
    py = b + 2 + abs((idx * 2 + seed * 5) % (2 * span_y) - span_y)
    img[py:py + bw, px:px + bw] = (40 + 13 * seed % 200, 200, 90)
    # seeded noise patch (bottom-right), different every frame
    rng = np.random.default_rng([seed, idx])
    nh, nw = 16, 24
    img[h - nh - 2:h - 2, w - nw - 2:w - 2] = rng.integers(0, 256, (nh, nw, 3), dtype=np.uint8)
    return code_block_image(idx, w, h, b, marker, bg=img)


def rgb_input(w, h, rate):
    return ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "%dx%d" % (w, h), "-framerate", str(rate), "-i", "-"]


def encode_frames(frames, w, h, rate, out_args, name, pre_args=()):
    """Pipe rgb24 frames (iterable of (h, w, 3) uint8 arrays) into ffmpeg."""
    cmd = ["ffmpeg", "-v", "error", "-y", *pre_args, *rgb_input(w, h, rate), *out_args, path(name)]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    for f in frames:
        assert f.shape == (h, w, 3) and f.dtype == np.uint8
        p.stdin.write(f.tobytes())
    p.stdin.close()
    err = p.stderr.read()
    if p.wait() != 0:
        sys.stderr.write(err.decode(errors="replace"))
        raise SystemExit("ffmpeg failed for " + name)


def decode_rgb(name, extra=()):
    """Decode with the ffmpeg CLI (auto-rotation on, no frame dropping/duplication)."""
    js, _, _ = ffprobe(name, "-select_streams", "v:0", "-show_streams")
    st = js["streams"][0]
    w, h = st["width"], st["height"]
    rot = stream_rotation(st)
    if rot in (90, -90, 270, -270):
        w, h = h, w
    p = run(["ffmpeg", "-v", "error", "-i", path(name), *extra, "-map", "0:v:0", "-fps_mode", "passthrough",
             "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], check=False)
    data = np.frombuffer(p.stdout, np.uint8)
    n = data.size // (w * h * 3)
    return data[: n * w * h * 3].reshape(n, h, w, 3), clean(p.stderr.decode(errors="replace"))


def read_codes(frames, b):
    ys = b // 2
    xs = np.arange(16) * b + b // 2
    px = frames[:, ys, xs, :].astype(np.float32)           # (n, 16, 3)
    luma = 0.299 * px[..., 0] + 0.587 * px[..., 1] + 0.114 * px[..., 2]
    bits = (luma >= 128).astype(np.int64)
    return (bits << np.arange(16)).sum(1)


def marker_ok(frame, marker):
    h = frame.shape[0]
    r, g, b = frame[h - marker // 2, marker // 2].astype(int)
    return r > 200 and g < 60 and b < 60


def stream_rotation(st):
    for sd in st.get("side_data_list", []) or []:
        if "rotation" in sd:
            return int(sd["rotation"])
    return 0


def rat(s):
    if not s or s in ("0/0", "N/A"):
        return None
    n, d = s.split("/")
    return [int(n), int(d)]


def fnum(s):
    if s is None or s == "N/A":
        return None
    return round(float(s), 6)


# --------------------------------------------------------------------------- mp4 patching

def iter_boxes(data, start, end):
    i = start
    while i + 8 <= end:
        size, typ = struct.unpack(">I4s", data[i:i + 8])
        hdr = 8
        if size == 1:
            size = struct.unpack(">Q", data[i + 8:i + 16])[0]
            hdr = 16
        elif size == 0:
            size = end - i
        yield typ, i, hdr, size
        i += size


def find_box(data, path_types, start=0, end=None):
    end = len(data) if end is None else end
    typ0, rest = path_types[0], path_types[1:]
    for typ, i, hdr, size in iter_boxes(data, start, end):
        if typ == typ0:
            if not rest:
                return i, hdr, size
            return find_box(data, rest, i + hdr, i + size)
    raise KeyError(path_types)


def patch_display_matrix(name, cw_degrees):
    """Write the tkhd matrix for a display rotation of cw_degrees clockwise (Apple style,
    with the translation terms). ffprobe reports rotation = -cw_degrees (counter-clockwise)."""
    data = bytearray(open(path(name), "rb").read())
    i, hdr, _ = find_box(data, [b"moov", b"trak", b"tkhd"])
    version = data[i + hdr]
    off = i + hdr + (4 + 8 + 8 + 4 + 4 + 8 + 8 + 8 if version == 1 else 4 + 4 + 4 + 4 + 4 + 4 + 8 + 8)
    tw, th = struct.unpack(">II", data[off + 36:off + 44])
    cw_, ch_ = tw >> 16, th >> 16            # coded (pre-matrix) width/height
    one, w30 = 0x10000, 0x40000000
    m = {
        90: (0, one, 0, -one, 0, 0, ch_ * one, 0, w30),
        180: (-one, 0, 0, 0, -one, 0, cw_ * one, ch_ * one, w30),
        270: (0, -one, 0, one, 0, 0, 0, cw_ * one, w30),
    }[cw_degrees]
    data[off:off + 36] = struct.pack(">9i", *m)
    open(path(name), "wb").write(bytes(data))
    return list(m)


# --------------------------------------------------------------------------- manifest

MANIFEST = {}


def probe_video(name, pts_in_manifest=True):
    """Collect the ffprobe facts for the first video stream of a file."""
    js, err, rc = ffprobe(name, "-show_format", "-show_streams", "-select_streams", "v:0")
    assert rc == 0, (name, err)
    st, fmt = js["streams"][0], js["format"]
    pk, _, _ = ffprobe(name, "-select_streams", "v:0", "-show_entries", "packet=pts,dts,flags,pos,size")
    fr, _, _ = ffprobe(name, "-select_streams", "v:0", "-show_entries",
                       "frame=pts,pkt_dts,best_effort_timestamp,key_frame,pict_type")
    packets = pk.get("packets", [])
    frames = fr.get("frames", [])
    rot = stream_rotation(st)
    swap = rot in (90, -90, 270, -270)
    pts = [f.get("best_effort_timestamp", f.get("pts")) for f in frames]
    pkt_pts_sorted = sorted(p["pts"] for p in packets if "pts" in p)
    key_pts = sorted(p["pts"] for p in packets if "K" in p.get("flags", "") and "pts" in p)
    tb = rat(st.get("time_base"))
    e = {
        "kind": "video",
        "format_name": fmt.get("format_name"),
        "codec_name": st.get("codec_name"),
        "profile": st.get("profile"),
        "pix_fmt": st.get("pix_fmt"),
        "coded_width": st["width"], "coded_height": st["height"],
        "display_width": st["height"] if swap else st["width"],
        "display_height": st["width"] if swap else st["height"],
        "rotation": rot,
        "displaymatrix": None,
        "time_base": tb,
        "start_pts": st.get("start_pts"),
        "start_time": fnum(st.get("start_time")),
        "duration": fnum(st.get("duration")),
        "format_start_time": fnum(fmt.get("start_time")),
        "format_duration": fnum(fmt.get("duration")),
        "nb_frames": int(st["nb_frames"]) if st.get("nb_frames", "N/A") != "N/A" else None,
        "frame_count": len(frames),
        "avg_frame_rate": rat(st.get("avg_frame_rate")),
        "r_frame_rate": rat(st.get("r_frame_rate")),
        "has_b_frames": st.get("has_b_frames"),
        "block": B, "marker": MARKER, "code_value": None,
        "pict_types": "".join(f.get("pict_type", "?") for f in frames),
        "pts": pts if pts_in_manifest else None,
        "keyframe_pts": key_pts,
    }
    for sd in st.get("side_data_list", []) or []:
        if "displaymatrix" in sd:
            e["displaymatrix"] = [int(v) for line in sd["displaymatrix"].strip().splitlines()
                                  for v in line.split(":")[1].split()]
    # sanity: frame pts (presentation order) == sorted packet pts
    if pts_in_manifest and "corrupt" not in name:
        assert pts == pkt_pts_sorted, (name, pts[:10], pkt_pts_sorted[:10])
        assert all(a < b for a, b in zip(pts, pts[1:])), name
    return e, packets, frames


def verify_codes(name, expect_n, b=B, marker=MARKER, expect_codes=None):
    frames, err = decode_rgb(name)
    codes = [int(c) for c in read_codes(frames, b)]
    want = list(range(expect_n)) if expect_codes is None else expect_codes
    assert codes == want, (name, codes[:20], "...", len(codes))
    if marker:
        bad = [i for i, f in enumerate(frames) if not marker_ok(f, marker)]
        assert not bad, (name, "marker", bad[:10])
    return frames


def add(name, entry, note):
    entry["note"] = note
    entry["bytes"] = os.path.getsize(path(name))
    entry["sha256"] = hashlib.sha256(open(path(name), "rb").read()).hexdigest()
    MANIFEST[name] = entry
    print("  %-22s %9d bytes" % (name, entry["bytes"]))


# --------------------------------------------------------------------------- clips

def frames_upright(n, seed):
    return (content_frame(i, seed=seed) for i in range(n))


def make_cfr_bframes():
    name = "cfr_bframes.mp4"
    encode_frames(frames_upright(100, 1), W, H, 25, [
        *X264_COMMON, "-qp", str(QP), "-bf", "3", "-g", "24", "-keyint_min", "24", "-sc_threshold", "0",
        "-x264-params", "b-pyramid=normal:b-adapt=0:open-gop=0:scenecut=0:keyint=24:min-keyint=24", *BITEXACT], name)
    e, _, _ = probe_video(name)
    verify_codes(name, 100)
    assert "B" in e["pict_types"]
    add(name, e, "25 fps CFR, 100 frames, H.264 High qp%d, B-frames (bf 3, b-adapt 0 so always 3 B between anchors, b-pyramid normal: the "
                 "middle B is a reference), closed GOP, keyint 24 (IDR every 24 frames). Edit list shifts the B-frame delay so pts start at 0." % QP)


def make_open_gop():
    name = "open_gop.mp4"
    encode_frames(frames_upright(120, 2), W, H, 25, [
        *X264_COMMON, "-qp", str(QP),
        "-x264-params", "open-gop=1:keyint=30:min-keyint=30:scenecut=0:bframes=3:b-adapt=0", *BITEXACT], name)
    e, packets, _ = probe_video(name)
    verify_codes(name, 120)
    # leading pictures: frames after a non-first keyframe in decode order with lower pts
    leading = []
    for i, p in enumerate(packets):
        if "K" in p["flags"] and i > 0:
            lead = []
            for q in packets[i + 1:]:
                if q["pts"] < p["pts"]:
                    lead.append(q["pts"])
                elif "K" in q["flags"]:
                    break
            leading.append({"keyframe_pts": p["pts"], "leading_pts": sorted(lead)})
    assert leading and all(l["leading_pts"] for l in leading), leading
    e["decode_order_pts"] = [p["pts"] for p in packets]
    e["leading_frames"] = leading
    pict_at = dict(zip(e["pts"], e["pict_types"]))
    add(name, e, "25 fps, 120 frames, x264 open-gop=1:keyint=30:min-keyint=30:scenecut=0:bframes=3 plus "
                 "b-adapt=0 (without it x264 put a P right before each I, so there were no leading B-frames). "
                 "Keyframes after the first are non-IDR I-frames (pict %s) flagged as sync samples; the B-frames "
                 "listed in leading_frames come after them in decode order but are displayed before them and "
                 "reference the previous GOP, so they cannot be decoded when seeking straight to that keyframe."
        % "".join(sorted({pict_at[k] for k in e["keyframe_pts"]})))


def vfr_times(n):
    # milliseconds; strictly increasing, irregular, with two long gaps
    return [40 * k + math.trunc(15 * math.sin(1.7 * k)) + 100 * (k // 20) for k in range(n)]


def make_vfr():
    name = "vfr.mp4"
    n = 60
    expr = "40*N+trunc(15*sin(1.7*N))+100*trunc(N/20)"
    encode_frames(frames_upright(n, 3), W, H, 1000, [
        "-vf", "setpts=" + expr, "-fps_mode", "passthrough", "-video_track_timescale", "1000",
        *X264_COMMON, "-qp", str(QP), "-bf", "3", "-g", "30", *BITEXACT], name)
    e, _, _ = probe_video(name)
    verify_codes(name, n)
    want = vfr_times(n)
    assert all(a < b for a, b in zip(want, want[1:]))
    assert e["pts"] == want, (e["pts"], want)
    assert e["time_base"] == [1, 1000]
    add(name, e, "Variable frame rate: 60 frames, time_base 1/1000, pts (ms) = 40*n + trunc(15*sin(1.7*n)) + "
                 "100*floor(n/20) (irregular gaps 10..70 ms plus +100 ms jumps at n=20 and n=40), B-frames on.")


def make_start_offset():
    name = "start_offset.ts"
    encode_frames(frames_upright(50, 4), W, H, 25, [
        *X264_COMMON, "-qp", str(QP), "-bf", "3", "-g", "25", "-f", "mpegts", *BITEXACT], name)
    e, _, _ = probe_video(name)
    verify_codes(name, 50)
    assert e["start_time"] and e["start_time"] > 1.0
    add(name, e, "MPEG-TS, 25 fps, 50 frames, B-frames; the muxer's default 1.4 s offset plus the B-frame "
                 "delay gives a non-zero start_time; pts are 90 kHz ticks. No edit lists in TS.")

    name = "start_offset.mp4"
    encode_frames(frames_upright(50, 5), W, H, 25, [
        *X264_COMMON, "-qp", str(QP), "-bf", "3", "-g", "25", "-output_ts_offset", "5", *BITEXACT], name)
    e, _, _ = probe_video(name)
    verify_codes(name, 50)
    assert e["start_time"] == 5.0, e["start_time"]
    add(name, e, "MP4, 25 fps, 50 frames, B-frames, written with -output_ts_offset 5: the edit list starts with "
                 "an empty edit of 5 s, so ffprobe start_time = 5.0 and the first frame has pts 5 s; "
                 "format duration counts from 0 (= 5 s + 2 s).")


def make_rotated():
    for cw in (90, 180, 270):
        name = "rotated%d.mp4" % cw
        k = cw // 90   # np.rot90 turns counter-clockwise; display turns the coded picture cw degrees back
        frames = [np.ascontiguousarray(np.rot90(content_frame(i, seed=10 + k), k)) for i in range(30)]
        ch, cw_ = frames[0].shape[:2]
        encode_frames(frames, cw_, ch, 25, [*X264_COMMON, "-qp", str(QP), "-bf", "2", "-g", "30", *BITEXACT], name)
        patch_display_matrix(name, cw)
        e, _, _ = probe_video(name)
        assert e["rotation"] in {90: (-90,), 180: (180, -180), 270: (90,)}[cw], (name, e["rotation"])
        assert (e["display_width"], e["display_height"]) == (W, H)
        verify_codes(name, 30)          # ffmpeg CLI auto-rotates: code must read upright
        add(name, e, "Stored %dx%d, display matrix = rotate %d deg clockwise for display (ffprobe rotation %d, "
                     "i.e. counter-clockwise degrees as av_display_rotation_get returns them); after applying it "
                     "the picture is %dx%d upright with the code top-left and the red marker bottom-left. "
                     "Matrix written directly into tkhd (Apple style, with translation). 30 frames, 25 fps."
            % (cw_, ch, cw, e["rotation"], W, H))


def check_not_upright_without_rotation():
    # decode without autorotate: the code must not be readable at the top-left of the stored picture
    for cw in (90, 180, 270):
        name = "rotated%d.mp4" % cw
        js, _, _ = ffprobe(name, "-select_streams", "v:0", "-show_streams")
        st = js["streams"][0]
        w, h = st["width"], st["height"]
        p = run(["ffmpeg", "-v", "error", "-noautorotate", "-i", path(name), "-frames:v", "1",
                 "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        f = np.frombuffer(p.stdout, np.uint8).reshape(1, h, w, 3)
        assert not marker_ok(f[0], MARKER), name   # marker is elsewhere in the stored picture


def make_no_duration_mkv():
    name = "no_duration.mkv"
    cmd = ["ffmpeg", "-v", "error", *rgb_input(W, H, 25), *X264_COMMON, "-qp", str(QP), "-bf", "3", "-g", "25",
           *BITEXACT, "-f", "matroska", "pipe:1"]
    data = b"".join(content_frame(i, seed=6).tobytes() for i in range(50))
    p = run(cmd, input=data)
    open(path(name), "wb").write(p.stdout)
    e, _, _ = probe_video(name)
    verify_codes(name, 50)
    raw = open(path(name), "rb").read()
    e["has_cues"] = b"\x1c\x53\xbb\x6b" in raw
    assert e["format_duration"] is None and e["duration"] is None and not e["has_cues"]
    add(name, e, "Matroska written to a pipe: no Duration element, no Cues (not seekable by index); ffprobe "
                 "shows duration N/A for stream and format. 25 fps, 50 frames, B-frames, time_base 1/1000.")


def make_gif():
    name = "animated.gif"
    # quantised content so the palette holds every colour exactly (< 256 colours in total)
    def gif_frame(i):
        f = content_frame(i, seed=7)
        body = f[B:H - 0].copy()
        body = (body // 64) * 64 + 32
        f[B:] = body
        return code_block_image(i, W, H, B, MARKER, bg=f)
    frames = [gif_frame(i) for i in range(12)]
    ncol = len(np.unique(np.concatenate([f.reshape(-1, 3) for f in frames]), axis=0))
    assert ncol <= 255, ncol
    encode_frames(frames, W, H, 10, [
        "-filter_complex", "[0:v]split[a][b];[a]palettegen=max_colors=256:stats_mode=full:reserve_transparent=0[p];"
                           "[b][p]paletteuse=dither=none", "-loop", "0", *BITEXACT], name)
    e, _, _ = probe_video(name)
    dec = verify_codes(name, 12)
    exact = all(np.array_equal(a, b) for a, b in zip(dec, frames))
    e["pixels_exact"] = exact
    add(name, e, "Animated GIF, 12 frames, 10 fps (delay 10 cs, time_base 1/100), loops forever; palette "
                 "holds every colour of the source so decoded pixels are exact (pixels_exact).")


def make_audio_only():
    name = "audio_only.m4a"
    run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=1",
         "-c:a", "aac", "-b:a", "64k", "-fflags", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1",
         path(name)])
    js, err, rc = ffprobe(name, "-show_format", "-show_streams")
    st, fmt = js["streams"][0], js["format"]
    assert len(js["streams"]) == 1 and st["codec_type"] == "audio"
    e = {"kind": "audio", "format_name": fmt["format_name"], "codec_name": st["codec_name"],
         "sample_rate": int(st["sample_rate"]), "channels": st["channels"], "time_base": rat(st["time_base"]),
         "start_time": fnum(st.get("start_time")), "duration": fnum(st.get("duration")),
         "format_duration": fnum(fmt.get("duration")), "video_streams": 0}
    add(name, e, "1 s 440 Hz sine, AAC-LC mono 44.1 kHz in MP4 (.m4a); no video stream at all.")


def make_long():
    name = "long_10h.mp4"
    lw, lh, lb = 128, 16, 8
    n = 36000       # 1 fps * 10 h
    idx = np.arange(n)

    def chunks():
        bits = ((idx[:, None] >> np.arange(16)) & 1).astype(np.uint8) * 255      # (n, 16)
        row = np.repeat(bits, lb, axis=1)                                        # (n, 128)
        for s in range(0, n, 2000):
            part = np.repeat(row[s:s + 2000, None, :], lh, axis=1)               # (k, 16, 128)
            part = np.repeat(part[..., None], 3, axis=3)
            for f in part:
                yield f
    encode_frames(chunks(), lw, lh, 1, [
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-threads", "1", "-qp", "24",
        "-g", "250", *BITEXACT], name)
    e, _, _ = probe_video(name, pts_in_manifest=False)
    frames, _ = decode_rgb(name)
    codes = read_codes(frames, lb)
    assert len(codes) == n and (codes == idx).all(), "long clip code mismatch"
    js, _, _ = ffprobe(name, "-select_streams", "v:0", "-show_entries", "packet=pts")
    pts = sorted(p["pts"] for p in js["packets"])
    step = pts[1] - pts[0]
    assert pts == [pts[0] + step * i for i in range(n)]
    e.update({"block": lb, "marker": 0, "pict_types": None,
              "pts_rule": {"first": pts[0], "step": step, "count": n}})
    add(name, e, "10 hours at 1 fps (36000 frames), 128x16: only the code row (B = 8, no marker, no other "
                 "content). x264 ultrafast (no B-frames), qp 24, keyint 250. pts are not listed: frame n has "
                 "pts = pts_rule.first + n * pts_rule.step.")


def make_images():
    def still(value, w, h, b, marker):
        yy, xx = np.mgrid[0:h, 0:w]
        bg = np.stack([(xx * 255 // max(1, w - 1)), (yy * 255 // max(1, h - 1)),
                       np.full_like(xx, 96)], -1).astype(np.uint8)
        return code_block_image(value, w, h, b, marker, bg=bg)

    img = still(1234, W, H, B, MARKER)
    specs = [
        ("still.png", ["-c:v", "png", "-pred", "mixed"], True, "PNG rgb24, lossless."),
        ("still.jpg", ["-c:v", "mjpeg", "-q:v", "2", "-pix_fmt", "yuvj420p"], False,
         "Baseline JPEG 4:2:0, -q:v 2 (high quality); lossy, so pixels are close but not exact."),
        ("still.webp", ["-c:v", "libwebp", "-lossless", "1"], True, "Lossless WebP (VP8L)."),
        ("still.bmp", ["-c:v", "bmp", "-pix_fmt", "bgr24"], True, "24-bit BMP (bottom-up rows)."),
    ]
    for name, args, lossless, note in specs:
        encode_frames([img], W, H, 1, ["-frames:v", "1", *args, *BITEXACT, "-update", "1"], name)
        e = probe_image(name)
        dec = verify_codes(name, 1, expect_codes=[1234])
        exact = bool(np.array_equal(dec[0], img))
        if lossless:
            assert exact, name
        e.update({"code_value": 1234, "pixels_exact": exact})
        add(name, e, note + " 160x96: code 1234 (B = 8) over an RGB gradient, red 16x16 marker bottom-left.")

    name = "huge_8k.png"
    hw, hh, hb, hm = 7680, 4320, 64, 256
    bg = np.full((hh, hw, 3), 112, np.uint8)
    bg[hh // 2 - 300:hh // 2 + 300, hw // 2 - 600:hw // 2 + 600] = (30, 90, 200)   # one flat blue slab
    img = code_block_image(4321, hw, hh, hb, hm, bg=bg)
    encode_frames([img], hw, hh, 1, ["-frames:v", "1", "-c:v", "png", "-compression_level", "9", *BITEXACT,
                                     "-update", "1"], name)
    e = probe_image(name)
    verify_codes(name, 1, b=hb, marker=hm, expect_codes=[4321])
    # also decodable after a 16x downscale (what a thumbnailing decoder would do)
    p = run(["ffmpeg", "-v", "error", "-i", path(name), "-vf", "scale=480:270:flags=area", "-f", "rawvideo",
             "-pix_fmt", "rgb24", "-"])
    small = np.frombuffer(p.stdout, np.uint8).reshape(1, 270, 480, 3)
    assert read_codes(small, hb // 16)[0] == 4321
    e.update({"code_value": 4321, "block": hb, "marker": hm, "pixels_exact": True})
    add(name, e, "7680x4320 PNG, flat grey with a flat blue slab; code 4321 with B = 64 (1024 px wide code row), "
                 "red 256x256 marker bottom-left. Code still reads after downscaling to 480x270 (B = 4 there).")


def probe_image(name):
    js, err, rc = ffprobe(name, "-show_format", "-show_streams")
    assert rc == 0, err
    st, fmt = js["streams"][0], js["format"]
    return {"kind": "image", "format_name": fmt["format_name"], "codec_name": st["codec_name"],
            "pix_fmt": st.get("pix_fmt"), "coded_width": st["width"], "coded_height": st["height"],
            "display_width": st["width"], "display_height": st["height"], "rotation": 0,
            "frame_count": 1, "block": B, "marker": MARKER}


def make_bad():
    open(path("empty.mp4"), "wb").close()
    js, err, rc = ffprobe("empty.mp4", "-show_format")
    add("empty.mp4", {"kind": "bad", "ffprobe_rc": rc, "ffprobe_error": err}, "Zero bytes.")

    open(path("text.mp4"), "w").write("This is not a video file.\nIt is plain text with an .mp4 extension.\n"
                                      "Decoders must reject it with an error, not crash.\n")
    js, err, rc = ffprobe("text.mp4", "-show_format")
    add("text.mp4", {"kind": "bad", "ffprobe_rc": rc, "ffprobe_error": err}, "Three lines of ASCII text.")

    # truncated: moov at the end (ffmpeg's default), cut at 50%
    tmp = "_full_for_truncation.mp4"
    encode_frames(frames_upright(50, 8), W, H, 25, [*X264_COMMON, "-qp", str(QP), "-bf", "3", *BITEXACT], tmp)
    full = open(path(tmp), "rb").read()
    os.remove(path(tmp))
    moov = full.find(b"moov") - 4
    mdat = full.find(b"mdat") - 4
    assert mdat < moov, "moov must be at the end"
    cut = len(full) // 2
    assert cut < moov
    open(path("truncated.mp4"), "wb").write(full[:cut])
    js, err, rc = ffprobe("truncated.mp4", "-show_format")
    add("truncated.mp4", {"kind": "bad", "ffprobe_rc": rc, "ffprobe_error": err, "original_bytes": len(full),
                          "moov_offset": moov, "cut_at": cut},
        "50-frame MP4 with moov after mdat, cut at 50%% of %d bytes: no moov box, only ftyp + a partial mdat."
        % len(full))

    # unknown codec: patch the avc1 sample entry fourcc inside stsd
    name = "unknown_codec.mp4"
    encode_frames(frames_upright(10, 9), W, H, 25, [*X264_COMMON, "-qp", str(QP), *BITEXACT], name)
    data = bytearray(open(path(name), "rb").read())
    i, hdr, size = find_box(data, [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"])
    j = data.find(b"avc1", i, i + size)
    assert j > 0
    data[j:j + 4] = b"zzzz"
    open(path(name), "wb").write(bytes(data))
    js, err, rc = ffprobe(name, "-show_format", "-show_streams")
    st = js["streams"][0]
    assert "codec_name" not in st or st["codec_name"] in ("none", "unknown"), st.get("codec_name")
    dec = run(["ffmpeg", "-v", "error", "-i", path(name), "-f", "null", "-"], check=False)
    add(name, {"kind": "bad", "ffprobe_rc": rc, "format_name": js["format"]["format_name"],
               "codec_type": st.get("codec_type"), "codec_name": st.get("codec_name"),
               "codec_tag_string": st.get("codec_tag_string"), "coded_width": st.get("width"),
               "coded_height": st.get("height"), "ffprobe_error": err, "ffmpeg_decode_rc": dec.returncode,
               "ffmpeg_decode_error": clean(dec.stderr.decode(errors="replace")).splitlines()[-1]},
        "Valid 10-frame H.264 MP4 whose stsd sample entry fourcc avc1 was patched to zzzz (the ftyp brand "
        "list still says avc1). Demuxes fine; there is no decoder for it.")

    # corrupt middle: 60 frames, keyint 10, no B-frames (decode order = presentation order)
    name = "corrupt_middle.mp4"
    encode_frames(frames_upright(60, 11), W, H, 25, [
        *X264_COMMON, "-qp", str(QP), "-bf", "0", "-g", "10", "-keyint_min", "10", "-sc_threshold", "0",
        *BITEXACT], name)
    e, packets, _ = probe_video(name)
    assert [p["pts"] for p in packets] == sorted(p["pts"] for p in packets)
    victim = 25          # a P-frame; frames 25..29 depend on it, 30 is the next keyframe
    p = packets[victim]
    assert "K" not in p["flags"]
    pos, size = int(p["pos"]), int(p["size"])
    data = bytearray(open(path(name), "rb").read())
    rng = np.random.default_rng(1234)
    data[pos:pos + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    open(path(name), "wb").write(bytes(data))
    e2, _, frames = probe_video(name)
    dec, err = decode_rgb(name)
    codes = [int(c) for c in read_codes(dec, B)]
    assert codes[:25] == list(range(25)) and codes[-30:] == list(range(30, 60)), codes
    e2.update({
        "damaged": {"packet_index": victim, "frame_index": victim, "pts": p["pts"], "pos": pos, "size": size,
                    "affected_frame_range": [victim, 29], "next_keyframe_index": 30},
        "cli_decoded_frames": len(codes),
        "cli_codes": codes,
        "cli_stderr": err.splitlines()[:4],
    })
    add(name, e2, "25 fps, 60 frames, keyint 10, no B-frames (decode order = presentation order). All bytes of "
                  "packet/frame 25 (a P-frame, incl. its NAL length prefix) overwritten with seeded random bytes. "
                  "Frames 0-24 and 30-59 decode exactly; 25-29 are damaged. With ffmpeg 5.1 packet 25 fails NAL "
                  "splitting and yields no frame at all (so ffprobe lists %d frames and its pts are missing), and "
                  "26-29 come out error-concealed from stale references (their codes are wrong, see cli_codes). "
                  "cli_codes is the index code of every frame the ffmpeg CLI output." % len(codes))


# --------------------------------------------------------------------------- exactness set

EX_DIR = "exactness"
EX_W, EX_H, EX_B = 96, 64, 6          # 16 code bits x 6 px = the full width
EX_N1, EX_N2 = 40, 40                 # frames at 30 fps, then frames at 10 fps
# setpts in the input time base 1/30: frames 0..39 one tick apart, 40..79 three ticks apart, and
# frame 20 given frame 19's pts, which is what the issue-22 clip had (there through float
# truncation in setpts=N/30/TB): two frames sharing one presentation timestamp.
EX_SHARED = "if(eq(N,20),19,if(lt(N,%d),N,3*N-%d))" % (EX_N1, 2 * EX_N1)
EX_RATE_CHANGE = "if(lt(N,%d),N,3*N-%d)" % (EX_N1, 2 * EX_N1)
EX_X264 = [*X264_COMMON, "-qp", "18", "-bf", "3", "-g", "12", "-keyint_min", "12", "-sc_threshold", "0",
           "-x264-params", "b-adapt=0:open-gop=0:scenecut=0"]
EX_VP9 = ["-c:v", "libvpx-vp9", "-crf", "24", "-b:v", "0", "-g", "12", "-deadline", "good", "-cpu-used", "2",
          "-threads", "1", "-row-mt", "0", "-auto-alt-ref", "1", "-lag-in-frames", "16"]
EX_MJPEG = ["-c:v", "mjpeg", "-q:v", "4", "-pix_fmt", "yuvj420p"]


def exact_frame(i, seed):
    """96x64 picture for frame i: the code row (B = 6, no marker) over scrolling waves and a
    bouncing box (no noise patch, so 80 frames stay small)."""
    yy, xx = np.mgrid[0:EX_H, 0:EX_W].astype(np.int64)
    r = _WAVE_R[(xx + 2 * i) % 53]
    g = _WAVE_G[(2 * yy + xx - 6 * i) % 82]
    bl = _WAVE_B[(xx - yy + i + seed) % 67]
    img = np.stack([r, g, bl], -1).astype(np.uint8)
    px = 8 + abs((i * 3 + seed * 7) % 120 - 60)
    py = EX_B + 2 + abs((i * 2 + seed * 5) % 72 - 36)
    img[py:py + 14, px:px + 14] = (40, 200, 90)
    return code_block_image(i, EX_W, EX_H, EX_B, 0, bg=img)


def non_reference_packets(rel, packets):
    """The H.264 pictures no other frame refers to, as libavcodec decides when told to skip them
    (-skip_frame noref): the packets none of whose frames come out. Given as positions in decode
    order (what an MP4 sample table lists) and as frame indices in presentation order (packets
    stably sorted by pts, or dts where there is none: what a packet scan builds)."""
    fr, err, rc = ffprobe(rel, "-skip_frame", "noref", "-select_streams", "v:0", "-show_entries", "frame=pkt_pos")
    assert rc == 0, (rel, err)
    kept = {int(f["pkt_pos"]) for f in fr["frames"]}
    assert all("pos" in p for p in packets) and len({p["pos"] for p in packets}) == len(packets), rel
    skipped = [i for i, p in enumerate(packets) if int(p["pos"]) not in kept]
    assert 0 < len(skipped) < len(packets), (rel, "expected some, not all, non-reference pictures")
    order = sorted(range(len(packets)), key=lambda i: packets[i]["pts"] if "pts" in packets[i] else packets[i]["dts"])
    rank = {i: r for r, i in enumerate(order)}
    return {"non_reference_decode_order": skipped,
            "non_reference_frames": sorted(rank[i] for i in skipped)}


def make_exactness():
    """One small clip per timeline path and container, CFR and VFR, each frame drawing its index,
    plus exactness/expected.json: what ffprobe says about every frame (the Swift tests' oracle)."""
    os.makedirs(path(EX_DIR), exist_ok=True)
    vfr = ["-fps_mode", "passthrough", "-vf"]
    specs = [
        # name, extra input-side args, output args, VFR?, timeline path vidlm takes, note
        ("cfr_h264.mp4", [], EX_X264, "sample_table",
         "MP4, H.264 with B-frames, 30 fps: constant sample duration, so the sample table gives the timeline."),
        ("cfr_h264.mkv", [], EX_X264, "packet_scan", "Matroska, H.264 with B-frames, 30 fps (1 ms time base)."),
        ("cfr_h264.ts", [], [*EX_X264, "-f", "mpegts"], "packet_scan",
         "MPEG-TS, H.264 with B-frames, 30 fps, 90 kHz, muxer start offset."),
        ("cfr_vp9.webm", [], EX_VP9, "packet_scan",
         "WebM, VP9 with alt-ref (hidden frames ride in superframes: one packet per shown frame), 30 fps."),
        ("cfr_mjpeg.avi", [], EX_MJPEG, "packet_scan", "AVI, MJPEG (every frame a key frame), 30 fps."),
        ("cfr_h264.avi", [], EX_X264, "packet_scan",
         "AVI, H.264 with B-frames, 30 fps: packets carry decode timestamps only (no pts), so pts here are "
         "the frame slots (sorted dts). ffprobe's best_effort_timestamp for frame n is n + 2 (the decoder's "
         "reorder delay) and N/A for the last two frames."),
        ("vfr_h264.mp4", [*vfr, "setpts='%s'" % EX_SHARED], [*EX_X264, "-video_track_timescale", "30"], "packet_scan",
         "MP4 VFR: 40 frames at 30 fps then 40 at 10 fps; frames 19 and 20 share a pts (their packets both "
         "say it; ffprobe's best_effort_timestamp turns to dts-derived values after it)."),
        ("vfr_h264.mkv", [*vfr, "setpts='%s'" % EX_SHARED], EX_X264, "packet_scan",
         "Matroska VFR: 40 frames at 30 fps then 40 at 10 fps; frames 19 and 20 share a pts (the issue-22 clip, "
         "short)."),
        ("ratechange_h264.mkv", [*vfr, "setpts='%s'" % EX_RATE_CHANGE], EX_X264, "packet_scan",
         "Matroska VFR: 40 frames at 30 fps then 40 at 10 fps, every pts distinct."),
        ("vfr_h264.ts", [*vfr, "setpts='%s'" % EX_SHARED], [*EX_X264, "-f", "mpegts"], "packet_scan",
         "MPEG-TS VFR: 40 frames at 30 fps then 40 at 10 fps; frames 19 and 20 share a pts."),
        ("vfr_vp9.webm", [*vfr, "setpts='%s'" % EX_SHARED], EX_VP9, "packet_scan",
         "WebM VP9 VFR: 40 frames at 30 fps then 40 at 10 fps; frames 19 and 20 share a pts."),
        ("vfr_mjpeg.avi", [*vfr, "setpts='%s'" % EX_RATE_CHANGE], EX_MJPEG, "packet_scan",
         "AVI is constant-rate: the muxer writes the 10 fps part as one frame per 1/30 s slot with empty "
         "chunks in between (the header's frame count, nb_frames, counts those too), so pts step 1 then 3."),
    ]
    n = EX_N1 + EX_N2
    clips = {}
    for name, filt, args, timeline_path, note in specs:
        rel = os.path.join(EX_DIR, name)
        encode_frames((exact_frame(i, 1) for i in range(n)), EX_W, EX_H, 30, [*filt, *args, *BITEXACT], rel)
        js, err, rc = ffprobe(rel, "-show_format", "-show_streams", "-select_streams", "v:0")
        assert rc == 0, (name, err)
        st, fmt = js["streams"][0], js["format"]
        pk, _, _ = ffprobe(rel, "-select_streams", "v:0", "-show_entries", "packet=pts,dts,duration,flags,pos")
        fr, _, _ = ffprobe(rel, "-select_streams", "v:0", "-show_entries", "frame=pts,best_effort_timestamp")
        packets, frames = pk["packets"], fr["frames"]
        # The oracle: each frame's pts as ffprobe shows it (the pts its packet carried); for a
        # stream whose packets carry only dts, the sorted dts (the frame slots).
        dts_only = all("pts" not in p for p in packets)
        assert dts_only == ("decode timestamps only" in note), name
        pts = sorted(p["dts"] for p in packets) if dts_only else [f["pts"] for f in frames]
        assert len(frames) == n and len(packets) == n, (name, len(frames), len(packets))
        assert dts_only or pts == sorted(p["pts"] for p in packets), (name, "frame pts are not the packets' pts")
        assert all(a <= b for a, b in zip(pts, pts[1:])), name
        dec, _ = decode_rgb(rel)
        codes = [int(c) for c in read_codes(dec, EX_B)]
        assert codes == list(range(n)), (name, codes)
        shared = sorted({a for a, b in zip(pts, pts[1:]) if a == b})
        assert bool(shared) == ("share a pts" in note), (name, shared)
        end = max(p["pts" if not dts_only else "dts"] + int(p.get("duration", 0) or 0) for p in packets)
        if all(int(p.get("duration", 0) or 0) <= 0 for p in packets):
            end = pts[-1] + max(1, (pts[-1] - pts[0]) // (n - 1))
        best_effort = [f.get("best_effort_timestamp") for f in frames]
        non_reference = non_reference_packets(rel, packets) if st["codec_name"] == "h264" else None
        clips[name] = {
            "format_name": fmt["format_name"],
            "codec_name": st["codec_name"],
            "time_base": rat(st["time_base"]),
            "frame_count": n,
            "nb_frames": int(st["nb_frames"]) if st.get("nb_frames", "N/A") != "N/A" else None,
            "timeline_path": timeline_path,
            # MP4 counts its samples exactly (probe reads no packet); elsewhere probe scans.
            "frame_count_source": "container" if "mp4" in fmt["format_name"] else "scan",
            "pts": pts,
            "end_pts": end,
            "keyframe_pts": sorted(p["pts" if not dts_only else "dts"] for p in packets if "K" in p.get("flags", "")),
            "decode_timestamps_only": dts_only,
            "shared_pts": shared,
            "best_effort_differs_at": [i for i, (a, b) in enumerate(zip(pts, best_effort)) if a != b],
            **(non_reference or {}),
            "block": EX_B,
            "note": note,
            "bytes": os.path.getsize(path(rel)),
            "sha256": hashlib.sha256(open(path(rel), "rb").read()).hexdigest(),
        }
        print("  %-28s %9d bytes" % (rel, clips[name]["bytes"]))
    ver = run(["ffmpeg", "-version"]).stdout.decode().splitlines()[0]
    doc = {
        "schema": 1,
        "generator": "tools/media/make_test_clips.py (--only exactness)",
        "ffmpeg": ver,
        "index_code": ("frame n (presentation order) shows n as 16 bits, LSB first: bit i is the B x B block at "
                       "x = i*B, y = 0 (B = block); white = 1; read the centre pixel, luma >= 128 -> 1. No marker."),
        "conventions": ("pts: every frame's pts in presentation order as ffprobe -show_frames prints it (equal to "
                        "the sorted packet pts; frames may share one), or the sorted dts where packets carry no "
                        "pts (decode_timestamps_only); end_pts: max(packet pts + duration); "
                        "keyframe_pts: pts of packets flagged K; best_effort_differs_at: frames whose "
                        "best_effort_timestamp is not their pts; non_reference_decode_order / "
                        "non_reference_frames (H.264): packets whose picture libavcodec skips with "
                        "-skip_frame noref, by decode position and by presentation index."),
        "clips": dict(sorted(clips.items())),
    }
    open(path(os.path.join(EX_DIR, "expected.json")), "w").write(compact_json(doc) + "\n")


# --------------------------------------------------------------------------- output

def compact_json(obj, indent=0):
    pad = "  " * indent
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = []
        for k, v in obj.items():
            items.append("%s  %s: %s" % (pad, json.dumps(k), compact_json(v, indent + 1)))
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list):
        return json.dumps(obj, separators=(",", ":"))
    return json.dumps(obj)


def main():
    global OUT
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--only", choices=["exactness"],
                    help="rebuild only this set (exactness: the clips in exactness/ and expected.json)")
    args = ap.parse_args()
    OUT = os.path.abspath(args.out)
    os.makedirs(OUT, exist_ok=True)      # every output below is overwritten in place
    print("writing to", OUT)
    if args.only == "exactness":
        make_exactness()
        return
    make_cfr_bframes()
    make_open_gop()
    make_vfr()
    make_start_offset()
    make_rotated()
    check_not_upright_without_rotation()
    make_no_duration_mkv()
    make_gif()
    make_audio_only()
    make_long()
    make_images()
    make_bad()
    make_exactness()

    ver = run(["ffmpeg", "-version"]).stdout.decode().splitlines()[0]
    manifest = {
        "schema": 1,
        "generator": "tools/media/make_test_clips.py",
        "ffmpeg": ver,
        "index_code": ("frame n (presentation order, 0-based) shows n as 16 bits, LSB first: bit i is the "
                       "block x in [i*B,(i+1)*B), y in [0,B) of the upright picture; white=1, black=0; read the "
                       "centre pixel (i*B+B/2, B/2), luma >= 128 -> 1. Red (255,0,0) marker x marker square at "
                       "the bottom-left of the upright picture."),
        "conventions": ("coded_* = ffprobe stream width/height (decoded frame before the display matrix); "
                        "display_* = after it. rotation = ffprobe side-data rotation (counter-clockwise degrees, "
                        "av_display_rotation_get); displaymatrix = the 9 raw 16.16/2.30 values. time_base, "
                        "avg_frame_rate, r_frame_rate are [num, den]; start_time/duration are seconds (null = "
                        "N/A); pts are best_effort_timestamp in time_base units, in presentation order; "
                        "keyframe_pts = pts of packets the demuxer flags K. pict_types is per frame in "
                        "presentation order."),
        "files": dict(sorted(MANIFEST.items())),
    }
    open(path("manifest.json"), "w").write(compact_json(manifest) + "\n")
    total = sum(os.path.getsize(path(f)) for f in [*MANIFEST, "manifest.json"])
    print("total %d bytes (%.2f MB) in %s" % (total, total / 1e6, OUT))


if __name__ == "__main__":
    main()
