"""Markdown tables and goal checks for the results.json of benchmarks/llava and benchmarks/qwenvl
(drive.py's VLM_SUITE=llava / qwenvl; issues 20 and 21).

    tools/.venv/bin/python benchmarks/vlm/suite_report.py benchmarks/llava/results.json

TTFT = request start → first token (vidlm: media wait + vision + bridge + prefill from `--json`;
transformers: processor, incl. decoding, + generate() up to the streamer's first token). Decode tok/s =
tokens after the first ÷ their time. Peak RSS = /usr/bin/time's maximum resident set; bound = 1.15 ×
safetensors bytes + 0.5 GiB. "% of peak" = matmul FLOPs of vision + bridge + prefill (from the config,
the prompt length and, for Qwen2.5-VL, the patch grid) ÷ the time of those stages ÷ the dtype's 2-core
peak (2 × the per-core FMA or BF16-dot rate kernels.c measured in the same run). Classify: images/s
without the model load (`timings.classify` / CLIPModel calls incl. image opening) and with it (the
whole process's wall time, Python start-up and imports included). One run per row and tool.
"""
from __future__ import annotations

import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import report as vlm  # noqa: E402

GIB = 2**30


def llava_flops(row: dict, prompt_tokens: int) -> float:
    cfg, frames = row["config"], row["frames"] or 1
    v, t = cfg["vision_config"], cfg["text_config"]
    side = v["image_size"] // v["patch_size"]
    cls = 1 if v.get("model_type", "clip_vision_model").startswith("clip") else 0
    tokens = side * side + cls
    layer = cfg.get("vision_feature_layer", -1)
    used = dict(v, num_hidden_layers=v["num_hidden_layers"] + 1 + layer if isinstance(layer, int) and layer < 0
                else v["num_hidden_layers"])
    vision = frames * vlm.vit_macs(used, tokens, v["patch_size"])
    bridge = frames * (tokens - cls) * (v["hidden_size"] * t["hidden_size"] + t["hidden_size"] ** 2)
    return 2 * (vision + bridge + vlm.decoder_macs(t, prompt_tokens))


