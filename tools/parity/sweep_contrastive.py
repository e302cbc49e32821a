"""Randomized differential check of the contrastive families (CLIP, SigLIP, SigLIP-2 NaFlex) against transformers:

    tools/.venv/bin/python tools/parity/sweep_contrastive.py --first 0 --count 40 [--family clip|siglip|siglip2|mixed]
                                                             [--kind image|clip|mixed]

Per seed: a tiny model written by transformers with its processor (save_pretrained) and every weight random (norms
near one, so each weight matters): random image size, patch (sometimes not dividing the image), widths, depths,
heads, MLP widths, activations, layer-norm eps, projection width, text max positions (below, at and above the
64 SigLIP pads to), CLIP's legacy eos_token_id 2 (pooled at the largest id), logit scale and bias; SigLIP-2's
position grid (num_patches) and the processor's max_num_patches; the image processor's resize / crop settings
(CLIP: shortest edge below, at or above the crop, or an exact size without crop), resample filter (every PIL code),
rescale factor, mean and std; the tokenizer (CLIP's byte-level BPE; for SigLIP a tokenizer.json (metaspace or a
llama-style byte-fallback BPE, with <pad>) or a SentencePiece spiece.model read as `SiglipTokenizer`).
The input is a still (PNG/JPEG/WebP, 1 px to extreme aspect ratios, EXIF orientation, now and then RGBA or
grayscale, palette, 1-bit, 16-bit, CMYK, progressive; transformers opens it with `load_image`, 16-bit PNG with
torchcodec's `decode_image` as the project's still fixtures do) or a clip (`differential_sweep.make_clip`; transformers gets the
frames vidlm reports, decoded with torchcodec's exact `get_frames_in_range` and indexed), and random label texts
(unicode, case, punctuation, whitespace runs, texts longer than the tower's positions), sometimes through a template.

Compared, within 1e-4 (embeddings) or 1e-4 · exp(logit_scale) (logits, probabilities):
  `vidlm embed <media> --json`      vs get_image_features (normalised; a clip also its normalised mean),
  `vidlm embed --text T --json`      vs get_text_features (normalised),
  `vidlm classify <media> --json`    vs the model's logits_per_image and the family's softmax / sigmoid (a clip:
                                     per frame, and the mean of the frames' probabilities).
Texts follow what vidlm documents (docs/classify.md): labels through Python's str.strip() (vidlm trims Unicode white
space), CLIP ids as the tokenizer makes them (no truncation: a text longer than the tower's positions makes transformers
fail, so vidlm must refuse it), padded batches in classify as the zero-shot pipeline's padding=True; SigLIP
padding="max_length" to min(64, max_position_embeddings) with truncation, and the attention_mask when the tokenizer
returns one (its model_input_names decide; the zero-shot pipeline passes it on); SigLIP-2 the same through
`Siglip2Tokenizer` with the attention mask. NaFlex pictures go through
`processor.image_processor` (the saved values, as the pipeline does). The processor is saved as transformers 5 writes
it, now and then in the published preprocessor_config.json layout or with its class renamed `…Pil` (which
AutoProcessor ignores). An image seed may classify several stills in one run, a clip seed a still next to the clip.

A skip is an input the reference cannot take (the torchvision backend has no BOX / HAMMING resize; ffmpeg cannot
write a codec / container pair). A CLIP image size that is not a multiple of the patch is refused by vidlm by design
(VisionConfig; transformers would drop the remainder): a skip when the refusal says so. A SigLIP-2 patch grid one
patch wide is a skip too when vidlm equals the reference with PyTorch's CPU quirk worked around (its antialiased
resize to one column repeats the first row, `WithoutWidthOneQuirk`; docs/classify.md keeps vidlm's correct values).

Needs the release CLI (`swift build -c release --product vidlm`), ffmpeg and tools/requirements.txt.
Exits non-zero when any seed fails.
"""
from __future__ import annotations

import argparse
import collections
import json
import math
import os
import pathlib
import random
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "parity"))

TOKENIZERS = ROOT / "Tests" / "Fixtures" / "tokenizers"
FAMILIES = ["clip", "siglip", "siglip2"]
TOL = 1e-4

WORDS = ("a photo of the cat dog red ball two yellow squares running on grass in snow blue car person eating pizza "
         "night city street old man woman child playing music guitar").split()
