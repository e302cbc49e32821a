"""Inputs for the bridge benchmark (BLIP-2 sizes, random weights, transformers names):

- model.safetensors: `query_tokens` [1, 32, 768], `qformer.*` (Blip2QFormerModel: 12 layers,
  hidden 768, 12 heads, intermediate 3072, cross-attention every 2nd layer to width 1408),
  `language_projection.*` (768 → 2560), and `merger.proj.*` (concat_linear k = 4: 4·1408 → 1408);
  transformers' initialisation (N(0, 0.02), LayerNorm 1/0), query tokens N(0, 0.02);
- features.safetensors: ViT-g-shaped features [T, 257, 1408] (class token + 16×16 grid) for
  T = 8 and 32: `static_T` = one frame's N(0, 1) features repeated with N(0, 0.01²) noise per
  frame; `motion_T` = independent N(0, 1) features per frame (T = 8 clips are the first 8 frames);
- config.json: qformer_config, num_query_tokens, text_hidden_size, grid_side.

    tools/.venv/bin/python benchmarks/bridge/make_inputs.py benchmarks/.work/bridge
"""
import json
import pathlib
import sys

import torch
from safetensors.torch import save_file
from transformers import Blip2QFormerConfig, Blip2QFormerModel

QUERIES, TEXT_WIDTH, VISION_WIDTH, GRID = 32, 2560, 1408, 16


def qformer_config() -> Blip2QFormerConfig:
    return Blip2QFormerConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                              cross_attention_frequency=2, encoder_hidden_size=VISION_WIDTH)


def main(out: pathlib.Path) -> None:
    if (out / "features.safetensors").exists():
        print("exists")
        return
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    config = qformer_config()
    qformer = Blip2QFormerModel(config).eval()
    state = {"qformer." + k: v.contiguous() for k, v in qformer.state_dict().items()}
    state["query_tokens"] = torch.randn(1, QUERIES, config.hidden_size) * 0.02
    projection = torch.nn.Linear(config.hidden_size, TEXT_WIDTH)
    merger = torch.nn.Linear(4 * VISION_WIDTH, VISION_WIDTH)
    for prefix, layer in (("language_projection.", projection), ("merger.proj.", merger)):
        with torch.no_grad():
            layer.weight.normal_(0, 0.02)
            layer.bias.zero_()
        state[prefix + "weight"] = layer.weight.detach().contiguous()
        state[prefix + "bias"] = layer.bias.detach().contiguous()
    save_file(state, out / "model.safetensors")
    n = 1 + GRID * GRID
    base = torch.randn(n, VISION_WIDTH)
    static = base[None] + 0.01 * torch.randn(32, n, VISION_WIDTH)
    motion = torch.randn(32, n, VISION_WIDTH)
    save_file({"static_8": static[:8].clone(), "motion_8": motion[:8].clone(),
               "static_32": static.contiguous(), "motion_32": motion.contiguous()}, out / "features.safetensors")
    (out / "config.json").write_text(json.dumps({
        "qformer_config": config.to_dict(), "num_query_tokens": QUERIES, "text_hidden_size": TEXT_WIDTH,
        "grid_side": GRID}, indent=2) + "\n")
    print(f"{sum(v.numel() for v in state.values()) / 1e6:.0f} M parameters")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
