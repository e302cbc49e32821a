"""Random-weight vision towers for the benchmark (fp32 safetensors, transformers layout):
CLIP ViT-L/14 at 224 and BLIP-2's EVA ViT-g/14 (Blip2VisionConfig defaults).

    tools/.venv/bin/python benchmarks/vision/make_models.py benchmarks/.work/vision
"""
import pathlib
import sys

import torch
from transformers import Blip2VisionConfig, Blip2VisionModel, CLIPVisionConfig, CLIPVisionModel

MODELS = {
    "clip-vit-l14": lambda: CLIPVisionModel(CLIPVisionConfig(
        hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
        image_size=224, patch_size=14, hidden_act="quick_gelu", projection_dim=768)),
    "eva-vit-g14": lambda: Blip2VisionModel(Blip2VisionConfig()),
}


def main(out: pathlib.Path, only=None) -> None:
    torch.manual_seed(0)
    for name, build in MODELS.items():
        if only and name not in only:
            continue
        folder = out / name
        if (folder / "model.safetensors").exists():
            print(f"{name}: exists")
            continue
        model = build().eval()
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0, 0.02)
        model.save_pretrained(folder, safe_serialization=True)
        print(f"{name}: {sum(p.numel() for p in model.parameters()) / 1e6:.0f} M parameters")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]), sys.argv[2:])
