"""Builds the SmolVLM2 (model_type `smolvlm`) parity fixtures (no downloads, deterministic):

    tools/.venv/bin/python tools/parity/make_smolvlm_fixtures.py

The oracle is transformers 5.23 (tools/requirements.txt) with torchvision 0.29.2 (image/video resize),
torchcodec 0.17 (video decoding, what `apply_chat_template` uses for a video path) and num2words.

Writes
  Tests/Fixtures/parity/smolvlm_tiny/          a tiny random SmolVLMForConditionalGeneration + its
                                               processor, exactly as transformers 5 `save_pretrained`
                                               writes them (processor_config.json with nested
                                               image_processor / video_processor sections,
                                               chat_template.jinja, tokenizer.json, ...)
      oracle.json                              versions, processor classes, resize backend, BOS, quirks,
                                               PIL-vs-torchvision differences
      cases/<name>/meta.json                   messages, prompt text, input_ids, rows/cols or video
                                               metadata, generated_ids, shapes
      cases/<name>/expected.safetensors        pixel_values, pixel_attention_mask (U8), resized_uint8,
                                               vision_hidden, connector, logits_last (+ video: frames_uint8);
                                               oracle.json `expected_tensors` describes each
      cases/<name>/input.png                   the image cases' input
  Tests/Fixtures/parity/smolvlm_tiny_legacy/   the same weights and tokenizer, the processor settings as
                                               the separate preprocessor_config.json +
                                               video_preprocessor_config.json + chat_template.json files
                                               most published checkpoints carry, and tokenizer_config.json
                                               in the published shape (extra_special_tokens as a dict,
                                               tokenizer_class GPT2Tokenizer) and config.json in the 4.x
                                               shape (rope_theta flat, pad_token_id, torch_dtype); checked
                                               to load back to the same config and processor settings and
                                               to give the same ids and pixels on every case.

Cases: image_split (100x61 PNG, splitting on), image_nosplit (70x111 PNG, do_image_splitting=False via
processor_kwargs) and video (Tests/Fixtures/media/cfr_bframes.mp4: H.264 High with B-frames, 160x96, 25 fps,
4 s), each through `processor.apply_chat_template(..., tokenize=True, return_dict=True)` and the model
(vision tower, connector, last logits, 32 greedy tokens). Every resize chain is replayed step by step with
torchvision (asserted equal to transformers' pixel_values) and with Pillow in both pass orders.

The tokenizer is a byte-level BPE trained here on ENGLISH (below), SmolLM2-shaped: Digits(individual)
+ ByteLevel pre-tokenizer, ByteLevel post-processor (no BOS added on encode), ByteLevel decoder.
"""
from __future__ import annotations

import hashlib
import json
import math
import pathlib
import shutil
import sys
import tempfile

import numpy as np
import torch
import torchcodec
import torchvision
import transformers
from PIL import Image, ImageDraw
from safetensors.torch import save_file
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoProcessor,
    PreTrainedTokenizerFast,
    SmolVLMConfig,
    SmolVLMForConditionalGeneration,
    SmolVLMImageProcessor,
    SmolVLMImageProcessorPil,
    SmolVLMProcessor,
    SmolVLMVideoProcessor,
)
from transformers.image_utils import PILImageResampling
from transformers.models.smolvlm import processing_smolvlm

ROOT = pathlib.Path(__file__).resolve().parents[2]
PARITY = ROOT / "Tests" / "Fixtures" / "parity"
OUT = PARITY / "smolvlm_tiny"
LEGACY = PARITY / "smolvlm_tiny_legacy"
VIDEO = ROOT / "Tests" / "Fixtures" / "media" / "cfr_bframes.mp4"
SEED = 20260611
NEW_TOKENS = 32

ENGLISH = """\
The quick brown fox jumps over the lazy dog. A small red ball rolls across the floor and stops near the door.
What is in this image? Describe the video. The picture shows a blue square, a yellow triangle and a green circle.
In the morning the sun rises over the hills, and the birds begin to sing in the trees beside the river.
She opened the window, looked at the sky and said that it would probably rain before the evening.
There are three people standing in the street; one of them is holding an umbrella and a cup of coffee.
The camera moves slowly from left to right while the car drives past the houses on the corner.
A cat is sleeping on the sofa. A dog is playing with a ball in the garden. Children are laughing.
The video begins with a black screen, then a white shape appears in the middle and changes colour.
He wrote the numbers 1, 2, 3, 42 and 2025 on the board, then asked the students to add them together.
Assistant: The image shows a simple scene with bright colours and clear shapes on a dark background.
User: Can you tell me what happens at the end of the clip? Assistant: At the end, the square disappears.
Frames from a short video show a person walking, turning around, waving a hand and smiling at the camera.
The weather is cold and windy today, so please wear a warm coat, a hat and gloves when you go outside.
Every frame has a timestamp, and the model reads the frames in order to understand what is happening.
"""

SPECIAL_TRAINED = ["<|im_start|>", "<|im_end|>"]
SPECIAL_ADDED = (["<end_of_utterance>", "<image>", "<fake_token_around_image>", "<global-img>", "<video>"]
                 + [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)])
# What SmolVLM2 checkpoints carry in tokenizer_config.json `extra_special_tokens` (a dict: named tokens
# become tokenizer attributes, which SmolVLMProcessor reads with getattr(tokenizer, ..., default)).
NAMED_TOKENS = {
    "end_of_utterance_token": "<end_of_utterance>",
    "fake_image_token": "<fake_token_around_image>",
    "global_image_token": "<global-img>",
    "image_token": "<image>",
    "video_token": "<video>",
}


def build_tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])
    trainer = trainers.BpeTrainer(vocab_size=460, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[AddedToken(t, special=True, normalized=False) for t in SPECIAL_TRAINED],
                                  show_progress=False)
    tok.train_from_iterator(ENGLISH.splitlines(), trainer)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_ADDED])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<end_of_utterance>",
        pad_token="<|im_end|>",
        unk_token=None,
        extra_special_tokens=dict(NAMED_TOKENS),
        model_max_length=8192,
        clean_up_tokenization_spaces=False,
    )


