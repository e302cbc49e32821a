"""Builds the LLaVA-1.5 (model_type `llava`) parity fixtures (no downloads, deterministic):

    tools/.venv/bin/python tools/parity/make_llava_fixtures.py

The oracle is transformers 5.23 (tools/requirements.txt) with torchvision (the image processor's resize),
torchcodec (the frames of the clip case).

Writes
  Tests/Fixtures/parity/llava_tiny/         a tiny random LlavaForConditionalGeneration (CLIP tower, 3 layers,
                                            vision_feature_layer -2, strategy "default", 2-layer GELU projector,
                                            LLaMA decoder with GQA) + its LlavaProcessor, as transformers 5
                                            `save_pretrained` writes them; the chat template is the LLaVA-1.5
                                            one from the chat-template corpus (15-llava-1.5.jinja), the
                                            tokenizer the corpus's SentencePiece-style BPE
                                            (Tests/Fixtures/tokenizers/metaspace: Metaspace, byte fallback,
                                            "<s> $A" post-processor, `<image>` added).
      cases/<name>/meta.json                messages, prompt, input_ids, generated_ids, shapes
      cases/<name>/expected.safetensors     pixel_values, vision_features (the selected hidden layer, CLS
                                            dropped), projected, logits_last (+ frames: frames_uint8)
      cases/<name>/input.png                the image cases' input
  Tests/Fixtures/parity/llava_tiny_full/    the same shapes with strategy "full" (CLS kept), vision_feature_layer
                                            [-3, -1] (two layers concatenated) and no projector bias; one case.

Cases: image (100x61 PNG), image_pad (70x111 PNG with do_pad=True: padded to a square with the mean colour
before the resize), frames (three frames of Tests/Fixtures/media/cfr_bframes.mp4 as three images of one
message: what vidlm does with a clip for LLaVA-1.5, whose processor takes no video), full/image.
"""
from __future__ import annotations

import json
import math
import pathlib
import shutil
import sys

import numpy as np
import torch
import torchvision
import transformers
from PIL import Image, ImageDraw
from safetensors.torch import save_file
from tokenizers import AddedToken, Tokenizer
from transformers import (
    AutoProcessor,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaImageProcessor,
    LlavaProcessor,
    PreTrainedTokenizerFast,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
PARITY = ROOT / "Tests" / "Fixtures" / "parity"
OUT = PARITY / "llava_tiny"
FULL = PARITY / "llava_tiny_full"
VIDEO = ROOT / "Tests" / "Fixtures" / "media" / "cfr_bframes.mp4"
TOKENIZER = ROOT / "Tests" / "Fixtures" / "tokenizers" / "metaspace" / "tokenizer.json"
TEMPLATE = ROOT / "Tests" / "Fixtures" / "chat_templates" / "templates" / "15-llava-1.5.jinja"
SEED = 20261205
NEW_TOKENS = 24
# vidlm's uniform sampling of 3 frames from the 4 s, 25 fps clip (frame on screen at (i + 0.5) * 4/3 s).
FRAME_INDICES = [16, 50, 83]


def build_tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer.from_file(str(TOKENIZER))
    tok.add_special_tokens([AddedToken("<pad>", special=True, normalized=False)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", extra_special_tokens={"image_token": "<image>"},
                                   model_max_length=4096, clean_up_tokenization_spaces=False)


def build_config(tokenizer, full=False) -> LlavaConfig:
    ids = tokenizer.convert_tokens_to_ids
    text_config = dict(
        model_type="llama", hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, vocab_size=len(tokenizer), max_position_embeddings=1024, rope_theta=10000.0,
        rms_norm_eps=1e-5, tie_word_embeddings=False, hidden_act="silu",
        bos_token_id=ids("<s>"), eos_token_id=ids("</s>"), pad_token_id=ids("<pad>"),
    )
    vision_config = dict(
        model_type="clip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=3,
        num_attention_heads=4, num_channels=3, image_size=32, patch_size=8, hidden_act="quick_gelu",
        layer_norm_eps=1e-5, projection_dim=16,
    )
    return LlavaConfig(
        text_config=text_config, vision_config=vision_config, image_token_index=ids("<image>"),
        image_seq_length=16 + (1 if full else 0), projector_hidden_act="gelu",
        vision_feature_select_strategy="full" if full else "default",
        vision_feature_layer=[-3, -1] if full else -2, multimodal_projector_bias=not full,
        tie_word_embeddings=False, pad_token_id=ids("<pad>"),
    )


def build_model(config, seed) -> LlavaForConditionalGeneration:
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).to(torch.float32).eval()
    # Default init (std 0.02) gives near-uniform logits where greedy ties are fragile; widen the weights so
    # activations and logit margins are O(1) (norm weights get a random spread around 1).
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or "layernorm.weight" in name or "layer_norm" in name or "layrnorm.weight" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name or "position_embedding" in name or "class_embedding" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
    return model


def build_processor(tokenizer, full=False) -> LlavaProcessor:
    image_processor = LlavaImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                          do_pad=False)
    return LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=8,
                          vision_feature_select_strategy="full" if full else "default",
                          chat_template=TEMPLATE.read_text(), num_additional_image_tokens=1)


