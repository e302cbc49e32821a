"""Builds the CLIP zero-shot / embedding parity fixtures (model_type `clip`; no downloads, deterministic):

    tools/.venv/bin/python tools/parity/make_clip_fixtures.py

The oracle is transformers 5.23 (`CLIPModel`, `CLIPProcessor` = torchvision `CLIPImageProcessor` + the
tokenizers-backed `CLIPTokenizer`).

Writes Tests/Fixtures/parity/clip_tiny/: a tiny random CLIPModel (text and vision towers, projections,
logit_scale) + processor as `save_pretrained` writes them, and
  cases/<name>/meta.json, expected.safetensors
    image:  labels through the template "a photo of {}." → per-label input_ids (unpadded; the padded batch
            gives the same embeddings, checked), pixel_values, image_embeds / text_embeds (L2-normalised),
            logits_per_image, softmax probabilities.
    frames: three frames of Tests/Fixtures/media/cfr_bframes.mp4 (torchcodec, exact seek) against the same
            labels: per-frame logits and probabilities, their mean.
    text:   one free text → text_embeds.
    trimmed: labels with white space around them (NBSP, ideographic space, tab) and a ZERO WIDTH SPACE (U+200B, a
            format character, not white space) at either end: the labels as Python's str.strip() leaves them, their
            texts, ids, text_embeds and the image case's picture's probabilities (sweep_contrastive.py found vidlm
            trimming U+200B as well, which changed the text).
The tokenizer is CLIP's pipeline (NFC, whitespace runs → " ", lowercase; CLIP's split regex + ByteLevel; BPE
with "</w>" word ends; <|startoftext|> … <|endoftext|>) with 180 merges learned here on ENGLISH by a small
deterministic trainer (learn_merges).
"""
from __future__ import annotations

import json
import math
import pathlib
import shutil
import sys

import numpy as np
import torch
import transformers
from PIL import Image, ImageDraw
from safetensors.torch import save_file
from tokenizers import pre_tokenizers
from transformers import AutoProcessor, CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "parity" / "clip_tiny"
VIDEO = ROOT / "Tests" / "Fixtures" / "media" / "cfr_bframes.mp4"
SEED = 20261206
FRAME_INDICES = [16, 50, 83]   # vidlm's uniform sampling of 3 frames of the 4 s clip
LABELS = ["a cat", "a dog", "a red ball", "two yellow squares"]
TEMPLATE = "a photo of {}."

ENGLISH = """\
a photo of a cat. a photo of a dog. a photo of a red ball. two yellow squares on a blue background.
The quick brown fox jumps over the lazy dog. A small red ball rolls across the floor and stops near the door.
A cat is sleeping on the sofa. A dog is playing with a ball in the garden. Children are laughing.
The camera moves slowly from left to right while the car drives past the houses on the corner.
There are three people standing in the street; one of them is holding an umbrella and a cup of coffee.
"""


def learn_merges(count: int) -> list[tuple[str, str]]:
    """A small byte-pair trainer with a fixed tie-break (the tokenizers library's trainer breaks ties in
    hash order, so its merges change from run to run): words as CLIP's pre-tokenizer splits the lowercased
    corpus (letters, single digits, other symbols; all ASCII here, which ByteLevel leaves as is), the last
    symbol of each word carrying "</w>"; each step merges the most frequent adjacent pair, the
    lexicographically smallest on ties."""
    import collections
    import re
    words = collections.Counter(re.findall(r"'s|'t|'re|'ve|'m|'ll|'d|[a-z]+|[0-9]|[^\sa-z0-9]+", ENGLISH.lower()))
    split = {w: tuple(w[:-1]) + (w[-1] + "</w>",) for w in words}
    merges = []
    for _ in range(count):
        pairs = collections.Counter()
        for w, n in words.items():
            sym = split[w]
            for a, b in zip(sym, sym[1:]):
                pairs[(a, b)] += n
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        for w in words:
            sym, out, i = split[w], [], 0
            while i < len(sym):
                if i + 1 < len(sym) and (sym[i], sym[i + 1]) == best:
                    out.append(sym[i] + sym[i + 1])
                    i += 2
                else:
                    out.append(sym[i])
                    i += 1
            split[w] = tuple(out)
    return merges


def build_tokenizer() -> CLIPTokenizer:
    merges = learn_merges(180)
    base = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {}
    for t in base + [t + "</w>" for t in base]:
        vocab.setdefault(t, len(vocab))
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    for t in ("<|startoftext|>", "<|endoftext|>"):
        vocab[t] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=32)


def build_model(tokenizer) -> CLIPModel:
    ids = tokenizer.convert_tokens_to_ids
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=32, hidden_act="quick_gelu",
                         layer_norm_eps=1e-5, bos_token_id=ids("<|startoftext|>"), eos_token_id=ids("<|endoftext|>"),
                         pad_token_id=ids("<|endoftext|>")),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=32, patch_size=8, hidden_act="quick_gelu", layer_norm_eps=1e-5),
        projection_dim=16, logit_scale_init_value=2.6592)
    torch.manual_seed(SEED)
    model = CLIPModel(config).to(torch.float32).eval()
    g = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "logit_scale":
                continue
            if "norm.weight" in name or "layer_norm" in name or "layrnorm.weight" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif "embedding" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
    return model


