"""Randomized differential checks against the Python stack, on inputs no fixture has (a sweep finds
what fixed cases miss: session 28 found the duration ulp and the JPEG/EXIF gaps this way).

    tools/.venv/bin/python tools/parity/differential_sweep.py media   --first 0 --count 80
    tools/.venv/bin/python tools/parity/differential_sweep.py smolvlm --first 0 --count 40 [--kind image|clip|chat]
    tools/.venv/bin/python tools/parity/differential_sweep.py qwenvl|llava|blip|vidlm|contrastive --first 0 --count 30

`media`: a random clip per seed (MP4, Matroska, WebM, MPEG-TS, AVI, MOV, FLV, Ogg; H.264 with B-frames,
open GOPs or MBAFF, HEVC, MPEG-4, AV1, VP8/9, MPEG-2, MJPEG, Theora; constant rate, a rate change or
jittered timestamps), then `vidlm frames` with a random --count / --fps / --start/--end, or one frame alone. Every returned
frame must be the frame of that index in torchcodec's exact decode (pixels equal; MPEG-TS, which
torchcodec cannot scan, against the ffmpeg CLI: the frame must be closer to its own index than to its
neighbours) and its `seconds` must be that frame's pts minus the first's. `vidlm probe` must give the
clip's size, a counted frame_count equal to the frames decoded, and a constant-rate clip's rate.

`smolvlm`: a random tiny SmolVLM per seed (patch 4/8/14/16, pixel-shuffle scale 1-4, tile and
longest-edge sizes, splitting on/off, resampling filter, video fps/max_frames, GQA, tied embeddings),
written by transformers, and a random input: a still (PNG/JPEG/WebP, any aspect ratio, EXIF
orientations) or a clip (`--kind clip`: the `media` generator's containers and codecs). The prompt
ids of `processor.apply_chat_template` and transformers' greedy ids must equal `vidlm ask --json`'s
(a first difference where transformers' top-2 margin is below 1e-3 counts as a tie, not a failure). `--kind chat`:
two turns through `vidlm chat` (a still or a clip, sometimes with a second still, then a follow-up question).

`qwenvl`, `llava`, `blip`, `vidlm`, `contrastive`: the same end-to-end check for the other families
(tools/parity/sweep_*.py, each also runnable alone; `--family` picks one model type). Chat templates and
tokenizers have batch sweeps of their own: sweep_chat_template.py and sweep_tokenizer.py.

Needs the release CLI (`swift build -c release --product vidlm`), ffmpeg, and tools/requirements.txt.
Exits non-zero when any seed fails.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
import subprocess
import sys

import numpy as np
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "parity"))
from sweep_common import conversation, greedy_verdict, reference_greedy, run_seeds, seek_quirk  # noqa: E402

CODECS = {
    "mp4": [["libx264", "-bf", "3"], ["libx264", "-x264-params", "open-gop=1:keyint=30:bframes=5:b-pyramid=normal"],
            ["libx264", "-x264-params", "interlaced=1:tff=1"], ["libx265", "-x265-params", "bframes=4:keyint=20:open-gop=1"],
            ["mpeg4", "-bf", "2"], ["libaom-av1", "-cpu-used", "8"]],
    "mkv": [["libx264", "-x264-params", "open-gop=1:keyint=25:bframes=4"], ["libx264", "-bf", "3"],
            ["libvpx-vp9", "-deadline", "realtime"], ["libx265"], ["mpeg4"]],
    "webm": [["libvpx-vp9", "-deadline", "realtime"], ["libvpx", "-deadline", "realtime"]],
    "ts": [["libx264", "-x264-params", "interlaced=1:open-gop=1:keyint=24"], ["libx264", "-bf", "2"], ["mpeg2video", "-bf", "2"]],
    "avi": [["mjpeg"], ["mpeg4"]],
    "mov": [["libx264", "-bf", "2"], ["mjpeg"]],
    "flv": [["flv"], ["libx264", "-bf", "0"]],
    "ogg": [["libtheora"]],
}
VARIABLE_RATE_CONTAINERS = {"mp4", "mkv", "webm", "ts", "mov", "flv"}


def make_clip(rng: random.Random, path: str, ext: str) -> dict:
    w = rng.choice([64, 96, 160, 176, 320]); h = rng.choice([48, 64, 96, 120, 144])
    rate = rng.choice([10, 24, 25, 30]); n = rng.randrange(20, 160)
    codec = rng.choice(CODECS[ext])
    pix = "yuvj420p" if codec[0] == "mjpeg" else "yuv420p"
    vf, timing = f"format={pix}", "constant"
    if ext in VARIABLE_RATE_CONTAINERS and rng.random() < 0.6:
        k = rng.randrange(5, n - 5)
        timing = rng.choice(["rate change", "jitter"])
        # A fine time base first: in the source's 1/rate, faster frames would share timestamps
        # (a file with two frames at one time, which no decoder numbers the same way).
        tb = f"settb=1/{rate * 60},"
        if timing == "rate change":
            vf = f"{tb}setpts='if(lt(N,{k}),N/{rate},{k}/{rate}+(N-{k})/{rng.choice([5, 10, 60])})/TB',format={pix}"
        else:
            vf = f"{tb}setpts='(N/{rate}+0.5/{rate}*mod(N*7,3)/3)/TB',format={pix}"
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={w}x{h}:rate={rate}", "-frames:v", str(n),
           "-vf", vf, "-c:v", *codec]
    if timing != "constant":
        # The encoder keeps the fine time base too: by default it takes 1/rate, and frames faster
        # than that come out with equal pts that the muxer then nudges apart by a tick or two, out
        # of their display order (seed 49017: a file whose pts order is not the decoder's output
        # order, where torchcodec's frame numbering and its own pts disagree).
        # (MPEG-2 allows only its standard frame rates as time bases.)
        cmd += ["-fps_mode", "passthrough"] \
            + (["-enc_time_base:v", f"1/{rate * 60}"] if codec[0] != "mpeg2video" else []) \
            + (["-video_track_timescale", "90000"] if ext in ("mp4", "mov") else [])
    subprocess.run(cmd + [path], check=True)
    return {"size": f"{w}x{h}", "rate": rate, "frames": n, "codec": codec[0], "timing": timing}


def reference_frames(clip: str, ext: str, w: int, h: int):
    """All frames, their pts in seconds, whether the pixels are torchcodec's exact decode (not the
    ffmpeg CLI's, for MPEG-TS), and torchcodec's scanned average rate (None for MPEG-TS)."""
    if ext == "ts":
        raw = subprocess.run(["ffmpeg", "-v", "error", "-i", clip, "-fps_mode", "passthrough", "-f", "rawvideo",
                              "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
        frames = np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)
        probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                                "frame=pts_time,best_effort_timestamp_time", "-of", "json", clip],
                               capture_output=True, text=True, check=True).stdout
        pts = np.array([float(f.get("pts_time", f.get("best_effort_timestamp_time"))) for f in json.loads(probe)["frames"]])
        return frames, pts, False, None
    from torchcodec.decoders import VideoDecoder
    decoder = VideoDecoder(clip, seek_mode="exact")
    batch = decoder.get_frames_in_range(0, decoder.metadata.num_frames)
    return batch.data.permute(0, 2, 3, 1).numpy(), batch.pts_seconds.numpy(), True, decoder.metadata.average_fps


def probe_problems(vidlm: str, clip: str, facts: dict, frame_count: int, w: int, h: int,
                   reference_fps: float | None) -> list[str]:
    """`vidlm probe` against the reference decode: size, a counted frame count equal to the frames
    decoded, and a constant-rate clip's average rate."""
    r = subprocess.run([vidlm, "probe", clip], capture_output=True, text=True)
    if r.returncode:
        return [f"probe: {r.stderr.strip()}"]
    v = json.loads(r.stdout)["video"]
    problems = []
    if (v["width"], v["height"], v["display_width"], v["display_height"]) != (w, h, w, h):
        problems.append(f"probe: size {v['width']}x{v['height']}, display {v['display_width']}x{v['display_height']}")
    if v.get("frame_count_source") in ("container", "scan") and v.get("frame_count") != frame_count:
        problems.append(f"probe: frame_count {v.get('frame_count')} ({v.get('frame_count_source')}), decoded {frame_count}")
    # A constant rate holds only where every generated frame made it into the file: libtheora
    # leaves out frames equal to the one before (seed 44052: 22 packets for 28 frames, pts with
    # gaps), and the average rate is then frames / duration, as torchcodec computes it too.
    # The rate must be the made-at one (0.1 %), or torchcodec's where the two disagree: both count
    # frames over the scanned duration, which a coarse time base rounds (20 frames at 30 fps in
    # WebM's milliseconds end at 0.666 s: 30.03 fps for vidlm and torchcodec alike, seed 34161).
    # torchcodec alone is no oracle: FLV packets carry no duration, and it ends the clip at the
    # last frame's start (seed 34230: 24 frames at 25 fps, 26.09 fps; vidlm says 25).
    fps = v.get("average_fps")
    if facts["timing"] == "constant" and frame_count == facts["frames"] and fps is not None \
            and abs(fps - facts["rate"]) > 1e-3 * facts["rate"] \
            and (reference_fps is None or abs(fps - reference_fps) > 1e-6 * reference_fps):
        problems.append(f"probe: average_fps {fps} ({v.get('average_fps_source')}), clip {facts['rate']}, "
                        f"torchcodec {reference_fps}")
    return problems


