"""Random-weight, full-size Qwen2.5-VL for the Qwen-VL benchmark (issue 21), written by transformers'
save_pretrained from the published architecture (no hub downloads), so vidlm and transformers load the
very same folder:

- qwen2.5-vl-3b-bf16: Qwen2_5_VLForConditionalGeneration shaped like Qwen/Qwen2.5-VL-3B-Instruct: vision
  1280 x 32 blocks (16 heads, SwiGLU 3420, RMSNorm), Conv3d patch embedding over 2 frames of 14 px patches,
  112 px windows with full attention in blocks 7, 15, 23, 31, the 2x2 merger to 2048, tokens_per_second 2;
  Qwen2.5-3B decoder (2048 x 36 layers, 16 heads / 2 KV, ffn 11008, vocab 151936, tied embeddings,
  M-RoPE sections [16, 24, 24], rope theta 1e6). Created and stored in bf16 (3.75 B parameters).
  Image processor: min_pixels 3136, max_pixels 12845056 (the published preprocessor_config); video
  processor: frames sampled at 2 fps (`do_sample_frames` true, as qwen-vl-utils samples), 128-768 x 28^2
  pixels per frame, min 4 / max 768 frames (transformers' defaults).

Weights ~ N(0, 0.02), norms 1, biases 0 (benchmarks/vlm/make_models.py's randomize). `eos_token_id` is null
so both tools generate exactly the asked number of tokens. Tokenizer and chat template are the parity
fixtures' (tools/parity/make_qwen_vl_fixtures.py: the Qwen2 byte-level test tokenizer with the vision
tokens, Qwen2-VL's template); its vocabulary is smaller than the embedding table, which only shortens the
prompt text (generated ids beyond it decode to nothing in both tools).

    tools/.venv/bin/python benchmarks/qwenvl/make_models.py benchmarks/.work/vlm [names...]
"""
from __future__ import annotations

import importlib.util
import pathlib
import shutil
import sys

import torch
import transformers
from transformers import (
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
    Qwen2VLImageProcessor,
    Qwen2VLVideoProcessor,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks" / "vlm"))
sys.path.insert(0, str(ROOT / "tools" / "parity"))
import make_models as vlm  # noqa: E402
import make_qwen_vl_fixtures as qwen_fx  # noqa: E402

_spec = importlib.util.spec_from_file_location("llava_models", ROOT / "benchmarks" / "llava" / "make_models.py")
llava_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(llava_models)

NAMES = ["qwen2.5-vl-3b-bf16"]
CLIP_PIXELS = dict(image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711])


def qwen25vl(out: pathlib.Path) -> None:
    tok = qwen_fx.build_tokenizer()
    ids = tok.convert_tokens_to_ids
    text = dict(hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
                num_key_value_heads=2, vocab_size=151936, max_position_embeddings=128000, rms_norm_eps=1e-6,
                hidden_act="silu", tie_word_embeddings=True, use_sliding_window=False, eos_token_id=None,
                bos_token_id=None, pad_token_id=ids("<|endoftext|>"),
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]})
    vision = dict(depth=32, hidden_size=1280, intermediate_size=3420, out_hidden_size=2048, num_heads=16,
                  hidden_act="silu", patch_size=14, spatial_merge_size=2, temporal_patch_size=2, in_channels=3,
                  window_size=112, fullatt_block_indexes=[7, 15, 23, 31], tokens_per_second=2)
    config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, image_token_id=ids("<|image_pad|>"),
                              video_token_id=ids("<|video_pad|>"), vision_start_token_id=ids("<|vision_start|>"),
                              vision_end_token_id=ids("<|vision_end|>"), tie_word_embeddings=True)
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(size={"shortest_edge": 3136, "longest_edge": 12845056}, **CLIP_PIXELS),
        video_processor=Qwen2VLVideoProcessor(size={"shortest_edge": 128 * 28 * 28, "longest_edge": 768 * 28 * 28},
                                              fps=2.0, do_sample_frames=True, min_frames=4, max_frames=768,
                                              **CLIP_PIXELS),
        tokenizer=tok, chat_template=qwen_fx.TEMPLATE)
    # Built and randomised directly in bf16 (15 GB in f32), in file-backed storage (7.5 GB that the
    # kernel may write back: see benchmarks/llava/make_models.py's file_backed).
    scratch = out / "qwen2.5-vl-3b.scratch"
    model = llava_models.file_backed(Qwen2_5_VLForConditionalGeneration, config, scratch)
    with torch.no_grad():
        # randomize() sets weights named *norm* to 1; the merger's RMSNorm is `ln_q` (zero would make
        # every visual token the same).
        model.model.visual.merger.ln_q.weight.fill_(1.0)
    vlm.no_eos(model)
    vlm.save_pair(model, processor, out, "qwen2.5-vl-3b", ["bf16"])
    del model
    shutil.rmtree(scratch)


def main(out: pathlib.Path, only: list[str]) -> None:
    transformers.logging.set_verbosity_error()
    out.mkdir(parents=True, exist_ok=True)
    if "qwen2.5-vl-3b-bf16" in (only or NAMES) and not (out / "qwen2.5-vl-3b-bf16").exists():
        qwen25vl(out)


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]), sys.argv[2:])
