"""Builds the SigLIP-2 NaFlex zero-shot / embedding parity fixtures (model_type `siglip2`; no downloads, deterministic):

    tools/.venv/bin/python tools/parity/make_siglip2_fixtures.py

The oracle is transformers 5.23 (`Siglip2Model`, the torchvision `Siglip2ImageProcessor`, and the `Siglip2Tokenizer`
AutoProcessor builds for any siglip2 checkpoint: the tokenizer.json's vocabulary and merges under a lowercasing
normalizer, padded on the left).

Writes Tests/Fixtures/parity/siglip2_naflex_tiny/: a tiny random Siglip2Model (NaFlex image tower: linear patch
embedding, learned 5 x 5 position grid resized per image, attention-pooling head masked to the real patches;
bidirectional text tower pooled at the last position) saved with its processor. The processor's max_num_patches (23)
differs from the model's num_patches (25) on purpose: the position grid is resized up along one axis and down along
the other. As the processor and the zero-shot pipeline do, texts go through
processor(text=..., padding="max_length", max_length=64) and the model gets input_ids AND attention_mask.
cases/<name>/meta.json + expected.safetensors:
  images: two pictures of odd aspect ratios (100 x 61, 37 x 90) → pixel_values [2, 23, 3·8·8], pixel_attention_mask,
          spatial_shapes, each image's resized position embeddings, image_embeds, text ids / mask, text_embeds,
          logits_per_image, sigmoid probabilities.
  frames: three frames of Tests/Fixtures/media/cfr_bframes.mp4 (torchcodec) → per-frame logits / probabilities.
  pil_named: the images case with the saved image_processor_type renamed "Siglip2ImageProcessorPil" (processor_config.json
          in the case folder): AutoProcessor still builds the torchvision Siglip2ImageProcessor, so pixel values and image
          embeddings are the images case's (the Pillow class would resize differently; sweep_contrastive.py found vidlm
          switching to Pillow on that name).
"""
from __future__ import annotations

import math
import pathlib
import shutil
import sys

import torch
import transformers
from PIL import Image
from safetensors.torch import save_file
from transformers import AutoProcessor, Siglip2Config, Siglip2ImageProcessor, Siglip2Model, Siglip2Processor

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_llava_fixtures import FRAME_INDICES, VIDEO, decode_frames, make_image, rel, write_json  # noqa: E402
from make_siglip_fixtures import build_tokenizer  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "parity" / "siglip2_naflex_tiny"
SEED = 20261212
LABELS = ["a Cat", "a dog", "A RED ball", "two yellow  squares"]
TEMPLATE = "a photo of {}."
PATCH = 8
NUM_PATCHES = 25       # the model's learned 5 x 5 position grid
MAX_NUM_PATCHES = 23   # the processor's budget per image


def build_model(vocab_size, pad_id) -> Siglip2Model:
    config = Siglip2Config(
        text_config=dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=64, hidden_act="gelu_pytorch_tanh",
                         layer_norm_eps=1e-6, pad_token_id=pad_id, projection_size=32),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           patch_size=PATCH, num_patches=NUM_PATCHES, hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6))
    torch.manual_seed(SEED)
    model = Siglip2Model(config).to(torch.float32).eval()
    g = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in ("logit_scale", "logit_bias"):
                p.copy_(torch.tensor([2.1 if name == "logit_scale" else -1.3]))
            elif "norm.weight" in name or "layer_norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif "embedding" in name or "probe" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
    return model


def run(processor, model, images):
    texts = [TEMPLATE.format(label) for label in LABELS]
    text = processor(text=texts, padding="max_length", max_length=64, truncation=True, return_tensors="pt")
    # The image processor itself, as the zero-shot pipeline calls it: Siglip2Processor.__call__ would put its class
    # defaults (patch_size 16, max_num_patches 256) over the saved image processor's values.
    pix = processor.image_processor(images=images, return_tensors="pt")
    with torch.no_grad():
        out = model(input_ids=text["input_ids"], attention_mask=text["attention_mask"], **pix)
    return texts, text, pix, out


def save_case(name, meta, tensors):
    folder = OUT / "cases" / name
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(folder / "expected.safetensors"))
    write_json(folder / "meta.json", meta)