def make_image(width, height, seed) -> Image.Image:
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 255 * (x / max(width - 1, 1))
    gch = 255 * (y / max(height - 1, 1))
    b = 127.5 + 127.5 * np.sin(2 * np.pi * (x + 2 * y) / (width * 0.7) + seed)
    arr = np.stack([r, gch, b], axis=-1).round().clip(0, 255).astype(np.uint8)
    im = Image.fromarray(arr, "RGB")
    d = ImageDraw.Draw(im)
    d.rectangle([width // 8, height // 6, width // 8 + width // 4, height // 6 + height // 3], fill=(250, 250, 20))
    d.ellipse([width // 2, height // 2, width // 2 + width // 3, height // 2 + height // 3], fill=(10, 30, 200))
    d.line([(0, height - 1), (width - 1, 0)], fill=(0, 0, 0), width=1)
    return im


def jsonable(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    return v


def write_json(path, obj):
    path.write_text(json.dumps(jsonable(obj), indent=2, ensure_ascii=False) + "\n")


def rel(path) -> str:
    return str(pathlib.Path(path).resolve().relative_to(ROOT))


def greedy_manual(model, inputs, steps):
    """Greedy decoding without a cache (full forward each step): cross-checks generate()."""
    ids = inputs["input_ids"]
    out = []
    with torch.no_grad():
        for _ in range(steps):
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=inputs["pixel_values"],
                           use_cache=False).logits[0, -1]
            nxt = int(torch.argmax(logits))
            out.append(nxt)
            ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
    return out


def selected_features(model, pv):
    """The tower's selected layer(s) as LlavaModel.get_image_features picks them, before the projector."""
    cfg = model.config
    with torch.no_grad():
        out = model.model.vision_tower(pv, output_hidden_states=True, return_dict=True)
    layers = cfg.vision_feature_layer if isinstance(cfg.vision_feature_layer, list) else [cfg.vision_feature_layer]
    pool = [out.hidden_states[i] for i in layers]
    if cfg.vision_feature_select_strategy == "default":
        pool = [h[:, 1:] for h in pool]
    return torch.cat(pool, dim=-1)


def run_model(model, inputs, tokenizer):
    pv = inputs["pixel_values"]
    feats = selected_features(model, pv)
    with torch.no_grad():
        projected = model.model.multi_modal_projector(feats)
        via_model = model.model.get_image_features(pv, return_dict=True).pooler_output
        out = model(**inputs, use_cache=False)
    assert torch.equal(torch.cat(list(via_model), 0), projected.reshape(-1, projected.shape[-1]))
    logits_last = out.logits[0, -1].detach().clone()
    gen_config = transformers.GenerationConfig(
        do_sample=False, max_new_tokens=NEW_TOKENS, min_new_tokens=0, eos_token_id=None, bos_token_id=None,
        pad_token_id=tokenizer.pad_token_id, num_beams=1)
    with torch.no_grad():
        seq = model.generate(**inputs, generation_config=gen_config, output_scores=True, return_dict_in_generate=True)
    generated = seq.sequences[0, inputs["input_ids"].shape[1]:].tolist()
    assert len(generated) == NEW_TOKENS
    assert greedy_manual(model, inputs, NEW_TOKENS) == generated
    margins = [float(torch.topk(s[0], 2).values[0] - torch.topk(s[0], 2).values[1]) for s in seq.scores]
    assert generated[0] == int(torch.argmax(logits_last))
    return {"vision_features": feats, "projected": projected, "logits_last": logits_last,
            "generated_ids": generated, "min_greedy_margin": min(margins)}


def save_case(folder, name, meta, tensors):
    path = folder / "cases" / name
    path.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(path / "expected.safetensors"))
    write_json(path / "meta.json", meta)


def case(folder, name, processor, model, images, text, how, image_kwargs=None, extra=None, tensors=None):
    """images: list of (PIL image, saved path or None). One user message: every image, then the text."""
    content = [{"type": "image", "image": im} for im, _ in images] + [{"type": "text", "text": text}]
    messages = [{"role": "user", "content": content}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    if image_kwargs:
        # apply_chat_template has no per-call image-processor options here: the processor call it makes.
        inputs = processor(images=[im for im, _ in images], text=prompt, return_tensors="pt", **image_kwargs)
    else:
        inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                               return_tensors="pt")
        again = processor(images=[im for im, _ in images], text=prompt, return_tensors="pt")
        assert torch.equal(again["input_ids"], inputs["input_ids"]) and torch.equal(again["pixel_values"], inputs["pixel_values"])
    tok = processor.tokenizer
    ids = inputs["input_ids"][0].tolist()
    res = run_model(model, dict(inputs), tok)
    saved_messages = [{"role": "user", "content": [{"type": "image", **({"path": rel(p)} if p else {})} for _, p in images]
                       + [{"type": "text", "text": text}]}]
    meta = {
        "messages": saved_messages, "prompt": prompt, "how_called": how, "input_ids": ids,
        "num_tokens": len(ids), "num_image_tokens": ids.count(model.config.image_token_id),
        "bos_added": ids[0] == tok.bos_token_id,
        "pixel_values_shape": list(inputs["pixel_values"].shape),
        "vision_features_shape": list(res["vision_features"].shape),
        "projected_shape": list(res["projected"].shape),
        "generated_ids": res["generated_ids"],
        "generated_text": tok.decode(res["generated_ids"], skip_special_tokens=False),
        "min_greedy_margin": res["min_greedy_margin"],
        **(extra or {}),
    }
    save_case(folder, name, meta, {"pixel_values": inputs["pixel_values"].float(),
                                   "vision_features": res["vision_features"], "projected": res["projected"],
                                   "logits_last": res["logits_last"], **(tensors or {})})


def save_folder(folder, model, processor, model_cls=LlavaForConditionalGeneration):
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    loaded = AutoProcessor.from_pretrained(folder)
    reloaded = model_cls.from_pretrained(folder).to(torch.float32).eval()
    sd, sd2 = model.state_dict(), reloaded.state_dict()
    assert sd.keys() == sd2.keys() and all(torch.equal(sd[k], sd2[k]) for k in sd)
    return loaded, reloaded


def decode_frames(indices):
    from torchcodec.decoders import VideoDecoder
    dec = VideoDecoder(str(VIDEO), seek_mode="exact", num_ffmpeg_threads=0, device="cpu")
    return dec.get_frames_at(indices=indices).data.permute(0, 2, 3, 1).contiguous()  # [T, H, W, 3] uint8


def main():
    transformers.logging.set_verbosity_error()
    tokenizer = build_tokenizer()
    processor, model = save_folder(OUT, build_model(build_config(tokenizer), SEED), build_processor(tokenizer))

    a = make_image(100, 61, seed=0.0)
    b = make_image(70, 111, seed=1.3)
    for name, im in (("image", a), ("image_pad", b)):
        (OUT / "cases" / name).mkdir(parents=True, exist_ok=True)
        im.save(OUT / "cases" / name / "input.png", optimize=True)
    a = Image.open(OUT / "cases/image/input.png").convert("RGB")
    b = Image.open(OUT / "cases/image_pad/input.png").convert("RGB")
    case(OUT, "image", processor, model, [(a, OUT / "cases/image/input.png")], "What is in this image?",
         "processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True, "
         "return_tensors='pt')")
    case(OUT, "image_pad", processor, model, [(b, OUT / "cases/image_pad/input.png")], "Describe the picture.",
         "processor(images=[image], text=apply_chat_template(messages, add_generation_prompt=True, tokenize=False), "
         "do_pad=True, return_tensors='pt')", image_kwargs={"do_pad": True},
         extra={"do_pad": True, "pad_colour": [int(x * 255) for x in processor.image_processor.image_mean]})
    frames = decode_frames(FRAME_INDICES)
    images = [(Image.fromarray(f.numpy()), None) for f in frames]
    case(OUT, "frames", processor, model, images, "What happens in these frames?",
         "processor.apply_chat_template(messages, ...) with the three decoded frames as three image parts",
         extra={"video": rel(VIDEO), "frame_indices": FRAME_INDICES,
                "frames_note": "torchcodec VideoDecoder(seek_mode='exact').get_frames_at(indices) as PIL images"},
         tensors={"frames_uint8": frames})

    full_processor, full_model = save_folder(FULL, build_model(build_config(tokenizer, full=True), SEED + 7),
                                             build_processor(tokenizer, full=True))
    a = Image.open(OUT / "cases/image/input.png").convert("RGB")
    case(FULL, "image", full_processor, full_model, [(a, OUT / "cases/image/input.png")], "What is in this image?",
         "processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True, "
         "return_tensors='pt')")

    oracle = {
        "generator": "tools/parity/make_llava_fixtures.py",
        "versions": {"python": sys.version.split()[0], "transformers": transformers.__version__,
                     "torch": torch.__version__, "torchvision": torchvision.__version__},
        "seed": SEED,
        "weight_names": sorted({k.split(".layers.")[0] for k in model.state_dict()}),
        "image_processor_class": type(processor.image_processor).__name__,
        "resize": "LlavaImageProcessor (torchvision backend): optional pad to square with int(mean*255) per channel "
                  "(do_pad), resize shortest edge (long side int(size*long/short)) with torchvision BICUBIC antialias "
                  "on uint8, centre crop top=int((h-ch)/2), fused rescale+normalize in f32.",
        "generation": f"greedy, {NEW_TOKENS} new tokens with EOS disabled; checked against a cache-free argmax loop",
    }
    write_json(OUT / "oracle.json", oracle)
    total = sum(p.stat().st_size for d in (OUT, FULL) for p in d.rglob("*") if p.is_file())
    print(f"wrote {rel(OUT)} and {rel(FULL)}: {total} bytes")
    assert total < 2_500_000, total


if __name__ == "__main__":
    main()
