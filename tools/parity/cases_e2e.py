"""End-to-end parity cases: whole model directories (config.json, model.safetensors as
`save_pretrained` writes it, tokenizer files, preprocessor_config.json) for each engine family,
with the pixel values, the prompt ids the processor builds and the greedy ids `generate` returns.

* e2e_blip2_opt — Blip2ForConditionalGeneration (EVA ViT, Q-Former, OPT) on samples/photo.png,
  pixels from BlipImageProcessor (transformers 5's torchvision class, what Blip2Processor loads for
  a checkpoint naming BlipImageProcessor), prompt "Question: {q} Answer:" (query placeholders,
  then the text).
* e2e_instructblipvideo_llama — InstructBlipVideoForConditionalGeneration (LLaMA) on 4 uniform
  frames of samples/clip.mp4 (decoded by the ffmpeg CLI, which gives the Swift decoder's pixels),
  pixels from InstructBlipVideoVideoProcessor (torchvision; the processor InstructBlipVideoProcessor
  builds from the checkpoint's preprocessor_config.json), ids as InstructBlipVideoProcessor builds them.
* e2e_vidlm_tiny / e2e_vidlm_temporal — the `vidlm` family from tools/reference/vidlm_model.py.

inputs: pixel_values, input_ids (or prompt_ids), qformer ids where the family has them;
expected: greedy_ids (the new tokens, stopping at EOS as the CLI does), first-step logits, stage
outputs (visual prefix) for the vidlm cases; meta: the question, frame indices, the greedy path's
smallest top-1/top-2 gap.
"""
from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file
from transformers import (Blip2Config, Blip2ForConditionalGeneration, BlipImageProcessor,
                          InstructBlipVideoConfig, InstructBlipVideoForConditionalGeneration,
                          InstructBlipVideoVideoProcessor, PreTrainedTokenizerFast)

from harness import ROOT, Fixture, case

sys.path.insert(0, str(ROOT / "tools" / "reference"))
import vidlm_model as vm  # noqa: E402

TOKENIZERS = ROOT / "Tests" / "Fixtures" / "tokenizers"
NEW_TOKENS = 12
SIZE = 32


def _init(model: torch.nn.Module, scale: float) -> torch.nn.Module:
    from cases_text import _random_init
    return _random_init(model, scale)


def _tokenizer_files(folder: str, into: str = "") -> dict[str, bytes]:
    return {into + n: (TOKENIZERS / folder / n).read_bytes() for n in ("tokenizer.json", "tokenizer_config.json")}


def _saved(model) -> tuple[dict, dict]:
    """(config dict, state dict) as save_pretrained writes them: the names users download."""
    with tempfile.TemporaryDirectory() as d:
        model.save_pretrained(d, safe_serialization=True)
        config = json.loads((pathlib.Path(d) / "config.json").read_text())
        state = load_file(str(pathlib.Path(d) / "model.safetensors"))
    return config, state


def _processor_config(size=SIZE) -> str:
    ip = BlipImageProcessor(size={"height": size, "width": size})
    return ip.to_json_string()


def _greedy_with_gap(generate) -> tuple[list[int], float]:
    out = generate()
    ids = out.sequences[0].tolist()
    gaps = [float(torch.topk(s[0].float(), 2).values.diff().abs()) for s in out.scores]
    return ids, min(gaps) if gaps else 0.0


