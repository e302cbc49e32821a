"""Builds the LLaVA-OneVision (model_type `llava_onevision`) parity fixtures (no downloads, deterministic):

    tools/.venv/bin/python tools/parity/make_llava_onevision_fixtures.py

The oracle is transformers 5.23 (`LlavaOnevisionForConditionalGeneration`, `LlavaOnevisionProcessor`: the
torchvision `LlavaOnevisionImageProcessor` and `LlavaOnevisionVideoProcessor`).

Writes Tests/Fixtures/parity/llava_onevision_tiny/: a tiny random LLaVA-OneVision — SigLIP tower (32 px, 8 px
patches, vision_feature_layer -1, strategy "full"), pinpoints in 32 px tiles, vision_aspect_ratio "anyres_max_1"
(so the unpadded grid is shrunk by bilinear interpolation), Qwen2 decoder (q/k/v biases, tied embeddings) —
with the corpus's Qwen2 byte-level tokenizer (Tests/Fixtures/tokenizers/qwen2, `<image>` and `<video>` added)
and the corpus's OneVision chat template (17-llava-onevision.jinja). cases/<name>:
  image:      one 100x61 picture: AnyRes tiles, packed features (unpadded, interpolated, newlines), prompt ids,
              last logits, 24 greedy ids.
  two_images: a 100x61 and a 45x130 picture in one message: the multi-image path (each padded to a square with
              the mean colour, one tile, one newline).
  video:      three frames of Tests/Fixtures/media/cfr_bframes.mp4 (torchcodec, exact seek; what vidlm's uniform
              sampling picks): projected, bilinear 2x2-pooled frame features and one newline after the clip.
Greedy ids are checked against a cache-free argmax loop.

Also writes Tests/Fixtures/parity/llava_onevision_tiny_max9/: the same shapes with vision_aspect_ratio "anyres_max_9"
and pinpoints up to 6x6 tiles, case square: a 150x150 picture on a 5x5 grid (20x20 features, ratio 5/3), which
transformers shrinks to int(20 // ratio) = 11 rows and columns: Python's float floor division, one less than
floor(20 / ratio) = 12 (the published 384-pixel tower has the same case: 135 // (5/3) = 80). Its SigLIP tower is
saved with its pooling head (vision_use_head: weights the LLaVA models never run, which transformers loads and
leaves idle). Both found by tools/parity/sweep_llava.py.
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
from tokenizers import AddedToken, Tokenizer
from transformers import (
    AutoProcessor,
    LlavaOnevisionConfig,
    LlavaOnevisionForConditionalGeneration,
    LlavaOnevisionImageProcessor,
    LlavaOnevisionProcessor,
    LlavaOnevisionVideoProcessor,
    PreTrainedTokenizerFast,
)

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_llava_fixtures import FRAME_INDICES, VIDEO, decode_frames, make_image, rel, write_json  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "parity" / "llava_onevision_tiny"
MAX9 = ROOT / "Tests" / "Fixtures" / "parity" / "llava_onevision_tiny_max9"
TOKENIZER = ROOT / "Tests" / "Fixtures" / "tokenizers" / "qwen2" / "tokenizer.json"
TEMPLATE = ROOT / "Tests" / "Fixtures" / "chat_templates" / "templates" / "17-llava-onevision.jinja"
SEED = 20261209
NEW_TOKENS = 24
PINPOINTS = [[32, 32], [32, 64], [64, 32], [64, 64], [64, 96], [96, 64], [96, 96]]
MAX9_PINPOINTS = [[32, 32], [64, 64], [160, 160], [192, 192]]


def build_tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer.from_file(str(TOKENIZER))
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ("<image>", "<video>")])
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   extra_special_tokens={"image_token": "<image>", "video_token": "<video>"},
                                   model_max_length=4096, clean_up_tokenization_spaces=False)


def build_model(tokenizer, pinpoints=PINPOINTS, aspect="anyres_max_1", seed=SEED, head=False):
    ids = tokenizer.convert_tokens_to_ids
    config = LlavaOnevisionConfig(
        text_config=dict(model_type="qwen2", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, vocab_size=len(tokenizer),
                         max_position_embeddings=1024, rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True,
                         hidden_act="silu", eos_token_id=ids("<|im_end|>"), pad_token_id=ids("<|endoftext|>")),
        vision_config=dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                           num_attention_heads=4, image_size=32, patch_size=8, hidden_act="gelu_pytorch_tanh",
                           layer_norm_eps=1e-6, vision_use_head=head),
        image_token_index=ids("<image>"), video_token_index=ids("<video>"), image_grid_pinpoints=pinpoints,
        projector_hidden_act="gelu", vision_feature_select_strategy="full", vision_feature_layer=-1,
        vision_aspect_ratio=aspect, tie_word_embeddings=True)
    torch.manual_seed(seed)
    model = LlavaOnevisionForConditionalGeneration(config).to(torch.float32).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or "layernorm.weight" in name or "layer_norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name or "embedding" in name or "image_newline" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
    return model


def greedy(model, inputs, tok):
    gen = transformers.GenerationConfig(do_sample=False, max_new_tokens=NEW_TOKENS, min_new_tokens=0, eos_token_id=None,
                                        bos_token_id=None, pad_token_id=tok.pad_token_id, num_beams=1)
    with torch.no_grad():
        seq = model.generate(**inputs, generation_config=gen, output_scores=True, return_dict_in_generate=True)
    out = seq.sequences[0, inputs["input_ids"].shape[1]:].tolist()
    run, manual = inputs["input_ids"], []
    extra = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
    with torch.no_grad():
        for _ in range(NEW_TOKENS):
            nxt = int(torch.argmax(model(input_ids=run, attention_mask=torch.ones_like(run), use_cache=False, **extra).logits[0, -1]))
            manual.append(nxt)
            run = torch.cat([run, torch.tensor([[nxt]])], dim=1)
    assert manual == out, (manual, out)
    return out, min(float(torch.topk(s[0], 2).values[0] - torch.topk(s[0], 2).values[1]) for s in seq.scores)


def run_case(name, processor, model, messages, images=None, videos=None, saved_messages=None, extra=None, out=OUT,
             keep_pixels=True):
    tok = processor.tokenizer
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=prompt, images=images, videos=videos, return_tensors="pt")
    tensors = {}
    with torch.no_grad():
        if images is not None:
            kwargs = {"batch_num_images": inputs["batch_num_images"]} if "batch_num_images" in inputs else {}
            packed = model.model.get_image_features(inputs["pixel_values"], inputs["image_sizes"],
                                                    return_dict=True, **kwargs).pooler_output
            for i, p in enumerate(packed):
                tensors[f"packed_{i}"] = p
            if keep_pixels:
                tensors["pixel_values"] = inputs["pixel_values"][0]
        if videos is not None:
            tensors["video_features"] = model.model.get_video_features(inputs["pixel_values_videos"], return_dict=True).pooler_output[0]
            tensors["pixel_values_videos"] = inputs["pixel_values_videos"][0]
        tensors["logits_last"] = model(**inputs, use_cache=False).logits[0, -1]
    generated, margin = greedy(model, dict(inputs), tok)
    ids = inputs["input_ids"][0].tolist()
    folder = out / "cases" / name
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in {**tensors, **(extra or {})}.items()}, str(folder / "expected.safetensors"))
    write_json(folder / "meta.json", {
        "messages": saved_messages, "prompt": prompt, "input_ids": ids, "num_tokens": len(ids),
        "image_tokens": [int(t.shape[0]) for k, t in sorted(tensors.items()) if k.startswith("packed_")],
        "image_sizes": inputs["image_sizes"].tolist() if "image_sizes" in inputs else None,
        "generated_ids": generated, "min_greedy_margin": margin,
        "how_called": "processor(text=apply_chat_template(messages, add_generation_prompt=True, tokenize=False), "
                      "images=..., videos=..., return_tensors='pt')",
    })


def build_processor(tokenizer, pinpoints=PINPOINTS, aspect="anyres_max_1"):
    sizes = dict(size={"height": 32, "width": 32})
    return LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(image_grid_pinpoints=pinpoints, image_mean=[0.5] * 3,
                                                     image_std=[0.5] * 3, **sizes),
        video_processor=LlavaOnevisionVideoProcessor(image_mean=[0.5] * 3, image_std=[0.5] * 3, **sizes),
        tokenizer=tokenizer, num_image_tokens=16, vision_feature_select_strategy="full",
        chat_template=TEMPLATE.read_text(), vision_aspect_ratio=aspect)


def save_folder(folder, model, processor):
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return (AutoProcessor.from_pretrained(folder),
            LlavaOnevisionForConditionalGeneration.from_pretrained(folder).to(torch.float32).eval())


def main():
    transformers.logging.set_verbosity_error()
    tokenizer = build_tokenizer()
    processor, model = save_folder(OUT, build_model(tokenizer), build_processor(tokenizer))

    folder = OUT / "cases"
    (folder / "image").mkdir(parents=True)
    (folder / "two_images").mkdir(parents=True)
    make_image(100, 61, 0.0).save(folder / "image" / "input.png", optimize=True)
    make_image(45, 130, 2.1).save(folder / "two_images" / "b.png", optimize=True)
    a = Image.open(folder / "image" / "input.png").convert("RGB")
    b = Image.open(folder / "two_images" / "b.png").convert("RGB")
    text = "What is in this image?"
    run_case("image", processor, model, [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}],
             images=[a], saved_messages=[{"role": "user", "content": [{"type": "image", "path": rel(folder / "image" / "input.png")},
                                                                      {"type": "text", "text": text}]}])
    text = "Compare the two pictures."
    run_case("two_images", processor, model,
             [{"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": text}]}],
             images=[[a, b]], saved_messages=[{"role": "user", "content": [
                 {"type": "image", "path": rel(folder / "image" / "input.png")},
                 {"type": "image", "path": rel(folder / "two_images" / "b.png")}, {"type": "text", "text": text}]}])
    frames = decode_frames(FRAME_INDICES)
    text = "Describe the video."
    run_case("video", processor, model, [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": text}]}],
             videos=[frames.numpy()], saved_messages=[{"role": "user", "content": [{"type": "video", "path": rel(VIDEO)},
                                                                                   {"type": "text", "text": text}]}],
             extra={"frames_uint8": frames})
    write_json(OUT / "oracle.json", {
        "generator": "tools/parity/make_llava_onevision_fixtures.py",
        "versions": {"python": sys.version.split()[0], "transformers": transformers.__version__, "torch": torch.__version__},
        "seed": SEED, "frame_indices": FRAME_INDICES,
        "weight_names": sorted({k.split(".layers.")[0] for k in model.state_dict()}),
    })
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {rel(OUT)}: {total} bytes")
    assert total < 1_500_000, total

    # anyres_max_9 on a 5x5 grid: transformers' int(20 // (5/3)) = 11, not floor(20 / (5/3)) = 12.
    processor, model = save_folder(MAX9, build_model(tokenizer, MAX9_PINPOINTS, "anyres_max_9", SEED + 2, head=True),
                                   build_processor(tokenizer, MAX9_PINPOINTS, "anyres_max_9"))
    (MAX9 / "cases" / "square").mkdir(parents=True)
    make_image(150, 150, 0.7).save(MAX9 / "cases" / "square" / "input.png", optimize=True)
    square = Image.open(MAX9 / "cases" / "square" / "input.png").convert("RGB")
    text = "What is in this image?"
    run_case("square", processor, model, [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}],
             images=[square], out=MAX9, keep_pixels=False,
             saved_messages=[{"role": "user", "content": [{"type": "image", "path": rel(MAX9 / "cases" / "square" / "input.png")},
                                                          {"type": "text", "text": text}]}])
    tokens = json.loads((MAX9 / "cases" / "square" / "meta.json").read_text())["image_tokens"]
    assert tokens == [16 + 11 * 12], tokens  # base tile + 11 rows of 11 features and a newline
    write_json(MAX9 / "oracle.json", {
        "generator": "tools/parity/make_llava_onevision_fixtures.py",
        "versions": {"python": sys.version.split()[0], "transformers": transformers.__version__, "torch": torch.__version__},
        "seed": SEED + 2, "note": "5x5 grid of a square picture under anyres_max_9: 11x11 interpolated features (Python's //); "
                "the SigLIP tower saved with its unused pooling head",
    })
    total = sum(p.stat().st_size for p in MAX9.rglob("*") if p.is_file())
    print(f"wrote {rel(MAX9)}: {total} bytes")
    assert total < 1_000_000, total


if __name__ == "__main__":
    main()