ODD = ["café", "naïve", "Ünïcödé", "ΣΟΦΟΣ", "σοφος", "猫", "犬", "テスト", "😀", "👍🏽", "İstanbul", "ß", "ǅ", "ＦＵＬＬ",
       "don't", "it's", "—", "…", "“quoted”", "3.14", "2,718", "(((x)))", "[b]", "{c}", "#tag", "@at", "a-b", "e.g.",
       "x</s>y", "<unk>", "<pad>", "<|endoftext|>", "\u00a0", "\u200b", "CAPS", "MiXeD"]


def random_init(model, rng: random.Random, scale_names: dict[str, float]):
    """Every parameter random (norms near one, weights ~ 1/sqrt(fan-in)), as the fixture scripts do."""
    g = torch.Generator().manual_seed(rng.randrange(1 << 30))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in scale_names:
                p.copy_(torch.full(p.shape, scale_names[name]))
            elif ("norm" in name or "layrnorm" in name) and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif "embedding" in name or "probe" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(max(p[0].numel(), 1)))
    return model.float().eval()


def heads_for(rng: random.Random, width: int) -> int:
    return rng.choice([h for h in (1, 2, 3, 4, 8) if width % h == 0])


def random_text(rng: random.Random, long: bool = False) -> str:
    n = rng.randrange(40, 160) if long else rng.randrange(1, 8)
    parts = []
    for _ in range(n):
        r = rng.random()
        w = rng.choice(WORDS) if r < 0.6 else rng.choice(ODD) if r < 0.85 else rng.choice(WORDS).upper()
        parts.append(w)
    text = parts[0]
    for w in parts[1:]:
        text += rng.choice([" ", " ", " ", "  ", "\t", " , ", "! ", "-"]) + w
    return text


def still(rng: random.Random, work: str, seed: int) -> tuple[str, str]:
    import make_smolvlm_fixtures as F
    fmt, orientation = rng.choice(["png", "jpg", "jpg", "webp"]), rng.choice([1, 1, 2, 3, 4, 5, 6, 7, 8])
    shape = rng.choice(["any", "any", "tiny", "wide", "tall"])
    if shape == "tiny":
        w, h = rng.randrange(1, 9), rng.randrange(1, 9)
    elif shape == "wide":
        w, h = rng.randrange(200, 700), rng.randrange(1, 24)
    elif shape == "tall":
        w, h = rng.randrange(1, 24), rng.randrange(200, 700)
    else:
        w, h = rng.randrange(8, 400), rng.randrange(8, 400)
    if w >= 8 and h >= 8:
        picture = F.make_image(w, h, seed)
    else:
        picture = Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")
    mode = rng.choice(["RGB"] * 8 + ["RGBA", "L"])
    # More variants from a side generator, so the inputs of earlier seeds stay as they were.
    side = random.Random(seed * 7919 + 17)
    if mode == "RGB" and side.random() < 0.25:
        mode = side.choice({"png": ["P", "LA", "I;16", "1"], "jpg": ["CMYK", "progressive", "4:4:4"], "webp": ["LA", "P"]}[fmt])
    if shape == "any" and side.random() < 0.1:
        w, h = side.randrange(600, 1600), side.randrange(600, 1200)
        picture = F.make_image(w, h, seed)
    extra = {}
    if mode == "P":
        picture = picture.convert("P", palette=Image.Palette.ADAPTIVE, colors=side.choice([4, 16, 256]))
    elif mode == "LA":
        picture = picture.convert("LA")
    elif mode == "I;16":
        picture = Image.fromarray((np.asarray(picture.convert("L"), np.uint16) * 257).astype(np.uint16))
        orientation = 1  # the reference for 16 bits is torchcodec's decode_image (see `reference_picture`)
    elif mode == "1":
        picture = picture.convert("1")
    elif mode == "CMYK":
        picture = picture.convert("CMYK")
    elif mode == "progressive":
        extra = {"progressive": True}
    elif mode == "4:4:4":
        extra = {"subsampling": 0}
    if mode == "RGBA" and fmt != "jpg":
        alpha = Image.fromarray(np.random.default_rng(seed + 1).integers(0, 256, (h, w), dtype=np.uint8), "L")
        picture = picture.convert("RGBA")
        picture.putalpha(alpha)
    elif mode == "L":
        picture = picture.convert("L")
    elif mode == "RGBA":
        mode = "RGB"
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = os.path.join(work, "input." + fmt)
    extra |= {"quality": rng.choice([70, 90, 95])} if fmt == "jpg" else {"lossless": True} if fmt == "webp" and rng.random() < 0.5 else {}
    picture.save(path, exif=exif.tobytes(), **extra)
    return path, f"{w}x{h} {mode} {fmt} EXIF {orientation}"