def _uniform_frames(path: pathlib.Path, count: int) -> tuple[list[int], list[np.ndarray]]:
    """The engine's uniform sampling (segment centres) on frames decoded by the ffmpeg CLI."""
    w, h = map(int, subprocess.check_output(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
         "-of", "csv=p=0", str(path)], text=True).strip().split(","))
    raw = subprocess.check_output(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
    frames = np.frombuffer(raw, dtype=np.uint8).reshape(-1, h, w, 3)
    n = frames.shape[0]
    indices = [int((i + 0.5) * n / count) for i in range(count)]
    return indices, [frames[i] for i in indices]


@case("e2e_blip2_opt")
def _():
    tok = PreTrainedTokenizerFast.from_pretrained(str(TOKENIZERS / "gpt2"))
    image_token = tok.convert_tokens_to_ids("<image>")
    queries = 4
    config = Blip2Config(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=SIZE, patch_size=8),
        qformer_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                            cross_attention_frequency=1, encoder_hidden_size=32, vocab_size=60,
                            max_position_embeddings=32),
        text_config=dict(model_type="opt", vocab_size=len(tok), hidden_size=48, ffn_dim=96, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=96, word_embed_proj_dim=48,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
                         pad_token_id=1),
        num_query_tokens=queries, image_token_index=image_token)
    model = _init(Blip2ForConditionalGeneration(config), 0.3)
    question = "what is in the picture?"
    prompt = f"Question: {question} Answer:"
    image = Image.open(ROOT / "samples" / "photo.png").convert("RGB")
    pixels = BlipImageProcessor(size={"height": SIZE, "width": SIZE})(image, return_tensors="pt")["pixel_values"]
    # Blip2Processor: `num_query_tokens` image placeholders (no special tokens), then the text
    # tokenized with the tokenizer's special tokens.
    ids = [image_token] * queries + tok(prompt).input_ids
    input_ids = torch.tensor([ids])
    with torch.no_grad():
        greedy, gap = _greedy_with_gap(lambda: model.generate(
            pixel_values=pixels, input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
            max_new_tokens=NEW_TOKENS, do_sample=False, output_scores=True, return_dict_in_generate=True))
        logits = model(pixel_values=pixels, input_ids=input_ids).logits[0, -1]
    greedy = greedy[len(ids):] if greedy[:len(ids)] == ids else greedy
    eos = config.text_config.eos_token_id
    greedy = greedy[:greedy.index(eos)] if eos in greedy else greedy
    cfg, state = _saved(model)
    return Fixture(model, {"pixel_values": pixels, "input_ids": input_ids},
                   {"greedy_ids": torch.tensor(greedy, dtype=torch.int64), "last_logits": logits},
                   config=cfg, state=state,
                   files={**_tokenizer_files("gpt2"), "preprocessor_config.json": _processor_config()},
                   meta={"question": question, "prompt": prompt, "new_tokens": NEW_TOKENS, "min_greedy_gap": gap,
                         "media": "samples/photo.png", "logits_scale": float(logits.abs().max())})


@case("e2e_instructblipvideo_llama")
def _():
    tok = PreTrainedTokenizerFast.from_pretrained(str(TOKENIZERS / "llama2"))
    qtok = PreTrainedTokenizerFast.from_pretrained(str(TOKENIZERS / "bert"))
    video_token = tok.convert_tokens_to_ids("<video>")
    queries, frames = 3, 4
    config = InstructBlipVideoConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=SIZE, patch_size=8),
        qformer_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                            cross_attention_frequency=2, encoder_hidden_size=32, vocab_size=len(qtok),
                            max_position_embeddings=64, pad_token_id=qtok.pad_token_id),
        text_config=dict(model_type="llama", vocab_size=len(tok), hidden_size=48, intermediate_size=96,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=128, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=0, tie_word_embeddings=False),
        num_query_tokens=queries, video_token_index=video_token)
    model = _init(InstructBlipVideoForConditionalGeneration(config), 0.3)
    question = "what happens in the video?"
    indices, decoded = _uniform_frames(ROOT / "samples" / "clip.mp4", frames)
    vp = InstructBlipVideoVideoProcessor(size={"height": SIZE, "width": SIZE})
    pixels = vp(videos=[np.stack(decoded)], return_tensors="pt")["pixel_values"]
    # InstructBlipVideoProcessor: Q-Former ids = qformer_tokenizer(text); decoder ids = the video
    # placeholder num_query_tokens * 4 times (no special tokens), then tokenizer(text).
    q = qtok(question)
    ids = [video_token] * queries * frames + tok(question).input_ids
    input_ids = torch.tensor([ids])
    qids = torch.tensor([q.input_ids])
    qmask = torch.tensor([q.attention_mask])
    with torch.no_grad():
        greedy, gap = _greedy_with_gap(lambda: model.generate(
            pixel_values=pixels, qformer_input_ids=qids, qformer_attention_mask=qmask, input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids), max_new_tokens=NEW_TOKENS, do_sample=False,
            output_scores=True, return_dict_in_generate=True))
        logits = model(pixel_values=pixels, qformer_input_ids=qids, qformer_attention_mask=qmask,
                       input_ids=input_ids).logits[0, -1]
    greedy = greedy[len(ids):] if greedy[:len(ids)] == ids else greedy
    eos = config.text_config.eos_token_id
    greedy = greedy[:greedy.index(eos)] if eos in greedy else greedy
    cfg, state = _saved(model)
    return Fixture(model, {"pixel_values": pixels[0], "input_ids": input_ids, "qformer_input_ids": qids},
                   {"greedy_ids": torch.tensor(greedy, dtype=torch.int64), "last_logits": logits},
                   config=cfg, state=state,
                   files={**_tokenizer_files("llama2"), **_tokenizer_files("bert", into="qformer_tokenizer/"),
                          "preprocessor_config.json": _processor_config()},
                   meta={"question": question, "new_tokens": NEW_TOKENS, "min_greedy_gap": gap,
                         "media": "samples/clip.mp4", "frame_indices": indices,
                         "logits_scale": float(logits.abs().max())})


