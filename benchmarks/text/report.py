"""Turns benchmarks/text/run.sh's JSON lines into results.json and Markdown tables (medians,
ratios to PyTorch, the weight-streaming roofline and the issue's goals)."""
import json
import os
import pathlib
import statistics
import subprocess
import sys

from safetensors import safe_open

rows = [json.loads(line) for line in sys.stdin if line.strip()]
work = pathlib.Path(sys.argv[1])
pathlib.Path("benchmarks/text/results.json").write_text(json.dumps(rows, indent=2) + "\n")
GiB = 2**30
ITEMSIZE = {"F32": 4, "BF16": 2, "F16": 2}


def weight_bytes(folder: pathlib.Path):
    """(all tensor bytes, bytes one decode step reads): every matrix and vector once; embedding
    tables one row each, except a tied token embedding, which the LM head reads whole."""
    config = json.loads((folder / "config.json").read_text())
    tied = config.get("tie_word_embeddings", False)
    total = per_token = 0
    for file in folder.glob("*.safetensors"):
        with safe_open(file, "pt") as f:
            for name in f.keys():
                s = f.get_slice(name)
                shape, size = s.get_shape(), ITEMSIZE[s.get_dtype()]
                n = 1
                for d in shape:
                    n *= d
                total += n * size
                if "embed_" in name and not (tied and "embed_tokens" in name):
                    per_token += shape[-1] * size
                else:
                    per_token += n * size
    return total, per_token


bw = next(r for r in rows if r["tool"] == "bandwidth")
bw_vidlm = statistics.median(bw["vidlm"]["gbps"])
bw_numpy = statistics.median(bw["numpy"]["gbps"])
bandwidth = max(bw_vidlm, bw_numpy)
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
first = rows[1]["run"]
print(f"CPU: {cpu}; {os.cpu_count()} cores; {first['threads']} threads per tool; prompt {first['prompt_tokens']} tokens, "
      f"{first['new_tokens']} new tokens (greedy, no stop token); medians of {len(first['prefill_seconds'])} runs; "
      f"decode tok/s = {first['decode_steps']} single-token steps / their time.\n")
print(f"Streaming-read bandwidth ({bw['vidlm']['threads']} threads, {bw['vidlm']['bytes'] / GiB:.0f} GiB, median of "
      f"{len(bw['vidlm']['gbps'])}): vidlm-bench bandwidth {bw_vidlm:.1f} GB/s, "
      f"numpy {bw_numpy:.1f} GB/s; the roofline uses {bandwidth:.1f} GB/s.\n")
print("| model | tool | OpenBLAS core | prefill 128 tok (s) | vs PyTorch | decode tok/s | vs PyTorch | roofline tok/s | % of roofline "
      "| peak RSS | RSS limit | same tokens as PyTorch |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
goals = []
for model in dict.fromkeys(r["model"] for r in rows if "model" in r):
    total, per_token = weight_bytes(work / model)
    roofline = bandwidth * 1e9 / per_token
    limit = 1.15 * total + 0.5 * GiB
    torch_row = next(r for r in rows if r.get("model") == model and r["tool"] == "pytorch")

    def stats(r):
        run = r["run"]
        return statistics.median(run["prefill_seconds"]), run["decode_steps"] / statistics.median(run["decode_seconds"])

    torch_prefill, torch_rate = stats(torch_row)
    bf16 = "bf16" in model
    for r in [x for x in rows if x.get("model") == model]:
        prefill, rate = stats(r)
        same = sum(1 for _ in __import__("itertools").takewhile(lambda p: p[0] == p[1], zip(r["run"]["tokens"], torch_row["run"]["tokens"])))
        rss = r["rss_kb"] * 1024
        print(f"| {model} | {r['tool']} | {r.get('coretype', '–')} | {prefill:.3f} | {prefill / torch_prefill:.2f}× | {rate:.2f} "
              f"| {rate / torch_rate:.2f}× | {roofline:.1f} | {100 * rate / roofline:.0f} % | {rss / GiB:.2f} GiB "
              f"| {limit / GiB:.2f} GiB | {same}/{len(r['run']['tokens'])} |")
        if r["tool"] == "vidlm":
            target = 1.0 if bf16 else 0.6
            ok = lambda b: "met" if b else "NOT met"
            goals.append(f"- {model}, vidlm ({r['coretype']}): decode {100 * rate / roofline:.0f} % of roofline (goal ≥ 75 %: "
                         f"{ok(rate / roofline >= 0.75)}); prefill {prefill / torch_prefill:.2f}× PyTorch (goal ≤ {target:.1f}×: "
                         f"{ok(prefill / torch_prefill <= target)}); peak RSS {rss / GiB:.2f} GiB vs limit {limit / GiB:.2f} GiB "
                         f"(1.15 × {total / GiB:.2f} GiB weights + 0.5 GiB: {ok(rss <= limit)})")
    print(f"\n<!-- {model}: weights {total / 1e9:.3f} GB, read per decode step {per_token / 1e9:.3f} GB -->")
print("\nGoals (issue 5):\n")
print("\n".join(goals))
