"""Random-weight decoders for the text benchmark, written with transformers' save_pretrained
(safetensors; no tokenizer needed):

- tinyllama-f32 / tinyllama-bf16: LlamaForCausalLM shaped like TinyLlama-1.1B (hidden 2048,
  intermediate 5632, 22 layers, 32 heads, 4 KV heads, vocab 32000, 2048 positions); the bf16
  checkpoint holds the f32 weights rounded to bf16;
- opt-1.3b-f32: OPTForCausalLM shaped like facebook/opt-1.3b (hidden 2048, ffn 8192, 24 layers,
  32 heads, vocab 50272, tied LM head).

Matrices ~ N(0, 0.02); norm weights 1 and biases 0 (transformers' init).

    tools/.venv/bin/python benchmarks/text/make_models.py benchmarks/.work/text
"""
import pathlib
import sys

import torch
from transformers import LlamaConfig, LlamaForCausalLM, OPTConfig, OPTForCausalLM


def tinyllama() -> LlamaForCausalLM:
    return LlamaForCausalLM(LlamaConfig(
        hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
        num_key_value_heads=4, vocab_size=32000, max_position_embeddings=2048, rms_norm_eps=1e-5,
        rope_theta=10000.0, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2))


def opt() -> OPTForCausalLM:
    return OPTForCausalLM(OPTConfig(
        hidden_size=2048, ffn_dim=8192, num_hidden_layers=24, num_attention_heads=32, vocab_size=50272,
        max_position_embeddings=2048, word_embed_proj_dim=2048, do_layer_norm_before=True,
        enable_bias=True, activation_function="relu", pad_token_id=1, bos_token_id=2, eos_token_id=2))


def randomize(model: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0, 0.02)
    return model.eval()


def save(model: torch.nn.Module, folder: pathlib.Path) -> None:
    model.save_pretrained(folder, safe_serialization=True)
    n = sum(p.numel() for p in model.parameters())
    print(f"{folder.name}: {n / 1e6:.0f} M parameters, {next(model.parameters()).dtype}")


def main(out: pathlib.Path) -> None:
    torch.manual_seed(0)
    if not (out / "tinyllama-f32" / "config.json").exists() or not (out / "tinyllama-bf16" / "config.json").exists():
        model = randomize(tinyllama())
        save(model, out / "tinyllama-f32")
        save(model.to(torch.bfloat16), out / "tinyllama-bf16")
        del model
    if not (out / "opt-1.3b-f32" / "config.json").exists():
        save(randomize(opt()), out / "opt-1.3b-f32")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