def _vidlm_config(merger: dict, tok) -> dict:
    return {"model_type": "vidlm", "architectures": ["VidLMForConditionalGeneration"],
            "vision_config": {"model_type": "blip_2_vision_model", "hidden_size": 32, "intermediate_size": 64,
                              "num_hidden_layers": 2, "num_attention_heads": 4, "image_size": SIZE, "patch_size": 8},
            "token_merger": merger,
            "video_qformer_config": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
                                     "intermediate_size": 64, "cross_attention_frequency": 1,
                                     "encoder_hidden_size": 32},
            "num_video_query_tokens": 4, "max_frame_pos": 3,
            "text_config": {"model_type": "llama", "vocab_size": len(tok), "hidden_size": 48,
                            "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
                            "num_key_value_heads": 2, "max_position_embeddings": 96,
                            "bos_token_id": tok.convert_tokens_to_ids("<|im_start|>"),
                            "eos_token_id": tok.convert_tokens_to_ids("<|im_end|>"), "tie_word_embeddings": True},
            "num_frames": 4, "prompt_template": "question: {question} answer:", "caption_question": "what happens?"}


def _vidlm_case(merger: dict, frames: int):
    tok = PreTrainedTokenizerFast.from_pretrained(str(TOKENIZERS / "gpt2"))
    config = _vidlm_config(merger, tok)
    model = _init(vm.VidLMForConditionalGeneration(config), 0.3)
    question = "what happens?"
    # 4 frames > max_frame_pos 3: the position table is interpolated.
    pixels = torch.randn(frames, 3, SIZE, SIZE)
    if merger["type"] == "temporal":
        # Repeat frames so the temporal merger folds tokens.
        pixels[2] = pixels[1] + 0.01 * torch.randn_like(pixels[1])
    prompt_ids = tok(model.prompt_text(question), add_special_tokens=False).input_ids
    with torch.no_grad():
        features = model.vision_features(pixels)
        stages = model.visual_prefix(features)
        embeds = model.input_embeddings(stages["prefix"], prompt_ids)
        logits = model.language_model(inputs_embeds=embeds).logits[0, -1]
        eos = model.text_config.eos_token_id
        greedy, gap = _greedy_with_gap(lambda: model.language_model.generate(
            inputs_embeds=embeds, max_new_tokens=NEW_TOKENS, do_sample=False, eos_token_id=eos, pad_token_id=eos,
            output_scores=True, return_dict_in_generate=True))
        control = model.visual_prefix(features, frame_positions=[0] * frames)["prefix"]
    greedy = greedy[:greedy.index(eos)] if eos in greedy else greedy
    expected = {"vision": features, "sequence": stages["sequence"][0], "prefix": stages["prefix"][0],
                "control_prefix": control[0], "last_logits": logits,
                "greedy_ids": torch.tensor(greedy, dtype=torch.int64)}
    if stages["log_counts"] is not None:
        expected["log_counts"] = stages["log_counts"][0]
    return Fixture(model, {"pixel_values": pixels, "prompt_ids": torch.tensor(prompt_ids)}, expected,
                   config=config, state=model.export_state_dict(), files=_tokenizer_files("gpt2"),
                   meta={"question": question, "new_tokens": NEW_TOKENS, "min_greedy_gap": gap,
                         "logits_scale": float(logits.abs().max())})


