"""Turns run.sh's JSON lines into results.json and a Markdown table (medians and ratios)."""
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys

rows = [json.loads(line) for line in sys.stdin if line.strip()]
work = pathlib.Path(sys.argv[1])
pathlib.Path("benchmarks/vision/results.json").write_text(json.dumps(rows, indent=2) + "\n")
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
print(f"CPU: {cpu}; {os.cpu_count()} cores; 2 threads per tool; batch 8 frames; fp32 random weights.\n")
print("| model | tool | OpenBLAS core | ms/frame (median) | vs PyTorch | GFLOP/s | % of sgemm peak | peak RSS | weights |")
print("|---|---|---|---|---|---|---|---|---|")
for model in sorted({r["model"] for r in rows}):
    weight_bytes = sum(p.stat().st_size for p in (work / model).glob("*.safetensors"))
    torch_row = next(r for r in rows if r["model"] == model and r["tool"] == "pytorch")
    torch_ms = statistics.median(torch_row["run"]["seconds"]) / 8 * 1000
    for r in [x for x in rows if x["model"] == model]:
        ms = statistics.median(r["run"]["seconds"]) / r["run"]["batch"] * 1000
        gflop = r["run"].get("gflop_per_frame") or next(x for x in rows if x["model"] == model and x["tool"] == "vidlm")["run"]["gflop_per_frame"]
        rate = gflop / (ms / 1000)
        peak = r.get("sgemm", {}).get("gflops")
        pct = f"{100 * rate / peak:.0f} %" if peak else "–"
        print(f"| {model} | {r['tool']} | {r.get('coretype', '–')} | {ms:.0f} | {ms / torch_ms:.2f}× | {rate:.0f} | {pct} "
              f"| {r['rss_kb'] / 1024 / 1024:.2f} GiB | {weight_bytes / 2**30:.2f} GiB |")
