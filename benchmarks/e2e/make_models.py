"""The models benchmarks/e2e adds to benchmarks/vlm's (same random-weight recipe, written by
transformers' save_pretrained so both tools load the same folders):

- instructblipvideo-bf16: the InstructBLIP-Video model of benchmarks/vlm/make_models.py (EVA ViT-g/14,
  12-layer Q-Former, TinyLlama-shaped LLaMA; the same seed, so the same weights) stored in bf16;
- blip2-opt2.7b-bf16: Blip2ForConditionalGeneration with the same EVA ViT-g/14 and Q-Former shapes and
  an OPT-2.7B-shaped decoder (2560 x 32 layers, 32 heads, ffn 10240, vocab 50272), stored in bf16,
  with the GPT-2-pipeline test tokenizer (Tests/Fixtures/tokenizers/gpt2, which has <image>) and
  BLIP's 224 px image processor; prompt "Question: {q} Answer:" as Blip2Processor builds it.

    tools/.venv/bin/python benchmarks/e2e/make_models.py benchmarks/.work/vlm [names...]
"""
from __future__ import annotations

import pathlib
import sys

import torch
import transformers
from transformers import (Blip2Config, Blip2ForConditionalGeneration, Blip2Processor, BlipImageProcessor,
                          PreTrainedTokenizerFast)

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "vlm"))
import make_models as vlm  # noqa: E402

EVA_G = dict(hidden_size=1408, intermediate_size=6144, num_hidden_layers=39, num_attention_heads=16, image_size=224,
             patch_size=14, qkv_bias=True, layer_norm_eps=1e-6)


def blip2_opt(out: pathlib.Path) -> None:
    tok = PreTrainedTokenizerFast.from_pretrained(str(vlm.TOKENIZERS / "gpt2"))
    config = Blip2Config(
        vision_config=EVA_G,
        qformer_config=dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                            cross_attention_frequency=2, encoder_hidden_size=1408, vocab_size=30522,
                            max_position_embeddings=512, pad_token_id=0),
        text_config=dict(model_type="opt", vocab_size=50272, hidden_size=2560, ffn_dim=10240, num_hidden_layers=32,
                         num_attention_heads=32, max_position_embeddings=2048, word_embed_proj_dim=2560,
                         do_layer_norm_before=True, bos_token_id=tok.bos_token_id, eos_token_id=None, pad_token_id=1),
        num_query_tokens=32, image_token_index=tok.convert_tokens_to_ids("<image>"))
    # Built and randomised directly in bf16 (3.9 B parameters: 15.6 GB in f32).
    torch.set_default_dtype(torch.bfloat16)
    model = vlm.randomize(Blip2ForConditionalGeneration(config))
    torch.set_default_dtype(torch.float32)
    vlm.no_eos(model)
    image = BlipImageProcessor(size={"height": 224, "width": 224})
    processor = Blip2Processor(image_processor=image, tokenizer=tok, num_query_tokens=32)
    vlm.save_pair(model, processor, out, "blip2-opt2.7b", ["bf16"])


def main(out: pathlib.Path, only: list[str]) -> None:
    transformers.logging.set_verbosity_error()
    wanted = only or ["instructblipvideo-bf16", "blip2-opt2.7b-bf16"]
    if "instructblipvideo-bf16" in wanted and not (out / "instructblipvideo-bf16").exists():
        vlm.instructblipvideo(out, ["bf16"])
    if "blip2-opt2.7b-bf16" in wanted and not (out / "blip2-opt2.7b-bf16").exists():
        blip2_opt(out)


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]), sys.argv[2:])