def main():
    transformers.logging.set_verbosity_error()
    tokenizer = build_tokenizer()
    image_processor = Siglip2ImageProcessor(patch_size=PATCH, max_num_patches=MAX_NUM_PATCHES)
    processor = Siglip2Processor(image_processor=image_processor, tokenizer=tokenizer)
    model = build_model(len(tokenizer), tokenizer.pad_token_id)
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    model.save_pretrained(OUT)
    processor.save_pretrained(OUT)
    processor = AutoProcessor.from_pretrained(OUT)
    model = Siglip2Model.from_pretrained(OUT).to(torch.float32).eval()
    assert type(processor.tokenizer).__name__ == "Siglip2Tokenizer", type(processor.tokenizer)
    assert processor.tokenizer.padding_side == "left"

    (OUT / "cases" / "images").mkdir(parents=True)
    names = ["wide.png", "tall.png"]
    make_image(100, 61, 0.0).save(OUT / "cases/images" / names[0], optimize=True)
    make_image(37, 90, 1.1).save(OUT / "cases/images" / names[1], optimize=True)
    images = [Image.open(OUT / "cases/images" / n).convert("RGB") for n in names]
    texts, text, pix, out = run(processor, model, images)
    emb = model.vision_model.embeddings
    grid = emb.position_embedding.weight.reshape(emb.position_embedding_size, emb.position_embedding_size, -1)
    positions = emb.resize_positional_embeddings(grid, pix["spatial_shapes"], max_length=MAX_NUM_PATCHES)
    save_case("images", {"labels": LABELS, "template": TEMPLATE, "texts": texts, "images": names,
                         "input_ids": text["input_ids"].tolist(), "attention_mask": text["attention_mask"].tolist(),
                         "spatial_shapes": pix["spatial_shapes"].tolist(),
                         "logit_scale_exp": float(model.logit_scale.detach().exp()), "logit_bias": float(model.logit_bias.detach()),
                         "how_called": "processor(text=texts, padding='max_length', max_length=64, truncation=True); "
                                       "processor.image_processor(images=images); Siglip2Model(input_ids, attention_mask, pixel_values, "
                                       "pixel_attention_mask, spatial_shapes)"},
              {"pixel_values": pix["pixel_values"], "pixel_attention_mask": pix["pixel_attention_mask"],
               "spatial_shapes": pix["spatial_shapes"], "positions": positions,
               "image_embeds": out.image_embeds, "text_embeds": out.text_embeds,
               "logits_per_image": out.logits_per_image, "probabilities": torch.sigmoid(out.logits_per_image)})
    frames = decode_frames(FRAME_INDICES)
    texts, text, pix, out = run(processor, model, [Image.fromarray(f.numpy()) for f in frames])
    probs = torch.sigmoid(out.logits_per_image)
    save_case("frames", {"labels": LABELS, "template": TEMPLATE, "video": rel(VIDEO), "frame_indices": FRAME_INDICES,
                         "spatial_shapes": pix["spatial_shapes"].tolist(), "mean_probabilities": probs.mean(0).tolist()},
              {"pixel_values": pix["pixel_values"], "image_embeds": out.image_embeds,
               "logits_per_image": out.logits_per_image, "probabilities": probs})
    import json
    import tempfile
    from transformers.models.siglip2.image_processing_pil_siglip2 import Siglip2ImageProcessorPil
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(OUT, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns("cases"))
        config = json.loads((pathlib.Path(tmp) / "processor_config.json").read_text())
        config["image_processor"]["image_processor_type"] = "Siglip2ImageProcessorPil"
        (pathlib.Path(tmp) / "processor_config.json").write_text(json.dumps(config, indent=2) + "\n")
        renamed = AutoProcessor.from_pretrained(tmp)
        assert type(renamed.image_processor).__name__ == "Siglip2ImageProcessor", type(renamed.image_processor)
        pix = renamed.image_processor(images=images, return_tensors="pt")
        pillow = Siglip2ImageProcessorPil(**{k: v for k, v in config["image_processor"].items() if k != "image_processor_type"})
        assert not torch.equal(pillow(images=images, return_tensors="pt")["pixel_values"], pix["pixel_values"]), "Pillow resizes alike"
        with torch.no_grad():
            embeds = model.get_image_features(**pix).pooler_output
        save_case("pil_named", {"images": [f"cases/images/{n}" for n in names], "spatial_shapes": pix["spatial_shapes"].tolist(),
                                "image_processor_class": type(renamed.image_processor).__name__,
                                "how_called": "AutoProcessor.from_pretrained(folder with the renamed type).image_processor(images=images)"},
                  {"pixel_values": pix["pixel_values"], "image_embeds": embeds / embeds.norm(dim=-1, keepdim=True)})
        shutil.copy(pathlib.Path(tmp) / "processor_config.json", OUT / "cases" / "pil_named" / "processor_config.json")

    write_json(OUT / "oracle.json", {
        "generator": "tools/parity/make_siglip2_fixtures.py",
        "versions": {"python": sys.version.split()[0], "transformers": transformers.__version__, "torch": torch.__version__},
        "seed": SEED, "weight_names": sorted({k.split(".layers.")[0] for k in model.state_dict()}),
        "image_processor_class": type(processor.image_processor).__name__,
        "tokenizer_class": type(processor.tokenizer).__name__,
    })
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {rel(OUT)}: {total} bytes")
    assert total < 1_000_000, total


if __name__ == "__main__":
    main()
