"""CLI of the shapes world (tools/synth/world.py).

    tools/.venv/bin/python tools/synth show --seed 0 --n 5              # print scenes, captions, QA
    tools/.venv/bin/python tools/synth heldout --out eval/heldout       # held-out eval set (seed 777)
    tools/.venv/bin/python tools/synth frame-order --out samples/frame-order   # asymmetric clips (seed 888)
    tools/.venv/bin/python tools/synth samples --out samples/world      # demo clips + stills (seed 99)

Clips are written as .mp4 (libx264, yuv420p, crf 23, 8 fps, 64x64, bitexact), stills as .png.
Manifests are JSONL with paths relative to the manifest's folder. Training uses seeds 1234/1235
(tools/train/train.py), so these sets never share a random stream with it.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import codec  # noqa: E402
import world  # noqa: E402


def _qa_subset(scene, rng, k=6):
    qa = world.qa_pairs(scene, rng)
    must = [p for p in qa if p[0] in world.FIRST_Q or p[0] in world.LAST_Q]
    rest = [p for p in qa if p not in must]
    # favour the questions about events over the many "is there a ...?" ones
    rest.sort(key=lambda p: (p[0].startswith("is there"), rng.random()))
    picked = must + rest[:max(k - len(must), 0)]
    return [{"question": q, "answer": a} for q, a in picked]


def heldout(args):
    rng = random.Random(args.seed)
    os.makedirs(os.path.join(args.out, "clips"), exist_ok=True)
    os.makedirs(os.path.join(args.out, "images"), exist_ok=True)
    rows = []
    for i in range(args.clips):
        sc = world.sample_clip(rng)
        rel = f"clips/h{i:03d}.mp4"
        codec.write_mp4(world.render(sc), os.path.join(args.out, rel), crf=args.crf)
        rows.append({"id": f"h{i:03d}", "kind": "clip", "video": rel, "caption": world.caption(sc),
                     "qa": _qa_subset(sc, rng), "truth": world.describe(sc)})
    for i in range(args.stills):
        sc = world.sample_still(rng)
        rel = f"images/s{i:03d}.png"
        codec.write_png(world.render(sc)[0], os.path.join(args.out, rel))
        rows.append({"id": f"s{i:03d}", "kind": "image", "video": rel, "caption": world.caption(sc),
                     "qa": _qa_subset(sc, rng, k=4), "truth": world.describe(sc)})
    _write_manifest(args.out, rows)


def frame_order(args):
    rng = random.Random(args.seed)
    os.makedirs(os.path.join(args.out, "clips"), exist_ok=True)
    rows = []
    for i in range(args.clips):
        sc = world.sample_clip(rng, asymmetric_only=True)
        rel = f"clips/f{i:03d}.mp4"
        codec.write_mp4(world.render(sc), os.path.join(args.out, rel), crf=args.crf)
        cap, rev = world.caption(sc), world.caption(world.reverse(sc))
        assert cap != rev, cap
        rows.append({"id": f"f{i:03d}", "video": rel, "caption": cap, "reversed_caption": rev,
                     "frames": sc["frames"], "truth": world.describe(sc)})
    _write_manifest(args.out, rows)


SAMPLE_CLIPS = [  # (file name, scene kind, predicate of the test that picks the scene)
    ("moves-left.mp4", "single", lambda c: c == "the red circle moves left."),
    ("grows.mp4", "single_static", lambda c: " grows" in c and c.count(" and ") == 1),
    ("colour-change.mp4", "single", lambda c: "changes colour" in c),
    ("toward.mp4", "pair", lambda c: "toward each other" in c and " stays still" not in c),
    ("sequence.mp4", "sequence", lambda c: " then " in c and "appears" in c),
    ("two-events.mp4", "two", lambda c: "moves up" in c and "shrinks" in c),
]


def samples(args):
    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    lines = ["# The shapes world: demo media", "",
             "Clips (64x64, 8 fps, H.264 yuv420p) and stills (PNG) from the synthetic world the embedded",
             "default model `vidlm-shapes` was trained on (`tools/synth`; regenerate with",
             f"`tools/.venv/bin/python tools/synth samples --out samples/world --seed {args.seed}`).", "",
             "    vidlm ask samples/world/sequence.mp4 \"what happens\"", "",
             "| File | Frames | True caption |", "|---|---:|---|"]
    for name, kind, test in SAMPLE_CLIPS:
        while True:
            sc = world.sample_clip(rng, kind=kind)
            if test(world.caption(sc)):
                break
        codec.write_mp4(world.render(sc), os.path.join(args.out, name), crf=args.crf)
        lines.append(f"| `{name}` | {sc['frames']} | {world.caption(sc)} |")
    for name, count in (("still-two.png", 2), ("still-three.png", 3)):
        while True:
            sc = world.sample_still(rng)
            if len(sc["shapes"]) == count:
                break
        codec.write_png(world.render(sc)[0], os.path.join(args.out, name))
        lines.append(f"| `{name}` | 1 | {world.caption(sc)} |")
    lines += ["", "Questions the model knows (answers are short): `what happens` / `what happens?` /",
              "`describe the clip.` (the caption), `what colour is the circle?`, `which way does the circle move?`,",
              "`what happens to the square?`, `how many shapes are there?`, `is there a triangle?`,",
              "`which shape is red?`, `which shape grows?`, `what happens first?` / `what happens last?`", ""]
    with open(os.path.join(args.out, "README.md"), "w") as f:
        f.write("\n".join(lines))


def show(args):
    rng = random.Random(args.seed)
    for _ in range(args.n):
        sc = world.sample_clip(rng)
        print(json.dumps(world.describe(sc)))
        print("  caption:", world.caption(sc))
        for q, a in world.qa_pairs(sc):
            print(f"  {q} -> {a}")


def _write_manifest(out, rows):
    with open(os.path.join(out, "manifest.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    print(f"wrote {len(rows)} items to {out}/manifest.jsonl")


def main():
    ap = argparse.ArgumentParser(prog="tools/synth", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name, fn, seed, extra in (("heldout", heldout, 777, {"clips": 150, "stills": 60}),
                                  ("frame-order", frame_order, 888, {"clips": 100}),
                                  ("samples", samples, 99, {}), ("show", show, 0, {"n": 5})):
        p = sub.add_parser(name)
        p.set_defaults(fn=fn)
        p.add_argument("--seed", type=int, default=seed)
        p.add_argument("--crf", type=int, default=23)
        if name != "show":
            p.add_argument("--out", required=True)
        for k, v in extra.items():
            p.add_argument(f"--{k}", type=int, default=v)
    args = ap.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
