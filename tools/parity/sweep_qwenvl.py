"""Randomized differential checks of the Qwen-VL families (qwen2_vl, qwen2_5_vl, qwen3_vl) against transformers.

    tools/.venv/bin/python tools/parity/sweep_qwenvl.py --first 0 --count 30 [--family qwen2_vl|qwen2_5_vl|qwen3_vl|mixed]
                                                         [--kind image|clip|mixed|chat]

Per seed: a random tiny Qwen-VL written by transformers (`save_pretrained` of the model and its processor) —
vision depth 1-2 (1-3 for Qwen3-VL), widths and heads, patch size 14/16 or a small one (4/6/8), spatial merge 1-2,
temporal patch 1-2; Qwen2.5-VL window size and full-attention blocks and tokens_per_second; Qwen3-VL's learned
position grid and DeepStack layers (possibly more than the decoder has layers); a Qwen2 / Qwen3 decoder with GQA,
tied or untied embeddings, rope theta and a random M-RoPE section split (Qwen3-VL interleaved) — random processor
settings (min/max pixels as `size` or as `min_pixels` / `max_pixels`, resampling filter, mean/std, video fps,
min/max frames or a fixed num_frames, `cap_pixels_per_frame` and `max_video_tokens`, do_sample_frames=True) and a random input: a still
(PNG/JPEG/WebP from 1 pixel to 900, aspect ratios up to 1:225, EXIF orientations) or a clip (`make_clip` of
differential_sweep.py: its containers, codecs and variable rates). `processor.apply_chat_template(...,
tokenize=True)`'s input_ids must equal `vidlm ask --json`'s prompt_token_ids and transformers' greedy ids its
token_ids (a first difference where transformers' top-2 margin is below 1e-3 is a tie, not a failure). Where
transformers refuses the input, vidlm must refuse it too (skip), else the seed fails. `--kind chat`: two turns
through `vidlm chat` (a still, a clip, or a still and a clip in the first question; a follow-up question), whose
answers' text must equal transformers' greedy answers.

A clip whose frames torchcodec's `get_frames_at` (transformers' loader) decodes differently from a full decode
(frames sharing a timestamp, some HEVC seeks) is a skip when the ids differ: the two sides saw different pixels.
A failure where the prompt's largest M-RoPE position lies beyond its last one says so (transformers 5.23's generate
continues after the last position).

`seed(seed, vidlm, work, family, kind)` runs one seed and returns ("ok" | "tie" | "skip" | "fail", description).
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
import warnings

from PIL import Image

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "parity"))
from sweep_common import conversation, greedy_verdict, reference_greedy, run_seeds, seek_quirk  # noqa: E402

FAMILIES = ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"]
NEW_TOKENS = 12
_TOKENIZER = None


def tokenizer():
    global _TOKENIZER
    if _TOKENIZER is None:
        import make_qwen_vl_fixtures as Q
        _TOKENIZER = Q.build_tokenizer()
    return _TOKENIZER


def split(rng: random.Random, total: int, interleaved: bool) -> list[int]:
    """A random M-RoPE section [t, h, w] summing to `total` (half the head dim), every part at least 1.
    Interleaved (Qwen3-VL) sections put h and w at every third frequency, so each stays at most t."""
    if interleaved:
        k = rng.randrange(1, total // 3 + 1)
        return [total - 2 * k, k, k]
    a = rng.randrange(1, total - 1)
    b = rng.randrange(1, total - a)
    return [a, b, total - a - b]


def build_model(rng: random.Random, family: str, folder: str):
    import torch
    import transformers
    import make_qwen_vl_fixtures as Q
    import make_qwen3_vl_fixtures as Q3
    tok = tokenizer()
    ids = tok.convert_tokens_to_ids
    qwen3 = family == "qwen3_vl"
    patch = rng.choice([14, 16, 14, 16, 4, 6, 8])
    merge = rng.choice([2, 2, 2, 1])
    temporal = rng.choice([2, 2, 2, 1])
    vh = rng.choice([16, 32, 48])
    vheads = rng.choice([h for h in (1, 2, 4) if vh % h == 0 and (vh // h) % 4 == 0])
    th = rng.choice([32, 64])
    theads = rng.choice([2, 4])
    head_dim = rng.choice([8, 16]) if qwen3 else th // theads
    kv = rng.choice([k for k in (1, 2, theads) if theads % k == 0])
    tie = rng.random() < 0.5
    theta = rng.choice([10000.0, 1000000.0, 5000000.0])
    layers = rng.choice([1, 2, 3])
    section = split(rng, head_dim // 2, qwen3)
    rope = {"rope_type": "default", "rope_theta": theta, "mrope_section": section}
    facts = {"family": family, "patch": patch, "merge": merge, "temporal": temporal, "vision": f"{vh}/{vheads}h",
             "text": f"{th}/{theads}h/{kv}kv/hd{head_dim}x{layers}", "mrope": section, "tie": tie, "theta": theta}
    text = dict(hidden_size=th, intermediate_size=2 * th, num_hidden_layers=layers, num_attention_heads=theads,
                num_key_value_heads=kv, vocab_size=len(tok), max_position_embeddings=4096, rms_norm_eps=1e-6,
                hidden_act="silu", eos_token_id=ids("<|im_end|>"), pad_token_id=ids("<|endoftext|>"), bos_token_id=None,
                tie_word_embeddings=tie)
    common = dict(patch_size=patch, spatial_merge_size=merge, temporal_patch_size=temporal, in_channels=3, num_heads=vheads,
                  hidden_size=vh)
    if family == "qwen2_vl":
        vision = dict(common, depth=rng.choice([1, 2]), embed_dim=vh, hidden_size=th, mlp_ratio=rng.choice([2, 4]),
                      hidden_act="quick_gelu")
        config_cls, model_cls, proc_cls = (transformers.Qwen2VLConfig, transformers.Qwen2VLForConditionalGeneration,
                                           transformers.Qwen2VLProcessor)
        text["rope_parameters"] = rope
    elif family == "qwen2_5_vl":
        depth = rng.choice([1, 2])
        window = patch * merge * rng.choice([1, 2, 3])
        full = sorted(rng.sample(range(depth), rng.randrange(0, depth + 1)))
        tps = rng.choice([1, 2, 4, 25])
        vision = dict(common, depth=depth, intermediate_size=rng.choice([24, 48, 64]), out_hidden_size=th, hidden_act="silu",
                      window_size=window, fullatt_block_indexes=full, tokens_per_second=tps)
        facts |= {"window": window, "fullatt": full, "tps": tps}
        config_cls, model_cls, proc_cls = (transformers.Qwen2_5_VLConfig, transformers.Qwen2_5_VLForConditionalGeneration,
                                           transformers.Qwen2_5_VLProcessor)
        text["rope_parameters"] = rope
    else:
        depth = rng.choice([1, 2, 3])
        deepstack = sorted(rng.sample(range(depth), rng.randrange(0, depth + 1)))
        grid = rng.choice([2, 3, 4, 6])
        vision = dict(common, depth=depth, intermediate_size=rng.choice([24, 48, 64]), out_hidden_size=th,
                      hidden_act="gelu_pytorch_tanh", num_position_embeddings=grid * grid, deepstack_visual_indexes=deepstack)
        facts |= {"deepstack": deepstack, "pos_grid": grid}
        config_cls, model_cls, proc_cls = (transformers.Qwen3VLConfig, transformers.Qwen3VLForConditionalGeneration,
                                           transformers.Qwen3VLProcessor)
        text["head_dim"] = head_dim
        text["rope_parameters"] = rope | {"mrope_interleaved": True}
    config = config_cls(text_config=text, vision_config=vision, image_token_id=ids("<|image_pad|>"),
                        video_token_id=ids("<|video_pad|>"), vision_start_token_id=ids("<|vision_start|>"),
                        vision_end_token_id=ids("<|vision_end|>"), tie_word_embeddings=tie)
    if qwen3:
        config.text_config.eos_token_id = ids("<|im_end|>")
    torch.manual_seed(rng.randrange(1 << 30))
    model = model_cls(config).to(torch.float32).eval()
    Q.widen(model, rng.randrange(1 << 30))  # greedy margins not near ties
    if qwen3:
        with torch.no_grad():
            w = model.model.visual.pos_embed.weight
            w.copy_(torch.randn(w.shape, generator=torch.Generator().manual_seed(rng.randrange(1 << 30))))

    # Processor settings: pixel budgets in units of the patch x merge factor.
    factor = patch * merge
    resample = rng.choice([3, 3, 2])  # BICUBIC (the default), BILINEAR
    pixels = rng.choice([dict(image_mean=[0.5] * 3, image_std=[0.5] * 3),
                         dict(image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711]),
                         {}])
    lo = factor * factor * rng.choice([1, 2, 4])
    hi = factor * factor * rng.choice([4, 8, 16, 24])
    size_style = rng.choice(["size", "pixels"])
    image_size = ({"size": {"shortest_edge": lo, "longest_edge": hi}} if size_style == "size"
                  else {"min_pixels": lo, "max_pixels": hi})
    images = transformers.Qwen2VLImageProcessor(patch_size=patch, merge_size=merge, temporal_patch_size=temporal,
                                                resample=resample, **image_size, **pixels)
    fps = rng.choice([0.5, 1.0, 1.75, 2.0, 3.0])
    min_frames, max_frames = rng.choice([1, 2, 4]), rng.choice([2, 4, 8, 16])
    max_frames = max(max_frames, min_frames)
    cap = rng.choice([False, True])
    vlo = factor * factor * rng.choice([1, 2, 4])
    vhi = factor * factor * rng.choice([4, 8, 16]) * (rng.choice([4, 8]) if qwen3 else 1)  # Qwen3: a whole-clip budget
    video_args = dict(size={"shortest_edge": vlo, "longest_edge": vhi}, fps=fps, min_frames=min_frames, max_frames=max_frames,
                      patch_size=patch, merge_size=merge, temporal_patch_size=temporal, do_sample_frames=True,
                      cap_pixels_per_frame=cap, resample=resample, **pixels)
    if cap:
        video_args["max_video_tokens"] = rng.choice([4, 16, 64, 768])
    # A fixed frame count instead of a rate, drawn from a side generator so the seeds' other draws stay as they were.
    side = random.Random(str(rng.getstate()[1]))  # a str seed (hash(None) in the state differs per process)
    if side.random() < 0.25:
        video_args |= {"fps": None, "num_frames": side.choice([2, 3, 4, 6, 8])}
        facts["num_frames"] = video_args["num_frames"]
    video_cls = transformers.Qwen3VLVideoProcessor if qwen3 else transformers.Qwen2VLVideoProcessor
    videos = video_cls(**video_args)
    template = Q3.TEMPLATE if qwen3 else Q.TEMPLATE
    processor = proc_cls(image_processor=images, video_processor=videos, tokenizer=tok, chat_template=template)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    facts |= {"image_px": f"{lo}-{hi} ({size_style})", "video_px": f"{vlo}-{vhi}", "fps": fps,
              "frames": f"{min_frames}-{max_frames}", "cap": cap, "resample": resample}
    if cap:
        facts["max_video_tokens"] = video_args["max_video_tokens"]
    return model, transformers.AutoProcessor.from_pretrained(folder), facts


def make_still(rng: random.Random, work: str, seed: int) -> tuple[str, str]:
    import make_llava_fixtures as L
    shape = rng.choice(["any", "any", "any", "tiny", "wide", "tall"])
    if shape == "any":
        w, h = rng.randrange(8, 400), rng.randrange(8, 400)
    elif shape == "tiny":
        w, h = rng.randrange(1, 32), rng.randrange(1, 32)
    else:
        long, short = rng.randrange(200, 900), rng.randrange(4, 40)
        w, h = (long, short) if shape == "wide" else (short, long)
    fmt, orientation = rng.choice(["png", "jpg", "jpg", "webp"]), rng.choice([1, 1, 3, 5, 6, 8])
    exif = Image.Exif()
    exif[0x0112] = orientation
    media = os.path.join(work, "input." + fmt)
    picture = L.make_image(w, h, (seed % 97) / 97)
    picture.save(media, exif=exif.tobytes(), **({"quality": rng.choice([70, 90])} if fmt == "jpg" else {}))
    return media, f"{w}x{h} {fmt} EXIF {orientation}"


def position_note(model, inputs) -> str:
    """Where the prompt's largest M-RoPE position lies beyond its last one (a clip's time axis outgrowing the text
    after it), transformers 5.23's generate places the answer after the last position (`position_ids[..., -1:] + 1`),
    while an answer placed after the largest one parts from it from the second token on."""
    import torch
    kw = {k: inputs[k] for k in ("image_grid_thw", "video_grid_thw", "second_per_grid_ts") if k in inputs}
    with torch.no_grad():
        positions, _ = model.model.get_rope_index(inputs["input_ids"], mm_token_type_ids=inputs["mm_token_type_ids"], **kw)
    largest, last = int(positions.max()), int(positions[:, 0, -1].max())
    return f"; the prompt's largest M-RoPE position {largest} > its last {last}" if largest > last else ""


def seed(seed: int, vidlm: str, work: str, family: str = "mixed", kind: str = "mixed") -> tuple[str, str]:
    import torch
    import transformers
    from differential_sweep import make_clip
    transformers.logging.set_verbosity_error()
    warnings.filterwarnings("ignore")
    rng = random.Random(seed)
    family = family if family != "mixed" else rng.choice(FAMILIES)
    kind = kind if kind != "mixed" else rng.choice(["image", "clip"])
    turns = 1
    if kind == "chat":  # two turns through `vidlm chat` (the only command that takes a conversation)
        kind, turns = rng.choice(["image", "clip"]), 2
    model_dir = os.path.join(work, "model")
    model, processor, facts = build_model(rng, family, model_dir)
    tok = processor.tokenizer
    if kind == "image":
        media, described = make_still(rng, work, seed)
        part = "image"
    else:
        ext = rng.choice(["mp4", "mkv", "webm", "mov", "avi", "ogg"])
        media = os.path.join(work, "input." + ext)
        try:
            described = f"{ext} {make_clip(rng, media, ext)}"
        except subprocess.CalledProcessError:
            return "skip", f"{family} {ext}: ffmpeg could not write this combination"
        part = "video"
    facts["input"] = described
    question = rng.choice(["What is in this image?", "Describe it.", "what happens", "Count the shapes, then name the colours."])
    messages = [{"role": "user", "content": [{"type": part, "path": media}, {"type": "text", "text": question}]}]
    if turns == 2:
        attached = [(part, media)]
        if part == "video" and rng.random() < 0.5:  # a still and the clip in the first question
            still, about = make_still(rng, work, seed)
            attached.insert(0, ("image", still))
            facts["input"] = f"{about} + {described}"
        messages = [{"role": "user", "content": [{"type": k, "path": m} for k, m in attached] + [{"type": "text", "text": question}]}]
        def reset(model):
            model.model.rope_deltas = None  # transformers keeps the last prompt's M-RoPE offsets otherwise
        return conversation(rng, vidlm, model, processor, model_dir, attached, messages, facts, NEW_TOKENS,
                            before_generate=reset, note=position_note)
    r = subprocess.run([vidlm, "ask", media, question, "--model", model_dir, "--json", "--max-tokens", str(NEW_TOKENS)],
                       capture_output=True, text=True)
    try:
        inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                               return_tensors="pt", processor_kwargs={"return_metadata": part == "video"})
    except Exception as error:
        said = f"transformers: {type(error).__name__}: {str(error)[:160]}"
        if r.returncode or not isinstance(error, (ValueError, ZeroDivisionError)):
            return "skip", f"{facts}: {said}; vidlm: {r.stderr.strip()[:160] or 'answers'}"
        # The processor refuses this input (size, aspect ratio, frame count): vidlm must refuse it too.
        return "fail", f"{facts}: {said}, but vidlm answers"
    if r.returncode:
        return "fail", f"{facts}: vidlm: {r.stderr.strip()[:300]}"
    metadata = inputs.pop("video_metadata", None)
    want, margins = reference_greedy(model, inputs, tok, NEW_TOKENS)
    answer = json.loads(r.stdout)
    warned = "; vidlm: " + " ".join(line.strip() for line in r.stderr.splitlines() if "warning" in line)[:300] if "warning" in r.stderr else ""
    prompt = answer.get("prompt_token_ids")
    expected = inputs["input_ids"][0].tolist()
    grids = {k: inputs[k].tolist() for k in ("image_grid_thw", "video_grid_thw") if k in inputs}
    facts["grid"] = grids
    if prompt != expected:
        at = next((i for i in range(min(len(prompt or []), len(expected))) if prompt[i] != expected[i]), None)
        return "fail", (f"{facts}: prompt ids differ ({len(prompt or [])} vs {len(expected)} tokens, first at {at}; "
                        f"frames {[f.get('index') for f in answer.get('frames', [])]}){warned}")
    status, why = greedy_verdict(answer["token_ids"], want, margins)
    if status != "fail":
        return status, f"{facts}: {why}" if why else str(facts)
    chosen = getattr(metadata[0], "frames_indices", None) if metadata else None
    quirk = seek_quirk(media, chosen) if part == "video" else None
    if quirk:
        return "skip", f"{facts}: {why}, but the reference decoded other frames: {quirk}"
    return "fail", f"{facts}: {why}{position_note(model, inputs)}{warned}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--family", choices=FAMILIES + ["mixed"], default="mixed")
    parser.add_argument("--kind", choices=["image", "clip", "mixed", "chat"], default="mixed")
    parser.add_argument("--vidlm", default=str(ROOT / ".build" / "release" / "vidlm"))
    args = parser.parse_args()
    run_seeds(lambda n, work: seed(n, args.vidlm, work, args.family, args.kind), args.first, args.count, "vidlm-qwen-sweep-")


if __name__ == "__main__":
    main()
