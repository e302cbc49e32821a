"""What the differential sweeps (differential_sweep.py, sweep_*.py) share: the seed loop and the greedy-ids verdict."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import Callable

TIE_MARGIN = 1e-3


def top2_margins(scores) -> list[float]:
    """Per generated step, the gap between transformers' two best logits (`generate(output_scores=True).scores`)."""
    import torch
    return [float(torch.topk(s[0], 2).values.diff().abs()) for s in scores]


def first_difference(got: list[int], want: list[int]) -> int | None:
    """The first step where two id lists differ (one ending early counts), or None when equal."""
    return next((i for i in range(max(len(got), len(want))) if i >= min(len(got), len(want)) or got[i] != want[i]), None)


def reference_greedy(model, inputs, tokenizer, steps: int) -> tuple[list[int], list[float]]:
    """transformers' greedy ids after the prompt (the stop token left out, as vidlm's token_ids do) and each
    step's top-2 margin."""
    import torch
    import transformers
    settings = transformers.GenerationConfig(do_sample=False, max_new_tokens=steps, num_beams=1,
                                             eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    with torch.no_grad():
        out = model.generate(**inputs, generation_config=settings, output_scores=True, return_dict_in_generate=True)
    want = out.sequences[0, inputs["input_ids"].shape[1]:].tolist()
    if want and want[-1] == tokenizer.eos_token_id:
        want = want[:-1]
    return want, top2_margins(out.scores)


def greedy_verdict(got: list[int], want: list[int], margins: list[float]) -> tuple[str, str]:
    """("ok", ""), ("tie", why) where the ids part at a step transformers itself nearly tied (top-2 margin below
    TIE_MARGIN), or ("fail", why)."""
    first = first_difference(got, want)
    if first is None:
        return "ok", ""
    margin = margins[first] if first < len(margins) else None
    if margin is not None and margin < TIE_MARGIN:
        return "tie", f"greedy ids part at step {first}, margin {margin:.1e}"
    return "fail", f"greedy ids part at step {first} (margin {margin}; want {want}, got {got})"


def random_init(model, seed: int, scale: float):
    """Every parameter of a tiny random model random (norms near one, small biases, weights of `scale`), so each
    one matters and greedy margins are wide."""
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if ("norm" in name or "LayerNorm" in name) and name.endswith("weight"):
                p.copy_(1 + 0.1 * noise)
            elif name.endswith("bias"):
                p.copy_(0.1 * noise)
            else:
                p.copy_(scale * noise)
    return model.eval()


def bench_batch(bench: str, command: str, cases: list) -> list:
    """`vidlm-bench <command> --cases FILE` on a JSON list of cases: its per-case results (exits on a failure)."""
    import json
    import subprocess
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False)
        path = f.name
    try:
        r = subprocess.run([bench, command, "--cases", path], capture_output=True, text=True)
    finally:
        os.unlink(path)
    if r.returncode:
        sys.exit(f"vidlm-bench: {r.stderr.strip()}")
    return json.loads(r.stdout)["results"]


def run_seeds(one: Callable[[int, str], tuple[str, str]], first: int, count: int, prefix: str = "vidlm-sweep-",
              keep: str | None = None) -> None:
    """Runs `one(seed, work_folder)` for each seed in a fresh folder, prints one line per seed and the tally, and
    exits non-zero when any seed failed. A crash of the sweep itself is a failure to look at; `keep` copies
    each failing seed's folder (model and input) there."""
    tally = {"ok": 0, "tie": 0, "skip": 0, "fail": 0}
    for seed in range(first, first + count):
        work = tempfile.mkdtemp(prefix=prefix)
        try:
            try:
                status, what = one(seed, work)
            except Exception as error:  # noqa: BLE001 - reported as the seed's failure
                status, what = "fail", f"sweep error: {type(error).__name__}: {str(error)[:200]}"
            if status == "fail" and keep:
                shutil.copytree(work, os.path.join(keep, f"seed{seed}"), dirs_exist_ok=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        tally[status] += 1
        print(f"seed {seed}: {status}  {what}", flush=True)
    print(" ".join(f"{k} {v}" for k, v in tally.items()))
    sys.exit(1 if tally["fail"] else 0)
