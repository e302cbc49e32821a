"""Builds the Qwen-VL parity fixtures (no downloads, deterministic):

    tools/.venv/bin/python tools/parity/make_qwen_vl_fixtures.py [qwen2_vl] [qwen2_5_vl]

The oracle is transformers 5.23 (`Qwen2VLForConditionalGeneration`, `Qwen2VLProcessor` with the torchvision
`Qwen2VLImageProcessor` and `Qwen2VLVideoProcessor`).

Writes Tests/Fixtures/parity/qwen2_vl_tiny/: a tiny random Qwen2-VL — ViT with a Conv3d patch embedding over
2 frames (14 px patches), 2-D rotary positions, LayerNorm + QuickGELU blocks, the 2x2 PatchMerger; Qwen2 decoder
with M-RoPE (mrope_section [2, 3, 3]) and tied embeddings — with the corpus's Qwen2 byte-level tokenizer
(Tests/Fixtures/tokenizers/qwen2, `<|video_pad|>` added) and Qwen2-VL's chat template. Small min/max pixels keep
the grids tiny. cases/<name>:
  image:        one 100x61 picture (smart_resize to 56x112): pixel values, grid, vision output, M-RoPE
                position ids (get_rope_index), last logits, 24 greedy ids.
  video:        cfr_bframes.mp4 sampled as the video processor samples it at fps 2 (8 frames, torchcodec exact
                seek, what vidlm decodes): the same set.
  image_video:  the picture and the clip in one message.
  image_small:  a 20x12 picture, below patch x merge on both sides (smart_resize enlarges it to 56x84).
  video_capped: the clip with cap_pixels_per_frame and max_video_tokens 8 (its processor_config.json replaces the
                folder's): each frame capped at an even share of the video budget, so the frame count sets the size.
bad/too_wide.png (402x2, aspect ratio above 200) is Tests/cli/bad_inputs.sh's refused picture.
Tests/Fixtures/parity/qwen2_5_vl_tiny/ is the same set for Qwen2.5-VL (`Qwen2_5_VLForConditionalGeneration`,
`Qwen2_5_VLProcessor`): RMSNorm + SwiGLU vision blocks, window attention (56 px windows, full attention in blocks
1 and 3), the clip sampled at fps 3 so second_per_grid_ts x tokens_per_second is a fractional time step.
Greedy ids are checked against a cache-free argmax loop.
"""
from __future__ import annotations

import copy
import math
import pathlib
import shutil
import subprocess
import sys
import tempfile

import torch
import transformers
from PIL import Image
from safetensors.torch import save_file
from tokenizers import AddedToken, Tokenizer
from transformers import (
    AutoProcessor,
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessor,
    Qwen2VLProcessor,
    Qwen2VLVideoProcessor,
)
from transformers.video_utils import VideoMetadata

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_llava_fixtures import VIDEO, make_image, rel, write_json  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOKENIZER = ROOT / "Tests" / "Fixtures" / "tokenizers" / "qwen2" / "tokenizer.json"
NEW_TOKENS = 24
# Qwen2-VL-Instruct's chat template (one line per Jinja statement as the checkpoint writes it).
TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer.from_file(str(TOKENIZER))
    tok.add_special_tokens([AddedToken("<|video_pad|>", special=True, normalized=False)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   model_max_length=4096, clean_up_tokenization_spaces=False)


def widen(model, seed):
    # Default init (std 0.02) gives near-uniform logits where greedy ties are fragile; widen the weights.
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or "norm1.weight" in name or "norm2.weight" in name or "ln_q.weight" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))


def greedy(model, inputs, tok):
    gen = transformers.GenerationConfig(do_sample=False, max_new_tokens=NEW_TOKENS, min_new_tokens=0, eos_token_id=None,
                                        bos_token_id=None, pad_token_id=tok.pad_token_id, num_beams=1)
    with torch.no_grad():
        seq = model.generate(**inputs, generation_config=gen, output_scores=True, return_dict_in_generate=True)
    out = seq.sequences[0, inputs["input_ids"].shape[1]:].tolist()
    run, manual = inputs["input_ids"], []
    extra = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask", "mm_token_type_ids")}
    with torch.no_grad():
        for _ in range(NEW_TOKENS):
            types = torch.cat([inputs["mm_token_type_ids"], torch.zeros((1, run.shape[1] - inputs["input_ids"].shape[1]), dtype=torch.long)], 1)
            nxt = int(torch.argmax(model(input_ids=run, attention_mask=torch.ones_like(run), mm_token_type_ids=types,
                                         use_cache=False, **extra).logits[0, -1]))
            manual.append(nxt)
            run = torch.cat([run, torch.tensor([[nxt]])], dim=1)
    assert manual == out, (manual, out)
    return out, min(float(torch.topk(s[0], 2).values[0] - torch.topk(s[0], 2).values[1]) for s in seq.scores), seq.scores[1][0]


