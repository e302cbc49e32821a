"""Convert Video-LLaMA's released checkpoints into a vidlm model directory (model_type "vidlm",
the Video-LLaMA layout: EVA ViT → image Q-Former → frame positions → video Q-Former → llama_proj
→ LLaMA-2), so `vidlm ask clip.mp4 "…" --model OUT` runs it.

Video-LLaMA ships its trained video branch separately from the parts it reuses:

  --blip2        LAVIS BLIP-2 checkpoint (e.g. blip2_pretrained_flant5xxl.pth): `visual_encoder.*`
                 (EVA ViT-g, 39 blocks), `ln_vision.*`, `Qformer.*` (BERT names), `query_tokens`
  --video-llama  the vision-language branch (e.g. VL_LLaMA_2_7B_Finetuned.pth): `video_Qformer.*`,
                 `video_query_tokens`, `video_frame_position_embedding.weight`, `llama_proj.*`
                 (a checkpoint that also holds the BLIP-2 parts may be given alone)
  --llama        a Hugging Face LLaMA-2 directory (config.json, safetensors or .bin, tokenizer files)

Names: EVA ViT → transformers' Blip2VisionModel (q_bias/v_bias become the fused qkv bias with a
zero k part; ln_vision is post_layernorm), BERT Q-Formers → Blip2QFormerModel (the rules of
tools/reference/vidlm_bridge.py VIDEO_LLAMA_KEY_MAP, for `Qformer.` as for `video_Qformer.`),
LLaMA → `language_model.*`. Keys no rule knows are an error listing them (pass --ignore REGEX to
drop some on purpose).

    tools/.venv/bin/python tools/convert/video_llama.py --blip2 blip2_pretrained_flant5xxl.pth \\
        --video-llama VL_LLaMA_2_7B_Finetuned.pth --llama llama-2-7b-chat-hf --out video-llama2-7b \\
        [--dtype bf16] [--frames 8]
"""
from __future__ import annotations

import argparse
import json
import pathlib
import re
import shutil
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "reference"))
import vidlm_bridge as vb  # noqa: E402

EVA_RULES: list[tuple[str, str]] = [
    (r"^visual_encoder\.cls_token$", "vision_model.embeddings.class_embedding"),
    (r"^visual_encoder\.pos_embed$", "vision_model.embeddings.position_embedding"),
    (r"^visual_encoder\.patch_embed\.proj\.", "vision_model.embeddings.patch_embedding."),
    (r"^visual_encoder\.blocks\.(\d+)\.norm1\.", r"vision_model.encoder.layers.\1.layer_norm1."),
    (r"^visual_encoder\.blocks\.(\d+)\.norm2\.", r"vision_model.encoder.layers.\1.layer_norm2."),
    (r"^visual_encoder\.blocks\.(\d+)\.attn\.qkv\.weight$", r"vision_model.encoder.layers.\1.self_attn.qkv.weight"),
    (r"^visual_encoder\.blocks\.(\d+)\.attn\.proj\.", r"vision_model.encoder.layers.\1.self_attn.projection."),
    (r"^visual_encoder\.blocks\.(\d+)\.mlp\.", r"vision_model.encoder.layers.\1.mlp."),
    (r"^ln_vision\.", "vision_model.post_layernorm."),
]

#: The image Q-Former: the same rules as the video Q-Former's, for `Qformer.` → `qformer.`.
IMAGE_QFORMER_RULES: list[tuple[str, str | None]] = [
    (pattern.replace(r"^video_Qformer\.", r"^Qformer\."),
     None if replacement is None else replacement.replace("video_Qformer.", "qformer."))
    for pattern, replacement in vb.VIDEO_LLAMA_KEY_MAP.items()
]

KEPT = {"query_tokens", "video_query_tokens", "video_frame_position_embedding.weight",
        "llama_proj.weight", "llama_proj.bias"}

