"""Builds the LLaVA-NeXT (model_type `llava_next`) parity fixtures (no downloads, deterministic):

    tools/.venv/bin/python tools/parity/make_llava_next_fixtures.py

The oracle is transformers 5.23 (`LlavaNextForConditionalGeneration`, `LlavaNextProcessor` with the torchvision
`LlavaNextImageProcessor`).

Writes Tests/Fixtures/parity/llava_next_tiny/: a tiny random LLaVA-NeXT (CLIP tower 32 px / 8 px patches,
vision_feature_layer -2, strategy "default", image_grid_pinpoints in 32 px tiles, image_newline) over a
Mistral decoder (GQA, sliding_window 64: the two-image prompt is longer than the window, so the window is
exercised), the LLaVA-1.5 test tokenizer (tools/parity/make_llava_fixtures.py) and a Mistral-style
"[INST] <image>\\n… [/INST]" chat template; cases/<name>/meta.json + expected.safetensors:
  two_images: a 100x61 and a 45x130 picture (different grids: 2x2 and 3x1 tiles) in one message. Per image: the
              best resolution, grid, tiles (pixel_values [1 + tiles, 3, 32, 32], base image first), image_sizes,
              its packed features (projected, unpadded, image_newline per row, base first) and token count; the
              prompt ids, last logits and 24 greedy ids (EOS disabled, checked against a cache-free loop).
  text_only:  the decoder alone past its sliding window (a long text prompt): last logits and greedy ids.
"""
from __future__ import annotations

import json
import math
import pathlib
import shutil
import sys

import torch
import transformers
from PIL import Image
from safetensors.torch import save_file
from transformers import (
    AutoProcessor,
    LlavaNextConfig,
    LlavaNextForConditionalGeneration,
    LlavaNextImageProcessor,
    LlavaNextProcessor,
)
from transformers.image_processing_utils import select_best_resolution

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_llava_fixtures import build_tokenizer, make_image, rel, write_json  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "parity" / "llava_next_tiny"
SEED = 20261207
NEW_TOKENS = 24
PINPOINTS = [[32, 64], [64, 32], [64, 64], [96, 32], [32, 96]]
TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}{{ '[INST] ' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}{%- else -%}"
    "{%- for part in message['content'] | selectattr('type', 'equalto', 'image') -%}{{ '<image>\\n' }}{%- endfor -%}"
    "{%- for part in message['content'] | selectattr('type', 'equalto', 'text') -%}{{ part['text'] }}{%- endfor -%}"
    "{%- endif -%}{{ ' [/INST]' }}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ ' ' + (message['content'] if message['content'] is string else message['content'][0]['text']) + eos_token }}"
    "{%- endif -%}{%- endfor -%}"
)


def build_model(tokenizer) -> LlavaNextForConditionalGeneration:
    ids = tokenizer.convert_tokens_to_ids
    config = LlavaNextConfig(
        text_config=dict(model_type="mistral", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, vocab_size=len(tokenizer),
                         max_position_embeddings=1024, rope_theta=10000.0, rms_norm_eps=1e-5, sliding_window=64,
                         tie_word_embeddings=False, hidden_act="silu", bos_token_id=ids("<s>"),
                         eos_token_id=ids("</s>"), pad_token_id=ids("<pad>")),
        vision_config=dict(model_type="clip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                           num_attention_heads=4, image_size=32, patch_size=8, hidden_act="quick_gelu",
                           layer_norm_eps=1e-5, projection_dim=16),
        image_token_index=ids("<image>"), image_grid_pinpoints=PINPOINTS, projector_hidden_act="gelu",
        vision_feature_select_strategy="default", vision_feature_layer=-2, tie_word_embeddings=False,
        pad_token_id=ids("<pad>"), image_seq_length=16)
    torch.manual_seed(SEED)
    model = LlavaNextForConditionalGeneration(config).to(torch.float32).eval()
    g = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or "layernorm.weight" in name or "layer_norm" in name or "layrnorm.weight" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name or "embedding" in name or "image_newline" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
    return model


def generate(model, inputs, tokenizer):
    gen = transformers.GenerationConfig(do_sample=False, max_new_tokens=NEW_TOKENS, min_new_tokens=0, eos_token_id=None,
                                        bos_token_id=None, pad_token_id=tokenizer.pad_token_id, num_beams=1)
    with torch.no_grad():
        seq = model.generate(**inputs, generation_config=gen, output_scores=True, return_dict_in_generate=True)
    out = seq.sequences[0, inputs["input_ids"].shape[1]:].tolist()
    # Cache-free argmax loop (the sliding window applied by the mask, not by a cache).
    ids, manual = inputs["input_ids"], []
    extra = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
    with torch.no_grad():
        for _ in range(NEW_TOKENS):
            nxt = int(torch.argmax(model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False, **extra).logits[0, -1]))
            manual.append(nxt)
            ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
    assert manual == out, (manual, out)
    margins = [float(torch.topk(s[0], 2).values[0] - torch.topk(s[0], 2).values[1]) for s in seq.scores]
    return out, min(margins)