def run_case(out, name, processor, model, messages, saved_messages, images=None, videos=None, extra=None, videos_kwargs=None,
             keep_pixels=True):
    tok = processor.tokenizer
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=prompt, images=images, videos=videos, return_tensors="pt", **(videos_kwargs or {}))
    tensors = {}
    with torch.no_grad():
        if images is not None:
            if keep_pixels:
                tensors["pixel_values"] = inputs["pixel_values"]
            tensors["image_grid_thw"] = inputs["image_grid_thw"].to(torch.int64)
            tensors["image_features"] = torch.cat(model.model.get_image_features(
                inputs["pixel_values"], inputs["image_grid_thw"], return_dict=True).pooler_output)
        if videos is not None:
            if keep_pixels:
                tensors["pixel_values_videos"] = inputs["pixel_values_videos"]
            tensors["video_grid_thw"] = inputs["video_grid_thw"].to(torch.int64)
            tensors["video_features"] = torch.cat(model.model.get_video_features(
                inputs["pixel_values_videos"], inputs["video_grid_thw"], return_dict=True).pooler_output)
        rope_kwargs = {k: inputs[k] for k in ("image_grid_thw", "video_grid_thw", "second_per_grid_ts") if k in inputs}
        positions, _ = model.model.get_rope_index(inputs["input_ids"], mm_token_type_ids=inputs["mm_token_type_ids"], **rope_kwargs)
        tensors["position_ids"] = positions[:, 0].to(torch.int64)
        tensors["logits_last"] = model(**inputs, use_cache=False).logits[0, -1]
    generated, margin, second = greedy(model, dict(inputs), tok)
    # The logits after the first generated token: they show where generate places it (its M-RoPE position).
    tensors["logits_second"] = second
    ids = inputs["input_ids"][0].tolist()
    folder = out / "cases" / name
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in {**tensors, **(extra or {})}.items()}, str(folder / "expected.safetensors"))
    write_json(folder / "meta.json", {
        "messages": saved_messages, "prompt": prompt, "input_ids": ids, "num_tokens": len(ids),
        "generated_ids": generated, "min_greedy_margin": margin,
        "how_called": "processor(text=apply_chat_template(messages, add_generation_prompt=True, tokenize=False), "
                      "images=..., videos=..., return_tensors='pt')",
    })


def decode(indices):
    from torchcodec.decoders import VideoDecoder
    dec = VideoDecoder(str(VIDEO), seek_mode="exact", num_ffmpeg_threads=0, device="cpu")
    return dec.get_frames_at(indices=indices).data.permute(0, 2, 3, 1).contiguous(), dec.metadata


def build(family_out, config_cls, model_cls, image_cls, video_cls, processor_cls, text_extra, vision_config, seed,
          fps, processor_extra=None):
    tokenizer = build_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    text_config = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, vocab_size=len(tokenizer), max_position_embeddings=2048, rms_norm_eps=1e-6,
                       hidden_act="silu", eos_token_id=ids("<|im_end|>"), pad_token_id=ids("<|endoftext|>"),
                       bos_token_id=None, tie_word_embeddings=True, **text_extra)
    config = config_cls(text_config=text_config, vision_config=vision_config, image_token_id=ids("<|image_pad|>"),
                        video_token_id=ids("<|video_pad|>"), vision_start_token_id=ids("<|vision_start|>"),
                        vision_end_token_id=ids("<|vision_end|>"), tie_word_embeddings=True)
    torch.manual_seed(seed)
    model = model_cls(config).to(torch.float32).eval()
    widen(model, seed + 1)
    pixels = dict(image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711])
    processor = processor_cls(
        image_processor=image_cls(size={"shortest_edge": 28 * 28 * 4, "longest_edge": 28 * 28 * 16}, **pixels),
        video_processor=video_cls(size={"shortest_edge": 28 * 28 * 2, "longest_edge": 28 * 28 * 8}, fps=fps,
                                  min_frames=4, max_frames=16, **pixels),
        tokenizer=tokenizer, chat_template=TEMPLATE, **(processor_extra or {}))
    if family_out.exists():
        shutil.rmtree(family_out)
    family_out.mkdir(parents=True)
    model.save_pretrained(family_out)
    processor.save_pretrained(family_out)
    processor = AutoProcessor.from_pretrained(family_out)
    model = model_cls.from_pretrained(family_out).to(torch.float32).eval()
    return processor, model


