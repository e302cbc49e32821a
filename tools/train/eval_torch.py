"""Held-out metrics of a trained vidlm model in PyTorch, on the decoded media files, with the
reference module's per-clip path and greedy decoding (what tools/eval/measure.py measures through
the Swift CLI).

    tools/.venv/bin/python tools/train/eval_torch.py --model models/vidlm-shapes \
        --manifest eval/heldout/manifest.jsonl [--frame-order samples/frame-order/manifest.jsonl]

Clips are decoded with `ffmpeg -i clip.mp4 -f rawvideo -pix_fmt rgb24 -` and sampled to
min(N, num_frames) frames at floor((i + 0.5) * N / n); PNG stills are one frame (T = 1).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "synth"))
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
import codec  # noqa: E402
import vidlm_model as vm  # noqa: E402
import world  # noqa: E402


def load(model_dir: str):
    from safetensors.torch import load_file
    from tokenizers import Tokenizer
    config = json.load(open(os.path.join(model_dir, "config.json")))
    model = vm.VidLMForConditionalGeneration(config)
    missing, unexpected = model.load_state_dict(load_file(os.path.join(model_dir, "model.safetensors")), strict=False)
    assert not unexpected and set(missing) <= {"language_model.lm_head.weight"}, (missing, unexpected)
    model.language_model.tie_weights()
    model.eval()
    return model, Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json")), config


def media_frames(path: str, num_frames: int) -> np.ndarray:
    if path.endswith(".png"):
        from PIL import Image
        return np.asarray(Image.open(path).convert("RGB"))[None]
    frames = codec.decode(path)
    return frames[world.sample_indices(len(frames), num_frames)]


class Answerer:
    def __init__(self, model, tok, config):
        self.model, self.tok, self.config = model, tok, config

    @torch.no_grad()
    def prefix(self, frames: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(frames)).float() / 255.0
        x = ((x - 0.5) / 0.5).permute(0, 3, 1, 2)
        return self.model.visual_prefix(self.model.vision_features(x))["prefix"]

    @torch.no_grad()
    def answer(self, prefix: torch.Tensor, question: str) -> str:
        ids = self.tok.encode(self.model.prompt_text(question)).ids
        out = self.model.greedy(self.model.input_embeddings(prefix, ids), max_new_tokens=48)
        return self.tok.decode(out).strip()


def evaluate(ans: Answerer, manifest: str, limit: int = 0, extra_caption_questions=("what happens",)):
    base = os.path.dirname(os.path.abspath(manifest))
    items = [json.loads(line) for line in open(manifest) if line.strip()]
    if limit:
        items = [it for it in items if it["kind"] == "clip"][:limit] + [it for it in items if it["kind"] == "image"][:limit]
    st = {k: {"cap": [0, 0], "qa": [0, 0]} for k in ("clip", "image")}
    alt = [0, 0]
    errors = []
    for it in items:
        pre = ans.prefix(media_frames(os.path.join(base, it["video"]), ans.config.get("num_frames", 8)))
        cap = ans.answer(pre, ans.config["caption_question"])
        s = st[it["kind"]]
        s["cap"][0] += cap == it["caption"]
        s["cap"][1] += 1
        if cap != it["caption"]:
            errors.append({"id": it["id"], "q": "<caption>", "expected": it["caption"], "got": cap})
        for q in extra_caption_questions:
            alt[0] += ans.answer(pre, q) == it["caption"]
            alt[1] += 1
        for pair in it["qa"]:
            got = ans.answer(pre, pair["question"])
            s["qa"][0] += got == pair["answer"]
            s["qa"][1] += 1
            if got != pair["answer"]:
                errors.append({"id": it["id"], "q": pair["question"], "expected": pair["answer"], "got": got})
    pct = lambda a: round(100.0 * a[0] / a[1], 2) if a[1] else None
    qa = [st["clip"]["qa"][0] + st["image"]["qa"][0], st["clip"]["qa"][1] + st["image"]["qa"][1]]
    return {"clip_caption_em": pct(st["clip"]["cap"]), "clips": st["clip"]["cap"][1],
            "image_caption_em": pct(st["image"]["cap"]), "images": st["image"]["cap"][1],
            "qa_accuracy": pct(qa), "qa_questions": qa[1], "clip_qa_accuracy": pct(st["clip"]["qa"]),
            "image_qa_accuracy": pct(st["image"]["qa"]),
            "caption_em_asking_" + "_".join(q.replace(" ", "-") for q in extra_caption_questions): pct(alt)}, errors


def frame_order(ans: Answerer, manifest: str):
    """Caption EM on the clips as they are, and on their frames reversed against the reversed caption."""
    base = os.path.dirname(os.path.abspath(manifest))
    fwd = rev = n = 0
    for line in open(manifest):
        it = json.loads(line)
        frames = codec.decode(os.path.join(base, it["video"]))
        q = ans.config["caption_question"]
        fwd += ans.answer(ans.prefix(frames[world.sample_indices(len(frames))]), q) == it["caption"]
        back = frames[::-1]
        rev += ans.answer(ans.prefix(back[world.sample_indices(len(back))]), q) == it["reversed_caption"]
        n += 1
    return {"forward_caption_em": round(100.0 * fwd / n, 2), "reversed_caption_em": round(100.0 * rev / n, 2), "clips": n}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "vidlm-shapes"))
    ap.add_argument("--manifest", default=os.path.join(ROOT, "eval", "heldout", "manifest.jsonl"))
    ap.add_argument("--frame-order", default="")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    torch.set_num_threads(2)
    t0 = time.time()
    ans = Answerer(*load(args.model))
    metrics, errors = evaluate(ans, args.manifest, args.limit)
    if args.frame_order:
        metrics["frame_order"] = frame_order(ans, args.frame_order)
    metrics["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(metrics, indent=1))
    for e in errors[:40]:
        print(f"  {e['id']} {e['q']!r}: expected {e['expected']!r}, got {e['got']!r}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"metrics": metrics, "errors": errors}, f, indent=1)


if __name__ == "__main__":
    main()
