"""Markdown tables and goal checks for benchmarks/e2e/results.json (issue 24; see run.sh).

    tools/.venv/bin/python benchmarks/e2e/report.py benchmarks/e2e/results.json

TTFT = request start → first token (vidlm: media wait + vision + bridge + prefill from `--json`;
transformers: processor + generate() up to the streamer's first token). Decode tok/s = 31 tokens
after the first ÷ their time. Peak RSS = /usr/bin/time's maximum resident set; bound = 1.15 ×
safetensors bytes + 0.5 GiB. "% of peak" = matmul FLOPs of vision + bridge + prefill (from the
config and the prompt length) ÷ their time ÷ the dtype's 2-core peak (2 × the per-core FMA or
BF16-dot issue rate measured by kernels.c in the same run). One run per row and tool.
"""
from __future__ import annotations

import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "vlm"))
import report as vlm  # noqa: E402

GIB = 2**30


def flops(row: dict, prompt_tokens: int) -> float | None:
    cfg, frames = row.get("config"), row["frames"]
    if not cfg:
        return None
    if row["kind"] == "smolvlm":
        f = vlm.smolvlm_flops(cfg, frames, prompt_tokens)
    elif row["kind"] == "instructblipvideo":
        f = vlm.instructblip_flops(cfg, frames, prompt_tokens, vlm.instruction_tokens(vlm.pathlib.Path(row["model"]), "x"))
    else:  # blip2: no instruction in the Q-Former; OPT's decoder has no gate (2 MLP matrices, not 3)
        c = dict(cfg)
        t = dict(c["text_config"])
        t.setdefault("intermediate_size", t.get("ffn_dim", 4 * t["hidden_size"]) * 2 // 3)
        c["text_config"] = t
        f = vlm.instructblip_flops(c, frames, prompt_tokens, 0)
    return f["vision"] + f["bridge"] + f["prefill"]


def dtype(row: dict) -> str:
    return "bf16" if ("bf16" in row["model"] or "--compute" in row.get("vidlm_args", [])) else "f32"


def one(runs: list[dict], tool: str) -> dict | None:
    return vlm.summarize(runs, tool) if runs else None


def main(path: pathlib.Path) -> None:
    r = json.loads(path.read_text())
    k = r.get("kernels", {})
    # bf16 runs on AMX tiles where the CPU has them (kernels.c then reports their peak).
    peak = {"f32": 2 * k.get("peak_fma_f32", 0), "bf16": 2 * k.get("peak_amx_bf16", k.get("peak_dot_bf16", 0))}
    torch_rows = {}
    for row in r["rows"]:
        if row.get("transformers"):
            torch_rows[(row["model"], row["frames"])] = one(row["transformers"], "transformers")
    f32_torch = {}
    for (model, frames), t in torch_rows.items():
        if "f32" in model:
            f32_torch[(model.replace("-f32", ""), frames)] = t
    print(f"Run {r['started']}, load {r['loadavg_start']} → {r.get('loadavg_end')}; CPU {r['machine']['cpu']}, "
          f"{r['machine']['cores']} cores; vidlm {r['machine']['git_head']}; 2 threads per tool; "
          f"per-core peaks (kernels.c): FMA {k.get('peak_fma_f32')} GFLOP/s, BF16 dot {k.get('peak_dot_bf16')} GFLOP/s"
          + (f", AMX BF16 {k['peak_amx_bf16']} GFLOP/s (the bf16 rows' peak)" if "peak_amx_bf16" in k else "") + ".\n")
    print("| row | dtype | vidlm TTFT s (Haswell / default core) | transformers TTFT s | ratio | vs transformers f32 | "
          "vision / bridge / prefill s (vidlm) | % of 2-core peak | decode tok/s vidlm / transformers | ratio | "
          "peak RSS GiB vidlm / transformers | bound GiB | same ids |")
    print("|---|---|---|---|---:|---:|---|---:|---|---:|---|---|---|")
    for row in r["rows"]:
        if "skipped" in row:
            print(f"| {row['name']} | – | skipped: {row['skipped']} |||||||||||")
            continue
        v = one(row.get("vidlm", []), "vidlm")
        vd = one(row.get("vidlm_extra", []), "vidlm")
        t = torch_rows.get((row["model"], row["frames"]))
        if v is None:
            print(f"| {row['name']} | {dtype(row)} | vidlm failed: {row.get('vidlm_error', {}).get('stderr', '?')[:200]} |||||||||||")
            continue
        d = dtype(row)
        base_f32 = f32_torch.get((row["model"].replace("-bf16", "").replace("-f32", ""), row["frames"]))
        ratio = f"{v['ttft'] / t['ttft']:.2f}×" if t else "–"
        vs_f32 = f"{v['ttft'] / base_f32['ttft']:.2f}×" if (base_f32 and d == "bf16") else "–"
        fl = flops(row, v["prompt_tokens"])
        frac = f"{fl / v['compute'] / 1e9 / peak[d] * 100:.0f} %" if (fl and peak[d]) else "–"
        dec = f"{v['decode_tok_s'] / t['decode_tok_s']:.2f}×" if t and t["decode_tok_s"] else "–"
        bound = 1.15 * row["weights_bytes"] / GIB + 0.5
        same = "–" if not t else ("yes" if v["token_ids"] == t["token_ids"] else "no")
        label = row["name"] + (" (" + " ".join(row["vidlm_args"]) + ")" if row.get("vidlm_args") else "")
        print(f"| {label} | {d} | {v['ttft']:.2f} / {vd['ttft']:.2f} | {t['ttft']:.2f} | {ratio} | {vs_f32} | "
              f"{v['vision']:.2f} / {v['bridge']:.2f} / {v['prefill']:.2f} | {frac} | "
              f"{v['decode_tok_s']:.2f} / {t['decode_tok_s']:.2f} | {dec} | {v['rss']:.2f} / {t['rss']:.2f} | {bound:.2f} | {same} |"
              if t else
              f"| {label} | {d} | {v['ttft']:.2f} / {vd['ttft'] if vd else float('nan'):.2f} | – | – | {vs_f32} | "
              f"{v['vision']:.2f} / {v['bridge']:.2f} / {v['prefill']:.2f} | {frac} | {v['decode_tok_s']:.2f} / – | – | "
              f"{v['rss']:.2f} / – | {bound:.2f} | – |")
    roof = [vlm.bandwidth_line(row, {"vidlm": one(row.get("vidlm", []), "vidlm"),
                                     "transformers": torch_rows.get((row["model"], row["frames"]))},
                               k.get("read_bandwidth_2_threads_gbs"))
            for row in r["rows"] if "skipped" not in row and row.get("vidlm")]
    if any(roof):
        print("\nDecode against the memory roof:\n")
        for x in filter(None, roof):
            print(f"- {x}")
    print("\nKernels (one thread, thread CPU time; GFLOP/s and % of the per-core peak of the dtype):\n")
    amx = "peak_amx_bf16" in k
    print("| shape | m × k × n | vidlm f32 | OpenBLAS f32 | vidlm bf16 (vdpbf16ps) |" + (" vidlm bf16 (AMX) |" if amx else ""))
    print("|---|---|---|---|---|" + ("---|" if amx else ""))
    pf, pb = k.get("peak_fma_f32", 0), k.get("peak_dot_bf16", 0)
    pa = k.get("peak_amx_bf16", 0)
    for g in k.get("gemm", []):
        extra = f" {g['vidlm_amx_bf16']} ({g['vidlm_amx_bf16'] / pa * 100:.0f} %) |" if amx else ""
        print(f"| {g['shape']} | {g['m']} × {g['k']} × {g['n']} | {g['vidlm_f32']} ({g['vidlm_f32'] / pf * 100:.0f} %) | "
              f"{g['openblas_f32']} ({g['openblas_f32'] / pf * 100:.0f} %) | {g['vidlm_bf16']} ({g['vidlm_bf16'] / pb * 100:.0f} %) |" + extra)
    for a in k.get("attention", []):
        extra = f" {a['vidlm_amx_bf16']} ({a['vidlm_amx_bf16'] / pa * 100:.0f} %) |" if amx else ""
        print(f"| attention {a['shape']} | {a['tokens']} tokens, head {a['head_dim']} | {a['vidlm_f32']} ({a['vidlm_f32'] / pf * 100:.0f} %) | – | "
              f"{a['vidlm_bf16']} ({a['vidlm_bf16'] / pb * 100:.0f} %) |" + extra)

if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
