#!/usr/bin/env python3
"""Writes Tests/Fixtures/quant/gguf_blocks.safetensors: a small f32 tensor and its q8_0 and q4_0
blocks as the `gguf` package's quantizer (llama.cpp's reference layout and rounding) makes them,
plus its dequantized values. Tests/VidLMTensorTests/QuantizationTests.swift checks that vidlm's
blocks are byte-identical, which proves the layout.

Run with the tools venv (needs gguf, numpy, safetensors; see tools/requirements.txt):
    tools/.venv/bin/python tools/parity/make_quant_fixtures.py
"""
import pathlib

import numpy as np
from gguf import GGMLQuantizationType, dequantize, quantize
from safetensors.numpy import save_file

OUT = pathlib.Path(__file__).resolve().parents[2] / "Tests" / "Fixtures" / "quant"


def weights() -> np.ndarray:
    rng = np.random.default_rng(25)
    w = rng.standard_normal((7, 128), dtype=np.float32) * 0.05
    # Blocks that pin down the rounding rules:
    # q8_0 with amax 127 (scale 1): x.5 values round half away from zero (2.5 -> 3, -2.5 -> -3).
    w[0, 0:32] = np.linspace(-2.5, 2.5, 32, dtype=np.float32)
    w[0, 0], w[0, 1], w[0, 31] = 127.0, 2.5, -2.5
    # q4_0 with the largest magnitude negative (-8: scale 1) and positive (8: scale -1),
    # and ties in magnitude (the first one wins).
    w[1, 32:64] = np.arange(32, dtype=np.float32) / 4 - 4
    w[1, 32] = -8.0
    w[2, 64:96] = np.arange(32, dtype=np.float32) / 4 - 3
    w[2, 64], w[2, 70] = 8.0, -8.0
    # An all-zero block (scale 0) and a block of tiny values (subnormal f16 scale).
    w[3, 0:32] = 0.0
    w[4, 96:128] = np.linspace(-1e-6, 1e-6, 32, dtype=np.float32)
    return w


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    w = weights()
    rows, k = w.shape
    tensors = {"input": w}
    for name, qtype, size in (("q8_0", GGMLQuantizationType.Q8_0, 34), ("q4_0", GGMLQuantizationType.Q4_0, 18)):
        blocks = quantize(w, qtype)  # uint8 [rows, k / 32 * size]
        tensors[f"{name}.blocks"] = np.ascontiguousarray(blocks.reshape(rows, k // 32, size))
        tensors[f"{name}.dequantized"] = dequantize(blocks, qtype).astype(np.float32).reshape(rows, k)
    save_file(tensors, str(OUT / "gguf_blocks.safetensors"))
    print("wrote", OUT / "gguf_blocks.safetensors")


if __name__ == "__main__":
    main()
