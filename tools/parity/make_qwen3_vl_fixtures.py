"""Builds the Qwen3-VL parity fixtures (no downloads, deterministic):

    tools/.venv/bin/python tools/parity/make_qwen3_vl_fixtures.py

The oracle is transformers 5.23 (`Qwen3VLForConditionalGeneration`, `Qwen3VLProcessor` with the torchvision
`Qwen2VLImageProcessor` and `Qwen3VLVideoProcessor`).

Writes Tests/Fixtures/parity/qwen3_vl_tiny/: a tiny random Qwen3-VL — ViT with a Conv3d patch embedding over 2 frames
(16 px patches, with bias), learned position embeddings on a 6x6 grid interpolated bilinearly to each grid, 2-D rotary
positions, LayerNorm + GELU(tanh) blocks, the 2x2 patch merger and DeepStack mergers after blocks 0 and 2; the Qwen3
decoder (q/k RMSNorm per head, no biases, interleaved M-RoPE with mrope_section [2, 3, 3]; DeepStack features added
after decoder layers 0 and 1 at the visual tokens) — with the corpus's Qwen2 byte-level tokenizer
(Tests/Fixtures/tokenizers/qwen2, `<|video_pad|>` added) and a Qwen3-VL style chat template (no default system turn).
cases/<name>:
  image:        one 100x61 picture (smart_resize to 64x96): pixel values, grid, vision output and DeepStack features,
                M-RoPE position ids (get_rope_index), last logits, 24 greedy ids.
  video:        cfr_bframes.mp4 sampled as Qwen3VLVideoProcessor.sample_frames samples it at fps 1.75 (7 frames, an odd
                count: the last frame is repeated to fill the pair; linspace indices), decoded with torchcodec's exact
                seek (what vidlm decodes); the prompt carries "<t seconds>" before each frame pair: the same set.
  image_video:  the picture and the clip in one message (DeepStack rows joined at image and video positions).
oracle.json's `sampling`: Qwen3VLVideoProcessor.sample_frames for several clips and settings (one with a single frame).
Greedy ids are checked against a cache-free argmax loop.
"""
from __future__ import annotations

import pathlib
import shutil
import sys

import torch
import transformers
from PIL import Image
from transformers import (
    AutoProcessor,
    Qwen2VLImageProcessor,
    Qwen3VLConfig,
    Qwen3VLForConditionalGeneration,
    Qwen3VLProcessor,
    Qwen3VLVideoProcessor,
)
from transformers.video_utils import VideoMetadata

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_llava_fixtures import VIDEO, make_image, rel, write_json  # noqa: E402
from make_qwen_vl_fixtures import build_tokenizer, decode, greedy, widen  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "parity" / "qwen3_vl_tiny"
SEED = 20261230
FPS = 1.75
# Qwen3-VL-Instruct's content handling (its template also writes tool calls and reasoning, which these cases do not use).
TEMPLATE = (
    "{%- set image_count = namespace(value=0) %}{%- set video_count = namespace(value=0) %}"
    "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string %}{{- message['content'] }}"
    "{%- else %}{%- for content in message['content'] %}"
    "{%- if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{%- set image_count.value = image_count.value + 1 %}{%- if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif content['type'] == 'video' or 'video' in content %}"
    "{%- set video_count.value = video_count.value + 1 %}{%- if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "{{- '<|vision_start|><|video_pad|><|vision_end|>' }}"
    "{%- elif 'text' in content %}{{- content['text'] }}{%- endif %}{%- endfor %}{%- endif %}"
    "{{- '<|im_end|>\\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def run_case(name, processor, model, messages, saved_messages, images=None, videos=None, extra=None, videos_kwargs=None,
             keep_pixels=True):
    tok = processor.tokenizer
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=prompt, images=images, videos=videos, return_tensors="pt", **(videos_kwargs or {}))
    inputs.pop("video_metadata", None)
    tensors = {}
    with torch.no_grad():
        for kind, pixels_key, grid_key, fn in (("image", "pixel_values", "image_grid_thw", model.model.get_image_features),
                                               ("video", "pixel_values_videos", "video_grid_thw", model.model.get_video_features)):
            if pixels_key not in inputs:
                continue
            if keep_pixels:
                # A clip's first two frame pairs are enough to check the patch layout (keeps the fixture small).
                rows = int(inputs[grid_key][0, 1] * inputs[grid_key][0, 2]) * (1 if kind == "image" else 2)
                tensors[pixels_key] = inputs[pixels_key][:rows]
            tensors[grid_key] = inputs[grid_key].to(torch.int64)
            out = fn(inputs[pixels_key], inputs[grid_key], return_dict=True)
            tensors[f"{kind}_features"] = torch.cat(out.pooler_output)
            # [deepstack layers, tokens, D]
            tensors[f"{kind}_deepstack"] = torch.stack([torch.cat(f) for f in out.deepstack_features])
        rope_kwargs = {k: inputs[k] for k in ("image_grid_thw", "video_grid_thw") if k in inputs}
        positions, _ = model.model.get_rope_index(inputs["input_ids"], mm_token_type_ids=inputs["mm_token_type_ids"], **rope_kwargs)
        tensors["position_ids"] = positions[:, 0].to(torch.int64)
        tensors["logits_last"] = model(**inputs, use_cache=False).logits[0, -1]
    generated, margin = greedy(model, dict(inputs), tok)
    ids = inputs["input_ids"][0].tolist()
    folder = OUT / "cases" / name
    folder.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file
    save_file({k: v.detach().contiguous() for k, v in {**tensors, **(extra or {})}.items()}, str(folder / "expected.safetensors"))
    write_json(folder / "meta.json", {
        "messages": saved_messages, "prompt": prompt, "expanded_prompt": tok.decode(ids), "input_ids": ids,
        "num_tokens": len(ids), "generated_ids": generated, "min_greedy_margin": margin,
        "how_called": "processor(text=apply_chat_template(messages, add_generation_prompt=True, tokenize=False), "
                      "images=..., videos=..., video_metadata=[...frames_indices...], do_sample_frames=False, return_tensors='pt')",
    })
    print(name, "tokens", len(ids), "margin", round(margin, 4))