@case("e2e_vidlm_tiny")
def _():
    return _vidlm_case({"type": "spatial_pool", "k": 2, "proportional_attention": True}, frames=4)


@case("e2e_vidlm_temporal")
def _():
    return _vidlm_case({"type": "temporal", "tau": 0.5, "proportional_attention": True}, frames=4)


# ---------------------------------------------------------------------------------------------
# Video-LLaMA layout through tools/convert/video_llama.py
# ---------------------------------------------------------------------------------------------

def _lavis_names(state: dict[str, torch.Tensor]) -> tuple[dict, dict]:
    """A vidlm (Video-LLaMA layout) state dict written back under Video-LLaMA's / LAVIS's names:
    (BLIP-2 checkpoint, Video-LLaMA VL checkpoint), plus the buffers and unused tables those
    checkpoints really carry (the converter must drop them)."""
    import re
    blip2, vl = {}, {}
    for key, value in state.items():
        if key.startswith("language_model."):
            continue
        k = key
        if k.endswith("self_attn.qkv.bias"):
            d = value.shape[0] // 3
            base = re.sub(r"^vision_model\.encoder\.layers\.(\d+)\.self_attn\.qkv\.bias$", r"visual_encoder.blocks.\1.attn.", k)
            blip2[base + "q_bias"], blip2[base + "v_bias"] = value[:d].clone(), value[2 * d:].clone()
            continue
        for pattern, repl in [
            (r"^vision_model\.embeddings\.class_embedding$", "visual_encoder.cls_token"),
            (r"^vision_model\.embeddings\.position_embedding$", "visual_encoder.pos_embed"),
            (r"^vision_model\.embeddings\.patch_embedding\.", "visual_encoder.patch_embed.proj."),
            (r"^vision_model\.encoder\.layers\.(\d+)\.layer_norm1\.", r"visual_encoder.blocks.\1.norm1."),
            (r"^vision_model\.encoder\.layers\.(\d+)\.layer_norm2\.", r"visual_encoder.blocks.\1.norm2."),
            (r"^vision_model\.encoder\.layers\.(\d+)\.self_attn\.qkv\.", r"visual_encoder.blocks.\1.attn.qkv."),
            (r"^vision_model\.encoder\.layers\.(\d+)\.self_attn\.projection\.", r"visual_encoder.blocks.\1.attn.proj."),
            (r"^vision_model\.encoder\.layers\.(\d+)\.mlp\.", r"visual_encoder.blocks.\1.mlp."),
            (r"^vision_model\.post_layernorm\.", "ln_vision."),
            (r"^(video_Qformer|qformer)\.layernorm\.", r"\1.bert.embeddings.LayerNorm."),
            (r"^(video_Qformer|qformer)\.encoder\.layer\.(\d+)\.(attention|crossattention)\.attention\.", r"\1.bert.encoder.layer.\2.\3.self."),
            (r"^(video_Qformer|qformer)\.encoder\.", r"\1.bert.encoder."),
        ]:
            if re.search(pattern, k):
                k = re.sub(pattern, repl, k, count=1)
                break
        k = re.sub(r"^qformer\.", "Qformer.", k)
        (vl if k.startswith(("video_", "llama_proj")) else blip2)[k] = value.clone()
    # What the released files also hold.
    h = state["qformer.layernorm.weight"].shape[0]
    blip2["Qformer.bert.embeddings.word_embeddings.weight"] = torch.zeros(30, h)
    blip2["Qformer.bert.embeddings.position_ids"] = torch.arange(8)[None]
    blip2["Qformer.cls.predictions.bias"] = torch.zeros(30)
    blip2["Qformer.bert.encoder.layer.0.intermediate.dense.weight"] = torch.zeros(4, h)
    vl["video_Qformer.bert.embeddings.position_ids"] = torch.arange(8)[None]
    return blip2, vl