# --------------------------------------------------------------------------------------------- models

def clip_model(rng: random.Random, work: str):
    import make_clip_fixtures as C
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor
    tok = C.build_tokenizer()
    ids = tok.convert_tokens_to_ids
    patch = rng.choice([2, 4, 8, 14, 16])
    image_size = patch * rng.choice([1, 2, 3, 4]) + (rng.randrange(1, patch) if patch > 2 and rng.random() < 0.08 else 0)
    vh, th = rng.choice([16, 24, 32, 48]), rng.choice([16, 24, 32, 48])
    positions = rng.choice([16, 32, 40, 77, 77])
    legacy_eos = rng.random() < 0.2
    text = dict(vocab_size=len(tok), hidden_size=th, intermediate_size=rng.choice([th, 2 * th, 37]),
                num_hidden_layers=rng.choice([1, 2, 3]), num_attention_heads=heads_for(rng, th),
                max_position_embeddings=positions, hidden_act=rng.choice(["quick_gelu", "gelu", "gelu_new"]),
                layer_norm_eps=rng.choice([1e-5, 1e-6]), bos_token_id=ids("<|startoftext|>"),
                eos_token_id=2 if legacy_eos else ids("<|endoftext|>"), pad_token_id=ids("<|endoftext|>"))
    vision = dict(hidden_size=vh, intermediate_size=rng.choice([vh, 2 * vh, 37]), num_hidden_layers=rng.choice([1, 2, 3]),
                  num_attention_heads=heads_for(rng, vh), image_size=image_size, patch_size=patch,
                  hidden_act=rng.choice(["quick_gelu", "gelu", "gelu_new"]), layer_norm_eps=rng.choice([1e-5, 1e-6]))
    projection = rng.choice([8, 16, 24, 32])
    scale = rng.uniform(0.0, 4.6)
    config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection)
    torch.manual_seed(rng.randrange(1 << 30))
    model = random_init(CLIPModel(config), rng, {"logit_scale": scale})
    crop = rng.choice(["shortest", "shortest", "exact", "larger"])
    resample = rng.choice([0, 1, 2, 3, 3] * 4 + [4, 5])
    common = dict(resample=resample, rescale_factor=rng.choice([1 / 255, 1 / 255, 1 / 256]),
                  image_mean=rng.choice([None, [0.5] * 3, [0.1, 0.6, 0.3]]), image_std=rng.choice([None, [0.5] * 3, [0.2, 0.3, 0.9]]))
    common = {k: v for k, v in common.items() if v is not None}
    if crop == "shortest":
        edge = max(1, image_size + rng.choice([-3, 0, 0, 5, image_size]))
        images = CLIPImageProcessor(size={"shortest_edge": edge}, crop_size={"height": image_size, "width": image_size}, **common)
        what = f"shortest_edge {edge} crop {image_size}"
    elif crop == "exact":
        images = CLIPImageProcessor(size={"height": image_size, "width": image_size}, do_center_crop=False, **common)
        what = f"{image_size}x{image_size} no crop"
    else:
        hh, ww = image_size + rng.randrange(0, 20), image_size + rng.randrange(0, 20)
        images = CLIPImageProcessor(size={"height": hh, "width": ww}, crop_size={"height": image_size, "width": image_size}, **common)
        what = f"{ww}x{hh} crop {image_size}"
    processor = CLIPProcessor(image_processor=images, tokenizer=tok)
    model.save_pretrained(work)
    processor.save_pretrained(work)
    facts = (f"clip image {image_size} patch {patch} vision {vh}x{vision['num_hidden_layers']} text {th}x{text['num_hidden_layers']} "
             f"positions {positions}{' eos 2' if legacy_eos else ''} proj {projection} {what} resample {resample}")
    return model, facts


def siglip_tokenizer(rng: random.Random, work: str):
    """A tokenizer.json (metaspace or llama-style BPE with byte fallback, <pad> added) or SentencePiece spiece.model."""
    from transformers import SiglipTokenizer
    kind = rng.choice(["json", "json", "json", "spiece_unigram", "spiece_bpe"])
    if kind.startswith("spiece"):
        return SiglipTokenizer(vocab_file=str(TOKENIZERS / f"siglip_{kind}" / "spiece.model")), kind
    return siglip_tokenizer_json(rng)


