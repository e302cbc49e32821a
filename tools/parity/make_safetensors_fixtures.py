#!/usr/bin/env python3
"""Writes the reference safetensors fixtures for Tests/VidLMTensorTests/SafetensorsTests.swift.

The files come from the `safetensors` Python package (the format's reference implementation), so
the Swift reader is checked against files it did not write, and the Swift writer's output is
compared byte for byte with the reference writer's. Expected values go to a JSON file beside them.

Run with the tools venv (needs torch + safetensors):
    tools/.venv/bin/python tools/parity/make_safetensors_fixtures.py
"""
import json
import pathlib

import torch
from safetensors.torch import save_file

OUT = pathlib.Path(__file__).resolve().parents[2] / "Tests" / "Fixtures" / "safetensors"


def tensors():
    # Values exactly representable in every dtype they are stored as, so the Swift side can
    # rebuild the same tensors from the JSON and compare bytes.
    return {
        "layer.weight": torch.tensor([[0.5, -1.25, 3.0], [0.001, -0.0, 65504.0]], dtype=torch.float32),
        "layer.bias": torch.tensor([1.0, -2.5, 0.15625, 384.0], dtype=torch.bfloat16),
        "norm.weight": torch.tensor([[1.5, -0.75], [2048.0, 0.0009765625]], dtype=torch.float16),
        "position_ids": torch.tensor([0, 1, -7], dtype=torch.int64),
        "scale": torch.tensor(2.25, dtype=torch.float32),  # scalar, shape []
        "empty": torch.zeros((0, 3), dtype=torch.float32),
        "mask": torch.tensor([1, 0, 1], dtype=torch.uint8),
        "counts": torch.tensor([-3, 70000], dtype=torch.int32),
    }


def describe(ts):
    return {
        name: {
            "dtype": {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16", torch.int64: "I64",
                      torch.uint8: "U8", torch.int32: "I32"}[t.dtype],
            "shape": list(t.shape),
            "values": [float(v) for v in t.to(torch.float64).flatten().tolist()],
        }
        for name, t in ts.items()
    }


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    ts = tensors()
    metadata = {"format": "pt"}  # one key: multi-key metadata order is random in the reference writer
    save_file(ts, OUT / "reference.safetensors", metadata=metadata)

    # A sharded model directory as transformers' save_pretrained writes it.
    sharded = OUT / "sharded"
    sharded.mkdir(exist_ok=True)
    shard_names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    names = sorted(ts)
    split = {shard_names[0]: names[:4], shard_names[1]: names[4:]}
    weight_map = {}
    total = 0
    for shard, members in split.items():
        save_file({n: ts[n] for n in members}, sharded / shard, metadata=metadata)
        for n in members:
            weight_map[n] = shard
            total += ts[n].numel() * ts[n].element_size()
    with open(sharded / "model.safetensors.index.json", "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
        f.write("\n")

    with open(OUT / "reference.json", "w") as f:
        json.dump({"metadata": metadata, "tensors": describe(ts)}, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
