#!/usr/bin/env python3
"""Writes two tiny random-weight model folders whose every linear layer has an inner size that is a
multiple of 32 (so `vidlm quantize` takes them whole), for Tests/VidLMTests/QuantizedFamilyTests.swift:

* Tests/Fixtures/quant/blip2_opt — Blip2ForConditionalGeneration (EVA ViT, Q-Former, OPT);
* Tests/Fixtures/quant/instructblipvideo_llama — InstructBlipVideoForConditionalGeneration (LLaMA).

The shapes follow tools/parity/cases_e2e.py with the decoder widened from 48 to 64. The Swift test
compares each quantized model with the same folder unquantized (whose parity with transformers
the e2e fixtures prove), so only the model folders are written.

    tools/.venv/bin/python tools/parity/make_quant_family_fixtures.py
"""
import pathlib
import shutil
import sys

import torch
from transformers import (Blip2Config, Blip2ForConditionalGeneration, BlipImageProcessor, InstructBlipVideoConfig,
                          InstructBlipVideoForConditionalGeneration, PreTrainedTokenizerFast)

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "parity"))
from cases_text import _random_init  # noqa: E402

TOKENIZERS = ROOT / "Tests" / "Fixtures" / "tokenizers"
OUT = ROOT / "Tests" / "Fixtures" / "quant"
SIZE = 32
VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=SIZE, patch_size=8)


def save(model, name: str, tokenizers: dict[str, str]) -> None:
    folder = OUT / name
    shutil.rmtree(folder, ignore_errors=True)
    model.save_pretrained(folder, safe_serialization=True)
    for into, source in tokenizers.items():
        (folder / into).mkdir(parents=True, exist_ok=True)
        for n in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(TOKENIZERS / source / n, folder / into / n)
    (folder / "preprocessor_config.json").write_text(BlipImageProcessor(size={"height": SIZE, "width": SIZE}).to_json_string())
    (folder / "generation_config.json").unlink(missing_ok=True)
    print("wrote", folder)


def blip2_opt() -> None:
    tok = PreTrainedTokenizerFast.from_pretrained(str(TOKENIZERS / "gpt2"))
    config = Blip2Config(
        vision_config=VISION,
        qformer_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                            cross_attention_frequency=1, encoder_hidden_size=32, vocab_size=60, max_position_embeddings=32),
        text_config=dict(model_type="opt", vocab_size=len(tok), hidden_size=64, ffn_dim=128, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=96, word_embed_proj_dim=64,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"), pad_token_id=1),
        num_query_tokens=4, image_token_index=tok.convert_tokens_to_ids("<image>"))
    save(_random_init(Blip2ForConditionalGeneration(config), 0.3), "blip2_opt", {"": "gpt2"})


def instructblipvideo_llama() -> None:
    tok = PreTrainedTokenizerFast.from_pretrained(str(TOKENIZERS / "llama2"))
    qtok = PreTrainedTokenizerFast.from_pretrained(str(TOKENIZERS / "bert"))
    config = InstructBlipVideoConfig(
        vision_config=VISION,
        qformer_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                            cross_attention_frequency=2, encoder_hidden_size=32, vocab_size=len(qtok),
                            max_position_embeddings=64, pad_token_id=qtok.pad_token_id),
        text_config=dict(model_type="llama", vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=0,
                         tie_word_embeddings=False),
        num_query_tokens=3, video_token_index=tok.convert_tokens_to_ids("<video>"))
    save(_random_init(InstructBlipVideoForConditionalGeneration(config), 0.3), "instructblipvideo_llama",
         {"": "llama2", "qformer_tokenizer": "bert"})


if __name__ == "__main__":
    torch.manual_seed(25)
    blip2_opt()
    instructblipvideo_llama()
