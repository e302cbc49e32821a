#!/usr/bin/env python3
"""Prints the markdown tables of docs/benchmarks/long.md from benchmarks/long/results.json."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MIB = 1 << 20


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "results.json")
    with open(path) as fh:
        d = json.load(fh)
    print("| input | command | frames | wall s | CPU s | peak RSS MiB | bound MiB | pass | read MiB |")
    print("|---|---|---:|---:|---:|---:|---:|---|---:|")
    for r in d["results"]:
        cmd = r["command"].replace(".build-long/release/vidlm", "vidlm").replace("benchmarks/.work/long/", "")
        cmd = cmd.replace("|", "\\|")
        bound = f"{r['bound_bytes'] / MIB:.1f}" if "bound_bytes" in r else "—"
        ok = ("pass" if r["pass"] else "**FAIL**") if "pass" in r else "ref."
        frames = r["frames"] if r["frames"] is not None else "—"
        print(f"| {r['input']} | `{cmd}` | {frames} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | "
              f"{r['peak_rss_bytes'] / MIB:.1f} | {bound} | {ok} | {r['read_bytes'] / MIB:.1f} |")
    print()
    print("| check | value | pass |")
    print("|---|---|---|")
    for c in d["checks"]:
        print(f"| {c['check']} | {c['value']} | {'pass' if c['pass'] else '**FAIL**'} |")
    print()
    print("| input | container | codec | size | frames | duration s | file MiB |")
    print("|---|---|---|---|---:|---:|---:|")
    for name, i in d["inputs"].items():
        print(f"| {name} | {i['container']} | {i['codec']} | {i['width']}×{i['height']} | {i['nb_frames'] or '—'} | "
              f"{i['duration_s']:.1f} | {i['bytes'] / MIB:.1f} |")
    print()
    two = [r for r in d["results"] if "frames_decoded_model" in r]
    if two:
        print("| request | frames | frames decoded (GOP model) | share of the file decoded | share read | CPU s |")
        print("|---|---:|---:|---:|---:|---:|")
        for r in two:
            print(f"| {r['id']} | {r['frames']} | {r['frames_decoded_model']} | "
                  f"{100 * r['fraction_of_file_decoded']:.1f} % | {100 * r['fraction_of_file_read']:.1f} % | {r['cpu_s']:.2f} |")
        print()
    print("derived:", json.dumps(d["derived"]))
    print("machine:", json.dumps(d["machine"]))


if __name__ == "__main__":
    main()