def main():
    transformers.logging.set_verbosity_error()
    tokenizer = build_tokenizer()
    image_processor = LlavaNextImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                              image_grid_pinpoints=PINPOINTS)
    processor = LlavaNextProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=8,
                                   vision_feature_select_strategy="default", chat_template=TEMPLATE,
                                   num_additional_image_tokens=1)
    model = build_model(tokenizer)
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    model.save_pretrained(OUT)
    processor.save_pretrained(OUT)
    processor = AutoProcessor.from_pretrained(OUT)
    model = LlavaNextForConditionalGeneration.from_pretrained(OUT).to(torch.float32).eval()
    tok = processor.tokenizer

    folder = OUT / "cases" / "two_images"
    folder.mkdir(parents=True)
    paths = [folder / "a.png", folder / "b.png"]
    make_image(100, 61, 0.0).save(paths[0], optimize=True)
    make_image(45, 130, 2.1).save(paths[1], optimize=True)
    images = [Image.open(p).convert("RGB") for p in paths]
    text = "Compare the two pictures."
    messages = [{"role": "user", "content": [{"type": "image", "image": im} for im in images] + [{"type": "text", "text": text}]}]
    inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                           return_tensors="pt")
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    with torch.no_grad():
        packed = model.model.get_image_features(inputs["pixel_values"], inputs["image_sizes"], return_dict=True).pooler_output
        logits = model(**inputs, use_cache=False).logits[0, -1]
    ids = inputs["input_ids"][0].tolist()
    generated, margin = generate(model, dict(inputs), tok)
    per_image = []
    tensors = {"logits_last": logits}
    n_tiles = [int(x) for x in (inputs["pixel_values"].abs().flatten(2).sum(-1) > 0).sum(-1)]
    for i, im in enumerate(images):
        best = select_best_resolution((im.height, im.width), PINPOINTS)
        per_image.append({"path": rel(paths[i]), "height": im.height, "width": im.width, "best_resolution_hw": list(best),
                          "grid_hw": [best[0] // 32, best[1] // 32], "tiles": n_tiles[i], "tokens": int(packed[i].shape[0])})
        tensors[f"pixel_values_{i}"] = inputs["pixel_values"][i, :n_tiles[i]]
        tensors[f"packed_{i}"] = packed[i]
    assert sum(p["tokens"] for p in per_image) == ids.count(model.config.image_token_id)
    save_file({k: v.detach().contiguous().float() for k, v in tensors.items()}, str(folder / "expected.safetensors"))
    write_json(folder / "meta.json", {
        "messages": [{"role": "user", "content": [{"type": "image", "path": p["path"]} for p in per_image]
                      + [{"type": "text", "text": text}]}],
        "prompt": prompt, "input_ids": ids, "num_tokens": len(ids), "images": per_image,
        "image_sizes": inputs["image_sizes"].tolist(), "pixel_values_shape": list(inputs["pixel_values"].shape),
        "generated_ids": generated, "min_greedy_margin": margin,
        "how_called": "processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True, "
                      "return_tensors='pt') with both images as PIL images",
    })

    # The decoder alone past its window.
    folder = OUT / "cases" / "text_only"
    folder.mkdir(parents=True)
    long_text = ("The quick brown fox jumps over the lazy dog. A small red ball rolls across the floor. " * 4).strip()
    messages = [{"role": "user", "content": [{"type": "text", "text": long_text}]}]
    inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                           return_tensors="pt")
    assert inputs["input_ids"].shape[1] > 64
    with torch.no_grad():
        logits = model(**inputs, use_cache=False).logits[0, -1]
    generated, margin = generate(model, dict(inputs), tok)
    save_file({"logits_last": logits.contiguous()}, str(folder / "expected.safetensors"))
    write_json(folder / "meta.json", {"text": long_text, "input_ids": inputs["input_ids"][0].tolist(),
                                      "generated_ids": generated, "min_greedy_margin": margin})

    write_json(OUT / "oracle.json", {
        "generator": "tools/parity/make_llava_next_fixtures.py",
        "versions": {"python": sys.version.split()[0], "transformers": transformers.__version__, "torch": torch.__version__},
        "seed": SEED,
        "weight_names": sorted({k.split(".layers.")[0] for k in model.state_dict()}),
        "image_processor_class": type(processor.image_processor).__name__,
    })
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {rel(OUT)}: {total} bytes")
    assert total < 1_500_000, total


if __name__ == "__main__":
    main()