def make_image(width, height, seed) -> Image.Image:
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    arr = np.stack([255 * x / (width - 1), 255 * y / (height - 1),
                    127.5 + 127.5 * np.sin(2 * np.pi * (x + 2 * y) / (width * 0.7) + seed)], -1)
    im = Image.fromarray(arr.round().clip(0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(im)
    d.rectangle([width // 8, height // 6, width // 8 + width // 4, height // 6 + height // 3], fill=(250, 250, 20))
    d.ellipse([width // 2, height // 2, width // 2 + width // 3, height // 2 + height // 3], fill=(10, 30, 200))
    return im


def write_json(path, obj):
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def rel(path) -> str:
    return str(pathlib.Path(path).resolve().relative_to(ROOT))


def save_case(name, meta, tensors):
    folder = OUT / "cases" / name
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() if v.dtype == torch.uint8 else v.detach().contiguous().float()
               for k, v in tensors.items()}, str(folder / "expected.safetensors"))
    write_json(folder / "meta.json", meta)


def classify(processor, model, images):
    texts = [TEMPLATE.format(label) for label in LABELS]
    batch = processor(text=texts, images=images, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch)
    # Each text alone (no padding) gives the same embedding: the causal tower pools at <|endoftext|>.
    for i, t in enumerate(texts):
        one = processor(text=[t], return_tensors="pt")
        with torch.no_grad():
            alone = model.get_text_features(**one).pooler_output
        alone = alone / alone.norm(dim=-1, keepdim=True)
        assert torch.allclose(alone[0], out.text_embeds[i], atol=1e-6)
    ids = [processor.tokenizer(t)["input_ids"] for t in texts]
    return texts, ids, batch, out


def main():
    transformers.logging.set_verbosity_error()
    tokenizer = build_tokenizer()
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)
    model = build_model(tokenizer)
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    model.save_pretrained(OUT)
    processor.save_pretrained(OUT)
    processor = AutoProcessor.from_pretrained(OUT)
    model = CLIPModel.from_pretrained(OUT).to(torch.float32).eval()

    (OUT / "cases" / "image").mkdir(parents=True)
    make_image(100, 61, 0.0).save(OUT / "cases/image/input.png", optimize=True)
    image = Image.open(OUT / "cases/image/input.png").convert("RGB")
    texts, ids, batch, out = classify(processor, model, [image])
    save_case("image", {
        "labels": LABELS, "template": TEMPLATE, "texts": texts, "input_ids": ids,
        "logit_scale_exp": float(model.logit_scale.detach().exp()),
        "probabilities": out.logits_per_image.softmax(-1)[0].tolist(),
        "how_called": "processor(text=texts, images=[image], padding=True, return_tensors='pt') → CLIPModel(**batch)",
    }, {"pixel_values": batch["pixel_values"], "image_embeds": out.image_embeds, "text_embeds": out.text_embeds,
        "logits_per_image": out.logits_per_image, "probabilities": out.logits_per_image.softmax(-1)})

    from torchcodec.decoders import VideoDecoder
    dec = VideoDecoder(str(VIDEO), seek_mode="exact", num_ffmpeg_threads=0, device="cpu")
    frames = dec.get_frames_at(indices=FRAME_INDICES).data.permute(0, 2, 3, 1).contiguous()
    texts, ids, batch, out = classify(processor, model, [Image.fromarray(f.numpy()) for f in frames])
    probs = out.logits_per_image.softmax(-1)
    save_case("frames", {
        "labels": LABELS, "template": TEMPLATE, "video": rel(VIDEO), "frame_indices": FRAME_INDICES,
        "mean_probabilities": probs.mean(0).tolist(),
        "how_called": "the three decoded frames as three images of one processor call; softmax per frame, then the mean",
    }, {"frames_uint8": frames, "pixel_values": batch["pixel_values"], "image_embeds": out.image_embeds,
        "logits_per_image": out.logits_per_image, "probabilities": probs})

    text = "Two yellow squares, seen from above!"
    one = processor(text=[text], return_tensors="pt")
    with torch.no_grad():
        emb = model.get_text_features(**one).pooler_output
    save_case("text", {"text": text, "input_ids": one["input_ids"][0].tolist()},
              {"text_embeds": emb / emb.norm(dim=-1, keepdim=True)})

    raw = ["\u00a0a cat\u200b ", "\u200b a dog\t", " two yellow squares\u3000"]
    labels = [label.strip() for label in raw]
    assert labels[0].endswith("\u200b") and labels[1].startswith("\u200b")
    texts = [TEMPLATE.format(label) for label in labels]
    batch = processor(text=texts, images=[image], padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch)
    save_case("trimmed", {
        "labels": raw, "stripped_labels": labels, "template": TEMPLATE, "texts": texts,
        "input_ids": [processor.tokenizer(t)["input_ids"] for t in texts], "image": "cases/image/input.png",
        "how_called": "labels through str.strip(), then as the image case: processor(text=texts, images=[image], padding=True)",
    }, {"text_embeds": out.text_embeds, "logits_per_image": out.logits_per_image, "probabilities": out.logits_per_image.softmax(-1)})

    write_json(OUT / "oracle.json", {
        "generator": "tools/parity/make_clip_fixtures.py",
        "versions": {"python": sys.version.split()[0], "transformers": transformers.__version__, "torch": torch.__version__},
        "seed": SEED,
        "weight_names": sorted({k.split(".layers.")[0] for k in model.state_dict()}),
        "tokenizer_class": type(processor.tokenizer).__name__,
        "image_processor_class": type(processor.image_processor).__name__,
        "embeddings": "image_embeds / text_embeds are CLIPModel's: projections of the pooled outputs, L2-normalised; "
                      "logits_per_image = exp(logit_scale) · image_embeds · text_embedsᵀ",
    })
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {rel(OUT)}: {total} bytes")
    assert total < 1_000_000, total


if __name__ == "__main__":
    main()