@case("e2e_video_llama_converted")
def _():
    sys.path.insert(0, str(ROOT / "tools" / "convert"))
    import video_llama as converter
    tok = PreTrainedTokenizerFast.from_pretrained(str(TOKENIZERS / "llama2"))
    config = {"model_type": "vidlm", "architectures": ["VidLMForConditionalGeneration"],
              "vision_config": {"model_type": "blip_2_vision_model", "hidden_size": 32, "intermediate_size": 64,
                                "num_hidden_layers": 2, "num_attention_heads": 4, "image_size": SIZE, "patch_size": 8,
                                "layer_norm_eps": 1e-6, "qkv_bias": True},
              "token_merger": {"type": "none"},
              "qformer_config": {"hidden_size": 24, "num_hidden_layers": 2, "num_attention_heads": 4,
                                 "intermediate_size": 40, "cross_attention_frequency": 2, "encoder_hidden_size": 32},
              "num_query_tokens": 3,
              "video_qformer_config": {"hidden_size": 24, "num_hidden_layers": 2, "num_attention_heads": 4,
                                       "intermediate_size": 40, "cross_attention_frequency": 1, "encoder_hidden_size": 24},
              "num_video_query_tokens": 4, "max_frame_pos": 4,
              "text_config": {"model_type": "llama", "vocab_size": len(tok), "hidden_size": 48, "intermediate_size": 96,
                              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                              "max_position_embeddings": 256, "bos_token_id": tok.bos_token_id,
                              "eos_token_id": tok.eos_token_id, "tie_word_embeddings": False},
              "num_frames": 4, "prompt_template": converter.VIDEO_LLAMA_2_TEMPLATE, "caption_question": "Describe this video."}
    original = _init(vm.VidLMForConditionalGeneration(config), 0.3)
    with torch.no_grad():  # EVA has no k bias
        for name, p in original.named_parameters():
            if name.endswith("self_attn.qkv.bias"):
                d = p.shape[0] // 3
                p[d:2 * d] = 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        blip2, vl = _lavis_names(original.export_state_dict())
        torch.save({"model": blip2}, tmp / "blip2.pth")
        torch.save({"model": vl}, tmp / "vl.pth")
        original.language_model.save_pretrained(tmp / "llama")
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(TOKENIZERS / "llama2" / name, tmp / "llama" / name)
        out = converter.convert(str(tmp / "blip2.pth"), str(tmp / "vl.pth"), str(tmp / "llama"), str(tmp / "out"),
                                frames=4, vision_heads=4, qformer_heads=4)
        converted_config = json.loads((out / "config.json").read_text())
        converted_state = load_file(str(out / "model.safetensors"))
        preprocessor = (out / "preprocessor_config.json").read_text()
    model = vm.VidLMForConditionalGeneration(converted_config).eval()
    missing, unexpected = model.load_state_dict(converted_state, strict=False)
    assert not unexpected and all(k == "language_model.lm_head.weight" and config["text_config"]["tie_word_embeddings"]
                                  for k in missing), (missing, unexpected)
    question = "what happens in the video?"
    pixels = torch.randn(4, 3, SIZE, SIZE)
    before, after = model.prompt_parts(question)
    before_ids = tok(before, add_special_tokens=False).input_ids
    prompt_ids = tok(after, add_special_tokens=False).input_ids
    with torch.no_grad():
        reference = original.visual_prefix(original.vision_features(pixels))["prefix"]
        stages = model.visual_prefix(model.vision_features(pixels))
        assert torch.allclose(stages["prefix"], reference, atol=1e-6), "conversion changed the model"
        embeds = model.input_embeddings(stages["prefix"], prompt_ids, before_ids)
        logits = model.language_model(inputs_embeds=embeds).logits[0, -1]
        eos = model.text_config.eos_token_id
        greedy, gap = _greedy_with_gap(lambda: model.language_model.generate(
            inputs_embeds=embeds, max_new_tokens=NEW_TOKENS, do_sample=False, eos_token_id=eos, pad_token_id=eos,
            output_scores=True, return_dict_in_generate=True))
    greedy = greedy[:greedy.index(eos)] if eos in greedy else greedy
    return Fixture(model, {"pixel_values": pixels, "prompt_ids": torch.tensor(prompt_ids),
                           "before_ids": torch.tensor(before_ids)},
                   {"prefix": stages["prefix"][0], "last_logits": logits, "greedy_ids": torch.tensor(greedy, dtype=torch.int64)},
                   config=converted_config, state=converted_state,
                   files={**_tokenizer_files("llama2"), "preprocessor_config.json": preprocessor},
                   meta={"question": question, "new_tokens": NEW_TOKENS, "min_greedy_gap": gap,
                         "logits_scale": float(logits.abs().max())})