VIDEO_LLAMA_2_TEMPLATE = (
    "[INST] <<SYS>>\nYou are a helpful language and vision assistant. You are able to understand the "
    "visual content that the user provides, and assist the user with a variety of tasks using natural "
    "language.\n<</SYS>>\n\n<Video>{visual}</Video> {question} [/INST]")


def _load(path: str) -> dict[str, torch.Tensor]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


def rename(key: str) -> str | None | bool:
    """The vidlm name of a Video-LLaMA / LAVIS key; None = drop it; False = unknown."""
    if key in KEPT:
        return key
    for pattern, replacement in EVA_RULES:
        if re.search(pattern, key):
            return re.sub(pattern, replacement, key, count=1)
    if re.search(r"^visual_encoder\.blocks\.\d+\.attn\.[qv]_bias$", key):
        return key  # fused below
    for rules in (IMAGE_QFORMER_RULES, list(vb.VIDEO_LLAMA_KEY_MAP.items())):
        for pattern, replacement in rules:
            if re.search(pattern, key):
                return None if replacement is None else re.sub(pattern, replacement, key, count=1)
    return False


def convert_visual(state: dict[str, torch.Tensor], ignore: list[str]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state.items():
        if any(re.search(p, key) for p in ignore):
            continue
        new = rename(key)
        if new is False:
            unknown.append(key)
        elif new is not None:
            out[new] = value
    if unknown:
        raise SystemExit(f"unknown checkpoint keys (pass --ignore REGEX to drop them): {', '.join(sorted(unknown)[:20])}"
                         + (" …" if len(unknown) > 20 else ""))
    # EVA's q_bias / v_bias → the fused qkv bias (k has none).
    for key in [k for k in list(out) if k.endswith(".attn.q_bias")]:
        block = re.search(r"blocks\.(\d+)\.", key).group(1)
        q = out.pop(key)
        v = out.pop(key.replace("q_bias", "v_bias"))
        out[f"vision_model.encoder.layers.{block}.self_attn.qkv.bias"] = torch.cat([q, torch.zeros_like(q), v])
    return out


def _count(state: dict, pattern: str) -> int:
    found = {int(m.group(1)) for k in state for m in [re.search(pattern, k)] if m}
    return max(found) + 1 if found else 0


def infer_config(state: dict[str, torch.Tensor], llama_config: dict, frames: int,
                 vision_heads: int = 16, qformer_heads: int = 12) -> dict:
    """Sizes from the tensors; head counts cannot be read from weights (EVA ViT-g: 16, BERT-base: 12)."""
    cls = state["vision_model.embeddings.class_embedding"]
    patch = state["vision_model.embeddings.patch_embedding.weight"]
    positions = state["vision_model.embeddings.position_embedding"].shape[1]
    grid = int(round((positions - 1) ** 0.5))
    dv = cls.shape[-1]
    vision = {"model_type": "blip_2_vision_model", "hidden_size": dv,
              "intermediate_size": state["vision_model.encoder.layers.0.mlp.fc1.weight"].shape[0],
              "num_hidden_layers": _count(state, r"^vision_model\.encoder\.layers\.(\d+)\."),
              "num_attention_heads": vision_heads,
              "image_size": grid * patch.shape[-1], "patch_size": patch.shape[-1], "layer_norm_eps": 1e-6,
              "qkv_bias": True, "hidden_act": "gelu"}

    def qformer(prefix: str, encoder: int, frequency: int) -> dict:
        h = state[f"{prefix}layernorm.weight"].shape[0]
        return {"hidden_size": h, "num_hidden_layers": _count(state, rf"^{re.escape(prefix)}encoder\.layer\.(\d+)\."),
                "num_attention_heads": qformer_heads,
                "intermediate_size": state[f"{prefix}encoder.layer.0.intermediate_query.dense.weight"].shape[0],
                "cross_attention_frequency": frequency, "encoder_hidden_size": encoder, "layer_norm_eps": 1e-12}

    image = qformer("qformer.", dv, 2)
    video = qformer("video_Qformer.", image["hidden_size"], 1)
    text = dict(llama_config)
    text["model_type"] = "llama"
    return {"model_type": "vidlm", "architectures": ["VidLMForConditionalGeneration"],
            "vision_config": vision, "token_merger": {"type": "none"},
            "qformer_config": image, "num_query_tokens": state["query_tokens"].shape[1],
            "video_qformer_config": video, "num_video_query_tokens": state["video_query_tokens"].shape[1],
            "max_frame_pos": state["video_frame_position_embedding.weight"].shape[0],
            "text_config": text, "num_frames": frames,
            "prompt_template": VIDEO_LLAMA_2_TEMPLATE, "caption_question": "Describe this video."}


def load_llama(directory: pathlib.Path) -> tuple[dict, dict[str, torch.Tensor]]:
    from safetensors.torch import load_file
    config = json.loads((directory / "config.json").read_text())
    state: dict[str, torch.Tensor] = {}
    files = sorted(directory.glob("*.safetensors"))
    if files:
        for f in files:
            state.update(load_file(str(f)))
    else:
        for f in sorted(directory.glob("pytorch_model*.bin")):
            state.update(torch.load(f, map_location="cpu", weights_only=True))
    if not state:
        raise SystemExit(f"{directory}: no LLaMA weights (*.safetensors or pytorch_model*.bin)")
    return config, {"language_model." + k: v for k, v in state.items() if not k.endswith("rotary_emb.inv_freq")}


def convert(blip2: str | None, video_llama: str, llama: str, out: str, dtype: str = "keep", frames: int = 8,
            ignore: list[str] | None = None, vision_heads: int = 16, qformer_heads: int = 12) -> pathlib.Path:
    from safetensors.torch import save_file
    state: dict[str, torch.Tensor] = {}
    if blip2:
        state.update(_load(blip2))
    state.update(_load(video_llama))
    visual = convert_visual(state, ignore or [])
    missing = [k for k in ("vision_model.embeddings.class_embedding", "qformer.layernorm.weight", "query_tokens",
                           "video_Qformer.layernorm.weight", "video_query_tokens") if k not in visual]
    if missing:
        raise SystemExit(f"the checkpoints lack {', '.join(missing)}: pass the BLIP-2 checkpoint with --blip2")
    llama_config, text = load_llama(pathlib.Path(llama))
    config = infer_config(visual, llama_config, frames, vision_heads, qformer_heads)
    target = pathlib.Path(out)
    target.mkdir(parents=True, exist_ok=True)
    weights = {**{k: v.float() for k, v in visual.items()}, **text}
    if dtype == "bf16":
        weights.update({k: v.to(torch.bfloat16) for k, v in text.items()})
    elif dtype == "f32":
        weights.update({k: v.float() for k, v in text.items()})
    save_file({k: v.contiguous() for k, v in weights.items()}, str(target / "model.safetensors"), metadata={"format": "pt"})
    (target / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (pathlib.Path(llama) / name).exists():
            shutil.copy(pathlib.Path(llama) / name, target / name)
    image = config["vision_config"]["image_size"]
    (target / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "BlipImageProcessor", "do_resize": True, "size": {"height": image, "width": image},
        "resample": 3, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
        "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
        "do_convert_rgb": True}, indent=2) + "\n")
    return target


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--blip2")
    p.add_argument("--video-llama", required=True)
    p.add_argument("--llama", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--dtype", choices=["f32", "bf16", "keep"], default="keep",
                   help="decoder weights' dtype (vision and Q-Formers are always f32)")
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--ignore", action="append", default=[])
    p.add_argument("--vision-heads", type=int, default=16, help="EVA ViT attention heads (ViT-g: 16)")
    p.add_argument("--qformer-heads", type=int, default=12, help="Q-Former attention heads (BERT-base: 12)")
    a = p.parse_args(argv)
    out = convert(a.blip2, a.video_llama, a.llama, a.out, a.dtype, a.frames, a.ignore, a.vision_heads, a.qformer_heads)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
