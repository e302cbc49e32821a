"""Vision-core parity cases: BLIP-2's EVA ViT and CLIP's ViT (transformers as the oracle)."""
import torch
from transformers import Blip2VisionConfig, Blip2VisionModel, CLIPVisionConfig, CLIPVisionModel

from harness import Fixture, case


def _random_init(model: torch.nn.Module, scale: float = 0.2) -> torch.nn.Module:
    # transformers initialises some weights to ~0 (initializer_range 1e-10 for BLIP-2) or ones;
    # random values everywhere make the comparison meaningful.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(scale * torch.randn_like(p))
    return model.eval()


def _vision_outputs(model, pixels):
    with torch.no_grad():
        out = model(pixel_values=pixels, output_hidden_states=True)
    expected = {"last_hidden_state": out.last_hidden_state, "pooler_output": out.pooler_output}
    for i, h in enumerate(out.hidden_states):
        expected[f"hidden_states.{i}"] = h
    return expected, len(out.hidden_states)


def _blip2_config():
    return Blip2VisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                             image_size=32, patch_size=8, layer_norm_eps=1e-6, hidden_act="gelu", qkv_bias=True)


@case("blip2_vision_tiny")
def _():
    model = _random_init(Blip2VisionModel(_blip2_config()))
    pixels = torch.randn(2, 3, 32, 32)
    expected, n = _vision_outputs(model, pixels)
    return Fixture(model, {"pixel_values": pixels}, expected, meta={"hidden_states": n})


@case("blip2_vision_tiny_bf16")
def _():
    # Same architecture, weights stored as bf16; expected = the f32 model on the *unrounded*
    # weights, so the test measures the whole bf16 error (tolerance 2e-2 of scale).
    model = _random_init(Blip2VisionModel(_blip2_config()))
    pixels = torch.randn(2, 3, 32, 32)
    expected, n = _vision_outputs(model, pixels)
    return Fixture(model, {"pixel_values": pixels}, expected, weight_dtype="BF16", meta={"hidden_states": n})


@case("clip_vision_tiny")
def _():
    config = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
                              image_size=32, patch_size=8, hidden_act="quick_gelu", layer_norm_eps=1e-5,
                              projection_dim=16)
    model = _random_init(CLIPVisionModel(config))
    pixels = torch.randn(3, 3, 32, 32)
    expected, n = _vision_outputs(model, pixels)
    return Fixture(model, {"pixel_values": pixels}, expected, meta={"hidden_states": n})