def siglip_text_config(rng: random.Random, tok, projection: int) -> dict:
    th = rng.choice([16, 24, 32, 48])
    return dict(vocab_size=len(tok), hidden_size=th, intermediate_size=rng.choice([th, 2 * th, 37]),
                num_hidden_layers=rng.choice([1, 2, 3]), num_attention_heads=heads_for(rng, th),
                max_position_embeddings=rng.choice([16, 40, 64, 64, 80]), hidden_act=rng.choice(["gelu_pytorch_tanh", "gelu"]),
                layer_norm_eps=rng.choice([1e-6, 1e-5]), pad_token_id=tok.pad_token_id, projection_size=projection)


def siglip_model(rng: random.Random, work: str):
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel, SiglipProcessor
    tok, tkind = siglip_tokenizer(rng, work)
    patch = rng.choice([2, 4, 8, 14, 16])
    image_size = patch * rng.choice([1, 2, 3, 4]) + (rng.randrange(1, patch) if patch > 2 and rng.random() < 0.08 else 0)
    vh = rng.choice([16, 24, 32, 48])
    text = siglip_text_config(rng, tok, vh)
    vision = dict(hidden_size=vh, intermediate_size=rng.choice([vh, 2 * vh, 37]), num_hidden_layers=rng.choice([1, 2, 3]),
                  num_attention_heads=heads_for(rng, vh), image_size=image_size, patch_size=patch,
                  hidden_act=rng.choice(["gelu_pytorch_tanh", "gelu"]), layer_norm_eps=rng.choice([1e-6, 1e-5]))
    config = SiglipConfig(text_config=text, vision_config=vision)
    torch.manual_seed(rng.randrange(1 << 30))
    model = random_init(SiglipModel(config), rng, {"logit_scale": rng.uniform(0.0, 4.8), "logit_bias": rng.uniform(-10, 3)})
    resample = rng.choice([0, 1, 2, 3, 3] * 4 + [4, 5])
    extra = {}
    if rng.random() < 0.3:
        extra = dict(image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711])
    processor = SiglipProcessor(image_processor=SiglipImageProcessor(size={"height": image_size, "width": image_size},
                                                                     resample=resample, **extra), tokenizer=tok)
    model.save_pretrained(work)
    processor.save_pretrained(work)
    facts = (f"siglip image {image_size} patch {patch} vision {vh}x{vision['num_hidden_layers']} text "
             f"{text['hidden_size']}x{text['num_hidden_layers']} positions {text['max_position_embeddings']} tokenizer {tkind} "
             f"resample {resample}")
    return model, facts


