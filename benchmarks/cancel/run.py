"""Cancellation latency of `vidlm ask`: SIGINT while it decodes frames or generates tokens, time
until the process has exited (it must stop decoding and generation, print one line, exit 1).

    python3 benchmarks/cancel/run.py [--model DIR] [--runs 7]

Two phases, each interrupted `--runs` times at a fixed delay after start:
  decode:   many frames of a long clip (`--frames 256`) — the signal lands in the frame loop;
  generate: a short clip and `--max-tokens 100000` with EOS ignored is impossible from the CLI, so
            the model must be big enough (or the clip long enough) that generation is running at
            the delay; the script reports which phase the stderr progress shows.
Reports the median and max latency from the signal to exit. Release build expected.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]


def interrupt(cmd: list[str], delay: float) -> tuple[float, int, str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate()
    return time.monotonic() - sent, proc.returncode, err.strip()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--vidlm", default=str(ROOT / ".build/release/vidlm"))
    p.add_argument("--model", default=None)
    p.add_argument("--clip", default=str(ROOT / "benchmarks/.work/clip-1min.mp4"))
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--delay", type=float, default=1.0)
    a = p.parse_args()
    if not pathlib.Path(a.clip).exists():
        a.clip = str(ROOT / "samples/clip.mp4")
    model = ["--model", a.model] if a.model else []
    cases = {
        "decode (256 frames)": [a.vidlm, "ask", a.clip, "what happens?", "--frames", "256", *model],
        "generate (1 frame, 4096 tokens)": [a.vidlm, "ask", a.clip, "what happens?", "--frames", "1",
                                             "--max-tokens", "4096", "--temperature", "1.5", "--seed", "7", *model],
    }
    print(f"vidlm {a.vidlm}, model {a.model or 'embedded'}, clip {a.clip}, delay {a.delay} s, runs {a.runs}")
    for name, cmd in cases.items():
        latencies, codes, messages = [], set(), set()
        for _ in range(a.runs):
            latency, code, err = interrupt(cmd, a.delay)
            latencies.append(latency)
            codes.add(code)
            messages.add(err.splitlines()[-1] if err else "")
        print(f"{name}: median {statistics.median(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms, "
              f"exit codes {sorted(codes)}, last stderr line {sorted(messages)}")


if __name__ == "__main__":
    sys.exit(main())