def build_config(tokenizer) -> SmolVLMConfig:
    ids = tokenizer.convert_tokens_to_ids
    text_config = dict(
        model_type="llama", hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, vocab_size=len(tokenizer), max_position_embeddings=2048, rope_theta=100000.0,
        rms_norm_eps=1e-5, tie_word_embeddings=False, hidden_act="silu",
        bos_token_id=ids("<|im_start|>"), eos_token_id=ids("<end_of_utterance>"), pad_token_id=ids("<|im_end|>"),
    )
    vision_config = dict(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_channels=3,
        image_size=64, patch_size=8, hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6,
    )
    return SmolVLMConfig(
        text_config=text_config, vision_config=vision_config, scale_factor=2, image_token_id=ids("<image>"),
        tie_word_embeddings=False, pad_token_id=ids("<|im_end|>"),
        bos_token_id=ids("<|im_start|>"), eos_token_id=ids("<end_of_utterance>"),
    )


def build_model(config) -> SmolVLMForConditionalGeneration:
    torch.manual_seed(SEED)
    model = SmolVLMForConditionalGeneration(config).to(torch.float32).eval()
    widen_weights(model, torch.Generator().manual_seed(SEED + 1))
    return model


def widen_weights(model, g):
    """Default init (std 0.02) gives near-uniform logits where greedy ties are fragile; widen the weights so
    activations and logit margins are O(1) (norm weights get a random spread around 1)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or "layernorm.weight" in name or "layer_norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name or "position_embedding" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))


def image_processor_kwargs():
    return dict(size={"longest_edge": 128}, max_image_size={"longest_edge": 64}, resample=PILImageResampling.LANCZOS,
                do_image_splitting=True, image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])


def build_processor(tokenizer) -> SmolVLMProcessor:
    image_processor = SmolVLMImageProcessor(**image_processor_kwargs())
    video_processor = SmolVLMVideoProcessor(
        video_sampling={"fps": 1, "max_frames": 8, "video_size": {"longest_edge": 128}},
        size={"longest_edge": 128}, max_image_size={"longest_edge": 64}, resample=PILImageResampling.LANCZOS,
        image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5], do_sample_frames=True,
    )
    return SmolVLMProcessor(image_processor=image_processor, video_processor=video_processor, tokenizer=tokenizer,
                            image_seq_len=16, chat_template=processing_smolvlm.DEFAULT_CHAT_TEMPLATE)


# ---------------------------------------------------------------------------------------------
# Inputs.

def make_image(width, height, seed) -> Image.Image:
    """Smooth gradients + a few shapes; deterministic."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 255 * (x / max(width - 1, 1))
    gch = 255 * (y / max(height - 1, 1))
    b = 127.5 + 127.5 * np.sin(2 * np.pi * (x + 2 * y) / (width * 0.7) + seed)
    arr = np.stack([r, gch, b], axis=-1).round().clip(0, 255).astype(np.uint8)
    im = Image.fromarray(arr, "RGB")
    d = ImageDraw.Draw(im)
    d.rectangle([width // 8, height // 6, width // 8 + width // 4, height // 6 + height // 3], fill=(250, 250, 20))
    d.ellipse([width // 2, height // 2, width // 2 + width // 3, height // 2 + height // 3], fill=(10, 30, 200))
    d.polygon([(width - 4, 2), (width - width // 4, height // 3), (width - 2, height // 2)], fill=(220, 10, 10))
    d.line([(0, height - 1), (width - 1, 0)], fill=(0, 0, 0), width=1)
    return im


# ---------------------------------------------------------------------------------------------
# Helpers.

def jsonable(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, np.ndarray):
        return [jsonable(x) for x in v.tolist()]
    if isinstance(v, torch.Tensor):
        return jsonable(v.tolist())
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    return v


def write_json(path, obj):
    path.write_text(json.dumps(jsonable(obj), indent=2, ensure_ascii=False) + "\n")


def rel(path) -> str:
    return str(pathlib.Path(path).resolve().relative_to(ROOT))


def squeeze_batch(pv: torch.Tensor) -> torch.Tensor:
    assert pv.shape[0] == 1, pv.shape
    return pv[0]


def greedy_manual(model, inputs, steps):
    """Greedy decoding without a cache (full forward each step): cross-checks generate()."""
    ids = inputs["input_ids"]
    out = []
    with torch.no_grad():
        for _ in range(steps):
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=inputs["pixel_values"],
                           pixel_attention_mask=inputs.get("pixel_attention_mask"), use_cache=False).logits[0, -1]
            nxt = int(torch.argmax(logits))
            out.append(nxt)
            ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
    return out


def run_model(model, inputs, tokenizer):
    pv = inputs["pixel_values"]
    pam = inputs.get("pixel_attention_mask")
    captured = {}
    hook = model.model.vision_model.register_forward_hook(
        lambda mod, args, kwargs_out: captured.__setitem__("vision", kwargs_out.last_hidden_state.detach().clone()))
    with torch.no_grad():
        feats = model.model.get_image_features(pv, pam, return_dict=True)
        out = model(**inputs, use_cache=False)
    hook.remove()
    vision_hidden = captured["vision"]
    with torch.no_grad():
        connector = model.model.connector(vision_hidden)
    assert torch.equal(torch.cat(feats.pooler_output, 0), connector.reshape(-1, connector.shape[-1]))
    logits = out.logits[0]
    logits_last = logits[-1].detach().clone()

    gen_config = transformers.GenerationConfig(
        do_sample=False, max_new_tokens=NEW_TOKENS, min_new_tokens=0, eos_token_id=None, bos_token_id=None,
        pad_token_id=tokenizer.pad_token_id, num_beams=1)
    with torch.no_grad():
        seq = model.generate(**inputs, generation_config=gen_config, output_scores=True, return_dict_in_generate=True)
    generated = seq.sequences[0, inputs["input_ids"].shape[1]:].tolist()
    assert len(generated) == NEW_TOKENS, len(generated)
    manual = greedy_manual(model, inputs, NEW_TOKENS)
    assert manual == generated, (manual, generated)
    margins = []
    for s in seq.scores:
        top2 = torch.topk(s[0], 2).values
        margins.append(float(top2[0] - top2[1]))
    assert generated[0] == int(torch.argmax(logits_last))
    eos = tokenizer.eos_token_id
    return {
        "vision_hidden": vision_hidden,
        "connector": connector,
        "logits_last": logits_last,
        "generated_ids": generated,
        "min_greedy_margin": min(margins),
        "first_eos_step": generated.index(eos) if eos in generated else None,
    }


def processor_facts(processor, inputs, messages, tokenizer, **template_kwargs):
    ids = inputs["input_ids"][0].tolist()
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, **template_kwargs)
    expanded = tokenizer.decode(ids, skip_special_tokens=False)
    assert tokenizer(expanded, add_special_tokens=False)["input_ids"] == ids
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    return {
        "messages": messages,
        "prompt": prompt,
        "prompt_expanded": expanded,
        "input_ids": ids,
        "num_tokens": len(ids),
        "num_image_tokens": ids.count(image_id),
        "attention_mask_all_ones": bool(inputs["attention_mask"].eq(1).all()),
    }


def save_case(name, meta, tensors):
    folder = OUT / "cases" / name
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(folder / "expected.safetensors"))
    write_json(folder / "meta.json", meta)
    return folder


# ---------------------------------------------------------------------------------------------
# Resize chains, replayed step by step (to check we know exactly what transformers did, and to
# measure what a Pillow resizer would give instead).

LANCZOS = Image.Resampling.LANCZOS


def tv_resize(arr: np.ndarray, w: int, h: int) -> np.ndarray:
    """What SmolVLM's torchvision backend does: tvF.resize on a uint8 CHW CPU tensor, LANCZOS, antialias."""
    from torchvision.transforms.v2 import functional as tvF
    t = torch.from_numpy(np.array(arr, copy=True)).permute(2, 0, 1).contiguous()
    out = tvF.resize(t, [h, w], interpolation=tvF.InterpolationMode.LANCZOS, antialias=True)
    return out.permute(1, 2, 0).contiguous().numpy()


def pil_resize(arr: np.ndarray, w: int, h: int) -> np.ndarray:
    """Pillow's own one-call resize (the pinned Pillow 13 picks its pass order itself)."""
    return np.asarray(Image.fromarray(np.ascontiguousarray(arr)).resize((w, h), LANCZOS))


def pil_resize_hfirst(arr: np.ndarray, w: int, h: int) -> np.ndarray:
    """Pillow's 8-bit passes forced horizontal-then-vertical (Pillow <= 12.1 order) via two single-axis calls."""
    ih, iw = arr.shape[:2]
    im = Image.fromarray(np.ascontiguousarray(arr))
    if w != iw:
        im = im.resize((w, ih), LANCZOS)
    if h != ih:
        im = im.resize((w, h), LANCZOS)
    return np.asarray(im)


def pillow13_vertical_first(iw, ih, ow, oh) -> bool:
    # Sources/VidLMMedia/Preprocess/ResamplePassOrder.swift (.pillow13), tools/parity/make_preprocess_fixtures.py
    return (ih - oh) > 0 and (ih - oh) > (iw - ow) * 2


def image_chain(arr: np.ndarray, split: bool, resize, longest=128, tile=64):
    """SmolVLMImageProcessor._preprocess for one image, on uint8 HWC arrays with `resize`.
    Returns (tiles in output order, steps [(input, (w, h), output)], rows, cols)."""
    from transformers.models.smolvlm.image_processing_smolvlm import (
        _resize_output_size_rescale_to_max_len, _resize_output_size_scale_below_upper_bound, MAX_IMAGE_SIZE)
    steps = []

    def do(a, w, h):
        if (a.shape[0], a.shape[1]) == (h, w):
            return a  # torchvision (and PIL) return the input unchanged for the same size
        out = resize(a, w, h)
        steps.append((a, (w, h), out))
        return out

    ih, iw = arr.shape[:2]
    h1, w1 = _resize_output_size_rescale_to_max_len(ih, iw, max_len=longest)
    h1, w1 = _resize_output_size_scale_below_upper_bound(h1, w1, max_len=MAX_IMAGE_SIZE)
    a1 = do(arr, w1, h1)
    if not split:
        return [do(a1, tile, tile)], steps, 0, 0, a1
    aspect = w1 / h1
    if w1 >= h1:
        w2 = math.ceil(w1 / tile) * tile
        h2 = math.ceil(int(w2 / aspect) / tile) * tile
    else:
        h2 = math.ceil(h1 / tile) * tile
        w2 = math.ceil(int(h2 * aspect) / tile) * tile
    a2 = do(a1, w2, h2)
    if h2 > tile or w2 > tile:
        rows, cols = math.ceil(h2 / tile), math.ceil(w2 / tile)
        tiles = [a2[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] for r in range(rows) for c in range(cols)]
        return tiles + [do(a2, tile, tile)], steps, rows, cols, a1
    return [a2], steps, 0, 0, a1


def video_chain(frames: np.ndarray, resize, longest=128, tile=64):
    """SmolVLMVideoProcessor.resize per frame: longest edge -> `longest` (odd short side +1), then tile x tile."""
    th, tw = frames.shape[1:3]
    if tw >= th:
        w1, h1 = longest, int(longest / (tw / th))
        h1 += h1 % 2
    else:
        h1, w1 = longest, int(longest * (tw / th))
        w1 += w1 % 2
    first = np.stack([resize(f, w1, h1) for f in frames])
    second = np.stack([resize(f, tile, tile) for f in first])
    steps = [(frames[i], (w1, h1), first[i]) for i in range(len(frames))]
    steps += [(first[i], (tile, tile), second[i]) for i in range(len(frames))]
    return list(second), steps, first


def normalized(tiles) -> torch.Tensor:
    """Fused rescale + normalize as transformers' torchvision backend does it: (x - 127.5) / 127.5 in f32."""
    t = torch.from_numpy(np.stack(tiles)).permute(0, 3, 1, 2).to(torch.float32)
    mean = torch.tensor([0.5] * 3) * (1.0 / (1 / 255))
    std = torch.tensor([0.5] * 3) * (1.0 / (1 / 255))
    return (t - mean[:, None, None]) / std[:, None, None]


def diff_stats(a: np.ndarray, b: np.ndarray) -> dict:
    d = np.abs(a.astype(np.int64) - b.astype(np.int64))
    return {"max_abs_uint8": int(d.max()), "mismatched_fraction": round(float((d != 0).mean()), 6)}


def pil_comparison(steps, tv_tiles, pv: torch.Tensor, pil_chain_tiles, hfirst_chain_tiles) -> dict:
    """Each torchvision step redone by Pillow on the same input, and whole chains by Pillow vs transformers."""
    per_step = []
    seen = set()
    for src, (w, h), out in steps:
        key = (src.shape[:2], (h, w))
        ih, iw = src.shape[:2]
        p = np.stack([pil_resize(src, w, h)])
        q = np.stack([pil_resize_hfirst(src, w, h)])
        entry = {"from_hw": [ih, iw], "to_hw": [h, w],
                 "pillow13_vertical_first": pillow13_vertical_first(iw, ih, w, h),
                 "pillow": diff_stats(p[0], out), "pillow_horizontal_first": diff_stats(q[0], out)}
        if key in seen:  # video: one entry per frame and step, merged by size
            prev = next(e for e in per_step if (tuple(e["from_hw"]), tuple(e["to_hw"])) == (tuple(key[0]), key[1]))
            for k in ("pillow", "pillow_horizontal_first"):
                prev[k]["max_abs_uint8"] = max(prev[k]["max_abs_uint8"], entry[k]["max_abs_uint8"])
                prev[k]["mismatched_fraction"] = max(prev[k]["mismatched_fraction"], entry[k]["mismatched_fraction"])
            continue
        seen.add(key)
        per_step.append(entry)
    tv_u8 = np.stack(tv_tiles)
    assert torch.equal(normalized(tv_tiles), pv), "replayed torchvision chain != transformers pixel_values"
    return {
        "steps_same_input": per_step,
        "chain_pixel_values": {
            "pillow": {**diff_stats(np.stack(pil_chain_tiles), tv_u8),
                       "pixel_values_max_abs": float((normalized(pil_chain_tiles) - pv).abs().max())},
            "pillow_horizontal_first": {**diff_stats(np.stack(hfirst_chain_tiles), tv_u8),
                                        "pixel_values_max_abs": float((normalized(hfirst_chain_tiles) - pv).abs().max())},
        },
    }


# ---------------------------------------------------------------------------------------------
# Cases.

def image_case(name, processor, model, tokenizer, image: Image.Image, split: bool):
    folder = OUT / "cases" / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "input.png"
    image.save(path, optimize=True)
    text = "What is in this image?"
    messages = [{"role": "user", "content": [{"type": "image", "path": str(path)}, {"type": "text", "text": text}]}]
    kwargs = {} if split else {"processor_kwargs": {"do_image_splitting": False}}
    how = ("processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True, "
           "return_tensors='pt'" + ("" if split else ", processor_kwargs={'do_image_splitting': False}") + ")")
    inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                           return_tensors="pt", **kwargs)
    facts = processor_facts(processor, inputs, messages, tokenizer)
    # rows/cols as the image processor computed them (the processor uses and then drops them)
    loaded = Image.open(path)
    ip_out = processor.image_processor(images=[[loaded]], return_row_col_info=True, return_tensors="pt",
                                       **kwargs.get("processor_kwargs", {}))
    assert torch.equal(ip_out["pixel_values"], inputs["pixel_values"])
    pv = squeeze_batch(inputs["pixel_values"])
    pam = squeeze_batch(inputs["pixel_attention_mask"])

    arr = np.asarray(loaded.convert("RGB"))
    tv_tiles, steps, rows, cols, first = image_chain(arr, split, tv_resize)
    assert (rows, cols) == (ip_out["rows"][0][0], ip_out["cols"][0][0])
    pil_tiles, _, _, _, _ = image_chain(arr, split, pil_resize)
    hf_tiles, _, _, _, _ = image_chain(arr, split, pil_resize_hfirst)
    comparison = pil_comparison(steps, tv_tiles, pv, pil_tiles, hf_tiles)
    pil_proc = SmolVLMImageProcessorPil(**image_processor_kwargs())(
        images=[[loaded]], do_image_splitting=split, return_tensors="pt")["pixel_values"][0]
    comparison["SmolVLMImageProcessorPil_vs_torchvision_pixel_values_max_abs"] = float((pil_proc - pv).abs().max())
    # The PIL backend normalizes unfused ((x / 255 - 0.5) / 0.5): compare its bytes, and the f32 residue.
    pil_proc_u8 = (pil_proc * 127.5 + 127.5).round().to(torch.int64)
    comparison["SmolVLMImageProcessorPil_bytes_equal_pillow_chain"] = bool(torch.equal(
        pil_proc_u8, torch.from_numpy(np.stack(pil_tiles)).permute(0, 3, 1, 2).to(torch.int64)))
    comparison["SmolVLMImageProcessorPil_normalize_vs_fused_max_abs"] = float(
        (pil_proc - normalized(pil_tiles)).abs().max())

    res = run_model(model, dict(inputs), tokenizer)
    meta = {
        **facts,
        "messages": [{"role": "user", "content": [{"type": "image", "path": rel(path)}, {"type": "text", "text": text}]}],
        "input_image": {"file": "input.png", "width": image.width, "height": image.height},
        "how_called": how,
        "do_image_splitting": split,
        "rows": rows,
        "cols": cols,
        "resize_chain_hw": [[arr.shape[0], arr.shape[1]]] + [[s[1][1], s[1][0]] for s in steps],
        "resized_uint8_shape": list(first.shape),
        "pixel_values_shape": list(pv.shape),
        "pixel_values_order": ("tiles row-major (row 1 col 1, row 1 col 2, ...), then the global image" if split
                               else "the single image squared to max_image_size"),
        "pixel_attention_mask_all_ones": bool(pam.eq(1).all()),
        "pil_vs_torchvision": comparison,
        **model_facts(res, tokenizer),
    }
    save_case(name, meta, {
        "pixel_values": pv.float(), "pixel_attention_mask": pam.to(torch.uint8),
        "resized_uint8": torch.from_numpy(first.copy()),
        "vision_hidden": res["vision_hidden"], "connector": res["connector"], "logits_last": res["logits_last"],
    })
    return meta, inputs


def model_facts(res, tokenizer) -> dict:
    return {
        "generated_ids": res["generated_ids"],
        "generated_text": tokenizer.decode(res["generated_ids"], skip_special_tokens=False),
        "min_greedy_margin": res["min_greedy_margin"],
        "first_eos_step": res["first_eos_step"],
        "vision_hidden_shape": list(res["vision_hidden"].shape),
        "connector_shape": list(res["connector"].shape),
    }


def video_case(processor, model, tokenizer):
    text = "Describe the video."
    messages = [{"role": "user", "content": [{"type": "video", "path": str(VIDEO)}, {"type": "text", "text": text}]}]
    inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                           return_tensors="pt")
    facts = processor_facts(processor, inputs, messages, tokenizer)
    pv = squeeze_batch(inputs["pixel_values"])
    pam = squeeze_batch(inputs["pixel_attention_mask"])

    # The video processor alone, as apply_chat_template drives it: decode + sample with torchcodec.
    vp = processor.video_processor
    sampled = vp(videos=[str(VIDEO)], return_metadata=True, return_tensors="pt", num_frames=vp.num_frames,
                 fps=vp.fps, do_sample_frames=True)
    assert torch.equal(sampled["pixel_values"], inputs["pixel_values"])
    md = sampled["video_metadata"][0]
    indices = [int(i) for i in md.frames_indices]
    from torchcodec.decoders import VideoDecoder
    dec = VideoDecoder(str(VIDEO), seek_mode="exact", num_ffmpeg_threads=0, device="cpu")
    frames_chw = dec.get_frames_at(indices=indices).data.contiguous()  # [T, 3, H, W] uint8, what transformers got
    # The processor on exactly those uint8 frames (no sampling) gives the same pixel values.
    again = vp(videos=[frames_chw], do_sample_frames=False, return_tensors="pt")
    assert torch.equal(again["pixel_values"], inputs["pixel_values"])
    frames = frames_chw.permute(0, 2, 3, 1).contiguous().numpy()

    tv_tiles, steps, first = video_chain(frames, tv_resize)
    pil_tiles, _, _ = video_chain(frames, pil_resize)
    hf_tiles, _, _ = video_chain(frames, pil_resize_hfirst)
    comparison = pil_comparison(steps, tv_tiles, pv, pil_tiles, hf_tiles)

    res = run_model(model, dict(inputs), tokenizer)
    m = dec.metadata
    meta = {
        **facts,
        "messages": [{"role": "user", "content": [{"type": "video", "path": rel(VIDEO)}, {"type": "text", "text": text}]}],
        "how_called": "processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, "
                      "return_dict=True, return_tensors='pt')",
        "video": rel(VIDEO),
        "video_sha256": hashlib.sha256(VIDEO.read_bytes()).hexdigest(),
        "sampled_frame_indices": indices,
        "video_metadata": {
            "fps": md.fps, "total_num_frames": md.total_num_frames, "duration": md.duration,
            "width": md.width, "height": md.height, "video_backend": md.video_backend,
            "frames_indices": indices, "timestamps": md.timestamps, "sampled_fps": md.sampled_fps,
            "python_types": {"fps": type(md.fps).__name__, "duration": type(md.duration).__name__},
        },
        "torchcodec_metadata": {
            "seek_mode": "exact", "num_frames": m.num_frames, "num_frames_from_header": m.num_frames_from_header,
            "num_frames_from_content": m.num_frames_from_content, "average_fps": m.average_fps,
            "average_fps_from_header": m.average_fps_from_header, "duration_seconds": m.duration_seconds,
            "duration_seconds_from_header": m.duration_seconds_from_header,
            "begin_stream_seconds": m.begin_stream_seconds, "end_stream_seconds": m.end_stream_seconds,
        },
        "sample_frames_args": {"num_frames": vp.num_frames, "fps": vp.fps, "skip_secs": 1},
        "resize_chain_hw": [list(frames.shape[1:3]), list(first.shape[1:3]), [64, 64]],
        "resize_chain_note": "decoded -> longest edge 128 (aspect kept, short side int() then +1 if odd) -> squared "
                             "to max_image_size 64 (aspect not kept); both torchvision LANCZOS (antialias) on uint8 "
                             "CPU tensors, uint8 out; then (x - 127.5) / 127.5 in f32. Frames are never split.",
        "pixel_values_equal_processing_frames_uint8": True,
        "pixel_values_shape": list(pv.shape),
        "pixel_attention_mask_all_ones": bool(pam.eq(1).all()),
        "pil_vs_torchvision": comparison,
        **model_facts(res, tokenizer),
    }
    save_case("video", meta, {
        "pixel_values": pv.float(), "pixel_attention_mask": pam.to(torch.uint8),
        "frames_uint8": torch.from_numpy(frames.copy()), "resized_uint8": torch.from_numpy(first.copy()),
        "vision_hidden": res["vision_hidden"], "connector": res["connector"], "logits_last": res["logits_last"],
    })
    return meta


# ---------------------------------------------------------------------------------------------
# Folders.

def processor_settings(p) -> dict:
    out = {}
    for attr in ("image_processor", "video_processor"):
        d = getattr(p, attr).to_dict()
        d.pop("_processor_class", None)
        d.pop("processor_class", None)
        out[attr] = (type(getattr(p, attr)).__name__, d)
    out["image_seq_len"] = p.image_seq_len
    out["chat_template"] = p.chat_template
    out["tokens"] = {k: getattr(p, k) for k in ("image_token", "fake_image_token", "global_image_token",
                                                  "end_of_utterance_token", "video_token", "image_token_id")}
    out["vocab"] = p.tokenizer.get_vocab()
    out["special"] = (p.tokenizer.bos_token, p.tokenizer.eos_token, p.tokenizer.pad_token)
    return out


def assert_same_settings(a, b, what):
    sa, sb = processor_settings(a), processor_settings(b)
    bad = [k for k in sa if sa[k] != sb[k]]
    assert not bad, (what, bad, [(sa[k], sb[k]) for k in bad if k not in ("vocab", "chat_template")])


# tokenizer_config.json as SmolVLM2 checkpoints publish it (transformers 4.x era): the class named
# GPT2Tokenizer, the multimodal tokens both in `additional_special_tokens` and as the named dict
# `extra_special_tokens` (video_token added here; the processor defaults it to "<video>" anyway).
LEGACY_TOKENIZER_CONFIG = {
    "add_prefix_space": False,
    "additional_special_tokens": ["<fake_token_around_image>", "<image>", "<end_of_utterance>"],
    "bos_token": "<|im_start|>",
    "clean_up_tokenization_spaces": False,
    "eos_token": "<end_of_utterance>",
    "extra_special_tokens": dict(NAMED_TOKENS),
    "legacy": False,
    "model_max_length": 8192,
    "pad_token": "<|im_end|>",
    "processor_class": "SmolVLMProcessor",
    "tokenizer_class": "GPT2Tokenizer",
    "unk_token": None,
}


def write_legacy(processor, model):
    if LEGACY.exists():
        shutil.rmtree(LEGACY)
    LEGACY.mkdir(parents=True)
    model.save_pretrained(LEGACY)
    # config.json in the 4.x shape published checkpoints have: rope_theta flat in text_config (transformers 5
    # writes rope_parameters), pad_token_id (5 writes _pad_token_id), torch_dtype (5 writes dtype).
    cfg = json.loads((LEGACY / "config.json").read_text())
    cfg["pad_token_id"] = cfg.pop("_pad_token_id")
    for c in (cfg, cfg["text_config"], cfg["vision_config"]):
        if "dtype" in c:
            c["torch_dtype"] = c.pop("dtype")
    rope = cfg["text_config"].pop("rope_parameters")
    assert rope == {"rope_theta": 100000.0, "rope_type": "default"}, rope
    cfg["text_config"]["rope_theta"] = rope["rope_theta"]
    cfg["transformers_version"] = "4.50.0.dev0"
    write_json(LEGACY / "config.json", cfg)
    a = SmolVLMConfig.from_pretrained(OUT).to_dict()
    b = SmolVLMConfig.from_pretrained(LEGACY).to_dict()
    for d in (a, b):
        for c in (d, d["text_config"], d["vision_config"]):
            c.pop("transformers_version", None)
            c.pop("dtype", None)
    assert a == b, {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}
    shutil.copy(OUT / "tokenizer.json", LEGACY / "tokenizer.json")
    write_json(LEGACY / "tokenizer_config.json", LEGACY_TOKENIZER_CONFIG)
    ip = processor.image_processor.to_dict()
    ip["processor_class"] = "SmolVLMProcessor"
    write_json(LEGACY / "preprocessor_config.json", ip)
    vp = processor.video_processor.to_dict()
    vp["processor_class"] = "SmolVLMProcessor"
    write_json(LEGACY / "video_preprocessor_config.json", vp)
    write_json(LEGACY / "chat_template.json", {"chat_template": processor.chat_template})
    write_json(LEGACY / "processor_config.json", {"image_seq_len": processor.image_seq_len,
                                                  "processor_class": "SmolVLMProcessor"})


def video_fallback_check() -> dict:
    """Without video_preprocessor_config.json, where do the video settings come from?"""
    with tempfile.TemporaryDirectory() as d:
        for f in LEGACY.iterdir():
            if f.name not in ("video_preprocessor_config.json", "model.safetensors"):
                shutil.copy(f, d)
        ip = json.loads((LEGACY / "preprocessor_config.json").read_text())
        ip["video_sampling"] = {"fps": 1, "max_frames": 8, "video_size": {"longest_edge": 128}}
        (pathlib.Path(d) / "preprocessor_config.json").write_text(json.dumps(ip))
        p = AutoProcessor.from_pretrained(d)
        vp = p.video_processor
        return {"video_processor_class": type(vp).__name__, "num_frames": vp.num_frames, "fps": vp.fps,
                "size": dict(vp.size), "max_image_size": dict(vp.max_image_size),
                "do_sample_frames": vp.do_sample_frames, "resample": int(vp.resample)}


def main():
    transformers.logging.set_verbosity_error()
    torch.manual_seed(SEED)
    tokenizer = build_tokenizer()
    config = build_config(tokenizer)
    model = build_model(config)
    processor = build_processor(tokenizer)

    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    model.save_pretrained(OUT)
    processor.save_pretrained(OUT)

    # The oracle is what AutoProcessor / from_pretrained give back from the saved folder.
    loaded = AutoProcessor.from_pretrained(OUT)
    assert_same_settings(processor, loaded, "smolvlm_tiny round trip")
    reloaded = SmolVLMForConditionalGeneration.from_pretrained(OUT).to(torch.float32).eval()
    sd, sd2 = model.state_dict(), reloaded.state_dict()
    assert sd.keys() == sd2.keys() and all(torch.equal(sd[k], sd2[k]) for k in sd)
    model = reloaded
    write_legacy(loaded, model)
    legacy = AutoProcessor.from_pretrained(LEGACY)
    assert_same_settings(loaded, legacy, "legacy folder")
    tok = loaded.tokenizer

    enc = tok("hello world")["input_ids"]
    bos_added = bool(enc) and enc[0] == tok.bos_token_id
    split_image = make_image(100, 61, seed=0.0)
    nosplit_image = make_image(70, 111, seed=1.3)

    split_meta, split_inputs = image_case("image_split", loaded, model, tok, split_image, split=True)
    nosplit_meta, nosplit_inputs = image_case("image_nosplit", loaded, model, tok, nosplit_image, split=False)
    video_meta = video_case(loaded, model, tok)

    # The same cases through the legacy folder's processor: identical ids and pixels.
    for meta, name in ((split_meta, "image_split"), (nosplit_meta, "image_nosplit"), (video_meta, "video")):
        msgs = json.loads(json.dumps(meta["messages"]))
        for m in msgs:
            for c in m["content"]:
                if "path" in c:
                    c["path"] = str(ROOT / c["path"])
        kw = {"processor_kwargs": {"do_image_splitting": False}} if name == "image_nosplit" else {}
        out = legacy.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=True,
                                         return_tensors="pt", **kw)
        assert out["input_ids"][0].tolist() == meta["input_ids"], name
        expected = OUT / "cases" / name / "expected.safetensors"
        from safetensors.torch import load_file
        assert torch.equal(out["pixel_values"][0], load_file(str(expected))["pixel_values"]), name
    # do_image_splitting=False as a plain **kwarg instead of processor_kwargs: same result.
    msgs = [{"role": "user", "content": [{"type": "image", "path": str(OUT / "cases/image_nosplit/input.png")},
                                         {"type": "text", "text": "What is in this image?"}]}]
    via_kwarg = loaded.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=True,
                                           return_tensors="pt", do_image_splitting=False)
    nosplit_kwarg_same = (torch.equal(via_kwarg["input_ids"], nosplit_inputs["input_ids"])
                          and torch.equal(via_kwarg["pixel_values"], nosplit_inputs["pixel_values"]))
    assert nosplit_kwarg_same

    def summary(meta, keys):
        return {k: meta[k] for k in keys}

    img_keys = ("rows", "cols", "resize_chain_hw", "num_tokens", "num_image_tokens", "pixel_values_shape")
    oracle = {
        "generator": "tools/parity/make_smolvlm_fixtures.py",
        "versions": {"python": sys.version.split()[0], "transformers": transformers.__version__,
                     "torch": torch.__version__, "torchvision": torchvision.__version__,
                     "torchcodec": torchcodec.__version__, "num2words": _version("num2words"),
                     "tokenizers": _version("tokenizers"), "pillow": Image.__version__},
        "seed": SEED,
        "model": {"class": "SmolVLMForConditionalGeneration", "dtype": "float32",
                  "init": "default init, then every weight redrawn (see build_model) so logits have O(1) margins",
                  "vocab_size": len(tok), "image_seq_len": loaded.image_seq_len},
        "processor_class": type(loaded).__name__,
        "image_processor_class": type(loaded.image_processor).__name__,
        "image_processor_backend": loaded.image_processor.backend,
        "video_processor_class": type(loaded.video_processor).__name__,
        "autoprocessor_default": "AutoProcessor.from_pretrained gives the torchvision SmolVLMImageProcessor (not "
                                 "SmolVLMImageProcessorPil) for image_processor_type 'SmolVLMImageProcessor', in "
                                 "both folders; video processing is torchvision-only.",
        "legacy_folder": {
            "files": sorted(p.name for p in LEGACY.iterdir()),
            "image_processor_class": type(legacy.image_processor).__name__,
            "video_processor_class": type(legacy.video_processor).__name__,
            "tokenizer_class_loaded": type(legacy.tokenizer).__name__,
            "settings_identical_to_smolvlm_tiny": True,
            "input_ids_and_pixel_values_identical_on_all_cases": True,
            "without_video_preprocessor_config": video_fallback_check(),
        },
        "saved_tokenizer_class": type(tok).__name__,
        "resize": {
            "backend": "torchvision.transforms.v2.functional.resize on uint8 CHW CPU tensors, "
                       "interpolation=InterpolationMode.LANCZOS, antialias=True, output uint8 (rounded). "
                       "transformers maps PILImageResampling.LANCZOS (resample: 1) to it; LANCZOS is honoured "
                       "only on CPU with torchvision >= 0.27, otherwise transformers falls back to BICUBIC.",
            "normalize": "after all resizes: f32, fused rescale+normalize (x - 0.5*255) / (0.5*255) = "
                         "(x - 127.5) / 127.5",
            "image_chain": "1) longest edge -> size.longest_edge (128), UPSCALING too; short side int(long * "
                           "ratio), +1 if odd. 2a) do_image_splitting: resize to multiples of M = "
                           "max_image_size (64): landscape w2 = ceil(w1/M)*M, h2 = ceil(int(w2/aspect)/M)*M "
                           "(portrait mirrored), aspect not kept; if h2 > M or w2 > M cut M x M tiles row-major "
                           "and append the global image = that picture resized to M x M; rows = h2/M, cols = w2/M. "
                           "2b) else resize straight to M x M (rows = cols = 0).",
            "video_chain": "per frame: longest edge -> video_sampling.video_size (128), short side int(), +1 if "
                           "odd; then resize to M x M; never split.",
            "same_size_resize": "skipped (torchvision returns the input when the size does not change)",
        },
        "bos_added_by_tokenizer_on_encode": bos_added,
        "bos_in_prompt": "the chat template writes <|im_start|> itself; the prompt starts with bos_token so "
                         "ProcessorMixin.apply_chat_template passes add_special_tokens=False (this tokenizer would "
                         "not add one anyway: ByteLevel post-processor only, like SmolLM2's)",
        "token_ids": {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TRAINED + SPECIAL_ADDED[:5]
                      + ["<row_1_col_1>", "<row_6_col_6>"]},
        "chat_template_saved": "processing_smolvlm.DEFAULT_CHAT_TEMPLATE (chat_template.jinja in smolvlm_tiny, "
                               "chat_template.json in the legacy folder)",
        "pil_vs_torchvision": {
            "summary": PIL_SUMMARY,
            "image_split": split_meta["pil_vs_torchvision"],
            "image_nosplit": nosplit_meta["pil_vs_torchvision"],
            "video": video_meta["pil_vs_torchvision"],
        },
        "nosplit_via_plain_kwarg_identical": nosplit_kwarg_same,
        "cases": {
            "image_split": summary(split_meta, img_keys),
            "image_nosplit": summary(nosplit_meta, img_keys),
            "video": summary(video_meta, ("sampled_frame_indices", "video_metadata", "resize_chain_hw", "num_tokens",
                                          "num_image_tokens", "pixel_values_shape")),
        },
        "generation": f"greedy, {NEW_TOKENS} new tokens with EOS disabled (GenerationConfig(eos_token_id=None)), so "
                      "generated_ids is the pure argmax chain; checked equal to a cache-free argmax loop and "
                      "generated_ids[0] == argmax(logits_last). first_eos_step: where the argmax first hit "
                      "<end_of_utterance> (null: never); min_greedy_margin: smallest top1-top2 logit gap.",
        "expected_tensors": {
            "pixel_values": "f32 [N, 3, 64, 64], the processor's output with the batch dim squeezed",
            "pixel_attention_mask": "[N, 64, 64] 0/1 stored as U8 (transformers returns int64)",
            "resized_uint8": "uint8 HWC output of the first resize (images [H1, W1, 3], video [T, H1, W1, 3])",
            "frames_uint8": "video only: uint8 [T, H, W, 3], torchcodec's decoded frames at the sampled indices",
            "vision_hidden": "vision_model last_hidden_state (after post_layernorm) [N, 64, 32]",
            "connector": "connector output (pixel shuffle x2 + projection) [N, 16, 64]",
            "logits_last": "logits at the last prompt position [vocab]",
        },
        "quirks": QUIRKS,
    }
    write_json(OUT / "oracle.json", oracle)
    total = sum(p.stat().st_size for d in (OUT, LEGACY) for p in d.rglob("*") if p.is_file())
    print(f"wrote {rel(OUT)} and {rel(LEGACY)}: {total} bytes")
    assert total < 3_000_000, total