# ---------------------------------------------------------------------------------------------
# The shipped model: Swift vs PyTorch on the trained weights
# ---------------------------------------------------------------------------------------------

SHIPPED = ROOT / "models" / "vidlm-shapes"


@case("shipped_vidlm_shapes")
def _():
    """The embedded model (models/vidlm-shapes, read in place, not copied) on a sample clip decoded
    by the ffmpeg CLI: stage outputs, last logits and greedy ids from the PyTorch module."""
    import os
    folder = pathlib.Path(os.environ.get("VIDLM_SHIPPED_MODEL", SHIPPED))
    config = json.loads((folder / "config.json").read_text())
    model = vm.VidLMForConditionalGeneration(config).eval()
    model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=False)
    if config["text_config"].get("tie_word_embeddings"):
        model.language_model.tie_weights()
    tok = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    clip = sorted((ROOT / "samples" / "world").glob("*.mp4"))[0]
    frames = config.get("num_frames", 8)
    indices, decoded = _uniform_frames(clip, frames)
    pre = json.loads((folder / "preprocessor_config.json").read_text())
    ip = BlipImageProcessor(size=pre["size"], image_mean=pre["image_mean"], image_std=pre["image_std"],
                            resample=pre.get("resample", 3))
    pixels = torch.stack([ip(Image.fromarray(f), return_tensors="pt")["pixel_values"][0] for f in decoded])
    question = "what happens?"
    before, after = model.prompt_parts(question)
    prompt_ids = tok(after, add_special_tokens=False).input_ids
    with torch.no_grad():
        features = model.vision_features(pixels)
        stages = model.visual_prefix(features)
        embeds = model.input_embeddings(stages["prefix"], prompt_ids, tok(before, add_special_tokens=False).input_ids)
        logits = model.language_model(inputs_embeds=embeds).logits[0]
        eos = model.text_config.eos_token_id
        greedy, gap = _greedy_with_gap(lambda: model.language_model.generate(
            inputs_embeds=embeds, max_new_tokens=48, do_sample=False, eos_token_id=eos, pad_token_id=eos,
            output_scores=True, return_dict_in_generate=True))
    greedy = greedy[:greedy.index(eos)] if eos in greedy else greedy
    return Fixture(model, {"pixel_values": pixels},
                   {"vision": features, "prefix": stages["prefix"][0], "logits": logits,
                    "greedy_ids": torch.tensor(greedy, dtype=torch.int64)},
                   config={"model": "models/vidlm-shapes"}, state={},
                   meta={"question": question, "media": str(clip.relative_to(ROOT)), "frame_indices": indices,
                         "answer": tok.decode(greedy), "min_greedy_gap": gap, "new_tokens": 48,
                         "logits_scale": float(logits.abs().max())})
