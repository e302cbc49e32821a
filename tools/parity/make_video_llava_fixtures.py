"""Builds the Video-LLaVA (model_type `video_llava`) parity fixtures (no downloads, deterministic):

    tools/.venv/bin/python tools/parity/make_video_llava_fixtures.py

The oracle is transformers 5.23 (`VideoLlavaForConditionalGeneration`, `VideoLlavaProcessor`: the torchvision
`VideoLlavaImageProcessor` and `VideoLlavaVideoProcessor`).

Writes Tests/Fixtures/parity/video_llava_tiny/: a tiny random Video-LLaVA — separate CLIP image and video towers
(32 px, 8 px patches, vision_feature_layer -2; images drop the class token, video frames keep it: 17 tokens a
frame), one projector, LLaMA decoder — with the LLaVA test tokenizer plus `<video>` and the corpus's Video-LLaVA
chat template (18-video-llava.jinja). cases/image_and_video: a 100x61 picture and 8 frames of
Tests/Fixtures/media/cfr_bframes.mp4 (torchcodec, exact seek; vidlm's uniform sampling of 8) in one message →
image features, video features, prompt ids, last logits, 24 greedy ids (checked against a cache-free loop).
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
from transformers import (
    AutoProcessor,
    VideoLlavaConfig,
    VideoLlavaForConditionalGeneration,
    VideoLlavaImageProcessor,
    VideoLlavaProcessor,
    VideoLlavaVideoProcessor,
)

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_llava_fixtures import VIDEO, decode_frames, make_image, rel, write_json  # noqa: E402
from make_llava_next_video_fixtures import build_tokenizer  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "parity" / "video_llava_tiny"
TEMPLATE = ROOT / "Tests" / "Fixtures" / "chat_templates" / "templates" / "18-video-llava.jinja"
SEED = 20261210
NEW_TOKENS = 24
# vidlm's uniform sampling of 8 frames of the 4 s, 25 fps clip: the frame on screen at (i + 0.5) / 2 s.
FRAME_INDICES = [6, 18, 31, 43, 56, 68, 81, 93]


def build_model(tokenizer):
    ids = tokenizer.convert_tokens_to_ids
    config = VideoLlavaConfig(
        text_config=dict(model_type="llama", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, vocab_size=len(tokenizer),
                         max_position_embeddings=1024, rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
                         hidden_act="silu", bos_token_id=ids("<s>"), eos_token_id=ids("</s>"), pad_token_id=ids("<pad>")),
        vision_config=dict(model_type="clip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                           num_attention_heads=4, image_size=32, patch_size=8, hidden_act="quick_gelu",
                           layer_norm_eps=1e-5, projection_dim=16),
        image_token_index=ids("<image>"), video_token_index=ids("<video>"), projector_hidden_act="gelu",
        vision_feature_select_strategy="default", vision_feature_layer=-2, image_seq_length=16,
        video_seq_length=8 * 17, tie_word_embeddings=False, pad_token_id=ids("<pad>"))
    torch.manual_seed(SEED)
    model = VideoLlavaForConditionalGeneration(config).to(torch.float32).eval()
    g = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or "layernorm.weight" in name or "layer_norm" in name or "layrnorm.weight" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name or "embedding" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
    return model


def main():
    transformers.logging.set_verbosity_error()
    tokenizer = build_tokenizer()
    clip = dict(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = VideoLlavaProcessor(image_processor=VideoLlavaImageProcessor(**clip),
                                    video_processor=VideoLlavaVideoProcessor(**clip), tokenizer=tokenizer, patch_size=8,
                                    vision_feature_select_strategy="default", chat_template=TEMPLATE.read_text(),
                                    num_additional_image_tokens=1)
    model = build_model(tokenizer)
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    model.save_pretrained(OUT)
    processor.save_pretrained(OUT)
    processor = AutoProcessor.from_pretrained(OUT)
    model = VideoLlavaForConditionalGeneration.from_pretrained(OUT).to(torch.float32).eval()
    tok = processor.tokenizer

    folder = OUT / "cases" / "image_and_video"
    folder.mkdir(parents=True)
    make_image(100, 61, 0.0).save(folder / "input.png", optimize=True)
    image = Image.open(folder / "input.png").convert("RGB")
    frames = decode_frames(FRAME_INDICES)
    text = "What happens in the video, and what does the picture show?"
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "video"}, {"type": "text", "text": text}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=prompt, images=[image], videos=[frames.numpy()], return_tensors="pt")
    with torch.no_grad():
        image_features = model.model.get_image_features(inputs["pixel_values_images"], return_dict=True).pooler_output
        video_features = model.model.get_video_features(inputs["pixel_values_videos"], return_dict=True).pooler_output
        logits = model(**inputs, use_cache=False).logits[0, -1]
    ids = inputs["input_ids"][0].tolist()
    gen = transformers.GenerationConfig(do_sample=False, max_new_tokens=NEW_TOKENS, min_new_tokens=0, eos_token_id=None,
                                        bos_token_id=None, pad_token_id=tok.pad_token_id, num_beams=1)
    with torch.no_grad():
        seq = model.generate(**inputs, generation_config=gen, output_scores=True, return_dict_in_generate=True)
    generated = seq.sequences[0, len(ids):].tolist()
    run, manual = inputs["input_ids"], []
    extra = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
    with torch.no_grad():
        for _ in range(NEW_TOKENS):
            nxt = int(torch.argmax(model(input_ids=run, attention_mask=torch.ones_like(run), use_cache=False, **extra).logits[0, -1]))
            manual.append(nxt)
            run = torch.cat([run, torch.tensor([[nxt]])], dim=1)
    assert manual == generated
    margin = min(float(torch.topk(s[0], 2).values[0] - torch.topk(s[0], 2).values[1]) for s in seq.scores)
    image_rows = torch.cat(list(image_features), 0) if isinstance(image_features, (list, tuple)) else image_features.reshape(-1, 64)
    video_rows = torch.cat(list(video_features), 0) if isinstance(video_features, (list, tuple)) else video_features.reshape(-1, 64)
    assert ids.count(model.config.video_token_id) == video_rows.shape[0] == 8 * 17
    save_file({"pixel_values_images": inputs["pixel_values_images"][0].contiguous(),
               "pixel_values_videos": inputs["pixel_values_videos"][0].contiguous(),
               "image_features": image_rows.contiguous(), "video_features": video_rows.contiguous(),
               "logits_last": logits.contiguous(), "frames_uint8": frames}, str(folder / "expected.safetensors"))
    write_json(folder / "meta.json", {
        "messages": [{"role": "user", "content": [{"type": "image", "path": rel(folder / "input.png")},
                                                  {"type": "video", "path": rel(VIDEO)}, {"type": "text", "text": text}]}],
        "prompt": prompt, "input_ids": ids, "num_tokens": len(ids), "frame_indices": FRAME_INDICES,
        "image_tokens": int(image_rows.shape[0]), "video_tokens": int(video_rows.shape[0]),
        "generated_ids": generated, "min_greedy_margin": margin,
        "how_called": "processor(text=apply_chat_template(messages, add_generation_prompt=True, tokenize=False), "
                      "images=[image], videos=[8 frames uint8 THWC], return_tensors='pt')",
    })
    write_json(OUT / "oracle.json", {
        "generator": "tools/parity/make_video_llava_fixtures.py",
        "versions": {"python": sys.version.split()[0], "transformers": transformers.__version__, "torch": torch.__version__},
        "seed": SEED, "weight_names": sorted({k.split(".layers.")[0] for k in model.state_dict()}),
    })
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {rel(OUT)}: {total} bytes")
    assert total < 1_800_000, total


if __name__ == "__main__":
    main()