def siglip_tokenizer_json(rng: random.Random):
    from tokenizers import AddedToken, Tokenizer
    from transformers import PreTrainedTokenizerFast
    kind = rng.choice(["metaspace", "metaspace", "llama2"])
    tok = Tokenizer.from_file(str(TOKENIZERS / kind / "tokenizer.json"))
    tok.add_special_tokens([AddedToken("<pad>", special=True, normalized=False)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", model_max_length=64, clean_up_tokenization_spaces=False), kind


def siglip2_model(rng: random.Random, work: str):
    """siglip2 checkpoints carry a tokenizer.json (AutoProcessor makes it a `Siglip2Tokenizer`)."""
    return _siglip2(rng, work, *siglip_tokenizer_json(rng))


def _siglip2(rng: random.Random, work: str, tok, tkind: str):
    from transformers import Siglip2Config, Siglip2ImageProcessor, Siglip2Model, Siglip2Processor
    patch = rng.choice([2, 4, 8, 14, 16])
    grid = rng.choice([1, 2, 3, 4, 5, 8, 16])
    max_patches = rng.choice([1, 2, 5, 16, 23, 64, 100, 256])
    vh = rng.choice([16, 24, 32, 48])
    text = siglip_text_config(rng, tok, vh)
    vision = dict(hidden_size=vh, intermediate_size=rng.choice([vh, 2 * vh, 37]), num_hidden_layers=rng.choice([1, 2, 3]),
                  num_attention_heads=heads_for(rng, vh), num_patches=grid * grid, patch_size=patch,
                  hidden_act=rng.choice(["gelu_pytorch_tanh", "gelu"]), layer_norm_eps=rng.choice([1e-6, 1e-5]))
    config = Siglip2Config(text_config=text, vision_config=vision)
    torch.manual_seed(rng.randrange(1 << 30))
    model = random_init(Siglip2Model(config), rng, {"logit_scale": rng.uniform(0.0, 4.8), "logit_bias": rng.uniform(-10, 3)})
    resample = rng.choice([0, 1, 2, 2, 3] * 4 + [4, 5])
    extra = {}
    if rng.random() < 0.3:
        extra = dict(image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711],
                     rescale_factor=rng.choice([1 / 255, 1 / 256]))
    images = Siglip2ImageProcessor(patch_size=patch, max_num_patches=max_patches, resample=resample, **extra)
    processor = Siglip2Processor(image_processor=images, tokenizer=tok)
    model.save_pretrained(work)
    processor.save_pretrained(work)
    facts = (f"siglip2 patch {patch} grid {grid}x{grid} max_num_patches {max_patches} vision {vh}x{vision['num_hidden_layers']} "
             f"text {text['hidden_size']}x{text['num_hidden_layers']} positions {text['max_position_embeddings']} tokenizer {tkind} "
             f"resample {resample}")
    return model, facts


# ------------------------------------------------------------------------------------------ reference

class Reference:
    """transformers' side: the processor reloaded from the saved folder, the model as built."""

    def __init__(self, family: str, model, work: str):
        from transformers import AutoProcessor
        self.family, self.model = family, model
        self.processor = AutoProcessor.from_pretrained(work)
        self.positions = model.config.text_config.max_position_embeddings
        self.scale = float(model.logit_scale.detach().exp())

    def text_inputs(self, texts: list[str], batch: bool) -> dict:
        """The ids (and the mask, when the tokenizer returns one) the text tower reads, as the pipeline passes them."""
        tok = self.processor.tokenizer
        if self.family == "clip":
            return dict(tok(texts, padding=True, return_tensors="pt")) if batch else dict(tok(texts, return_tensors="pt"))
        enc = tok(texts, padding="max_length", max_length=min(64, self.positions), truncation=True, return_tensors="pt")
        out = {"input_ids": enc["input_ids"]}
        if "attention_mask" in enc:
            out["attention_mask"] = enc["attention_mask"]
        return out

    def too_long(self, texts: list[str]) -> bool:
        """CLIP only: a text with more ids than the tower has positions (transformers fails on it)."""
        return self.family == "clip" and any(len(self.processor.tokenizer(t)["input_ids"]) > self.positions for t in texts)

    def pixels(self, pictures: list) -> dict:
        out = self.processor.image_processor(images=pictures, return_tensors="pt")
        keys = ["pixel_values", "pixel_attention_mask", "spatial_shapes"] if self.family == "siglip2" else ["pixel_values"]
        return {k: out[k] for k in keys}

    def image_embeds(self, pictures: list) -> torch.Tensor:
        with torch.no_grad():
            e = self.model.get_image_features(**self.pixels(pictures)).pooler_output
        return e / e.norm(dim=-1, keepdim=True)

    def text_embeds(self, texts: list[str]) -> torch.Tensor:
        with torch.no_grad():
            e = torch.cat([self.model.get_text_features(**self.text_inputs([t], batch=False)).pooler_output for t in texts])
        return e / e.norm(dim=-1, keepdim=True)

    def logits(self, pictures: list, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            out = self.model(**self.text_inputs(texts, batch=True), **self.pixels(pictures))
        logits = out.logits_per_image
        return logits, (logits.softmax(-1) if self.family == "clip" else torch.sigmoid(logits))


def run_vidlm(vidlm: str, args: list[str]) -> tuple[dict | None, str]:
    r = subprocess.run([vidlm, *args], capture_output=True, text=True)
    if r.returncode:
        return None, (r.stderr.strip() or r.stdout.strip() or f"exit {r.returncode}")
    return json.loads(r.stdout), ""


def worst(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.abs(a - b).max()) if a.size else 0.0


def reference_picture(path: str) -> Image.Image:
    """A still as transformers opens it: `load_image` (Pillow, EXIF orientation applied), except 16-bit PNG, where
    the project follows torchcodec's `decode_image` (what transformers 5's torchvision processors read paths with;
    Pillow's convert("RGB") clips a 16-bit gray sample to 255 instead of scaling it, see make_still_fixtures.py)."""
    from transformers.image_utils import load_image
    if Image.open(path).mode.startswith("I;16"):
        from torchcodec.decoders import ImageReadMode, decode_image
        return Image.fromarray(decode_image(path, mode=ImageReadMode.RGB).permute(1, 2, 0).contiguous().numpy())
    return load_image(path)


def decode_clip(media: str, indices: list[int]) -> list[Image.Image]:
    from torchcodec.decoders import VideoDecoder
    decoder = VideoDecoder(media, seek_mode="exact")
    frames = decoder.get_frames_in_range(0, decoder.metadata.num_frames).data
    return [Image.fromarray(frames[i].permute(1, 2, 0).contiguous().numpy()) for i in indices]


def labels_for(rng: random.Random) -> tuple[list[str], str | None]:
    count = rng.randrange(1, 6)
    labels = []
    while len(labels) < count:
        t = random_text(rng, long=rng.random() < 0.12).replace(",", " ")
        if t.strip() and t.strip() not in labels:
            labels.append(t.strip())
    template = rng.choice([None, None, "a photo of {}.", "{}", "This is a photo of {}!", "ein Foto: {} …"])
    return labels, template


def compare(ref: Reference, kind: str, pictures_per_file: list[list], embedded: int, embed: dict, free: str, free_got,
            free_error: str, labels: list[str], texts: list[str], got, error: str) -> tuple[list[str], dict]:
    """vidlm's outputs against the reference (file `embedded` embedded, every file classified); (problems, largest
    differences)."""
    pictures = pictures_per_file[embedded]
    problems, margins = [], {}
    scale_tol = TOL * max(1.0, ref.scale)
    want = ref.image_embeds(pictures)
    d = margins["image"] = worst(embed["embeddings"], want.numpy())
    if d > TOL:
        problems.append(f"image embeddings differ by {d:.2e}")
    if kind == "clip":
        mean = want.mean(0)
        d = worst(embed["mean"], (mean / mean.norm()).numpy())
        if d > TOL:
            problems.append(f"mean embedding differs by {d:.2e}")
    if not free.strip():  # vidlm refuses a text of white space only (transformers would embed it)
        if free_got is not None:
            problems.append(f"vidlm embedded {free!r}, a text of white space only, instead of refusing it")
    elif ref.too_long([free]):
        if free_got is not None:
            problems.append(f"vidlm embedded a text of more ids than the {ref.positions} positions, transformers cannot")
    elif free_got is None:
        problems.append(f"vidlm embed --text {free!r}: {free_error}")
    else:
        d = margins["text"] = worst(free_got["embeddings"], ref.text_embeds([free]).numpy())
        if d > TOL:
            problems.append(f"text embedding of {free!r} differs by {d:.2e}")
    if ref.too_long(texts):
        if got is not None:
            problems.append(f"vidlm classified with a label of more ids than the {ref.positions} positions, transformers cannot")
    elif got is None:
        problems.append(f"vidlm classify: {error}")
    else:
        reports = got["results"] if "results" in got else [got]
        if len(reports) != len(pictures_per_file):
            return problems + [f"vidlm classified {len(reports)} files of {len(pictures_per_file)}"], margins
        for n, (report, pics) in enumerate(zip(reports, pictures_per_file)):
            which = f"file {n + 1}: " if len(reports) > 1 else ""
            if n == embedded and kind == "clip" and [f["index"] for f in report["frames"]] != [f["index"] for f in embed["frames"]]:
                problems.append(f"classify scored frames {[f['index'] for f in report['frames']]}, embed "
                                f"{[f['index'] for f in embed['frames']]}")
            if report["texts"] != texts:
                problems.append(f"{which}texts differ: {report['texts']} vs {texts}")
            logits, probs = ref.logits(pics, texts)
            d = worst([f["logits"] for f in report["frames"]], logits.numpy())
            margins["logits"] = max(margins.get("logits", 0.0), d)
            if d > scale_tol:
                problems.append(f"{which}logits differ by {d:.2e} (scale {ref.scale:.3g})")
            d = worst([f["probabilities"] for f in report["frames"]], probs.numpy())
            if d > scale_tol:
                problems.append(f"{which}probabilities differ by {d:.2e}")
            if sorted(row["label"] for row in report["labels"]) != sorted(labels):
                problems.append(f"{which}labels differ: {[row['label'] for row in report['labels']]} vs {labels}")
                continue
            by_label = dict(zip(labels, probs.mean(0).tolist()))
            d = max(abs(row["probability"] - by_label[row["label"]]) for row in report["labels"])
            if d > scale_tol:
                problems.append(f"{which}label probabilities differ by {d:.2e}")
    return problems, margins


class WithoutWidthOneQuirk:
    """PyTorch's CPU `F.interpolate(mode="bilinear", antialias=True)` to an output one column wide gives every output
    row the first row's value (torch 2.15; e.g. a 5 x 5 grid to 3 x 1). `Siglip2VisionEmbeddings` resizes the position
    grid that way, so a picture whose patch grid is one patch wide gets one position embedding for all its patches.
    Inside this block the grid is resized transposed (one row high, which the kernel gets right) and transposed back."""

    def __enter__(self):
        from transformers.models.siglip2 import modeling_siglip2
        self.module, self.original = modeling_siglip2.F, modeling_siglip2.F.interpolate
        original = self.original

        def interpolate(x, size=None, **kw):
            if kw.get("antialias") and size is not None and int(size[1]) == 1 and int(size[0]) != x.shape[-2]:
                return original(x.transpose(-1, -2), size=(int(size[1]), int(size[0])), **kw).transpose(-1, -2)
            return original(x, size=size, **kw)
        self.module.interpolate = interpolate

    def __exit__(self, *exc):
        self.module.interpolate = self.original


def name_pil_class(work: str) -> str:
    """Renames the saved image processor class to its Pillow twin (`…Pil`), as a hand-edited or other tool's checkpoint
    may; transformers 5.23's AutoProcessor still builds the torchvision class for it (the backend is an argument)."""
    path = pathlib.Path(work) / "processor_config.json"
    config = json.loads(path.read_text())
    config["image_processor"]["image_processor_type"] += "Pil"
    path.write_text(json.dumps(config, indent=2))
    return config["image_processor"]["image_processor_type"]


def legacy_layout(work: str, side: random.Random) -> str:
    """Rewrites the saved processor as most published checkpoints carry it: the image processor's settings alone in
    preprocessor_config.json (no processor_config.json), for CLIP now and then with integer `size` / `crop_size`
    (read as a shortest edge and a square crop)."""
    path = pathlib.Path(work) / "processor_config.json"
    config = json.loads(path.read_text())
    images = config.pop("image_processor")
    images["processor_class"] = config.get("processor_class")
    what = "preprocessor_config.json"
    if images.get("image_processor_type", "").startswith("CLIP") and side.random() < 0.5:
        if "shortest_edge" in images.get("size", {}) and images.get("crop_size", {}).get("height") == images["crop_size"].get("width"):
            images["size"], images["crop_size"] = images["size"]["shortest_edge"], images["crop_size"]["height"]
            what += " with integer sizes"
    (pathlib.Path(work) / "preprocessor_config.json").write_text(json.dumps(images, indent=2))
    path.unlink()
    return what


def seed(seed: int, vidlm: str, work: str, family: str, kind: str = "mixed") -> tuple[str, str]:
    import transformers
    transformers.logging.set_verbosity_error()
    rng = random.Random(seed)
    family = family if family != "mixed" else rng.choice(FAMILIES)
    torch.manual_seed(seed)
    model, facts = {"clip": clip_model, "siglip": siglip_model, "siglip2": siglip2_model}[family](rng, work)
    if rng.random() < 0.2:
        facts += f" type {name_pil_class(work)}"
    side = random.Random(seed * 104729 + 3)  # later options: earlier seeds keep their models and inputs
    if side.random() < 0.25:
        facts += f" {legacy_layout(work, side)}"
    kind = kind if kind != "mixed" else rng.choice(["image", "image", "clip"])
    extra = []
    if kind == "image":
        media, what = still(rng, work, seed)
        if rng.random() < 0.3:  # several files in one classify call: the stills go through the tower together
            for n in range(rng.randrange(1, 4)):
                sub = os.path.join(work, f"more{n}")
                os.makedirs(sub)
                path, more = still(rng, sub, seed + 1000 * (n + 1))
                extra.append(path)
                what += f" + {more}"
    else:
        from differential_sweep import make_clip
        ext = rng.choice(["mp4", "mkv", "webm", "mov", "avi"])
        media = os.path.join(work, "input." + ext)
        try:
            what = f"{ext} {make_clip(rng, media, ext)}"
        except subprocess.CalledProcessError:
            return "skip", f"{family} input clip {ext}: ffmpeg could not write this combination"
    count = rng.choice([1, 2, 3, 5, 8]) if kind == "clip" else None
    if kind == "clip" and side.random() < 0.3:  # a still classified in the same run, before or after the clip
        sub = os.path.join(work, "still")
        os.makedirs(sub)
        path, more = still(side, sub, seed + 5000)
        extra.append(path)
        after = side.random() < 0.5
        what += f" + still {more} {'after' if after else 'before'} it"
    labels, template = labels_for(rng)
    texts = [template.replace("{}", label) if template else label for label in labels]
    free = random_text(rng, long=rng.random() < 0.25)
    facts = f"{facts} input {kind} {what}" + (f" frames {count}" if count else "")
    model_dir = ["--model", work]
    frame_args = ["--frames", str(count)] if count else []

    # vidlm: the media's embeddings, a free text's (commas, any length), the media classified against the labels.
    embed, error = run_vidlm(vidlm, ["embed", media, *model_dir, "--json", *frame_args])
    vision = model.config.vision_config
    if family == "clip" and vision.image_size % vision.patch_size and embed is None and "multiple of patch_size" in error:
        # vidlm's VisionConfig: CLIP checkpoints divide evenly, anything else is refused as a mistake (transformers'
        # patch convolution would drop the remainder); a refusal in one sentence is what is asked of it.
        return "skip", f"{facts}: vidlm refuses a CLIP image size that is not a multiple of the patch, by design"
    if embed is None:
        return "fail", f"{facts}: vidlm embed: {error}"
    free_got, free_error = run_vidlm(vidlm, ["embed", f"--text={free}", *model_dir, "--json"])
    files = [media, *extra] if kind == "image" or not extra or after else [*extra, media]
    args = ["classify", *files, *model_dir, f"--labels={','.join(labels)}", "--json", *frame_args]
    if template:
        args.append(f"--template={template}")
    got, error = run_vidlm(vidlm, args)

    # transformers: the still through load_image, or the frames vidlm reports (torchcodec's exact decode).
    if kind == "image":
        pictures_per_file = [[reference_picture(path)] for path in [media, *extra]]
    else:
        indices = [f["index"] for f in embed["frames"]]
        by_file = {media: decode_clip(media, indices), **{path: [reference_picture(path)] for path in extra}}
        pictures_per_file = [by_file[path] for path in files]
        facts += f" indices {indices}"
    ref = Reference(family, model, work)
    try:
        shapes = ref.pixels([p for pics in pictures_per_file for p in pics]).get("spatial_shapes")
    except Exception as e:  # the reference itself cannot take this picture
        return "skip", f"{facts}: transformers: {type(e).__name__}: {str(e)[:160]}"
    if shapes is not None:
        facts += f" grids {sorted(set(map(tuple, shapes.tolist())))}"
    problems, margins = compare(ref, kind, pictures_per_file, files.index(media), embed, free, free_got, free_error, labels, texts, got, error)
    if problems and shapes is not None and bool((shapes[:, 1] == 1).any()):
        with WithoutWidthOneQuirk():
            others, _ = compare(ref, kind, pictures_per_file, files.index(media), embed, free, free_got, free_error, labels, texts, got, error)
        if not others:
            return "skip", (f"{facts}: {problems} -- known reference quirk: a patch grid one patch wide, where transformers on "
                            "CPU gives every patch the first row's position embedding (WithoutWidthOneQuirk); vidlm equals "
                            "the resize without it")
    if problems:
        return "fail", f"{facts}: {problems}"
    return "ok", f"{facts} (max differences: " + ", ".join(f"{k} {v:.1e}" for k, v in margins.items()) + ")"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--family", choices=FAMILIES + ["mixed"], default="mixed")
    parser.add_argument("--kind", choices=["image", "clip", "mixed"], default="mixed")
    parser.add_argument("--vidlm", default=str(ROOT / ".build" / "release" / "vidlm"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()
    tally = {"ok": 0, "skip": 0, "fail": 0}
    table = collections.Counter()
    for s in range(args.first, args.first + args.count):
        work = tempfile.mkdtemp(prefix="vidlm-sweep-contrastive-")
        try:
            status, what = seed(s, args.vidlm, work, args.family, args.kind)
        except Exception as error:
            status, what = "fail", f"sweep error: {type(error).__name__}: {error}"
        finally:
            shutil.rmtree(work, ignore_errors=True)
        tally[status] += 1
        fam = what.split(" ", 1)[0] if what.split(" ", 1)[0] in FAMILIES else "?"
        kind = "clip" if " input clip " in what else "image" if " input image " in what else "?"
        table[(fam, kind, status)] += 1
        print(f"seed {s}: {status}  {what}", flush=True)
    for (fam, kind, status), n in sorted(table.items()):
        print(f"  {fam:8s} {kind:6s} {status:5s} {n}")
    print(" ".join(f"{k} {v}" for k, v in tally.items()))
    sys.exit(1 if tally["fail"] else 0)


if __name__ == "__main__":
    main()