def media_seed(seed: int, vidlm: str, work: str) -> tuple[str, str]:
    rng = random.Random(seed)
    ext = rng.choice(list(CODECS))
    clip = os.path.join(work, "clip." + ext)
    try:
        facts = make_clip(rng, clip, ext)
    except subprocess.CalledProcessError:
        return "skip", f"{ext}: ffmpeg could not write this combination"
    w, h = map(int, facts["size"].split("x"))
    frames, pts, exact_pixels, reference_fps = reference_frames(clip, ext, w, h)
    mode = rng.choice(["count", "fps", "range", "one"])
    if mode == "one":
        # One frame alone (the decoder drains right after it): its time window holds only it.
        i = rng.randrange(len(pts))
        start = float(pts[i] - pts[0])
        gap = float(pts[i + 1] - pts[i]) if i + 1 < len(pts) else 0.01
        if gap <= 0:
            return "skip", f"{ext}: frame {i} shares its pts"
        args = ["--count", "1", "--start", f"{start:.6f}", "--end", f"{start + gap / 2:.6f}"]
    elif mode == "count":
        args = ["--count", str(rng.choice([1, 3, 8, 16]))]
    elif mode == "fps":
        args = ["--fps", str(rng.choice([0.5, 1, 2, 7]))]
    else:
        a = round(rng.uniform(0, pts[-1] / 2), 2)
        args = ["--count", "5", "--start", str(a), "--end", str(round(rng.uniform(a + 0.1, pts[-1] + 0.5), 2))]
    out = os.path.join(work, "out")
    r = subprocess.run([vidlm, "frames", clip, "-o", out, *args], capture_output=True, text=True)
    what = f"{ext} {facts} {' '.join(args)}"
    if r.returncode:
        return "fail", f"{what}: vidlm: {r.stderr.strip()}"
    problems = probe_problems(vidlm, clip, facts, len(pts), w, h, reference_fps)
    for f in json.load(open(os.path.join(out, "frames.json"))):
        i = f["index"]
        got = np.asarray(Image.open(os.path.join(out, f["file"])).convert("RGB")).astype(int)
        if exact_pixels:
            diff = int(np.abs(got - frames[i]).max())
            if diff:
                problems.append(f"frame {i}: pixels differ by up to {diff}")
        else:
            own = float(np.abs(got - frames[i]).mean())
            near = [float(np.abs(got - frames[j]).mean()) for j in (i - 1, i + 1)
                    if 0 <= j < len(frames) and not np.array_equal(frames[j], frames[i])]
            if any(d <= own for d in near):
                problems.append(f"frame {i} looks like a neighbour")
        if abs(f["seconds"] - (pts[i] - pts[0])) > 1e-3:
            problems.append(f"frame {i}: {f['seconds']} s, its pts says {pts[i] - pts[0]:.4f}")
    return ("fail", f"{what}: {problems[:3]}") if problems else ("ok", what)


