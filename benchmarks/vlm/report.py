"""Markdown tables and goal checks for benchmarks/vlm/results.json (see run.sh).

    tools/.venv/bin/python benchmarks/vlm/report.py benchmarks/vlm/results.json

TTFT = request start → first generated token (vidlm: decode + vision + bridge + prefill from
`--json` timings; transformers: processor + generate() up to the streamer's first token). Decode
tok/s = (tokens − 1) / (first → last token). Peak RSS = /usr/bin/time's maximum resident set of
the whole process. Medians over the runs. "% of peak" = matmul FLOPs of the vision tower, bridge
and prefill (counted from the config and the prompt length) ÷ the time of those stages ÷ the
dtype's GEMM peak: the best of the GEMM probes in the same run (f32: vidlm-bench sgemm under each
OpenBLAS core type and PyTorch's f32 linear; bf16: PyTorch's bf16 linear).
"""
from __future__ import annotations

import json
import pathlib
import statistics
import sys

GIB = 2**30


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


ROOT = pathlib.Path(__file__).resolve().parents[2]
# Tensors a decoding step never reads: towers, bridges, projectors (names as checkpoints spell them).
NOT_DECODER = ("vision", "visual", "qformer", "query_tokens", "multi_modal_projector", "connector",
               "language_projection", "image_newline", "embed_positions")


