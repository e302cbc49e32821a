"""GEMM peak probes for the "fraction of the dtype's peak" column: PyTorch's f32 and bf16 matmul
(x · Wᵀ, the Linear layout) at the given thread count, best of REPEATS, on the shape
`vidlm-bench sgemm` uses by default (M = 2056 tokens, K = 1024, N = 4096) and a decoder-sized one
(M = 512, K = 2048, N = 8192). Prints one JSON object: GFLOP/s per dtype and shape.

    peak.py THREADS REPEATS
"""
import json
import sys
import time

import torch


def probe(dtype, m, k, n, repeats):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(m, k, generator=g).to(dtype)
    w = torch.randn(n, k, generator=g).to(dtype)
    torch.nn.functional.linear(x, w)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        torch.nn.functional.linear(x, w)
        best = min(best, time.perf_counter() - t)
    return 2.0 * m * n * k / best / 1e9


def main(threads: int, repeats: int) -> None:
    torch.set_num_threads(threads)
    out = {"threads": torch.get_num_threads(), "torch": torch.__version__}
    with torch.inference_mode():
        for name, dtype in (("f32", torch.float32), ("bf16", torch.bfloat16)):
            out[name] = {f"{m}x{k}x{n}": probe(dtype, m, k, n, repeats) for m, k, n in ((2056, 1024, 4096), (512, 2048, 8192))}
    print(json.dumps(out))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
