"""Random-weight LLaMA checkpoints for the quantization benchmark.

- tinyllama-{f32,bf16,f16}: benchmarks/text's TinyLlama-1.1B shape (f32 and bf16 as there, and
  the same weights in f16).
- smollm2-1.7b-bf16: SmolLM2-1.7B's shape (hidden 2048, MLP 8192, 24 layers, 32 heads, vocabulary
  49152), bf16 only (an f32 copy is 6.8 GB), with its LM head untied so that every precision
  quantizes the same matrices in both tools.

    tools/.venv/bin/python benchmarks/quant/make_models.py OUT_DIR [tinyllama|smollm2-1.7b]
"""
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "text"))
import make_models as text  # noqa: E402


def smollm2_1_7b() -> text.LlamaForCausalLM:
    return text.LlamaForCausalLM(text.LlamaConfig(
        hidden_size=2048, intermediate_size=8192, num_hidden_layers=24, num_attention_heads=32,
        num_key_value_heads=32, vocab_size=49152, max_position_embeddings=8192, rms_norm_eps=1e-5,
        rope_theta=130000.0, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2))


if __name__ == "__main__":
    out = pathlib.Path(sys.argv[1])
    shape = sys.argv[2] if len(sys.argv) > 2 else "tinyllama"
    if shape == "smollm2-1.7b":
        if not (out / "smollm2-1.7b-bf16" / "config.json").exists():
            torch.manual_seed(0)
            text.save(text.randomize(smollm2_1_7b()).to(torch.bfloat16), out / "smollm2-1.7b-bf16")
        sys.exit(0)
    if not (out / "tinyllama-f32" / "config.json").exists() or not (out / "tinyllama-bf16" / "config.json").exists():
        torch.manual_seed(0)
        model = text.randomize(text.tinyllama())
        text.save(model, out / "tinyllama-f32")
        text.save(model.to(torch.bfloat16), out / "tinyllama-bf16")
    if not (out / "tinyllama-f16" / "config.json").exists():
        model = text.LlamaForCausalLM.from_pretrained(out / "tinyllama-f32", torch_dtype=torch.float32)
        text.save(model.to(torch.float16), out / "tinyllama-f16")
