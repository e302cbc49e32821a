"""`vidlm batch` against a Python loop over transformers (issue 23's batch benchmark): the same
SmolVLM2-256M-shaped checkpoint (random weights written by transformers' save_pretrained,
benchmarks/vlm/make_models.py), the same clips, question, frames and answer length, each tool in a
fresh process that loads the model once and answers every clip in turn.

- vidlm: `vidlm batch MANIFEST --output RESULTS --model DIR --max-tokens N` (release build,
  VIDLM_THREADS=THREADS); the manifest names no frame count, so the family's rule picks the frames.
- transformers: this file with `--loop` (2 threads: torch.set_num_threads): AutoProcessor and
  AutoModelForImageTextToText loaded once, then per clip `apply_chat_template` on
  [user: video + question] (torchcodec decodes, the video processor samples the frames by its own
  rule), `generate` greedy with N new tokens and no stop token (the checkpoint has no EOS).

Both tools see the same frames (checked: vidlm's result lines list the frame indices it used, the
loop reports the video processor's; a mismatch stops the run) and generate exactly N tokens.
Reported per tool: wall seconds from process start to exit (imports and model load included) and
clips/min over it; load = wall − the clips' own seconds; per-clip seconds (model loaded: media
decoding, preprocessing, vision, prefill, decode) and clips/min over those alone. Answers are
compared as text (greedy on random weights; f32 differences may flip a late token).

    tools/.venv/bin/python benchmarks/serve/batch_vs_transformers.py            # every clip
    tools/.venv/bin/python benchmarks/serve/batch_vs_transformers.py --clips 2  # a quick check
    (benchmarks/serve/run.sh batch-vs-transformers [options] builds vidlm and the model first)

Clips: samples/world/*.mp4 (6 short synthetic clips) and samples/clip.mp4. Writes
benchmarks/.work/serve/batch_vs_transformers.json (and the manifest/results there) and prints a
Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
QUESTION = "What happens in this video?"


def clips(limit: int | None) -> list[Path]:
    found = sorted((REPO / "samples/world").glob("*.mp4")) + [REPO / "samples/clip.mp4"]
    return found[:limit] if limit else found


def loop(args) -> None:
    """The transformers side, in its own process: one JSON object on stdout."""
    started = time.perf_counter()
    import torch
    import transformers
    from transformers import AutoModelForImageTextToText, AutoProcessor

    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    t0 = time.perf_counter()
    processor = AutoProcessor.from_pretrained(args.model)
    model = AutoModelForImageTextToText.from_pretrained(args.model, dtype="auto").eval()
    load = time.perf_counter() - t0
    pad = model.config.get_text_config().pad_token_id
    vp = processor.video_processor
    items = []
    for clip in args.clip:
        start = time.perf_counter()
        with torch.inference_mode():
            messages = [{"role": "user", "content": [{"type": "video", "path": clip},
                                                     {"type": "text", "text": args.question}]}]
            inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                   return_dict=True, return_tensors="pt")
            out = model.generate(**inputs, max_new_tokens=args.max_tokens, min_new_tokens=0, do_sample=False,
                                 num_beams=1, eos_token_id=None, pad_token_id=pad, repetition_penalty=1.0)
        seconds = time.perf_counter() - start
        generated = out[0, inputs["input_ids"].shape[1]:].tolist()
        # The frames the video processor picked (outside the timed span: a second decode).
        meta = vp(videos=[clip], return_metadata=True, return_tensors="pt", do_sample_frames=True)["video_metadata"][0]
        items.append({"media": clip, "seconds": seconds, "tokens": len(generated),
                      "prompt_tokens": int(inputs["input_ids"].shape[1]),
                      "frames": [int(i) for i in meta.frames_indices],
                      "answer": processor.decode(generated, skip_special_tokens=True).strip()})
    print(json.dumps({"load_seconds": load, "import_seconds": t0 - started, "items": items,
                      "threads": torch.get_num_threads(), "torch": torch.__version__,
                      "transformers": transformers.__version__}))


def timed(cmd: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd[:3])} … failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall, done


def row(tool: str, wall: float, per_clip: list[float]) -> dict:
    n, busy = len(per_clip), sum(per_clip)
    return {"tool": tool, "clips": n, "wall_seconds": wall, "clips_per_min": 60 * n / wall,
            "load_seconds": wall - busy, "per_clip_seconds": statistics.mean(per_clip),
            "per_clip_seconds_each": per_clip, "clips_per_min_loaded": 60 * n / busy}


def drive(args) -> None:
    work = REPO / "benchmarks/.work/serve"
    work.mkdir(parents=True, exist_ok=True)
    chosen = clips(args.clips)
    model = str(Path(args.model).resolve())
    if not (Path(model) / "config.json").exists():
        sys.exit(f"{model}: no model (benchmarks/serve/run.sh batch-vs-transformers makes it, or "
                 f"tools/.venv/bin/python benchmarks/vlm/make_models.py benchmarks/.work/vlm smolvlm2-256m-f32)")
    manifest, results = work / "batch_manifest.jsonl", work / "batch_results.jsonl"
    manifest.write_text("".join(json.dumps({"id": c.stem, "media": str(c), "question": args.question}) + "\n"
                                for c in chosen))
    results.unlink(missing_ok=True)
    env = dict(os.environ, VIDLM_THREADS=str(args.threads))
    vidlm_cmd = [args.vidlm, "batch", str(manifest), "--output", str(results), "--model", model,
                 "--max-tokens", str(args.max_tokens)]
    print("vidlm:", " ".join(vidlm_cmd), file=sys.stderr)
    vidlm_wall, _ = timed(vidlm_cmd, env)
    lines = {r["id"]: r for r in map(json.loads, results.read_text().splitlines())}
    vidlm_items = [lines[c.stem] for c in chosen]
    if any("error" in r for r in vidlm_items):
        sys.exit(f"vidlm failed on: {[r for r in vidlm_items if 'error' in r]}")

    torch_cmd = [sys.executable, __file__, "--loop", "--model", model, "--threads", str(args.threads),
                 "--max-tokens", str(args.max_tokens), "--question", args.question] + \
                [a for c in chosen for a in ("--clip", str(c))]
    print("transformers:", " ".join(torch_cmd[:9]), "…", file=sys.stderr)
    torch_wall, done = timed(torch_cmd, env)
    torch = json.loads(done.stdout.strip().splitlines()[-1])

    # Same work on both sides, or no comparison.
    for c, v, t in zip(chosen, vidlm_items, torch["items"]):
        frames = [f["index"] for f in v["frames"]]
        if frames != t["frames"]:
            sys.exit(f"{c.name}: vidlm used frames {frames}, transformers {t['frames']}: not the same work")
        if t["tokens"] != args.max_tokens or v["answers"][0]["finish"] != "length":
            sys.exit(f"{c.name}: not {args.max_tokens} tokens on both sides ({t['tokens']}, {v['answers'][0]['finish']})")
    same = sum(v["answers"][0]["answer"] == t["answer"] for v, t in zip(vidlm_items, torch["items"]))
    rows = [row("vidlm batch", vidlm_wall, [v["seconds"] for v in vidlm_items]),
            row("transformers loop", torch_wall, [t["seconds"] for t in torch["items"]])]
    report = {
        "model": os.path.relpath(model, REPO), "question": args.question, "max_new_tokens": args.max_tokens,
        "threads": args.threads, "clips": [os.path.relpath(c, REPO) for c in chosen],
        "frames_per_clip": [len(t["frames"]) for t in torch["items"]],
        "prompt_tokens": [t["prompt_tokens"] for t in torch["items"]],
        "answers_identical": same, "rows": rows,
        "transformers_load_seconds": torch["load_seconds"], "python_import_seconds": torch["import_seconds"],
        "torch": torch["torch"], "transformers": torch["transformers"], "torch_threads": torch["threads"],
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"), "machine": platform.machine(),
        "cpus": os.cpu_count(), "loadavg_after": os.getloadavg(), "vidlm_command": " ".join(vidlm_cmd),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                 cwd=REPO).stdout.strip(),
    }
    (work / "batch_vs_transformers.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"{len(chosen)} clips ({', '.join(c.name for c in chosen)}), frames per clip "
          f"{report['frames_per_clip']}, {args.max_tokens} new tokens each, {args.threads} threads; "
          f"answers identical: {same} of {len(chosen)}")
    print()
    print("| tool | clips | wall s (load incl.) | clips/min | load s | per clip s (loaded) | clips/min (loaded) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['tool']} | {r['clips']} | {r['wall_seconds']:.2f} | {r['clips_per_min']:.1f} | "
              f"{r['load_seconds']:.2f} | {r['per_clip_seconds']:.2f} | {r['clips_per_min_loaded']:.1f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(REPO / "benchmarks/.work/vlm/smolvlm2-256m-f32"))
    p.add_argument("--vidlm", default=str(REPO / ".build/release/vidlm"))
    p.add_argument("--clips", type=int, help="only the first N clips (a quick check)")
    p.add_argument("--max-tokens", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--question", default=QUESTION)
    p.add_argument("--loop", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--clip", action="append", default=[], help=argparse.SUPPRESS)
    args = p.parse_args()
    loop(args) if args.loop else drive(args)


if __name__ == "__main__":
    main()