def decode_read_bytes(row: dict) -> int | None:
    """Bytes of weights one decoding step streams: each decoder tensor once; the token embedding
    only when it is also the output head (tied: no `lm_head` tensor), since a lookup reads one row.
    From the safetensors headers of the row's model folder; None when the folder is gone."""
    folder = ROOT / row.get("model", "")
    files = sorted(folder.glob("*.safetensors")) if row.get("model") else []
    tensors: dict[str, int] = {}
    for f in files:
        with f.open("rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(n))
        tensors.update({k: v["data_offsets"][1] - v["data_offsets"][0] for k, v in header.items() if k != "__metadata__"})
    if not tensors:
        return None
    tied = not any(k.endswith("lm_head.weight") for k in tensors)
    return sum(b for k, b in tensors.items()
               if not any(w in k for w in NOT_DECODER) and (tied or not k.endswith("embed_tokens.weight")))


def bandwidth_line(row: dict, tools: dict, bandwidth: float | None) -> str | None:
    """One sentence: each tool's decode rate as GB/s of weights streamed, next to the two-thread
    read bandwidth kernels.c measured in the same run. Not a strict roof: that probe reads
    19-33 GB/s from run to run on this project's VM, and up to a few hundred MiB of a model's
    weights can stay in a large L3 between tokens."""
    per_token = decode_read_bytes(row)
    rates = {name: s["decode_tok_s"] for name, s in tools.items() if s and s.get("decode_tok_s")}
    if not per_token or not rates:
        return None
    parts = [f"{name} {per_token * tps / 1e9:.1f} GB/s" for name, tps in rates.items()]
    probe = f" (the read-bandwidth probe: {bandwidth:.1f} GB/s with 2 threads)" if bandwidth else ""
    return f"{row['name']}: decoding reads {per_token / 1e9:.2f} GB of weights per token: " + ", ".join(parts) + probe


# ---------------------------------------------------------------------------------------------
# FLOPs (multiply-adds × 2) of the compute before the first token.

def vit_macs(v: dict, tokens: int, patch: int) -> float:
    d, i, layers = v["hidden_size"], v["intermediate_size"], v["num_hidden_layers"]
    per_layer = 4 * tokens * d * d + 2 * tokens * d * i + 2 * tokens * tokens * d
    return tokens * 3 * patch * patch * d + layers * per_layer


def decoder_macs(t: dict, n: int) -> float:
    h, i, layers = t["hidden_size"], t["intermediate_size"], t["num_hidden_layers"]
    heads = t["num_attention_heads"]
    kv = t.get("num_key_value_heads") or heads
    hd = t.get("head_dim") or h // heads
    per_layer = (n * h * heads * hd * 2 + 2 * n * h * kv * hd + 3 * n * h * i
                 + heads * hd * n * (n + 1))  # causal scores + weighted sum: 2 · heads · hd · n(n+1)/2
    return layers * per_layer + h * t["vocab_size"]  # LM head for the last position


def smolvlm_flops(cfg: dict, frames: int, prompt_tokens: int) -> dict:
    v, t = cfg["vision_config"], cfg["text_config"]
    side = v["image_size"] // v["patch_size"]
    tokens = side * side
    s = cfg.get("scale_factor", 2)
    vision = frames * vit_macs(v, tokens, v["patch_size"])
    bridge = frames * tokens * v["hidden_size"] * t["hidden_size"]
    prefill = decoder_macs(t, prompt_tokens)
    return {"vision": 2 * vision, "bridge": 2 * bridge, "prefill": 2 * prefill, "tokens_per_frame": tokens // (s * s)}


def instructblip_flops(cfg: dict, frames: int, prompt_tokens: int, instruction_tokens: int) -> dict:
    v, q, t = cfg["vision_config"], cfg["qformer_config"], cfg["text_config"]
    side = v["image_size"] // v["patch_size"]
    vt = side * side + 1
    vision = frames * vit_macs(v, vt, v["patch_size"])
    nq = cfg.get("num_query_tokens", 32)
    n = nq + instruction_tokens
    d, i, layers = q["hidden_size"], q["intermediate_size"], q["num_hidden_layers"]
    cross_layers = len([k for k in range(layers) if k % q.get("cross_attention_frequency", 2) == 0])
    self_attn = layers * (4 * n * d * d + 2 * n * n * d + 2 * n * d * i)
    cross = cross_layers * (2 * nq * d * d + 2 * vt * q["encoder_hidden_size"] * d + 2 * nq * vt * d)
    project = nq * d * t["hidden_size"]
    bridge = frames * (self_attn + cross + project)
    prefill = decoder_macs(t, prompt_tokens)
    return {"vision": 2 * vision, "bridge": 2 * bridge, "prefill": 2 * prefill}


def instruction_tokens(model_dir: pathlib.Path, question: str) -> int:
    try:
        from tokenizers import Tokenizer
        return len(Tokenizer.from_file(str(model_dir / "qformer_tokenizer" / "tokenizer.json")).encode(question).ids)
    except Exception:  # noqa: BLE001
        return 8


# ---------------------------------------------------------------------------------------------

def dtype_of(row: dict) -> str:
    return "bf16" if row["name"].endswith("bf16") else "f32"


def peak_gflops(peaks: dict, dtype: str) -> tuple[float | None, str]:
    cands = []
    if dtype == "f32":
        for core, r in peaks.get("vidlm_sgemm", {}).items():
            if "gflops" in r:
                cands.append((r["gflops"], f"vidlm-bench sgemm ({core})"))
    for shape, g in peaks.get("torch", {}).get(dtype, {}).items():
        cands.append((g, f"PyTorch {dtype} linear {shape}"))
    return max(cands) if cands else (None, "no probe")


def summarize(runs: list[dict], tool: str) -> dict | None:
    if not runs:
        return None
    key_rss = "peak_rss_kb_time" if tool == "transformers" else "peak_rss_kb"
    s = {
        "runs": len(runs),
        "ttft": med([r["ttft_seconds"] for r in runs]),
        "vision": med([r["vision_seconds"] for r in runs]),
        "bridge": med([r["bridge_seconds"] for r in runs]),
        "prefill": med([r["prefill_seconds"] for r in runs]),
        "decode_tok_s": med([r["decode_tok_s"] for r in runs]),
        "tokens": [r["tokens"] for r in runs],
        "rss": med([r[key_rss] for r in runs]) * 1024 / GIB,
        "wall": med([r["wall_seconds"] for r in runs]),
        "token_ids": runs[0]["token_ids"],
        "frame_indices": runs[0].get("frame_indices"),
        "prompt_tokens": runs[0]["prompt_tokens"],
        "all_ttft": [r["ttft_seconds"] for r in runs],
        "all_decode": [r["decode_tok_s"] for r in runs],
        "load_before": [r.get("load_before") for r in runs],
        "other_cores": max((r.get("other_cores_during") or 0.0) for r in runs),
        "all_quiet": all(r.get("quiet", True) and (r.get("other_cores_during") or 0.0) <= 0.15 for r in runs),
    }
    if tool == "transformers":
        s["media"] = med([r["processor_seconds"] for r in runs])
        s["load"] = med([r["load_seconds"] for r in runs])
    else:
        s["media"] = med([r["decode_seconds"] for r in runs])
        s["load"] = med([r["load_seconds_est"] for r in runs])
    s["compute"] = s["vision"] + s["bridge"] + s["prefill"]
    return s


def fmt(x, spec=".2f", none="–"):
    return none if x is None else format(x, spec)


def main(path: str) -> None:
    res = json.loads(pathlib.Path(path).read_text())
    m = res["machine"]
    out = []
    out.append(f"Run {res['started']} → {res.get('finished', '(unfinished)')}; load average (1/5/15 min) at start "
               f"{' / '.join(f'{x:.2f}' for x in res['loadavg_start'])}, at end "
               f"{' / '.join(f'{x:.2f}' for x in res.get('loadavg_end', [float('nan')] * 3))}.")
    out.append(f"CPU: {m['cpu']}, {m['cores']} cores (AVX-512 {'yes' if m['avx512f'] else 'no'}, AVX-512 BF16 "
               f"{'yes' if m['avx512_bf16'] else 'no'}), {m['mem_gib']} GiB; {res['threads']} threads per tool; "
               f"vidlm {m['git_head']}{' + uncommitted Sources/ edits' if m['sources_modified_in_worktree'] else ''}, "
               f"{m['swift']}; OPENBLAS_CORETYPE in the environment: {m['openblas_coretype_env']} "
               f"(OpenBLAS core with it: {m['openblas_core_env']}; unset: {m['openblas_core_unset']}); main vidlm rows "
               f"run with OPENBLAS_CORETYPE={res['main_coretype']} (core {m['openblas_core_main']})"
               + (f", extra rows with {res['extra_coretype']}." if res.get("extra_coretype") else "."))
    pk = res["peaks"]
    probes = [f"vidlm-bench sgemm {c}: {r.get('gflops', float('nan')):.0f}" for c, r in pk.get("vidlm_sgemm", {}).items()]
    for dt in ("f32", "bf16"):
        for shape, g in pk.get("torch", {}).get(dt, {}).items():
            probes.append(f"PyTorch {dt} {shape}: {g:.0f}")
    out.append("GEMM probes (GFLOP/s, 2 threads): " + "; ".join(probes) + ".")
    out.append("")
    out.append("| model | tool | OpenBLAS core | runs | TTFT s | vs transformers | media s | vision s | bridge s | prefill s "
               "| compute GFLOP/s | % of dtype peak | decode tok/s | vs transformers | tokens | peak RSS GiB | RSS limit GiB "
               "| load s | wall s | others' CPU (max) |")
    out.append("|" + "---|" * 20)
    goals = []
    notes = []
    for row in res["rows"]:
        name = row["name"]
        if row.get("skipped"):
            out.append(f"| {name} | – | – | – | skipped: {row['skipped']} |" + " |" * 15)
            continue
        cfg = row["config"]
        dtype = dtype_of(row)
        peak, peak_src = peak_gflops(pk, dtype)
        t = summarize(row.get("transformers", []), "transformers")
        v = summarize(row.get("vidlm", []), "vidlm")
        x = summarize(row.get("vidlm_extra", []), "vidlm")
        prompt = (v or t or {}).get("prompt_tokens", 0)
        if row["kind"] == "smolvlm":
            fl = smolvlm_flops(cfg, row["frames"], prompt)
        else:
            fl = instructblip_flops(cfg, row["frames"], prompt,
                                    instruction_tokens(pathlib.Path(row["model"]), res["question"]))
        flops = fl["vision"] + fl["bridge"] + fl["prefill"]
        weights = row["weights_bytes"] / GIB
        limit = 1.15 * weights + 0.5

        def frac(s):
            if not s or not peak or s["compute"] <= 0:
                return None, None
            g = flops / s["compute"] / 1e9
            return g, g / peak

        tg, tf = frac(t)
        for label, s, core in (("transformers", t, "–"), ("vidlm", v, res["main_coretype"]),
                               ("vidlm", x, res.get("extra_coretype") or "–")):
            if not s:
                continue
            g, f = frac(s)
            tt = s["ttft"] / t["ttft"] if (t and label == "vidlm") else None
            dd = s["decode_tok_s"] / t["decode_tok_s"] if (t and label == "vidlm" and t["decode_tok_s"]) else None
            toks = "/".join(str(n) for n in sorted(set(s["tokens"])))
            out.append(f"| {name} | {label} | {core} | {s['runs']} | {s['ttft']:.2f} | "
                       f"{fmt(tt, '.2f')}{'×' if tt else ''} | {s['media']:.2f} | {s['vision']:.2f} | {s['bridge']:.3f} | "
                       f"{s['prefill']:.2f} | {fmt(g, '.0f')} | {fmt(f * 100 if f is not None else None, '.0f')} % | "
                       f"{s['decode_tok_s']:.2f} | {fmt(dd, '.2f')}{'×' if dd else ''} | {toks} | {s['rss']:.2f} | "
                       f"{limit:.2f} | {fmt(s['load'], '.1f')} | {s['wall']:.1f} | {s['other_cores']:.2f}{'' if s['all_quiet'] else ' (noisy)'} |")
            if label == "vidlm" and t:
                target = 0.5 if (tf is not None and tf < 0.6) else 0.8
                ok_t = tt <= target
                ok_d = dd is not None and dd >= 1.5
                ok_r = s["rss"] <= limit
                goals.append(
                    f"- {name}, vidlm ({core}): TTFT {tt:.2f}× transformers (goal ≤ {target}× because transformers "
                    f"reaches {fmt(tf * 100 if tf is not None else None, '.1f')} % of the {dtype} peak "
                    f"{'< 60 %' if target == 0.5 else '≥ 60 %'}): {'met' if ok_t else 'NOT met'}; decode "
                    f"{dd:.2f}× (goal ≥ 1.5×): {'met' if ok_d else 'NOT met'}; peak RSS {s['rss']:.2f} GiB vs "
                    f"{limit:.2f} GiB (1.15 × {weights:.2f} GiB weights + 0.5 GiB): {'met' if ok_r else 'NOT met'}")
        if v and t:
            same_tokens = sum(a == b for a, b in zip(v["token_ids"], t["token_ids"]))
            notes.append(f"- {name}: frames vidlm {v['frame_indices']} / transformers {t['frame_indices']} "
                         f"({'same' if v['frame_indices'] == t['frame_indices'] else 'DIFFERENT'}); prompt "
                         f"{v['prompt_tokens']} tokens, identical ids in every run of both tools: "
                         f"{row.get('same_prompt_ids_all_runs')}; greedy tokens equal to transformers' at "
                         f"{same_tokens}/{min(len(v['token_ids']), len(t['token_ids']))} positions; pre-first-token "
                         f"matmul work {flops / 1e12:.2f} TFLOP (vision {fl['vision'] / 1e12:.2f}, bridge "
                         f"{fl['bridge'] / 1e12:.3f}, prefill {fl['prefill'] / 1e12:.2f}); {dtype} peak "
                         f"{fmt(peak, '.0f')} GFLOP/s ({peak_src}); TTFT per run vidlm "
                         f"{', '.join(f'{a:.2f}' for a in v['all_ttft'])} / transformers "
                         f"{', '.join(f'{a:.2f}' for a in t['all_ttft'])}; decode tok/s per run vidlm "
                         f"{', '.join(f'{a:.2f}' for a in v['all_decode'])} / transformers "
                         f"{', '.join(f'{a:.2f}' for a in t['all_decode'])}")
        for key in ("vidlm_error", "transformers_error"):
            if row.get(key):
                notes.append(f"- {name}: {key.replace('_', ' ')}: `{row[key].get('command', '')}`: "
                             f"{row[key]['stderr'].strip().splitlines()[-1] if row[key]['stderr'].strip() else '?'}")
    out.append("")
    out.append("Goals (issue 19):")
    out.append("")
    out.extend(goals)
    out.append("")
    out.append("Per row:")
    out.append("")
    out.extend(notes)
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
