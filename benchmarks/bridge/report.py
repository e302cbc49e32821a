"""Turns benchmarks/bridge/run.sh's JSON lines into results.json and a Markdown table (medians,
ratios to PyTorch, tokens entering the Q-Former, the issue's goals)."""
import json
import os
import pathlib
import statistics
import subprocess
import sys

runs = [json.loads(line) for line in sys.stdin if line.strip()]
pathlib.Path("benchmarks/bridge/results.json").write_text(json.dumps(runs, indent=2) + "\n")
torch_run = next(r for r in runs if r["tool"] == "pytorch")
vidlm_runs = [r for r in runs if r["tool"] == "vidlm"]
med = statistics.median
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
n = len(torch_run["run"]["rows"][0]["qformer_seconds"])
print(f"CPU: {cpu}; {os.cpu_count()} cores; 2 threads per tool; features [T, 257, 1408] f32; 12-layer Q-Former (768 wide, "
      f"32 queries) + projection to 2560, random weights; medians of {n} runs; PyTorch attention: "
      f"{torch_run['run'].get('attn_implementation')}.\n")
print("Bridge time = merge + Q-Former + language projection, per clip.\n")
header = "| clip | merger | tokens → Q-Former | kept | PyTorch ms (merge) | " + " | ".join(
    f"vidlm {r['coretype']} ms (merge) | vs PyTorch" for r in vidlm_runs) + " | max checksum diff |"
print(header)
print("|" + "---|" * (header.count("|") - 1))
goals_time, goals_tokens = [], []
for t_row in torch_run["run"]["rows"]:
    key = (t_row["clip"], t_row["merger"])
    t_total = med([m + q for m, q in zip(t_row["merge_seconds"], t_row["qformer_seconds"])])
    kept = t_row["tokens_to_qformer"] / t_row["tokens_in"]
    cells, diffs = [], []
    for r in vidlm_runs:
        v_row = next(x for x in r["run"]["rows"] if (x["clip"], x["merger"]) == key)
        assert v_row["tokens_to_qformer"] == t_row["tokens_to_qformer"], key
        v_total = med([m + q for m, q in zip(v_row["merge_seconds"], v_row["qformer_seconds"])])
        cells.append(f"{1000 * v_total:.0f} ({1000 * med(v_row['merge_seconds']):.1f}) | {v_total / t_total:.2f}×")
        diffs.append(abs(v_row["checksum"] - t_row["checksum"]))
        goals_time.append((r["coretype"], key, v_total / t_total))
    print(f"| {key[0]} | {key[1]} | {t_row['tokens_to_qformer']} | {100 * kept:.0f} % | {1000 * t_total:.0f} "
          f"({1000 * med(t_row['merge_seconds']):.1f}) | " + " | ".join(cells) + f" | {max(diffs):.1e} |")
    if t_row["merger"] == "temporal" and t_row["clip"].startswith("static"):
        goals_tokens.append((t_row["clip"], 1 - kept))
print("\nGoals (issue 4):\n")
for coretype in [r["coretype"] for r in vidlm_runs]:
    ratios = [x for c, _, x in goals_time if c == coretype]
    worst = max(ratios)
    met = sum(1 for x in ratios if x <= 0.6)
    print(f"- bridge time ≤ 0.6× PyTorch, vidlm with {coretype} kernels: met in {met} of {len(ratios)} cases "
          f"(ratios {min(ratios):.2f}×–{worst:.2f}×, median {med(ratios):.2f}×)")
for clip, cut in goals_tokens:
    print(f"- temporal merging (tau 0.9) cuts tokens ≥ 80 % on the static clip: {clip}: {100 * cut:.1f} % "
          f"({'met' if cut >= 0.8 else 'NOT met'})")
