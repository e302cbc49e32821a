"""Held-out accuracy of a vidlm model through the Swift CLI.

    python3 tools/eval/measure.py .build/release/vidlm --model models/vidlm-shapes \
        --manifest eval/heldout/manifest.jsonl [--limit N] [--json results.json]

Per manifest item ({"video", "caption", "qa": [{"question", "answer"}], "kind": "clip"|"image"}):
  clips:  `<vidlm> caption <mp4> --model DIR --json`, `<vidlm> ask <mp4> "<q>" --model DIR --json`
  images: `<vidlm> image <png> --model DIR --json`,   `<vidlm> image <png> "<q>" --model DIR --json`
and reads the "answer" string of the JSON. Metrics: caption exact match on clips, still-image
caption exact match, QA accuracy (exact match after strip), each also per item kind.
Only the standard library is needed.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def run(binary: str, args: list[str]) -> str:
    out = subprocess.run([binary, *args], capture_output=True, text=True)
    if out.returncode != 0:
        return f"<error {out.returncode}: {out.stderr.strip()[-200:]}>"
    try:
        return str(json.loads(out.stdout)["answer"]).strip()
    except (ValueError, KeyError) as e:
        return f"<bad json: {e}>"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary", help="path of the vidlm executable")
    ap.add_argument("--model", default="models/vidlm-shapes")
    ap.add_argument("--manifest", default="eval/heldout/manifest.jsonl")
    ap.add_argument("--limit", type=int, default=0, help="only the first N items of each kind")
    ap.add_argument("--json", default="", help="write per-item results here")
    args = ap.parse_args()

    base = os.path.dirname(os.path.abspath(args.manifest))
    items = [json.loads(line) for line in open(args.manifest) if line.strip()]
    if args.limit:
        items = ([it for it in items if it["kind"] == "clip"][:args.limit]
                 + [it for it in items if it["kind"] == "image"][:args.limit])
    stats = {"clip": {"cap": [0, 0], "qa": [0, 0]}, "image": {"cap": [0, 0], "qa": [0, 0]}}
    results = []
    t0 = time.time()
    for n, it in enumerate(items):
        media = os.path.join(base, it["video"])
        common = ["--model", args.model, "--json"]
        if it["kind"] == "clip":
            cap = run(args.binary, ["caption", media, *common])
        else:
            cap = run(args.binary, ["image", media, *common])
        ok = cap == it["caption"].strip()
        s = stats[it["kind"]]
        s["cap"][0] += ok
        s["cap"][1] += 1
        row = {"id": it.get("id"), "kind": it["kind"], "caption": it["caption"], "predicted": cap, "ok": ok, "qa": []}
        for pair in it.get("qa", []):
            cmd = ["ask", media, pair["question"]] if it["kind"] == "clip" else ["image", media, pair["question"]]
            ans = run(args.binary, [*cmd, *common])
            good = ans == pair["answer"].strip()
            s["qa"][0] += good
            s["qa"][1] += 1
            row["qa"].append({**pair, "predicted": ans, "ok": good})
        results.append(row)
        if not ok:
            print(f"[{it.get('id')}] caption: expected {it['caption']!r}, got {cap!r}", file=sys.stderr)
        if (n + 1) % 25 == 0:
            print(f"  {n + 1}/{len(items)} items, {time.time() - t0:.0f} s", file=sys.stderr)

    def pct(a):
        return 100.0 * a[0] / a[1] if a[1] else float("nan")

    qa_all = [stats["clip"]["qa"][0] + stats["image"]["qa"][0], stats["clip"]["qa"][1] + stats["image"]["qa"][1]]
    summary = {"clip_caption_em": pct(stats["clip"]["cap"]), "clips": stats["clip"]["cap"][1],
               "image_caption_em": pct(stats["image"]["cap"]), "images": stats["image"]["cap"][1],
               "qa_accuracy": pct(qa_all), "qa_questions": qa_all[1],
               "clip_qa_accuracy": pct(stats["clip"]["qa"]), "image_qa_accuracy": pct(stats["image"]["qa"]),
               "seconds": round(time.time() - t0, 1)}
    print(json.dumps(summary, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "items": results}, f, indent=1)


if __name__ == "__main__":
    main()
