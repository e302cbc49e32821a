"""Clips with awkward time bases and what transformers' video path reads from them:

    tools/.venv/bin/python tools/parity/make_video_timing_fixtures.py

transformers' video processors take a clip's frame count, duration and fps from torchcodec's exact
scan (duration = end − begin with each end converted as pts·num/den; fps = frames / duration) and
sample from them, so a duration off by one ulp (39 × 0.1 = 3.9000000000000004 where 39/10 = 3.9)
moves SmolVLM's `int(skip_secs · fps)` start frame. Writes Tests/Fixtures/media/timing/: small clips
(AVI MJPEG at 10 and 30000/1001 fps, Ogg Theora at 24 fps, Matroska with jittered timestamps, FLV,
whose packets state no duration) and
expected.json: torchcodec's num_frames / duration_seconds / average_fps (float64, repr) per clip, and
SmolVLMVideoProcessor.sample_frames indices and timestamps for several (fps, max_frames).
"""
from __future__ import annotations

import json
import pathlib
import subprocess

import torchcodec
import transformers
from torchcodec.decoders import VideoDecoder
from transformers import SmolVLMVideoProcessor
from transformers.video_utils import VideoMetadata

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "media" / "timing"

CLIPS = {
    "avi_mjpeg_10fps.avi": (["-f", "lavfi", "-i", "testsrc2=size=32x24:rate=10", "-frames:v", "39"],
                            ["-c:v", "mjpeg", "-pix_fmt", "yuvj420p"]),
    "avi_mjpeg_ntsc.avi": (["-f", "lavfi", "-i", "testsrc2=size=32x24:rate=30000/1001", "-frames:v", "97"],
                           ["-c:v", "mjpeg", "-pix_fmt", "yuvj420p"]),
    "ogg_theora_24fps.ogg": (["-f", "lavfi", "-i", "testsrc2=size=32x24:rate=24", "-frames:v", "69"],
                             ["-c:v", "libtheora"]),
    "mkv_jitter.mkv": (["-f", "lavfi", "-i", "testsrc2=size=32x24:rate=30", "-frames:v", "118"],
                       ["-vf", "setpts='(N/30+0.5/30*mod(N*7,3)/3)/TB'", "-c:v", "mpeg4", "-fps_mode", "passthrough"]),
    # FLV packets state no duration: torchcodec ends the clip at the last frame's pts (2.48 s for
    # 63 frames at 25 fps), and SmolVLM's one frame a second rounds that to 2 frames, not 3.
    "flv_no_durations.flv": (["-f", "lavfi", "-i", "testsrc2=size=32x24:rate=25", "-frames:v", "63"],
                             ["-c:v", "flv"]),
}
SETTINGS = [(1, 8), (0.5, 2), (2, 5), (3, 1), (1, 64)]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    processor = SmolVLMVideoProcessor()
    cases = []
    for name, (inputs, codec) in CLIPS.items():
        path = OUT / name
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-fflags", "+bitexact", *inputs, *codec, "-flags:v", "+bitexact",
                        str(path)], check=True)
        m = VideoDecoder(str(path), seek_mode="exact").metadata
        metadata = VideoMetadata(total_num_frames=m.num_frames, fps=m.average_fps, duration=m.duration_seconds,
                                 width=m.width, height=m.height)
        samples = []
        for fps, max_frames in SETTINGS:
            indices = [int(i) for i in processor.sample_frames(metadata, num_frames=max_frames, fps=fps)]
            samples.append({"fps": fps, "max_frames": max_frames, "indices": indices,
                            "timestamps": [i / m.average_fps for i in indices]})
        cases.append({"file": name, "num_frames": m.num_frames, "duration_seconds": m.duration_seconds,
                      "average_fps": m.average_fps, "samples": samples})
    doc = {"oracle": "torchcodec VideoDecoder(seek_mode='exact').metadata; "
                     "transformers SmolVLMVideoProcessor.sample_frames(VideoMetadata(...), num_frames, fps)",
           "versions": {"torchcodec": torchcodec.__version__, "transformers": transformers.__version__},
           "clips": cases}
    (OUT / "expected.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {len(cases)} clips to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