def build():
    tokenizer = build_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    text_config = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
                       num_key_value_heads=2, head_dim=16, vocab_size=len(tokenizer), max_position_embeddings=2048,
                       rms_norm_eps=1e-6, hidden_act="silu", pad_token_id=ids("<|endoftext|>"),
                       rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3],
                                        "mrope_interleaved": True})
    vision_config = dict(depth=3, hidden_size=32, intermediate_size=64, num_heads=4, out_hidden_size=64,
                         hidden_act="gelu_pytorch_tanh", patch_size=16, spatial_merge_size=2, temporal_patch_size=2,
                         in_channels=3, num_position_embeddings=36, deepstack_visual_indexes=[0, 2])
    config = Qwen3VLConfig(text_config=text_config, vision_config=vision_config, image_token_id=ids("<|image_pad|>"),
                           video_token_id=ids("<|video_pad|>"), vision_start_token_id=ids("<|vision_start|>"),
                           vision_end_token_id=ids("<|vision_end|>"), tie_word_embeddings=True)
    config.text_config.eos_token_id = ids("<|im_end|>")
    torch.manual_seed(SEED)
    model = Qwen3VLForConditionalGeneration(config).to(torch.float32).eval()
    widen(model, SEED + 1)
    with torch.no_grad():
        # Learned position embeddings as large as the patch embeddings, so their interpolation matters.
        g = torch.Generator().manual_seed(SEED + 2)
        model.model.visual.pos_embed.weight.copy_(torch.randn(model.model.visual.pos_embed.weight.shape, generator=g))
    pixels = dict(image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    processor = Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(size={"shortest_edge": 32 * 32 * 4, "longest_edge": 32 * 32 * 16}, patch_size=16,
                                              merge_size=2, temporal_patch_size=2, **pixels),
        video_processor=Qwen3VLVideoProcessor(size={"shortest_edge": 32 * 32 * 4, "longest_edge": 32 * 32 * 8 * 6}, fps=FPS,
                                              min_frames=4, max_frames=16, patch_size=16, merge_size=2, temporal_patch_size=2,
                                              cap_pixels_per_frame=False, **pixels),
        tokenizer=tokenizer, chat_template=TEMPLATE)
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    model.save_pretrained(OUT)
    processor.save_pretrained(OUT)
    processor = AutoProcessor.from_pretrained(OUT)
    model = Qwen3VLForConditionalGeneration.from_pretrained(OUT).to(torch.float32).eval()
    return processor, model