def run_all(out, processor, model, generator, seed, fps, with_metadata=False):
    folder = out / "cases"
    (folder / "image").mkdir(parents=True)
    make_image(100, 61, 0.0).save(folder / "image" / "input.png", optimize=True)
    picture = Image.open(folder / "image" / "input.png").convert("RGB")
    # Bad input for Tests/cli/bad_inputs.sh: a picture of aspect ratio above 200 (smart_resize refuses it).
    (folder / "bad").mkdir(parents=True)
    make_image(402, 2, 0.5).save(folder / "bad" / "too_wide.png", optimize=True)
    # A picture smaller than patch x merge (28 px) on both sides: transformers 5 enlarges it (sweep_qwenvl.py).
    (folder / "image_small").mkdir(parents=True)
    make_image(20, 12, 0.5).save(folder / "image_small" / "input.png", optimize=True)
    image_path = rel(folder / "image" / "input.png")
    _, meta = decode([0])
    metadata = VideoMetadata(total_num_frames=meta.num_frames, fps=meta.average_fps, duration=meta.duration_seconds,
                             width=meta.width, height=meta.height)
    indices = processor.video_processor.sample_frames(metadata, fps=fps).tolist()
    frames, _ = decode(indices)
    clip = frames.permute(0, 3, 1, 2)
    extra = {}
    if with_metadata:
        # The sampled frames' rate (second_per_grid_ts) comes from the metadata, as when the processor samples.
        extra["video_metadata"] = [VideoMetadata(total_num_frames=meta.num_frames, fps=meta.average_fps, duration=meta.duration_seconds,
                                                 width=meta.width, height=meta.height, frames_indices=indices)]
    vkw = dict(videos_kwargs=dict(do_sample_frames=False, **extra))
    text = "What is in this image?"
    run_case(out, "image", processor, model, [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}],
             [{"role": "user", "content": [{"type": "image", "path": image_path}, {"type": "text", "text": text}]}],
             images=[picture])
    text = "Describe the video."
    run_case(out, "video", processor, model, [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": text}]}],
             [{"role": "user", "content": [{"type": "video", "path": rel(VIDEO)}, {"type": "text", "text": text}]}],
             videos=[clip], extra={**({} if with_metadata else {"frames_uint8": frames}),
                                   "frame_indices": torch.tensor(indices, dtype=torch.int64)}, **vkw)
    text = "Does the picture appear in the video?"
    run_case(out, "image_video", processor, model,
             [{"role": "user", "content": [{"type": "image"}, {"type": "video"}, {"type": "text", "text": text}]}],
             [{"role": "user", "content": [{"type": "image", "path": image_path}, {"type": "video", "path": rel(VIDEO)},
                                           {"type": "text", "text": text}]}],
             images=[picture], videos=[clip], keep_pixels=False,
             extra={"frame_indices": torch.tensor(indices, dtype=torch.int64)}, **vkw)
    text = "What is in this image?"
    small = rel(folder / "image_small" / "input.png")
    run_case(out, "image_small", processor, model, [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}],
             [{"role": "user", "content": [{"type": "image", "path": small}, {"type": "text", "text": text}]}],
             images=[Image.open(folder / "image_small" / "input.png").convert("RGB")])
    # cap_pixels_per_frame: each frame's pixels capped at an even share of max_video_tokens, which depends on the
    # clip's frame count (sweep_qwenvl.py found frames resized one at a time, as a one-frame clip). The case's
    # processor_config.json replaces the model folder's.
    capped = copy.deepcopy(processor)
    capped.video_processor.cap_pixels_per_frame = True
    capped.video_processor.max_video_tokens = 8
    text = "Describe the video."
    run_case(out, "video_capped", capped, model, [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": text}]}],
             [{"role": "user", "content": [{"type": "video", "path": rel(VIDEO)}, {"type": "text", "text": text}]}],
             videos=[clip], keep_pixels=False, extra={"frame_indices": torch.tensor(indices, dtype=torch.int64)}, **vkw)
    with tempfile.TemporaryDirectory() as scratch:
        capped.save_pretrained(scratch)
        shutil.copy(pathlib.Path(scratch) / "processor_config.json", folder / "video_capped" / "processor_config.json")
    # A minute-long clip sampled at 0.2 fps: Qwen2.5-VL's time positions (tokens_per_second x 10 s per
    # temporal patch) run far past the text after the clip, so generated tokens must continue from the
    # last position, not the largest (sweep_qwenvl.py found vidlm continuing from the largest).
    long_dir = folder / "video_long"
    long_dir.mkdir(parents=True)
    long_clip = long_dir / "input.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=1", "-frames:v", "60",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-bf", "2", "-g", "10", "-threads", "1",
                    "-x264-params", "threads=1", str(long_clip)], check=True)
    from torchcodec.decoders import VideoDecoder
    long_decoder = VideoDecoder(str(long_clip), seek_mode="exact")
    lm = long_decoder.metadata
    slow = copy.deepcopy(processor)
    slow.video_processor.fps = 0.2
    long_meta = VideoMetadata(total_num_frames=lm.num_frames, fps=lm.average_fps, duration=lm.duration_seconds,
                              width=lm.width, height=lm.height)
    long_indices = slow.video_processor.sample_frames(long_meta, fps=0.2).tolist()
    every = long_decoder.get_frames_in_range(0, lm.num_frames).data
    long_frames = every[long_indices]
    long_extra = {}
    if with_metadata:
        long_meta.frames_indices = long_indices
        long_extra["video_metadata"] = [long_meta]
    text = "Describe the video."
    run_case(out, "video_long", slow, model, [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": text}]}],
             [{"role": "user", "content": [{"type": "video", "path": rel(long_clip)}, {"type": "text", "text": text}]}],
             videos=[long_frames], keep_pixels=False, extra={"frame_indices": torch.tensor(long_indices, dtype=torch.int64)},
             videos_kwargs=dict(do_sample_frames=False, **long_extra))
    with tempfile.TemporaryDirectory() as scratch:
        slow.save_pretrained(scratch)
        shutil.copy(pathlib.Path(scratch) / "processor_config.json", long_dir / "processor_config.json")
    write_json(out / "oracle.json", {
        "generator": generator,
        "versions": {"python": sys.version.split()[0], "transformers": transformers.__version__, "torch": torch.__version__},
        "seed": seed, "video_fps": fps, "frame_indices": indices,
        "weight_names": sorted({k.split(".layers.")[0].split(".blocks.")[0] for k in model.state_dict()}),
    })
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {rel(out)}: {total} bytes")
    assert total < 2_200_000, total


def main():
    transformers.logging.set_verbosity_error()
    which = sys.argv[1:] or ["qwen2_vl", "qwen2_5_vl"]
    if "qwen2_vl" in which:
        out = ROOT / "Tests" / "Fixtures" / "parity" / "qwen2_vl_tiny"
        vision = dict(depth=2, embed_dim=32, hidden_size=64, num_heads=4, mlp_ratio=2, hidden_act="quick_gelu",
                      patch_size=14, spatial_merge_size=2, temporal_patch_size=2, in_channels=3)
        processor, model = build(out, Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessor,
                                 Qwen2VLVideoProcessor, Qwen2VLProcessor,
                                 dict(rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]}),
                                 vision, 20261221, fps=2.0)
        run_all(out, processor, model, "tools/parity/make_qwen_vl_fixtures.py qwen2_vl", 20261221, fps=2.0)
    if "qwen2_5_vl" in which:
        out = ROOT / "Tests" / "Fixtures" / "parity" / "qwen2_5_vl_tiny"
        # window_size 56 px = 2x2 merged tokens per window: the 2x4 picture has two windows, the 2x3 clip frames a
        # 2x2 and a 2x1 window; blocks 1 and 3 attend over whole frames.
        vision = dict(depth=4, hidden_size=32, intermediate_size=48, out_hidden_size=64, num_heads=4, hidden_act="silu",
                      patch_size=14, spatial_merge_size=2, temporal_patch_size=2, in_channels=3, window_size=56,
                      fullatt_block_indexes=[1, 3], tokens_per_second=4)
        processor, model = build(out, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2VLImageProcessor,
                                 Qwen2VLVideoProcessor, Qwen2_5_VLProcessor,
                                 dict(rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]}),
                                 vision, 20261222, fps=3.0)
        # fps 3: 12 frames, second_per_grid_t 2/3, time step 4 x 2/3 = 2.67 (truncated positions 0, 2, 5, 8, ...).
        run_all(out, processor, model, "tools/parity/make_qwen_vl_fixtures.py qwen2_5_vl", 20261222, fps=3.0, with_metadata=True)


if __name__ == "__main__":
    main()
