"""Kernel-level parity: PyTorch computes each op on random inputs; the Swift tests recompute
them with the tensor core. Written to Tests/Fixtures/parity/kernels/tensors.safetensors."""
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from harness import FIXTURES, SEED


def make() -> None:
    torch.manual_seed(SEED)
    t = {}
    a = torch.randn(2, 5, 7)
    b = torch.randn(2, 7, 3)
    t["matmul.a"], t["matmul.b"], t["matmul.out"] = a, b, a @ b
    t["matmul.out_ta"] = a.transpose(-1, -2).contiguous().transpose(-1, -2) @ b  # same values, checks API
    at = torch.randn(2, 7, 5)
    bt = torch.randn(2, 3, 7)
    t["matmul_t.a"], t["matmul_t.b"] = at, bt
    t["matmul_t.out"] = at.transpose(-1, -2) @ bt.transpose(-1, -2)
    x = torch.randn(4, 6, 16) * 3
    w, bias = torch.randn(10, 16), torch.randn(10)
    t["linear.x"], t["linear.w"], t["linear.b"], t["linear.out"] = x, w, bias, F.linear(x, w, bias)
    t["act.x"] = x
    t["act.gelu"] = F.gelu(x)
    t["act.gelu_tanh"] = F.gelu(x, approximate="tanh")
    t["act.quick_gelu"] = x * torch.sigmoid(1.702 * x)
    t["act.silu"] = F.silu(x)
    t["act.relu"] = F.relu(x)
    lw, lb = torch.randn(16), torch.randn(16)
    t["ln.w"], t["ln.b"], t["ln.out"] = lw, lb, F.layer_norm(x, (16,), lw, lb, eps=1e-5)
    big = torch.randn(3, 9) * 50 + 1000  # would overflow a naive exp
    t["softmax.x"], t["softmax.out"] = big, torch.softmax(big, dim=-1)
    t["bcast.a"], t["bcast.b"] = torch.randn(2, 1, 4), torch.randn(3, 1)
    t["bcast.add"] = t["bcast.a"] + t["bcast.b"]
    t["bcast.mul"] = t["bcast.a"] * t["bcast.b"]
    img = torch.randn(2, 3, 12, 12)
    cw, cb = torch.randn(8, 3, 4, 4), torch.randn(8)
    t["conv.x"], t["conv.w"], t["conv.b"] = img, cw, cb
    t["conv.out"] = F.conv2d(img, cw, cb, stride=4).flatten(2).transpose(1, 2)
    heads, lq, lk, d = 4, 5, 7, 32
    q, k, v = torch.randn(2, lq, d), torch.randn(2, lk, d), torch.randn(2, lk, d)
    t["attn.q"], t["attn.k"], t["attn.v"] = q, k, v

    def sdpa(mask):
        split = lambda z: z.view(2, -1, heads, d // heads).transpose(1, 2)
        o = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=mask)
        return o.transpose(1, 2).reshape(2, lq, d)

    t["attn.plain"] = sdpa(None)
    causal = torch.ones(lq, lk, dtype=torch.bool).tril(diagonal=lk - lq)
    t["attn.causal"] = sdpa(causal)
    pad = torch.tensor([[False] * 7, [False] * 5 + [True] * 2])  # True = ignore
    t["attn.pad_mask"] = pad.to(torch.uint8)
    t["attn.padded"] = sdpa(~pad[:, None, None, :])
    vals = torch.tensor([1.0, -2.5, 3.14159, 1e-3, 65504.0, 1.00390625, 1.01171875, -0.0, 3e38])
    t["bf16.in"], t["bf16.out"] = vals, vals.to(torch.bfloat16).to(torch.float32)
    t["f16.in"] = vals[:-1]
    t["f16.out"] = vals[:-1].to(torch.float16).to(torch.float32)
    folder = FIXTURES / "kernels"
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.clone().contiguous() for k, v in t.items()}, str(folder / "tensors.safetensors"))
    print(f"kernels: {(folder / 'tensors.safetensors').stat().st_size / 1024:.1f} KiB")
