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


def conversation(rng, vidlm: str, model, processor, model_dir: str, attached: list, messages: list, facts: dict,
                 new_tokens: int, before_generate=None, note=None, template_kwargs: dict | None = None) -> tuple[str, str]:
    """Two turns through `vidlm chat` (media attached with /image and /video go with the next question; answers on
    stdout, one a line, leading spaces dropped; each answer kept as the assistant's text): the answers' text must
    equal transformers' greedy answers, the second asked with the first answer (decoded, leading spaces dropped)
    in the conversation. `before_generate(model)` resets state a model keeps between calls; `note(model, inputs)`
    says more about the first prompt when the answers differ; `template_kwargs` go to apply_chat_template."""
    import subprocess
    import torch
    import transformers
    tok = processor.tokenizer
    follow = rng.choice(["And then?", "Why?", "Say it again in three words."])
    settings = transformers.GenerationConfig(do_sample=False, max_new_tokens=new_tokens, num_beams=1,
                                             eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    answers, notes, said, chosen = [], [], "", None
    clip = next((path for kind, path in attached if kind == "video"), None)
    for question in (None, follow):
        if question is not None:
            messages = messages + [{"role": "assistant", "content": [{"type": "text", "text": answers[-1]}]},
                                   {"role": "user", "content": [{"type": "text", "text": question}]}]
        try:
            kwargs = dict(template_kwargs or {})
            if clip:
                kwargs["processor_kwargs"] = dict(kwargs.get("processor_kwargs", {}), return_metadata=True)
            inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                                   return_tensors="pt", **kwargs)
        except Exception as error:
            return "skip", f"{facts} two turns: transformers: {type(error).__name__}: {str(error)[:160]}"
        metadata = inputs.pop("video_metadata", None)
        if metadata and chosen is None:
            chosen = getattr(metadata[0], "frames_indices", None)
        if before_generate:
            before_generate(model)
        try:
            with torch.no_grad():
                out = model.generate(**inputs, generation_config=settings, output_scores=True, return_dict_in_generate=True)
        except ValueError as error:  # e.g. SmolVLM's processor drops a still that shares a turn with a clip
            return "skip", f"{facts} two turns: transformers cannot run it: {str(error)[:160]}"
        ids = out.sequences[0, inputs["input_ids"].shape[1]:].tolist()
        if ids and ids[-1] == tok.eos_token_id:
            ids = ids[:-1]
        margins = top2_margins(out.scores)
        notes.append(min(margins[:len(ids) + 1]) if margins else None)
        answers.append(tok.decode(ids, skip_special_tokens=True).lstrip(" "))
        if question is None and note:
            said = note(model, inputs)
    script = "".join(f"/{kind} {path}\n" for kind, path in attached) + f"{messages[0]['content'][-1]['text']}\n{follow}\n"
    # Bytes, not text mode: text mode would turn an answer's "\r" into "\n".
    r = subprocess.run([vidlm, "chat", "--model", model_dir, "--max-tokens", str(new_tokens)], input=script.encode(),
                       capture_output=True)
    facts = dict(facts, turns=2)
    if r.returncode:
        return "fail", f"{facts}: vidlm chat: {r.stderr.decode(errors='replace').strip()[:300]}"
    got = r.stdout.decode("utf-8", errors="replace")
    want = "".join(a + "\n" for a in answers)
    if got == want:
        return "ok", str(facts)
    if any(m is not None and m < TIE_MARGIN for m in notes):
        return "tie", f"{facts}: chat answers differ where transformers' top-2 margin is below {TIE_MARGIN}"
    if clip and chosen is None:  # a processor that does not hand the metadata on: its video processor's pick
        chosen = processor.video_processor(clip, return_metadata=True)["video_metadata"][0].frames_indices
    quirk = seek_quirk(clip, chosen) if clip else None
    if quirk:
        return "skip", f"{facts}: chat answers differ, but the reference decoded other frames: {quirk}"
    return "fail", f"{facts}: chat answers differ: vidlm {got!r} vs transformers {want!r}{said}"


def seek_quirk(clip: str, chosen) -> str | None:
    """Where frames share a timestamp (jittered or changed rates rounded to the container's time base), torchcodec's
    `get_frames_at`, which transformers' video loader calls, returns the first frame of that timestamp for a later
    index; vidlm decodes the frame of that index (the order of a full decode). Such a seed compares different
    pixels: this says which indices, or None when get_frames_at agrees with the full decode."""
    import torch
    from torchcodec.decoders import VideoDecoder
    if chosen is None or len(chosen) == 0:
        return None
    indices = [int(i) for i in chosen]
    whole = VideoDecoder(clip, seek_mode="exact")
    whole = whole.get_frames_in_range(0, whole.metadata.num_frames)
    picked = VideoDecoder(clip, seek_mode="exact").get_frames_at(indices=indices)
    wrong = [(i, float(whole.pts_seconds[i])) for k, i in enumerate(indices) if not torch.equal(picked.data[k], whole.data[i])]
    return f"get_frames_at gives other frames for indices (index, pts) {wrong}" if wrong else None


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