# ------------------------------------------------------------------------------------------- SmolVLM

def smolvlm_model(rng: random.Random, folder: str, tokenizer):
    import torch
    from transformers import (SmolVLMConfig, SmolVLMForConditionalGeneration, SmolVLMImageProcessor, SmolVLMProcessor,
                              SmolVLMVideoProcessor)
    from transformers.image_utils import PILImageResampling
    from transformers.models.smolvlm import processing_smolvlm
    ids = tokenizer.convert_tokens_to_ids
    patch = rng.choice([4, 8, 14, 16]); scale = rng.choice([1, 2, 3, 4]); grid = scale * rng.choice([1, 2])
    image_size = grid * patch
    vh = rng.choice([16, 32, 48]); vheads = rng.choice([h for h in (1, 2, 4) if vh % h == 0])
    th = rng.choice([32, 64]); theads = rng.choice([2, 4]); kv = rng.choice([k for k in (1, 2, theads) if theads % k == 0])
    tie = rng.random() < 0.3
    special = dict(bos_token_id=ids("<|im_start|>"), eos_token_id=ids("<end_of_utterance>"), pad_token_id=ids("<|im_end|>"))
    text = dict(model_type="llama", hidden_size=th, intermediate_size=2 * th, num_hidden_layers=rng.choice([1, 2]),
                num_attention_heads=theads, num_key_value_heads=kv, vocab_size=len(tokenizer), max_position_embeddings=4096,
                rope_theta=rng.choice([10000.0, 100000.0]), rms_norm_eps=1e-5, tie_word_embeddings=tie, hidden_act="silu", **special)
    vision = dict(hidden_size=vh, intermediate_size=2 * vh, num_hidden_layers=rng.choice([1, 2]), num_attention_heads=vheads,
                  num_channels=3, image_size=image_size, patch_size=patch, hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6)
    config = SmolVLMConfig(text_config=text, vision_config=vision, scale_factor=scale, image_token_id=ids("<image>"),
                           tie_word_embeddings=tie, **special)
    torch.manual_seed(rng.randrange(1 << 30))
    model = SmolVLMForConditionalGeneration(config).float().eval()
    import make_smolvlm_fixtures as F
    F.widen_weights(model, torch.Generator().manual_seed(rng.randrange(1 << 30)))  # greedy margins not ties
    resample = rng.choice([PILImageResampling.LANCZOS, PILImageResampling.BICUBIC, PILImageResampling.BILINEAR])
    longest, video_longest = image_size * rng.choice([1, 2, 3]), image_size * rng.choice([1, 2])
    common = dict(max_image_size={"longest_edge": image_size}, resample=resample, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    images = SmolVLMImageProcessor(size={"longest_edge": longest}, do_image_splitting=rng.random() < 0.8, **common)
    videos = SmolVLMVideoProcessor(video_sampling={"fps": rng.choice([0.5, 1, 2, 3]), "max_frames": rng.choice([1, 2, 3, 5, 8]),
                                                   "video_size": {"longest_edge": video_longest}},
                                   size={"longest_edge": video_longest}, do_sample_frames=True, **common)
    processor = SmolVLMProcessor(image_processor=images, video_processor=videos, tokenizer=tokenizer,
                                 image_seq_len=(grid // scale) ** 2, chat_template=processing_smolvlm.DEFAULT_CHAT_TEMPLATE)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return model, processor, {"patch": patch, "scale": scale, "image_size": image_size, "longest": longest, "split": images.do_image_splitting}


def smolvlm_still(rng: random.Random, work: str, seed: int, name: str = "input") -> tuple[str, str]:
    """A random still (PNG/JPEG/WebP, any aspect ratio, an EXIF orientation) and how to describe it."""
    import make_smolvlm_fixtures as F
    fmt, orientation = rng.choice(["png", "jpg", "jpg", "webp"]), rng.choice([1, 1, 3, 5, 6, 8])
    exif = Image.Exif(); exif[0x0112] = orientation
    media = os.path.join(work, f"{name}.{fmt}")
    picture = F.make_image(rng.randrange(8, 400), rng.randrange(8, 400), seed)
    picture.save(media, exif=exif.tobytes(), **({"quality": rng.choice([70, 90])} if fmt == "jpg" else {}))
    return media, f"{picture.width}x{picture.height} {fmt} EXIF {orientation}"


def smolvlm_seed(seed: int, vidlm: str, work: str, kind: str, tokenizer) -> tuple[str, str]:
    rng = random.Random(seed)
    model, processor, facts = smolvlm_model(rng, work, tokenizer)
    kind = kind if kind != "mixed" else rng.choice(["image", "clip"])
    turns = 1
    if kind == "chat":  # two turns through `vidlm chat`
        kind, turns = rng.choice(["image", "clip"]), 2
    if kind == "image":
        media, described = smolvlm_still(rng, work, seed)
        facts |= {"input": described}
        part = "image"
    else:
        ext = rng.choice(["mp4", "mkv", "webm", "mov", "avi", "ogg"])
        media = os.path.join(work, "input." + ext)
        try:
            facts |= {"input": f"{ext} {make_clip(rng, media, ext)}"}
        except subprocess.CalledProcessError:
            return "skip", f"{ext}: ffmpeg could not write this combination"
        part = "video"
    if turns == 2:
        question = rng.choice(["What is in this image?", "Describe it.", "what happens"])
        attached = [(part, media)]
        # A second still in the first question (with a still only: SmolVLM's processor drops a still that shares
        # a turn with a clip, so transformers cannot run that).
        if rng.random() < 0.5 and part == "image":
            still, about = smolvlm_still(rng, work, seed + 1, "second")
            attached.insert(rng.randrange(2), ("image", still))
            facts["input"] += f" + {about}"
        messages = [{"role": "user", "content": [{"type": k, "path": m} for k, m in attached] + [{"type": "text", "text": question}]}]
        return conversation(rng, vidlm, model, processor, work, attached, messages, facts, 12)
    question = rng.choice(["What is in this image?", "Describe it.", "what happens"])
    messages = [{"role": "user", "content": [{"type": part, "path": media}, {"type": "text", "text": question}]}]
    try:
        inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                               return_tensors="pt")
    except Exception as error:  # the reference itself cannot read this input: nothing to compare
        return "skip", f"{facts}: transformers: {type(error).__name__}: {str(error)[:120]}"
    want, margins = reference_greedy(model, inputs, tokenizer, 12)
    r = subprocess.run([vidlm, "ask", media, question, "--model", work, "--json", "--max-tokens", "12"], capture_output=True, text=True)
    if r.returncode:
        return "fail", f"{facts}: vidlm: {r.stderr.strip()}"
    answer = json.loads(r.stdout)
    prompt = answer["answers"][0]["prompt_token_ids"] if "answers" in answer else answer.get("prompt_token_ids")
    if prompt != inputs["input_ids"][0].tolist():
        return "fail", f"{facts}: prompt ids differ"
    status, why = greedy_verdict(answer["token_ids"], want, margins)
    quirk = seek_quirk(media, [f["index"] for f in answer["frames"]]) if status == "fail" and part == "video" else None
    if quirk:
        return "skip", f"{facts}: {why}, but the reference decoded other frames: {quirk}"
    return status, f"{facts}: {why}" if why else str(facts)


# The other families' sweeps live in their own files; each exposes `seed(seed, vidlm, work, …)`.
FAMILY_SWEEPS = {"qwenvl": "sweep_qwenvl", "llava": "sweep_llava", "blip": "sweep_blip", "vidlm": "sweep_vidlm",
                 "contrastive": "sweep_contrastive"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["media", "smolvlm", *FAMILY_SWEEPS])
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--kind", choices=["image", "clip", "mixed", "chat"], default="mixed")
    parser.add_argument("--family", default="mixed", help="for qwenvl, llava, blip and contrastive: one model type")
    parser.add_argument("--vidlm", default=str(ROOT / ".build" / "release" / "vidlm"))
    args = parser.parse_args()
    tokenizer = None
    if args.what == "smolvlm":
        import make_smolvlm_fixtures as F
        tokenizer = F.build_tokenizer()
    sweep = __import__(FAMILY_SWEEPS[args.what]) if args.what in FAMILY_SWEEPS else None

    def one(seed: int, work: str) -> tuple[str, str]:
        if args.what == "media":
            return media_seed(seed, args.vidlm, work)
        if args.what == "smolvlm":
            return smolvlm_seed(seed, args.vidlm, work, args.kind, tokenizer)
        if args.what == "vidlm":
            return sweep.seed(seed, args.vidlm, work)
        if args.what == "blip":
            return sweep.seed(seed, args.vidlm, work, args.family)
        return sweep.seed(seed, args.vidlm, work, args.family, args.kind)

    run_seeds(one, args.first, args.count)


if __name__ == "__main__":
    main()
