"""Builds the LLaVA-NeXT-Video (model_type `llava_next_video`) parity fixtures (no downloads, deterministic):

    tools/.venv/bin/python tools/parity/make_llava_next_video_fixtures.py

The oracle is transformers 5.23 (`LlavaNextVideoForConditionalGeneration`, `LlavaNextVideoProcessor`: the
torchvision `LlavaNextImageProcessor` for images, `LlavaNextVideoVideoProcessor` for frames).

Writes Tests/Fixtures/parity/llava_next_video_tiny/: a tiny random LLaVA-NeXT-Video (CLIP tower 32 px / 8 px
patches, AnyRes pinpoints in 32 px tiles, spatial_pool_mode "average" stride 2) over a LLaMA decoder, the
LLaVA-1.5 test tokenizer with `<video>` added, and the corpus's LLaVA-NeXT-Video chat template
(15-llava-next-video.jinja: images, then videos, then the text). cases/image_and_video: one message with a
100x61 picture and three frames of Tests/Fixtures/media/cfr_bframes.mp4 (torchcodec, exact seek, the frames
vidlm's uniform sampling picks) → the image's packed features, the video's pooled + projected features, prompt
ids, last logits, 24 greedy ids (EOS disabled, checked against a cache-free loop).
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
from tokenizers import AddedToken, Tokenizer
from transformers import (
    AutoProcessor,
    LlavaNextImageProcessor,
    LlavaNextVideoConfig,
    LlavaNextVideoForConditionalGeneration,
    LlavaNextVideoProcessor,
    LlavaNextVideoVideoProcessor,
    PreTrainedTokenizerFast,
)

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_llava_fixtures import FRAME_INDICES, TOKENIZER, VIDEO, decode_frames, make_image, rel, write_json  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "parity" / "llava_next_video_tiny"
TEMPLATE = ROOT / "Tests" / "Fixtures" / "chat_templates" / "templates" / "16-llava-next-video.jinja"
SEED = 20261208
NEW_TOKENS = 24
PINPOINTS = [[32, 64], [64, 32], [64, 64]]


def build_tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer.from_file(str(TOKENIZER))
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ("<pad>", "<video>")])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", extra_special_tokens={"image_token": "<image>", "video_token": "<video>"},
                                   model_max_length=4096, clean_up_tokenization_spaces=False)


def build_model(tokenizer):
    ids = tokenizer.convert_tokens_to_ids
    config = LlavaNextVideoConfig(
        text_config=dict(model_type="llama", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, vocab_size=len(tokenizer),
                         max_position_embeddings=1024, rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
                         hidden_act="silu", bos_token_id=ids("<s>"), eos_token_id=ids("</s>"), pad_token_id=ids("<pad>")),
        vision_config=dict(model_type="clip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                           num_attention_heads=4, image_size=32, patch_size=8, hidden_act="quick_gelu",
                           layer_norm_eps=1e-5, projection_dim=16),
        image_token_index=ids("<image>"), video_token_index=ids("<video>"), image_grid_pinpoints=PINPOINTS,
        projector_hidden_act="gelu", vision_feature_select_strategy="default", vision_feature_layer=-2,
        spatial_pool_mode="average", spatial_pool_stride=2, tie_word_embeddings=False, pad_token_id=ids("<pad>"),
        image_seq_length=16, video_seq_length=4)
    torch.manual_seed(SEED)
    model = LlavaNextVideoForConditionalGeneration(config).to(torch.float32).eval()
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


def main():
    transformers.logging.set_verbosity_error()
    tokenizer = build_tokenizer()
    clip = dict(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = LlavaNextVideoProcessor(
        image_processor=LlavaNextImageProcessor(image_grid_pinpoints=PINPOINTS, **clip),
        video_processor=LlavaNextVideoVideoProcessor(**clip), tokenizer=tokenizer, patch_size=8,
        vision_feature_select_strategy="default", chat_template=TEMPLATE.read_text(), num_additional_image_tokens=1)
    model = build_model(tokenizer)
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    model.save_pretrained(OUT)
    processor.save_pretrained(OUT)
    processor = AutoProcessor.from_pretrained(OUT)
    model = LlavaNextVideoForConditionalGeneration.from_pretrained(OUT).to(torch.float32).eval()
    tok = processor.tokenizer

    folder = OUT / "cases" / "image_and_video"
    folder.mkdir(parents=True)
    make_image(100, 61, 0.0).save(folder / "input.png", optimize=True)
    image = Image.open(folder / "input.png").convert("RGB")
    frames = decode_frames(FRAME_INDICES)            # [T, H, W, 3] uint8
    text = "What happens in the video, and what does the picture show?"
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "video"}, {"type": "text", "text": text}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=prompt, images=[image], videos=[frames.numpy()], return_tensors="pt")
    with torch.no_grad():
        packed = model.model.get_image_features(inputs["pixel_values"], inputs["image_sizes"], return_dict=True).pooler_output
        video = model.model.get_video_features(inputs["pixel_values_videos"], return_dict=True).pooler_output
        logits = model(**inputs, use_cache=False).logits[0, -1]
    ids = inputs["input_ids"][0].tolist()
    assert ids.count(model.config.video_token_id) == video.shape[1] == 3 * 4
    gen = transformers.GenerationConfig(do_sample=False, max_new_tokens=NEW_TOKENS, min_new_tokens=0, eos_token_id=None,
                                        bos_token_id=None, pad_token_id=tok.pad_token_id, num_beams=1)
    with torch.no_grad():
        seq = model.generate(**inputs, generation_config=gen, output_scores=True, return_dict_in_generate=True)
    generated = seq.sequences[0, len(ids):].tolist()
    manual, run = [], inputs["input_ids"]
    extra = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
    with torch.no_grad():
        for _ in range(NEW_TOKENS):
            nxt = int(torch.argmax(model(input_ids=run, attention_mask=torch.ones_like(run), use_cache=False, **extra).logits[0, -1]))
            manual.append(nxt)
            run = torch.cat([run, torch.tensor([[nxt]])], dim=1)
    assert manual == generated
    margin = min(float(torch.topk(s[0], 2).values[0] - torch.topk(s[0], 2).values[1]) for s in seq.scores)
    save_file({"pixel_values_videos": inputs["pixel_values_videos"][0].contiguous(), "packed_image": packed[0].contiguous(),
               "video_features": video[0].contiguous(), "logits_last": logits.contiguous(), "frames_uint8": frames},
              str(folder / "expected.safetensors"))
    write_json(folder / "meta.json", {
        "messages": [{"role": "user", "content": [{"type": "image", "path": rel(folder / "input.png")},
                                                  {"type": "video", "path": rel(VIDEO)}, {"type": "text", "text": text}]}],
        "prompt": prompt, "input_ids": ids, "num_tokens": len(ids), "frame_indices": FRAME_INDICES,
        "image_tokens": int(packed[0].shape[0]), "video_tokens": int(video.shape[1]),
        "generated_ids": generated, "min_greedy_margin": margin,
        "how_called": "processor(text=apply_chat_template(messages, add_generation_prompt=True, tokenize=False), "
                      "images=[image], videos=[frames uint8 THWC], return_tensors='pt')",
    })
    write_json(OUT / "oracle.json", {
        "generator": "tools/parity/make_llava_next_video_fixtures.py",
        "versions": {"python": sys.version.split()[0], "transformers": transformers.__version__, "torch": torch.__version__},
        "seed": SEED, "video_processor_class": type(processor.video_processor).__name__,
    })
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {rel(OUT)}: {total} bytes")
    assert total < 1_500_000, total


if __name__ == "__main__":
    main()