def qwen_flops(row: dict, prompt_tokens: int, grids: list[list[int]]) -> float:
    cfg = row["config"]
    v, t = cfg["vision_config"], cfg["text_config"]
    d, i, depth = v["hidden_size"], v["intermediate_size"], v["depth"]
    p, m = v["patch_size"], v["spatial_merge_size"]
    window = (v.get("window_size", 112) // p) ** 2
    full = set(v.get("fullatt_block_indexes", []))
    macs = 0
    for gt, gh, gw in grids:
        n = gt * gh * gw
        per_frame = gh * gw
        macs += n * 3 * v.get("temporal_patch_size", 2) * p * p * d
        for k in range(depth):
            macs += 4 * n * d * d + 3 * n * d * i
            macs += 2 * n * d * (per_frame if k in full else min(window, per_frame))
        merged = n // (m * m)
        macs += merged * ((m * m * d) ** 2 + m * m * d * v["out_hidden_size"])
    return 2 * (macs + vlm.decoder_macs(t, prompt_tokens))


def dtype(row: dict) -> str:
    return "bf16" if "bf16" in row["model"] else "f32"


def ask_table(r: dict, peak: dict) -> None:
    if all(row["kind"] == "classify" for row in r["rows"]):
        return
    print("| row | dtype | frames | visual tokens | prompt tokens | vidlm TTFT s (Haswell / default core) | transformers TTFT s | "
          "ratio | vidlm vision / bridge / prefill s | % of 2-core peak vidlm / transformers | decode tok/s vidlm / transformers | "
          "ratio | peak RSS GiB vidlm / transformers | bound GiB | same prompt ids / frames / tokens |")
    print("|---|---|---:|---:|---:|---|---:|---:|---|---|---|---:|---|---:|---|")
    for row in r["rows"]:
        if row["kind"] == "classify":
            continue
        if "skipped" in row:
            print(f"| {row['name']} | – | skipped: {row['skipped']} |" + " |" * 12)
            continue
        v = vlm.summarize(row.get("vidlm", []), "vidlm")
        vd = vlm.summarize(row.get("vidlm_extra", []), "vidlm")
        t = vlm.summarize(row.get("transformers", []), "transformers")
        if v is None:
            print(f"| {row['name']} | {dtype(row)} | vidlm failed: {row.get('vidlm_error', {}).get('stderr', '?')[-200:]} |" + " |" * 12)
            continue
        d = dtype(row)
        tr = row["transformers"][0] if row.get("transformers") else {}
        if row["kind"] == "qwen2_5_vl":
            grids = tr.get("video_grid_thw") or tr.get("image_grid_thw")
            fl = qwen_flops(row, v["prompt_tokens"], grids) if grids else None
        else:
            fl = llava_flops(row, v["prompt_tokens"])
        p = peak.get(d) or 0

        def frac(s):
            return f"{fl / s['compute'] / 1e9 / p * 100:.0f} %" if (s and fl and p and s["compute"]) else "–"

        checks = row.get("checks", {})
        yn = lambda x: "–" if x is None else ("yes" if x else "**no**")  # noqa: E731
        same = f"{yn(checks.get('same_prompt_ids'))} / {yn(checks.get('same_frame_indices'))} / {yn(checks.get('same_token_ids'))}"
        vt = ", ".join(f"{k} {n}" for k, n in row.get("visual_tokens", {}).items() if n)
        bound = 1.15 * row["weights_bytes"] / GIB + 0.5
        frames = len(v["frame_indices"] or []) or row["frames"]
        tt = lambda s, k, f=".2f": vlm.fmt(s[k] if s else None, f)  # noqa: E731
        ratio = f"{v['ttft'] / t['ttft']:.2f}×" if t else "–"
        dec = f"{v['decode_tok_s'] / t['decode_tok_s']:.2f}×" if t and t["decode_tok_s"] else "–"
        print(f"| {row['name']} | {d} | {frames} | {vt or '–'} | {v['prompt_tokens']} | {v['ttft']:.2f} / {tt(vd, 'ttft')} | "
              f"{tt(t, 'ttft')} | {ratio} | {v['vision']:.2f} / {v['bridge']:.2f} / {v['prefill']:.2f} | {frac(v)} / {frac(t)} | "
              f"{v['decode_tok_s']:.2f} / {tt(t, 'decode_tok_s')} | {dec} | {v['rss']:.2f} / {tt(t, 'rss')} | {bound:.2f} | {same} |")


def roof_lines(r: dict, bandwidth: float | None) -> None:
    lines = [vlm.bandwidth_line(row, {"vidlm": vlm.summarize(row.get("vidlm", []), "vidlm"),
                                      "transformers": vlm.summarize(row.get("transformers", []), "transformers")}, bandwidth)
             for row in r["rows"] if row["kind"] != "classify" and "skipped" not in row]
    lines = [x for x in lines if x]
    if lines:
        print("\nDecode against the memory roof:\n")
        for x in lines:
            print(f"- {x}")


def classify_table(r: dict) -> None:
    rows = [row for row in r["rows"] if row["kind"] == "classify"]
    if not rows:
        return
    print("\n| model | images | vidlm images/s without / with load (Haswell) | (default core) | transformers images/s without / with load | "
          "ratio without / with load | peak RSS GiB vidlm / transformers | same top-1 | max prob. difference |")
    print("|---|---:|---|---|---|---|---|---|---:|")
    for row in rows:
        if "skipped" in row:
            print(f"| {row['name']} | skipped: {row['skipped']} |" + " |" * 7)
            continue
        v = (row.get("vidlm") or [None])[0]
        vd = (row.get("vidlm_extra") or [None])[0]
        t = (row.get("transformers") or [None])[0]
        c = row.get("checks", {})
        f = lambda x: f"{x['images_per_s']:.1f} / {x['images_per_s_with_load']:.1f}" if x else "–"  # noqa: E731
        ratio = (f"{v['images_per_s'] / t['images_per_s']:.2f}× / {v['images_per_s_with_load'] / t['images_per_s_with_load']:.2f}×"
                 if v and t else "–")
        rss = f"{v['peak_rss_kb'] / 2**20:.2f} / {t['peak_rss_kb_time'] / 2**20:.2f}" if v and t else "–"
        diff = c.get("max_abs_probability_difference")
        print(f"| {row['name']} | {row.get('images')} | {f(v)} | {f(vd)} | {f(t)} | {ratio} | {rss} | {c.get('same_top1', '–')} | "
              f"{'–' if diff is None else f'{diff:.1e}'} |")


def main(path: pathlib.Path) -> None:
    r = json.loads(path.read_text())
    k = r.get("kernels", {})
    # bf16 runs on AMX tiles where the CPU has them (kernels.c then reports their peak).
    peak = {"f32": 2 * k.get("peak_fma_f32", 0), "bf16": 2 * k.get("peak_amx_bf16", k.get("peak_dot_bf16", 0))}
    m = r["machine"]
    print(f"Suite {r['suite']}, run {r['started']} → {r.get('finished')}, load {r['loadavg_start']} → {r.get('loadavg_end')}; "
          f"CPU {m['cpu']}, {m['cores']} cores; vidlm {m['git_head']}{' (Sources modified)' if m.get('sources_modified_in_worktree') else ''}; "
          f"{r['threads']} threads per tool, {r['new_tokens']} new tokens"
          f"{' (SMOKE RUN: fewer frames / tokens / images; not a measurement)' if r.get('smoke') else ''}; "
          f"per-core peaks (kernels.c): FMA {k.get('peak_fma_f32')} GFLOP/s, BF16 dot {k.get('peak_dot_bf16')} GFLOP/s"
          + (f", AMX BF16 {k['peak_amx_bf16']} GFLOP/s (the bf16 rows' peak)" if "peak_amx_bf16" in k else "") + ".\n")
    ask_table(r, peak)
    roof_lines(r, k.get("read_bandwidth_2_threads_gbs"))
    classify_table(r)


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
