"""H.264 round trips with the ffmpeg CLI (libx264, yuv420p), as the engine sees clips."""
from __future__ import annotations

import subprocess

import numpy as np

from world import FPS, SIZE

BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1"]


def _x264(crf: int) -> list[str]:
    return ["-c:v", "libx264", "-preset", "medium", "-crf", str(crf), "-pix_fmt", "yuv420p", "-threads", "1"]


def roundtrip_many(clips: list[np.ndarray], crf: int = 18) -> list[np.ndarray]:
    """Encode all clips (uint8 [N_i, 64, 64, 3]) as ONE 64x64 stream with a forced keyframe at the
    start of each clip, decode it once, and split it back: the decoded frames of every clip."""
    lengths = [len(c) for c in clips]
    starts = np.cumsum([0] + lengths[:-1])
    times = ",".join(f"{s / FPS:.4f}" for s in starts)
    raw = np.concatenate(clips).tobytes()
    enc = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{SIZE}x{SIZE}", "-r", str(FPS),
         "-i", "-", *_x264(crf), "-force_key_frames", times, "-f", "h264", "-"],
        input=raw, capture_output=True, check=True).stdout
    dec = subprocess.run(["ffmpeg", "-v", "error", "-f", "h264", "-i", "-", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         input=enc, capture_output=True, check=True).stdout
    frames = np.frombuffer(dec, np.uint8).reshape(-1, SIZE, SIZE, 3)
    if len(frames) != sum(lengths):
        raise RuntimeError(f"decoded {len(frames)} frames, expected {sum(lengths)}")
    return [frames[s:s + n] for s, n in zip(starts, lengths)]


def write_mp4(frames: np.ndarray, path: str, crf: int = 23) -> None:
    """One clip as an .mp4 (libx264, yuv420p, 8 fps, 64x64), reproducible bytes."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{SIZE}x{SIZE}", "-r", str(FPS),
         "-i", "-", *_x264(crf), *BITEXACT, "-movflags", "+faststart", path],
        input=frames.tobytes(), check=True)


def decode(path: str) -> np.ndarray:
    """All frames of a media file as uint8 [N, H, W, 3] (what the Swift decoder gives)."""
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, SIZE, SIZE, 3)


def write_png(frame: np.ndarray, path: str) -> None:
    from PIL import Image
    Image.fromarray(frame).save(path, optimize=True)