def _version(mod):
    from importlib.metadata import version
    return version(mod)


PIL_SUMMARY = (
    "torchvision's uint8 LANCZOS always runs the horizontal pass first and differs from Pillow's own 8-bit passes "
    "by at most 1 level on a fraction of a percent of samples when both run in the same order "
    "(steps_same_input.pillow_horizontal_first). Pillow 13 runs the vertical pass first when "
    "inH - outH > 0 and inH - outH > 2 * (inW - outW); then the intermediate is clamped at a different place and "
    "differences reach several levels (image_nosplit's 80x128 -> 64x64 step). A Swift resizer matching "
    "transformers should therefore be Pillow-exact with ResamplePassOrder.horizontalFirst and tolerate +-1 "
    "residue; SmolVLMImageProcessorPil (PIL backend, Pillow 13 order) is not what AutoProcessor uses.")

QUIRKS = [
    "SmolVLMProcessor.apply_chat_template replaces chat_template with processing_smolvlm.DEFAULT_CHAT_TEMPLATE "
    "whenever any message content item has type 'video' and no chat_template argument is passed: the saved "
    "template is ignored for video conversations (here it is the same text).",
    "SmolVLMProcessor.apply_chat_template always injects num_frames = video_processor.num_frames "
    "(video_sampling.max_frames) and fps = video_processor.fps (video_sampling.fps); ProcessorMixin then sets "
    "do_sample_frames=True because fps/num_frames are present, so a video path is always sampled, whatever "
    "do_sample_frames the config says.",
    "Sampling (SmolVLMVideoProcessor.sample_frames): n = min(int(round(fps * duration)), max_frames), at least 1 "
    "(Python round: half to even); start, end = 0, total-1, unless duration - 2*skip_secs(=1) > max_frames*fps: "
    "then start = int(1*video_fps), end = int(total - 1*video_fps), clamped to total-1 (and back to 0, total-1 if "
    "start >= end); indices = np.unique(np.linspace(start, end, n, dtype=int)) (float linspace truncated).",
    "Video metadata comes from torchcodec VideoDecoder(seek_mode='exact') (a scan): fps = average_fps = "
    "num_frames / (end_stream_seconds - begin_stream_seconds), duration = duration_seconds = end - begin from the "
    "scan, total_num_frames = num_frames (content). For this clip they come back as Python ints (25, 4).",
    "Frame timestamps = frame_index / fps (float seconds), printed f'{int(t // 60):02d}:{int(t % 60):02d}' "
    "(truncated: 3.96 s -> '00:03').",
    "Intro duration = int(metadata.duration) (truncated; int(last timestamp) if duration is None), printed with "
    "str(timedelta(seconds=...)) -> 'H:MM:SS' without zero-padded hours ('0:00:04'); the frame count is spelled "
    "with num2words(n) ('four').",
    "<video> is replaced by: 'You are provided the following series of {words} frames from a {H:MM:SS} [H:MM:SS] "
    "video.\\n' then per frame '\\nFrame from {MM:SS}:' + '<fake_token_around_image><global-img>' + "
    "'<image>' * image_seq_len + '<fake_token_around_image>', then '\\n\\n' (so the text after <video> follows a "
    "blank line).",
    "Split image prompt: for each row r, for each col c: '<fake_token_around_image><row_r_col_c>' + '<image>' * seq, "
    "then '\\n' after each row; then '\\n<fake_token_around_image><global-img>' + '<image>' * seq + "
    "'<fake_token_around_image>'. Only the final global image is closed by a <fake_token_around_image>. Unsplit: "
    "'<fake_token_around_image><global-img>' + '<image>' * seq + '<fake_token_around_image>'.",
    "The template writes 'User:' (no space) when the message's FIRST content item is an image and 'User: ' "
    "otherwise (a video-first message gets 'User: '); the generation prompt is 'Assistant:' (no trailing space).",
    "Images are upscaled too (the longest edge is always set to size.longest_edge) and the split resize "
    "stretches to multiples of max_image_size; videos are resized twice and never split.",
    "pixel_attention_mask is all ones here (one image per sample, all tiles the same size); "
    "SmolVLMModel.get_image_features drops any image whose pixel_values are all exactly 0.0 (treated as padding).",
    "do_image_splitting=False can be given as processor_kwargs={'do_image_splitting': False} or as a plain "
    "keyword to apply_chat_template: same ids and pixels.",
    "AutoProcessor falls back to preprocessor_config.json for the video processor when "
    "video_preprocessor_config.json is absent (video_sampling there gives num_frames/fps/size; do_sample_frames "
    "is then False from the class default, which apply_chat_template overrides anyway).",
    "transformers 5 save_pretrained writes the tokenizer attributes flat in tokenizer_config.json "
    "(image_token, fake_image_token, ... as top-level keys, extra_special_tokens: [], tokenizer_class "
    "'TokenizersBackend'); published checkpoints (the legacy folder) carry them as the dict extra_special_tokens "
    "and say tokenizer_class 'GPT2Tokenizer'. transformers 5 ignores that class for model_type smolvlm "
    "(MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS -> TokenizersBackend, tokenizer.json used as is); without a "
    "config.json next to it, AutoTokenizer would build a GPT2Tokenizer, which replaces the pre-tokenizer with a "
    "plain ByteLevel (dropping the Digits split).",
    "transformers 5 config.json (smolvlm_tiny) writes text_config.rope_parameters {rope_theta, rope_type} and a "
    "top-level _pad_token_id and dtype; the 4.x shape (smolvlm_tiny_legacy, like published checkpoints) has "
    "text_config.rope_theta, pad_token_id and torch_dtype. Both load to the same SmolVLMConfig.",
]

if __name__ == "__main__":
    main()
