"""Parity harness: tiny random-weight models built with transformers (or the project's own
PyTorch reference modules) write config.json + model.safetensors + inputs + expected outputs
into Tests/Fixtures/parity/<case>/ for the Swift tests to compare against.

Adding a case is a few lines:

    @case("clip_vision_tiny")
    def _():
        model = CLIPVisionModel(CLIPVisionConfig(...)).eval()
        x = torch.randn(2, 3, 32, 32)
        out = model(pixel_values=x, output_hidden_states=True)
        return Fixture(model, inputs={"pixel_values": x}, expected={"last_hidden_state": out.last_hidden_state})

Run everything with `python3 tools/parity/make_fixtures.py` (see tools/requirements.txt).
"""
from __future__ import annotations

import json
import pathlib
import shutil
from dataclasses import dataclass, field
from typing import Callable

import torch
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "Tests" / "Fixtures" / "parity"
SEED = 20261123

CASES: dict[str, Callable[[], "Fixture"]] = {}


@dataclass
class Fixture:
    model: torch.nn.Module
    inputs: dict[str, torch.Tensor]
    expected: dict[str, torch.Tensor]
    # dtype to store weights in ("F32", "BF16", "F16"); expected outputs stay f32.
    weight_dtype: str = "F32"
    # Extra facts for the Swift test (tolerances, which hidden state is which, ...).
    meta: dict = field(default_factory=dict)
    # Config to write instead of model.config (e.g. a composite config).
    config: dict | None = None
    # Weights to write instead of model.state_dict() (e.g. what save_pretrained writes).
    state: dict[str, torch.Tensor] | None = None
    # Extra files for the model directory: name → text or bytes (tokenizer.json, ...).
    files: dict[str, str | bytes] = field(default_factory=dict)


def case(name: str):
    def register(fn):
        CASES[name] = fn
        return fn
    return register


def _contiguous(tensors: dict[str, torch.Tensor], dtype=None) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in tensors.items():
        v = v.detach().clone().contiguous()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        out[k] = v
    return out


def write(name: str, fx: Fixture) -> pathlib.Path:
    folder = FIXTURES / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    dtype = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}[fx.weight_dtype]
    state = fx.state if fx.state is not None else fx.model.state_dict()
    save_file(_contiguous(state, dtype), str(folder / "model.safetensors"), metadata={"format": "pt"})
    config = fx.config if fx.config is not None else fx.model.config.to_dict()
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True, default=str) + "\n")
    save_file(_contiguous(fx.inputs), str(folder / "inputs.safetensors"))
    save_file(_contiguous(fx.expected, torch.float32), str(folder / "expected.safetensors"))
    for file, content in fx.files.items():
        target = folder / file
        target.parent.mkdir(parents=True, exist_ok=True)
        (target.write_bytes if isinstance(content, bytes) else target.write_text)(content)
    meta = {"case": name, "weight_dtype": fx.weight_dtype, "torch": torch.__version__, **fx.meta}
    try:
        import transformers
        meta["transformers"] = transformers.__version__
    except ImportError:
        pass
    (folder / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return folder


def run(only: list[str] | None = None) -> None:
    names = [n for n in CASES if not only or any(o in n for o in only)]
    for name in names:
        torch.manual_seed(SEED)
        fx = CASES[name]()
        folder = write(name, fx)
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(f"{name}: {size / 1024:.1f} KiB")
