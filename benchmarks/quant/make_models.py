"""The TinyLlama-shaped random-weight checkpoints of benchmarks/text (f32 and bf16), and the same
weights in f16.

    tools/.venv/bin/python benchmarks/quant/make_models.py OUT_DIR
"""
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "text"))
import make_models as text  # noqa: E402

if __name__ == "__main__":
    out = pathlib.Path(sys.argv[1])
    if not (out / "tinyllama-f32" / "config.json").exists() or not (out / "tinyllama-bf16" / "config.json").exists():
        torch.manual_seed(0)
        model = text.randomize(text.tinyllama())
        text.save(model, out / "tinyllama-f32")
        text.save(model.to(torch.bfloat16), out / "tinyllama-bf16")
    if not (out / "tinyllama-f16" / "config.json").exists():
        model = text.LlamaForCausalLM.from_pretrained(out / "tinyllama-f32", torch_dtype=torch.float32)
        text.save(model.to(torch.float16), out / "tinyllama-f16")
