"""Builds the Mistral and Qwen2 decoder parity fixtures (no downloads, deterministic):

    tools/.venv/bin/python tools/parity/make_decoder_family_fixtures.py

The oracle is transformers 5.23 (`MistralForCausalLM`, `Qwen2ForCausalLM`), saved with save_pretrained so
vidlm reads them as causal LMs (top-level config.json, `model.` + `lm_head.` weights).

Writes Tests/Fixtures/parity/<name>/ with config.json, model.safetensors, inputs.json (prompt ids) and
expected.safetensors (logits at every prompt position, 24 greedy ids with EOS disabled, checked against a
cache-free argmax loop):
  mistral_tiny_window: GQA (4 heads / 2 KV), sliding_window 32 under a 90-token prompt.
  qwen2_tiny_tied:     q/k/v biases (o_proj none), tied embeddings, rope_theta 1e6.
  qwen2_tiny_window:   Qwen2 with use_sliding_window, sliding_window 16 and max_window_layers 1 over 3 layers: layer 0
                       attends to the whole 90-token prompt, layers 1 and 2 to the last 16 positions.

    tools/.venv/bin/python tools/parity/make_decoder_family_fixtures.py [name ...]   (default: all)
"""
from __future__ import annotations

import json
import math
import pathlib
import shutil
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers import MistralConfig, MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM

ROOT = pathlib.Path(__file__).resolve().parents[2]
PARITY = ROOT / "Tests" / "Fixtures" / "parity"
SEED = 20261212
NEW_TOKENS = 24
VOCAB = 300
PROMPT = 90


def widen(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
    return model


def build(name, cls, config, seed):
    torch.manual_seed(seed)
    model = widen(cls(config).to(torch.float32).eval(), seed + 1)
    out = PARITY / name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    model.save_pretrained(out)
    model = cls.from_pretrained(out).to(torch.float32).eval()
    g = torch.Generator().manual_seed(seed + 2)
    ids = torch.randint(3, VOCAB, (1, PROMPT), generator=g)
    with torch.no_grad():
        logits = model(input_ids=ids, use_cache=False).logits[0]
        gen = transformers.GenerationConfig(do_sample=False, max_new_tokens=NEW_TOKENS, min_new_tokens=0, eos_token_id=None,
                                            bos_token_id=None, pad_token_id=0, num_beams=1)
        seq = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=gen,
                             output_scores=True, return_dict_in_generate=True)
        greedy = seq.sequences[0, PROMPT:].tolist()
        run, manual = ids, []
        for _ in range(NEW_TOKENS):
            nxt = int(torch.argmax(model(input_ids=run, use_cache=False).logits[0, -1]))
            manual.append(nxt)
            run = torch.cat([run, torch.tensor([[nxt]])], dim=1)
    assert manual == greedy, (name, manual, greedy)
    margin = min(float(torch.topk(s[0], 2).values[0] - torch.topk(s[0], 2).values[1]) for s in seq.scores)
    save_file({"logits": logits.contiguous()}, str(out / "expected.safetensors"))
    (out / "inputs.json").write_text(json.dumps({"input_ids": ids[0].tolist(), "greedy_ids": greedy,
                                                 "min_greedy_margin": margin,
                                                 "generator": "tools/parity/make_decoder_family_fixtures.py"}, indent=1) + "\n")
    print(name, "margin", round(margin, 4), sum(p.stat().st_size for p in out.rglob("*")), "bytes")


def main():
    transformers.logging.set_verbosity_error()
    common = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5, eos_token_id=2, bos_token_id=1)
    which = sys.argv[1:] or ["mistral_tiny_window", "qwen2_tiny_tied", "qwen2_tiny_window"]
    if "mistral_tiny_window" in which:
        build("mistral_tiny_window", MistralForCausalLM, MistralConfig(sliding_window=32, tie_word_embeddings=False, **common), SEED)
    if "qwen2_tiny_tied" in which:
        build("qwen2_tiny_tied", Qwen2ForCausalLM,
              Qwen2Config(tie_word_embeddings=True, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, **common),
              SEED + 10)
    if "qwen2_tiny_window" in which:
        config = Qwen2Config(tie_word_embeddings=False, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                             use_sliding_window=True, sliding_window=16, max_window_layers=1, **{**common, "num_hidden_layers": 3})
        assert config.layer_types == ["full_attention", "sliding_attention", "sliding_attention"], config.layer_types
        build("qwen2_tiny_window", Qwen2ForCausalLM, config, SEED + 23)


if __name__ == "__main__":
    main()
