"""Random-weight, full-size models for the LLaVA / CLIP benchmark (issue 20), written by transformers'
save_pretrained from the published architectures (no hub downloads), so vidlm and transformers load the
very same folders:

- llava-onevision-0.5b-f32 / -bf16: LlavaOnevisionForConditionalGeneration shaped like
  llava-hf/llava-onevision-qwen2-0.5b-ov-hf: SigLIP-SO400M tower (1152 x 26 layers, 384 px, patch 14,
  729 tokens per frame, feature layer -1, strategy "full"), the 2-layer GELU projector, anyres_max_9 with
  the published pinpoints, Qwen2-0.5B decoder (896 x 24 layers, 14 heads / 2 KV, q/k/v biases, vocab
  152000, tied embeddings); processor size 384, mean/std 0.5, 729 image tokens.
- llava-1.5-7b-bf16: LlavaForConditionalGeneration shaped like llava-hf/llava-1.5-7b-hf: CLIP ViT-L/14 at
  336 px (1024 x 24 layers, feature layer -2, strategy "default": 576 tokens), the GELU projector, a
  Vicuna/LLaMA-7B decoder (4096 x 32 layers, 32 heads, ffn 11008, vocab 32064); created directly in bf16
  (6.8 B parameters would be 28 GB in f32); CLIPImageProcessor 336 (resize shortest edge, centre crop).
- clip-vit-b32 / clip-vit-l14 (f32): CLIPModel shaped like openai/clip-vit-base-patch32 and
  openai/clip-vit-large-patch14 (text 512 x 12 / 768 x 12, vocab 49408, 77 positions; vision 768 x 12 at
  patch 32 / 1024 x 24 at patch 14, 224 px; projection 512 / 768; logit scale ln(1/0.07)) with CLIPProcessor.

Weights ~ N(0, 0.02), norms 1, biases 0 (benchmarks/vlm/make_models.py's randomize; CLIP keeps its logit
scale). `eos_token_id` is null so both tools generate exactly the asked number of tokens. Tokenizers and
chat templates are the parity fixtures' (tools/parity: the Qwen2 byte-level test tokenizer with <image> /
<video>, the LLaMA-2 test tokenizer with <image>, CLIP's pipeline with a small learned merge table, the
corpus's LLaVA-1.5 and OneVision templates): their vocabularies are smaller than the models' embedding
tables, which only shortens the prompt text; generated ids beyond a tokenizer's vocabulary decode to
nothing in both tools.

    tools/.venv/bin/python benchmarks/llava/make_models.py benchmarks/.work/vlm [names...]
"""
from __future__ import annotations

import gc
import pathlib
import sys

import torch
import transformers
from transformers import (
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    CLIPProcessor,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaOnevisionConfig,
    LlavaOnevisionForConditionalGeneration,
    LlavaOnevisionImageProcessor,
    LlavaOnevisionProcessor,
    LlavaOnevisionVideoProcessor,
    LlavaProcessor,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks" / "vlm"))
sys.path.insert(0, str(ROOT / "tools" / "parity"))
import make_models as vlm  # noqa: E402
import make_clip_fixtures as clip_fx  # noqa: E402
import make_llava_fixtures as llava_fx  # noqa: E402
import make_llava_onevision_fixtures as ov_fx  # noqa: E402

TEMPLATES = ROOT / "Tests" / "Fixtures" / "chat_templates" / "templates"
NAMES = ["llava-onevision-0.5b-f32", "llava-onevision-0.5b-bf16", "llava-1.5-7b-bf16", "clip-vit-b32", "clip-vit-l14"]


def file_backed(model_cls, config, scratch: pathlib.Path, seed: int = vlm.SEED):
    """The model built on the meta device, each parameter then given its own file-backed bf16 storage
    under `scratch` (MAP_SHARED: the kernel can write the pages back and drop them) and filled as
    randomize() fills them (N(0, 0.02), norms 1, biases 0). A 7 B model is 13.5 GB, more than this
    shared machine can be sure to hold in anonymous memory next to everything else. Non-persistent
    buffers (rotary frequencies, position ids) stay on the meta device: the model is only saved,
    never run, here. Call shutil.rmtree(scratch) after saving."""
    import shutil
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device("meta"):
            model = model_cls(config)
    finally:
        torch.set_default_dtype(torch.float32)
    g = torch.Generator().manual_seed(seed)
    for i, (name, p) in enumerate(list(model.named_parameters())):
        path = scratch / f"{i:05d}.bin"
        with open(path, "wb") as f:
            f.truncate(p.numel() * 2)
        t = torch.from_file(str(path), shared=True, size=p.numel(), dtype=torch.bfloat16).view(p.shape)
        with torch.no_grad():
            if p.dim() >= 2:
                t.normal_(0, 0.02, generator=g)
            elif "norm" in name or "layernorm" in name.lower():
                t.fill_(1.0)
            else:
                t.zero_()
        owner, _, leaf = name.rpartition(".")
        setattr(model.get_submodule(owner), leaf, torch.nn.Parameter(t, requires_grad=False))
    # Tied weights (an LM head sharing the embeddings) still point at the meta parameter: tie again.
    model.tie_weights()
    left = [k for k, v in model.state_dict().items() if v.is_meta]
    assert not left, f"still on the meta device: {left[:5]}"
    return model.eval()


def onevision(out: pathlib.Path, dtypes: list[str]) -> None:
    tok = ov_fx.build_tokenizer()
    ids = tok.convert_tokens_to_ids
    config = LlavaOnevisionConfig(
        text_config=dict(model_type="qwen2", hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                         num_attention_heads=14, num_key_value_heads=2, vocab_size=152000, max_position_embeddings=32768,
                         rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True, hidden_act="silu",
                         use_sliding_window=False, eos_token_id=None, pad_token_id=ids("<|endoftext|>")),
        vision_config=dict(model_type="siglip_vision_model", hidden_size=1152, intermediate_size=4304,
                           num_hidden_layers=26, num_attention_heads=16, image_size=384, patch_size=14,
                           hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6, vision_use_head=False),
        image_token_index=ids("<image>"), video_token_index=ids("<video>"), projector_hidden_act="gelu",
        vision_feature_select_strategy="full", vision_feature_layer=-1, vision_aspect_ratio="anyres_max_9",
        multimodal_projector_bias=True, tie_word_embeddings=True)
    pixels = dict(image_mean=[0.5] * 3, image_std=[0.5] * 3, size={"height": 384, "width": 384})
    processor = LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(image_grid_pinpoints=config.image_grid_pinpoints, **pixels),
        video_processor=LlavaOnevisionVideoProcessor(**pixels), tokenizer=tok, num_image_tokens=729,
        vision_feature_select_strategy="full", vision_aspect_ratio="anyres_max_9",
        chat_template=(TEMPLATES / "17-llava-onevision.jinja").read_text())
    model = vlm.randomize(LlavaOnevisionForConditionalGeneration(config))
    vlm.no_eos(model)
    vlm.save_pair(model, processor, out, "llava-onevision-0.5b", dtypes)