def sampling_cases():
    """Qwen3VLVideoProcessor.sample_frames on clips of several lengths and rates, with the processor settings that
    decide it. A temporal patch of 1 lets the count fall to one frame: linspace of one value is its start, frame 0
    (sweep_qwenvl.py found vidlm taking the last frame)."""
    cases = []
    for settings, total, rate in [({"temporal_patch_size": 1, "fps": 0.5, "min_frames": 1}, 36, 37.24095125343387),
                                  ({"temporal_patch_size": 1, "fps": 1.0, "min_frames": 1, "max_frames": 1}, 300, 30.0),
                                  ({"temporal_patch_size": 1, "fps": 0.25, "min_frames": 1}, 90, 30.0),
                                  ({"fps": 2.0, "min_frames": 4, "max_frames": 16}, 100, 25.0),
                                  ({"fps": 1.75, "min_frames": 2, "max_frames": 5}, 148, 10.068027210884354),
                                  ({"fps": 3.0, "min_frames": 4, "max_frames": 768}, 3, 24.0)]:
        videos = Qwen3VLVideoProcessor(**settings)
        metadata = VideoMetadata(total_num_frames=total, fps=rate, duration=total / rate, width=64, height=64)
        cases.append({"settings": settings, "total_frames": total, "clip_fps": rate,
                      "indices": [int(i) for i in videos.sample_frames(metadata)]})
    return cases


def main():
    transformers.logging.set_verbosity_error()
    processor, model = build()
    folder = OUT / "cases"
    (folder / "image").mkdir(parents=True)
    make_image(100, 61, 0.0).save(folder / "image" / "input.png", optimize=True)
    picture = Image.open(folder / "image" / "input.png").convert("RGB")
    image_path = rel(folder / "image" / "input.png")
    _, meta = decode([0])
    metadata = VideoMetadata(total_num_frames=meta.num_frames, fps=meta.average_fps, duration=meta.duration_seconds,
                             width=meta.width, height=meta.height)
    indices = processor.video_processor.sample_frames(metadata, fps=FPS).tolist()
    frames, _ = decode(indices)
    clip = frames.permute(0, 3, 1, 2)

    def vkw():
        # The timestamps come from the metadata (the clip's rate and the sampled indices), as when the processor samples.
        return dict(videos_kwargs=dict(do_sample_frames=False, video_metadata=[VideoMetadata(
            total_num_frames=meta.num_frames, fps=meta.average_fps, duration=meta.duration_seconds, width=meta.width,
            height=meta.height, frames_indices=list(indices))]))

    text = "What is in this image?"
    run_case("image", processor, model, [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}],
             [{"role": "user", "content": [{"type": "image", "path": image_path}, {"type": "text", "text": text}]}],
             images=[picture])
    text = "Describe the video."
    run_case("video", processor, model, [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": text}]}],
             [{"role": "user", "content": [{"type": "video", "path": rel(VIDEO)}, {"type": "text", "text": text}]}],
             videos=[clip], extra={"frame_indices": torch.tensor(indices, dtype=torch.int64)}, **vkw())
    text = "Does the picture appear in the video?"
    run_case("image_video", processor, model,
             [{"role": "user", "content": [{"type": "image"}, {"type": "video"}, {"type": "text", "text": text}]}],
             [{"role": "user", "content": [{"type": "image", "path": image_path}, {"type": "video", "path": rel(VIDEO)},
                                           {"type": "text", "text": text}]}],
             images=[picture], videos=[clip], keep_pixels=False,
             extra={"frame_indices": torch.tensor(indices, dtype=torch.int64)}, **vkw())
    write_json(OUT / "oracle.json", {
        "generator": "tools/parity/make_qwen3_vl_fixtures.py",
        "sampling": sampling_cases(),
        "versions": {"python": sys.version.split()[0], "transformers": transformers.__version__, "torch": torch.__version__},
        "seed": SEED, "video_fps": FPS, "frame_indices": indices,
        "weight_names": sorted({k.split(".layers.")[0].split(".blocks.")[0] for k in model.state_dict()}),
    })
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {rel(OUT)}: {total} bytes")
    assert total < 2_200_000, total


if __name__ == "__main__":
    main()
