"""Builds the SigLIP zero-shot / embedding parity fixtures (model_type `siglip`; no downloads, deterministic):

    tools/.venv/bin/python tools/parity/make_siglip_fixtures.py

The oracle is transformers 5.23 (`SiglipModel`, the torchvision `SiglipImageProcessor`).

Writes Tests/Fixtures/parity/siglip_tiny/: a tiny random SiglipModel (SigLIP image tower with its attention-pooling
head, bidirectional text tower pooled at the last position with its `head`, logit_scale and logit_bias) with a
tokenizer.json tokenizer (the corpus's SentencePiece-style BPE, Tests/Fixtures/tokenizers/metaspace, with <pad>;
SigLIP-2 fixed-resolution checkpoints likewise ship a tokenizer.json, Gemma's). As the zero-shot pipeline and the
model card do, texts are tokenized with padding="max_length", max_length=64, and the tokenizer's attention_mask goes to
the model (a tokenizer whose model_input_names lack it, as the published checkpoints', runs unmasked: case image_unmasked).
cases/<name>/meta.json + expected.safetensors:
  image:  labels through "a photo of {}." → padded input_ids, pixel_values, image_embeds / text_embeds (normalised),
          logits_per_image, sigmoid probabilities.
  frames: three frames of Tests/Fixtures/media/cfr_bframes.mp4 (torchcodec) → per-frame logits / probabilities.
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
from transformers import AutoProcessor, PreTrainedTokenizerFast, SiglipConfig, SiglipImageProcessor, SiglipModel, SiglipProcessor

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_llava_fixtures import FRAME_INDICES, TOKENIZER, VIDEO, decode_frames, make_image, rel, write_json  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "parity" / "siglip_tiny"
SEED = 20261211
LABELS = ["a cat", "a dog", "a red ball", "two yellow squares"]
TEMPLATE = "a photo of {}."


def build_tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer.from_file(str(TOKENIZER))
    tok.add_special_tokens([AddedToken("<pad>", special=True, normalized=False)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", model_max_length=64, clean_up_tokenization_spaces=False)


def build_model(tokenizer) -> SiglipModel:
    config = SiglipConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=64, hidden_act="gelu_pytorch_tanh",
                         layer_norm_eps=1e-6, pad_token_id=tokenizer.pad_token_id, projection_size=32),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=32, patch_size=8, hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6))
    torch.manual_seed(SEED)
    model = SiglipModel(config).to(torch.float32).eval()
    g = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in ("logit_scale", "logit_bias"):
                p.copy_(torch.tensor([2.3 if name == "logit_scale" else -1.7]))
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
    """As the zero-shot pipeline does: the tokenizer's outputs (attention_mask too when the tokenizer
    returns it, which its model_input_names decide) go to the model with the pixels."""
    texts = [TEMPLATE.format(label) for label in LABELS]
    tokens = processor.tokenizer(texts, padding="max_length", max_length=64, truncation=True, return_tensors="pt")
    pixels = processor(images=images, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        out = model(**tokens, pixel_values=pixels)
    return texts, tokens["input_ids"], pixels, out


def save_case(name, meta, tensors):
    folder = OUT / "cases" / name
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(folder / "expected.safetensors"))
    write_json(folder / "meta.json", meta)


def main():
    transformers.logging.set_verbosity_error()
    tokenizer = build_tokenizer()
    processor = SiglipProcessor(image_processor=SiglipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tokenizer)
    model = build_model(tokenizer)
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    model.save_pretrained(OUT)
    processor.save_pretrained(OUT)
    processor = AutoProcessor.from_pretrained(OUT)
    model = SiglipModel.from_pretrained(OUT).to(torch.float32).eval()

    (OUT / "cases" / "image").mkdir(parents=True)
    make_image(100, 61, 0.0).save(OUT / "cases/image/input.png", optimize=True)
    image = Image.open(OUT / "cases/image/input.png").convert("RGB")
    texts, ids, pixels, out = run(processor, model, [image])
    save_case("image", {"labels": LABELS, "template": TEMPLATE, "texts": texts, "input_ids": ids.tolist(),
                        "logit_scale_exp": float(model.logit_scale.detach().exp()), "logit_bias": float(model.logit_bias.detach()),
                        "how_called": "tokenizer(texts, padding='max_length', max_length=64, truncation=True); "
                                      "SiglipModel(input_ids=ids, pixel_values=processor(images=[image]).pixel_values)"},
              {"pixel_values": pixels, "image_embeds": out.image_embeds, "text_embeds": out.text_embeds,
               "logits_per_image": out.logits_per_image, "probabilities": torch.sigmoid(out.logits_per_image)})
    # The published SigLIP checkpoints' tokenizer_config.json says model_input_names ["input_ids"]:
    # no attention_mask, so the text tower runs unmasked. The case carries that tokenizer_config.json.
    (OUT / "cases" / "image_unmasked").mkdir(parents=True)
    config = json.loads((OUT / "tokenizer_config.json").read_text())
    config["model_input_names"] = ["input_ids"]
    (OUT / "cases" / "image_unmasked" / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    unmasked = AutoProcessor.from_pretrained(OUT, tokenizer=PreTrainedTokenizerFast.from_pretrained(
        OUT, model_input_names=["input_ids"]))
    texts, ids, pixels, out = run(unmasked, model, [image])
    assert "attention_mask" not in unmasked.tokenizer(texts[:1])
    save_case("image_unmasked", {"labels": LABELS, "template": TEMPLATE, "texts": texts, "input_ids": ids.tolist(),
                                 "how_called": "as image, with the case's tokenizer_config.json (model_input_names "
                                               "['input_ids']): no attention_mask reaches the text tower"},
              {"text_embeds": out.text_embeds, "logits_per_image": out.logits_per_image,
               "probabilities": torch.sigmoid(out.logits_per_image)})
    frames = decode_frames(FRAME_INDICES)
    texts, ids, pixels, out = run(processor, model, [Image.fromarray(f.numpy()) for f in frames])
    probs = torch.sigmoid(out.logits_per_image)
    save_case("frames", {"labels": LABELS, "template": TEMPLATE, "video": rel(VIDEO), "frame_indices": FRAME_INDICES,
                         "mean_probabilities": probs.mean(0).tolist()},
              {"pixel_values": pixels, "image_embeds": out.image_embeds, "logits_per_image": out.logits_per_image,
               "probabilities": probs})
    write_json(OUT / "oracle.json", {
        "generator": "tools/parity/make_siglip_fixtures.py",
        "versions": {"python": sys.version.split()[0], "transformers": transformers.__version__, "torch": torch.__version__},
        "seed": SEED, "weight_names": sorted({k.split(".layers.")[0] for k in model.state_dict()}),
        "image_processor_class": type(processor.image_processor).__name__,
    })
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {rel(OUT)}: {total} bytes")
    assert total < 1_000_000, total


if __name__ == "__main__":
    main()