def llava15(out: pathlib.Path) -> None:
    tok = llava_fx.build_tokenizer()
    ids = tok.convert_tokens_to_ids
    config = LlavaConfig(
        text_config=dict(model_type="llama", hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                         num_attention_heads=32, num_key_value_heads=32, vocab_size=32064, max_position_embeddings=4096,
                         rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=False, hidden_act="silu",
                         bos_token_id=ids("<s>"), eos_token_id=None, pad_token_id=ids("<pad>")),
        vision_config=dict(model_type="clip_vision_model", hidden_size=1024, intermediate_size=4096,
                           num_hidden_layers=24, num_attention_heads=16, num_channels=3, image_size=336, patch_size=14,
                           hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=768),
        image_token_index=ids("<image>"), image_seq_length=576, projector_hidden_act="gelu",
        vision_feature_select_strategy="default", vision_feature_layer=-2, multimodal_projector_bias=True,
        tie_word_embeddings=False, pad_token_id=ids("<pad>"))
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336}),
        tokenizer=tok, patch_size=14, vision_feature_select_strategy="default", num_additional_image_tokens=1,
        chat_template=(TEMPLATES / "15-llava-1.5.jinja").read_text())
    # Built and randomised directly in bf16 (6.8 B parameters are 28 GB in f32, more than this machine
    # has), in file-backed storage (see file_backed).
    scratch = out / "llava-1.5-7b.scratch"
    model = file_backed(LlavaForConditionalGeneration, config, scratch)
    vlm.no_eos(model)
    vlm.save_pair(model, processor, out, "llava-1.5-7b", ["bf16"])
    del model
    gc.collect()
    import shutil
    shutil.rmtree(scratch)


CLIP_SHAPES = {
    "clip-vit-b32": dict(text=dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=8),
                         vision=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                                     patch_size=32),
                         projection_dim=512),
    "clip-vit-l14": dict(text=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12),
                         vision=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                                     patch_size=14),
                         projection_dim=768),
}


def clip(out: pathlib.Path, name: str) -> None:
    s = CLIP_SHAPES[name]
    tok = clip_fx.build_tokenizer()
    tok.model_max_length = 77
    ids = tok.convert_tokens_to_ids
    config = CLIPConfig(
        text_config=dict(vocab_size=49408, max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5,
                         bos_token_id=ids("<|startoftext|>"), eos_token_id=ids("<|endoftext|>"),
                         pad_token_id=ids("<|endoftext|>"), projection_dim=s["projection_dim"], **s["text"]),
        vision_config=dict(image_size=224, hidden_act="quick_gelu", layer_norm_eps=1e-5,
                           projection_dim=s["projection_dim"], **s["vision"]),
        projection_dim=s["projection_dim"], logit_scale_init_value=2.6592)
    model = CLIPModel(config)
    scale = model.logit_scale.detach().clone()
    vlm.randomize(model)
    with torch.no_grad():
        model.logit_scale.copy_(scale)
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 224},
                                                                 crop_size={"height": 224, "width": 224}), tokenizer=tok)
    folder, tmp = out / name, out / f"{name}.tmp"
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    processor.save_pretrained(tmp)
    tmp.rename(folder)
    size = sum(f.stat().st_size for f in folder.glob("*.safetensors"))
    print(f"{name}: {sum(p.numel() for p in model.parameters()) / 1e6:.0f} M parameters, {size / 2**30:.2f} GiB of safetensors")


def main(out: pathlib.Path, only: list[str]) -> None:
    transformers.logging.set_verbosity_error()
    out.mkdir(parents=True, exist_ok=True)
    wanted = [n for n in (only or NAMES) if not (out / n).exists()]
    for name in ("clip-vit-b32", "clip-vit-l14"):
        if name in wanted:
            clip(out, name)
    dtypes = [d for d in ("f32", "bf16") if f"llava-onevision-0.5b-{d}" in wanted]
    if dtypes:
        onevision(out, dtypes)
        gc.collect()
    if "llava-1.5-7b-bf16" in wanted:
        llava15(out)


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]), sys.argv[2:])
