"""Runs the timed part of the end-to-end VLM benchmark (benchmarks/vlm/run.sh calls it after the
build, the models, the clip and the wait for a quiet machine) and writes results.json.

Every measured request is a fresh process (`vidlm ask ... --json` or torch_bench.py) under
/usr/bin/time (peak RSS, wall time); vidlm and transformers alternate run by run so drift in the
machine's load hits both alike. Before a model's first timed run one untimed vidlm request
(1 frame, 1 token) brings its weights into the page cache.

Other sessions share the 2 cores (fuzzers, builds), and PyTorch's OpenMP threads degrade badly when
one core is taken (a decode step waits for the descheduled thread), so every timed process starts
only when the rest of the machine has used < 0.15 cores over 5 s (waiting up to VLM_GATE_MINUTES,
default 30), and the CPU time other processes took during it is measured (/proc/stat busy time −
the process's own user + system time): a run during which others averaged > 0.15 cores is
repeated (at most twice; the discarded attempts are kept in results.json).

    drive.py WORK RUNS OUT_JSON
    env: VLM_SUITE=e2e (benchmarks/e2e's rows; RUNS is ignored), VLM_ROUNDS (e2e, llava and qwenvl
         suites: rounds per row, each tool once per round, default 1; the reports take medians),
         VLM_SUITE=llava / qwenvl (benchmarks/llava's and benchmarks/qwenvl's rows, one run each, with
         the same-ids checks and, for CLIP, `vidlm classify` on a folder of images),
         VLM_NEW_TOKENS (default 32), VLM_FRAMES (override every row's frame count: smoke runs),
         VLM_IMAGES (images per classify row, default 100), VLM_CORETYPES (default "Haswell,default"),
         VLM_WARMUP=0 (no untimed warm-up request), VLM_RETRIES (default 2), VLM_PROBES=0 (no kernel /
         GEMM peak probes), VLM_PYTHON (default tools/.venv/bin/python),
         VLM_ROWS (comma-separated row names, default all), VLM_RUNS_22B_F32 (runs for the 2.2B f32
         rows, default RUNS), VLM_EXTRA_CORETYPE (default SkylakeX; "" skips the extra vidlm rows)
"""
from __future__ import annotations

import hashlib
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
VIDLM = ROOT / ".build" / "release" / "vidlm"
BENCH = ROOT / ".build" / "release" / "vidlm-bench"
PY = pathlib.Path(os.environ.get("VLM_PYTHON", ROOT / "tools" / ".venv" / "bin" / "python"))
THREADS = 2
NEW_TOKENS = int(os.environ.get("VLM_NEW_TOKENS", "32"))
QUESTION = "Describe the video."
IMAGE_QUESTION = "Describe the image."
MAIN_CORETYPE = "Haswell"
QUIET_CORES = 0.15         # other processes' average CPU use allowed before a run starts
# ... and during it (else the run is repeated, up to RETRIES times). Under `chrt -f` (the e2e run
# on a machine shared with builds) the kernel's RT throttling still lends others 5 % of each
# core, ~0.1-0.2 cores: VLM_INTERFERENCE_CORES raises the limit for such runs.
INTERFERENCE_CORES = float(os.environ.get("VLM_INTERFERENCE_CORES", "0.15"))
RETRIES = int(os.environ.get("VLM_RETRIES", "2"))
ROWS = [
    ("smolvlm2-256m-f32", "smolvlm", 8),
    ("smolvlm2-256m-bf16", "smolvlm", 8),
    ("smolvlm2-2.2b-f32", "smolvlm", 8),
    ("smolvlm2-2.2b-bf16", "smolvlm", 8),
    ("instructblipvideo-f32", "instructblipvideo", 4),
]
# benchmarks/e2e (VLM_SUITE=e2e, issue 24): (row name, model folder, kind, frames, extra vidlm
# arguments, whether transformers runs on this row). A row without transformers is compared with
# the transformers runs of the row of the same model folder and frames by the report.
E2E_ROWS = [
    ("instructblipvideo-f32-4", "instructblipvideo-f32", "instructblipvideo", 4, [], True),
    ("instructblipvideo-f32-4-compute-bf16", "instructblipvideo-f32", "instructblipvideo", 4, ["--compute", "bf16"], False),
    ("instructblipvideo-bf16-4", "instructblipvideo-bf16", "instructblipvideo", 4, [], True),
    ("instructblipvideo-f32-8", "instructblipvideo-f32", "instructblipvideo", 8, [], True),
    ("instructblipvideo-bf16-8", "instructblipvideo-bf16", "instructblipvideo", 8, [], True),
    ("blip2-opt2.7b-bf16-image", "blip2-opt2.7b-bf16", "blip2", 1, [], True),
    ("smolvlm2-2.2b-bf16-8", "smolvlm2-2.2b-bf16", "smolvlm", 8, [], True),
]


def loadavg() -> list[float]:
    return [float(x) for x in pathlib.Path("/proc/loadavg").read_text().split()[:3]]


def log(msg: str) -> None:
    print(f"[{datetime.datetime.now().strftime('%H:%M:%S')} load {loadavg()[0]:.2f}] {msg}", file=sys.stderr, flush=True)


def cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    f = [int(x) for x in pathlib.Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    total = sum(f[:8])
    return total - idle, total


def busy_cores(seconds: float = 5.0) -> float:
    b0, t0 = cpu_jiffies()
    time.sleep(seconds)
    b1, t1 = cpu_jiffies()
    return (b1 - b0) / max(t1 - t0, 1) * (os.cpu_count() or 1)


def wait_quiet() -> dict:
    """Waits (up to VLM_GATE_MINUTES) until other processes use < QUIET_CORES over a 5 s window."""
    start = time.time()
    limit = float(os.environ.get("VLM_GATE_MINUTES", "30")) * 60
    while True:
        b = busy_cores()
        if b < QUIET_CORES:
            return {"waited_s": round(time.time() - start, 1), "busy_cores_before": round(b, 3), "quiet": True}
        if time.time() - start > limit:
            log(f"still busy ({b:.2f} cores) after {limit / 60:.0f} min: measuring anyway")
            return {"waited_s": round(time.time() - start, 1), "busy_cores_before": round(b, 3), "quiet": False}
        time.sleep(10)


def timed(cmd: list[str], env: dict[str, str]) -> tuple[str, int, float, dict]:
    """(stdout, peak RSS KB, wall seconds, conditions) of one process under /usr/bin/time, retried
    (up to RETRIES times) when other processes used more than INTERFERENCE_CORES on average during it."""
    attempts = []
    for attempt in range(RETRIES + 1):
        gate = wait_quiet()
        before = loadavg()[0]
        rss_file = pathlib.Path("/tmp/vidlm-vlm-bench-time")
        full = ["/usr/bin/time", "-f", "%M %e %U %S", "-o", str(rss_file)] + cmd
        b0, _ = cpu_jiffies()
        proc = subprocess.run(full, env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True)
        b1, _ = cpu_jiffies()
        if proc.returncode != 0:
            raise RuntimeError(f"exit {proc.returncode}: {' '.join(cmd)}\n{proc.stderr[-4000:]}")
        rss, wall, user, sys_ = rss_file.read_text().split()[-4:]
        own = float(user) + float(sys_)
        other = max(0.0, (b1 - b0) / os.sysconf("SC_CLK_TCK") - own)
        cond = {**gate, "load_before": before, "cpu_seconds": own,
                "other_cores_during": round(other / max(float(wall), 1e-9), 3), "attempt": attempt + 1}
        attempts.append(cond)
        if cond["other_cores_during"] <= INTERFERENCE_CORES or attempt == RETRIES:
            cond["discarded_attempts"] = attempts[:-1]
            return proc.stdout, int(rss), float(wall), cond
        log(f"other processes used {cond['other_cores_during']:.2f} cores during the run: measuring again")


def vidlm_cmd(model: pathlib.Path, clip: pathlib.Path, frames: int | None, tokens: int, extra: list[str] | None = None,
              question: str = QUESTION) -> list[str]:
    """`vidlm ask`; frames None: the model's own sampling rule (e.g. Qwen-VL's fps)."""
    return ([str(VIDLM), "ask", str(clip), question, "--model", str(model)]
            + (["--frames", str(frames)] if frames else []) + ["--json", "--max-tokens", str(tokens)] + (extra or []))


def coretype_env(coretype: str) -> tuple[dict[str, str], list[str]]:
    """The environment for an OpenBLAS core type ("default": unset, OpenBLAS picks by CPUID) and
    its words for the recorded command."""
    if coretype == "default":
        return {}, []
    return {"OPENBLAS_CORETYPE": coretype}, [f"OPENBLAS_CORETYPE={coretype}"]


def run_vidlm(model: pathlib.Path, clip: pathlib.Path, frames: int | None, coretype: str, extra: list[str] | None = None,
              question: str = QUESTION) -> dict:
    core_env, core_words = coretype_env(coretype)
    env = {"VIDLM_THREADS": str(THREADS), **core_env}
    cmd = vidlm_cmd(model, clip, frames, NEW_TOKENS, extra, question)
    saved = os.environ.pop("OPENBLAS_CORETYPE", None) if coretype == "default" else None
    try:
        out, rss, wall, cond = timed(cmd, env)
    finally:
        if saved is not None:
            os.environ["OPENBLAS_CORETYPE"] = saved
    j = json.loads(out)
    t = j["timings"]
    ttft = t["decode"] + t["vision"] + t["bridge"] + t["prefill"]
    n = len(j["token_ids"])
    return {
        "tool": "vidlm", "coretype": coretype, "command": " ".join(["VIDLM_THREADS=2"] + core_words + cmd),
        "decode_seconds": t["decode"], "vision_seconds": t["vision"], "bridge_seconds": t["bridge"],
        "prefill_seconds": t["prefill"], "ttft_seconds": ttft, "generation_seconds": t["generation"],
        "tokens": n, "decode_tok_s": (n - 1) / t["generation"] if n > 1 and t["generation"] > 0 else 0.0,
        "wall_seconds": wall, "load_seconds_est": wall - ttft - t["generation"], "peak_rss_kb": rss,
        "prompt_tokens": len(j["prompt_token_ids"]), "prompt_token_ids": j["prompt_token_ids"],
        "token_ids": j["token_ids"], "frame_indices": [f["index"] for f in j["frames"]],
        "frame_seconds": [f["seconds"] for f in j["frames"]], "finish": j["finish"], **cond,
    }


def run_torch(kind: str, model: pathlib.Path, media: pathlib.Path, frames: int | None, question: str | None = None) -> dict:
    cmd = [str(PY), str(ROOT / "benchmarks" / "vlm" / "torch_bench.py"), kind, str(model), str(media), str(frames or 0),
           str(NEW_TOKENS), str(THREADS)] + ([question] if question else [])
    out, rss, wall, cond = timed(cmd, {"OPENBLAS_CORETYPE": MAIN_CORETYPE})
    j = json.loads(out.strip().splitlines()[-1])
    j.update({"peak_rss_kb_time": rss, "wall_seconds": wall, **cond,
              "command": " ".join(["OPENBLAS_CORETYPE=" + MAIN_CORETYPE] + cmd)})
    return j


def openblas_corename(coretype: str | None) -> str:
    code = ("import ctypes; l = ctypes.CDLL('libopenblas.so.0'); l.openblas_get_corename.restype = ctypes.c_char_p; "
            "print(l.openblas_get_corename().decode())")
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    try:
        return subprocess.run(["python3", "-c", code], env=env, capture_output=True, text=True, timeout=60).stdout.strip()
    except Exception as e:  # noqa: BLE001
        return f"unknown ({e})"


def machine() -> dict:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")), [])
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "Sources", "Package.swift"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    swift = subprocess.run(["/opt/swift/usr/bin/swift", "--version"], capture_output=True, text=True).stdout.splitlines()
    return {
        "cpu": cpu, "cores": os.cpu_count(), "avx512f": "avx512f" in flags, "avx512_bf16": "avx512_bf16" in flags,
        "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(), "git_head": git, "sources_modified_in_worktree": bool(dirty),
        "swift": swift[0] if swift else "?",
        "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE", "unset"),
        "openblas_core_env": openblas_corename(os.environ.get("OPENBLAS_CORETYPE")),
        "openblas_core_unset": openblas_corename(None),
        "openblas_core_main": openblas_corename(MAIN_CORETYPE),
    }


def peaks(extra: str) -> dict:
    out = {"vidlm_sgemm": {}, "gate": wait_quiet()}
    for coretype in [MAIN_CORETYPE] + ([extra] if extra else []):
        env = {**os.environ, "OPENBLAS_CORETYPE": coretype, "VIDLM_THREADS": str(THREADS)}
        r = subprocess.run([str(BENCH), "sgemm", "--repeat", "10"], env=env, capture_output=True, text=True, cwd=ROOT)
        out["vidlm_sgemm"][coretype] = json.loads(r.stdout) if r.returncode == 0 else {"error": r.stderr[-500:]}
    r = subprocess.run([str(PY), str(ROOT / "benchmarks" / "vlm" / "peak.py"), str(THREADS), "10"],
                       capture_output=True, text=True, cwd=ROOT)
    out["torch"] = json.loads(r.stdout) if r.returncode == 0 else {"error": r.stderr[-500:]}
    return out


def compact(row: dict) -> None:
    """Prompt ids are kept once per row (as a hash per run) with whether every run of both tools saw the same."""
    runs = row.get("vidlm", []) + row.get("transformers", []) + row.get("vidlm_extra", [])
    hashes = set()
    for r in runs:
        ids = r.pop("prompt_token_ids", None)
        if ids is not None:
            r["prompt_ids_sha1"] = hashlib.sha1(json.dumps(ids).encode()).hexdigest()
            hashes.add(r["prompt_ids_sha1"])
            row.setdefault("prompt_token_ids", " ".join(map(str, ids)))
    row["same_prompt_ids_all_runs"] = len(hashes) == 1 if hashes else None


def weights_bytes(model: pathlib.Path) -> int:
    return sum(f.stat().st_size for f in model.glob("*.safetensors"))


def kernel_probe() -> dict:
    """benchmarks/e2e/kernels.c (built by run.sh): per-core FMA / BF16-dot peaks and vidlm's kernels
    on the towers' shapes, by thread CPU time."""
    exe = pathlib.Path(os.environ.get("E2E_KERNELS", "/tmp/vidlm-e2e-kernels"))
    if not exe.exists():
        return {"error": f"{exe} was not built"}
    r = subprocess.run([str(exe)], capture_output=True, text=True, cwd=ROOT)
    return json.loads(r.stdout) if r.returncode == 0 else {"error": r.stderr[-500:]}


def main_e2e(work: pathlib.Path, out_path: pathlib.Path) -> None:
    """One run per row and tool (issue 24's benchmark), vidlm under this workplace's Haswell core
    type and under OpenBLAS's own choice."""
    clip = work / "clip.mp4"
    wanted = [r for r in os.environ.get("VLM_ROWS", "").split(",") if r]
    coretypes = [MAIN_CORETYPE, "default"]
    results = {
        "suite": "e2e", "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "loadavg_start": loadavg(), "threads": THREADS, "new_tokens": NEW_TOKENS, "question": QUESTION,
        "coretypes": coretypes, "clip": str(clip.relative_to(ROOT)),
        "clip_probe": json.loads(subprocess.run([str(VIDLM), "probe", str(clip)], capture_output=True, text=True).stdout),
        "machine": machine(), "rows": [],
    }
    log("kernel probes and GEMM peaks")
    results["kernels"] = kernel_probe()
    results["peaks"] = peaks("")
    for name, folder, kind, frames, extra, with_torch in E2E_ROWS:
        if wanted and name not in wanted:
            continue
        model = work / folder
        row = {"name": name, "kind": kind, "frames": frames, "model": rel(model), "vidlm_args": extra,
               "transformers_runs": with_torch}
        results["rows"].append(row)
        if not (model / "config.json").exists():
            row["skipped"] = f"{model} was not written"
            continue
        row["weights_bytes"] = weights_bytes(model)
        row["config"] = json.loads((model / "config.json").read_text())
        media = {"smolvlm": clip, "instructblipvideo": work / f"frames{frames}", "blip2": work / "image.png"}[kind]
        vidlm_media = media if kind == "blip2" else clip
        subprocess.run(vidlm_cmd(model, vidlm_media, 1, 1, extra), env={**os.environ, "VIDLM_THREADS": str(THREADS)},
                       capture_output=True, cwd=ROOT)
        row["vidlm"], row["transformers"], row["vidlm_extra"] = [], [], []
        # VLM_ROUNDS rounds (default 1, the one run), each tool once per round, so a
        # slow minute of this VM falls on every tool alike; the report takes medians.
        for rnd in range(int(os.environ.get("VLM_ROUNDS", "1"))):
            for coretype in coretypes:
                log(f"{name}: vidlm ({coretype}) round {rnd + 1}")
                try:
                    r = run_vidlm(model, vidlm_media, frames, coretype, extra)
                    (row["vidlm"] if coretype == MAIN_CORETYPE else row["vidlm_extra"]).append(r)
                except RuntimeError as e:
                    row["vidlm_error"] = {"stderr": str(e)[-3000:]}
                    log(f"{name}: vidlm failed: {e}")
                    break
            if with_torch:
                log(f"{name}: transformers round {rnd + 1}")
                try:
                    row["transformers"].append(run_torch(kind, model, media, frames))
                except RuntimeError as e:
                    row["transformers_error"] = {"stderr": str(e)[-3000:]}
                    log(f"{name}: transformers failed: {e}")
        compact(row)
        out_path.write_text(json.dumps(results, indent=1) + "\n")
    results["loadavg_end"] = loadavg()
    results["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    out_path.write_text(json.dumps(results, indent=1) + "\n")
    log(f"wrote {out_path}")


def main(work: pathlib.Path, runs: int, out_path: pathlib.Path) -> None:
    clip = work / "clip.mp4"
    frames4 = work / "frames4"
    wanted = [r for r in os.environ.get("VLM_ROWS", "").split(",") if r]
    runs_22b_f32 = int(os.environ.get("VLM_RUNS_22B_F32", runs))
    extra = os.environ.get("VLM_EXTRA_CORETYPE", "SkylakeX")
    results = {
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "loadavg_start": loadavg(), "threads": THREADS, "new_tokens": NEW_TOKENS, "question": QUESTION,
        "main_coretype": MAIN_CORETYPE, "extra_coretype": extra or None, "runs": runs,
        "clip": str(clip.relative_to(ROOT)),
        "clip_probe": json.loads(subprocess.run([str(VIDLM), "probe", str(clip)], capture_output=True, text=True).stdout),
        "frames4": json.loads((frames4 / "frames.json").read_text()),
        "machine": machine(), "rows": [],
    }
    log("GEMM peak probes")
    results["peaks"] = peaks(extra)
    for name, kind, frames in ROWS:
        if wanted and name not in wanted:
            continue
        model = work / name
        row = {"name": name, "kind": kind, "frames": frames, "model": rel(model)}
        results["rows"].append(row)
        if not (model / "config.json").exists():
            row["skipped"] = f"{model} was not written (see make_models.py / disk space)"
            continue
        row["weights_bytes"] = weights_bytes(model)
        row["config"] = json.loads((model / "config.json").read_text())
        media = clip if kind == "smolvlm" else frames4
        n = runs_22b_f32 if name == "smolvlm2-2.2b-f32" else runs
        row["runs"] = n
        try:
            log(f"{name}: warm-up (untimed vidlm, 1 frame, 1 token)")
            subprocess.run(vidlm_cmd(model, clip, 1, 1), env={**os.environ, "VIDLM_THREADS": str(THREADS),
                                                               "OPENBLAS_CORETYPE": MAIN_CORETYPE},
                           capture_output=True, check=True, cwd=ROOT)
        except subprocess.CalledProcessError as e:
            row["vidlm_error"] = {"command": " ".join(vidlm_cmd(model, clip, frames, NEW_TOKENS)),
                                  "stderr": e.stderr.decode(errors="replace")[-2000:]}
            log(f"{name}: vidlm failed: {row['vidlm_error']['stderr'].strip()}")
        row["vidlm"], row["transformers"], row["vidlm_extra"] = [], [], []
        for i in range(n):
            if "vidlm_error" not in row:
                log(f"{name}: vidlm run {i + 1}/{n}")
                try:
                    row["vidlm"].append(run_vidlm(model, clip, frames, MAIN_CORETYPE))
                except RuntimeError as e:
                    row["vidlm_error"] = {"stderr": str(e)[-3000:]}
                    log(f"{name}: vidlm failed: {e}")
            log(f"{name}: transformers run {i + 1}/{n}")
            try:
                row["transformers"].append(run_torch(kind, model, media, frames))
            except RuntimeError as e:
                row["transformers_error"] = {"stderr": str(e)[-3000:]}
                log(f"{name}: transformers failed: {e}")
                break
        if extra and "vidlm_error" not in row:
            for i in range(n):
                log(f"{name}: vidlm ({extra}) run {i + 1}/{n}")
                row["vidlm_extra"].append(run_vidlm(model, clip, frames, extra))
        compact(row)
        out_path.write_text(json.dumps(results, indent=1) + "\n")
    results["loadavg_end"] = loadavg()
    results["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    out_path.write_text(json.dumps(results, indent=1) + "\n")
    log(f"wrote {out_path}")

# benchmarks/llava (VLM_SUITE=llava, issue 20) and benchmarks/qwenvl (VLM_SUITE=qwenvl, issue 21): one run
# per row and tool. media is a file under WORK; frames None = the model's own sampling rule.
LABELS = "a cat,a dog,a car,a bird,a house,a tree,a person,a boat,a clock,a flower"
TEMPLATE = "a photo of {}."
CLIP_BATCH = int(os.environ.get("VLM_CLIP_BATCH", "16"))   # transformers' images per processor/model call
SUITES = {
    "llava": [
        dict(name="llava-onevision-0.5b-f32-8", folder="llava-onevision-0.5b-f32", kind="llava_onevision", media="clip.mp4", frames=8),
        dict(name="llava-onevision-0.5b-bf16-8", folder="llava-onevision-0.5b-bf16", kind="llava_onevision", media="clip.mp4", frames=8),
        dict(name="llava-1.5-7b-bf16-image", folder="llava-1.5-7b-bf16", kind="llava", media="image336.png", frames=1,
             question=IMAGE_QUESTION),
        dict(name="clip-vit-b32-classify", folder="clip-vit-b32", kind="classify", media="images100"),
        dict(name="clip-vit-l14-classify", folder="clip-vit-l14", kind="classify", media="images100"),
    ],
    "qwenvl": [
        dict(name="qwen2.5-vl-3b-bf16-clip", folder="qwen2.5-vl-3b-bf16", kind="qwen2_5_vl", media="clip10.mp4", frames=None),
        dict(name="qwen2.5-vl-3b-bf16-image", folder="qwen2.5-vl-3b-bf16", kind="qwen2_5_vl", media="image1280.png", frames=1,
             question=IMAGE_QUESTION),
    ],
}


def rel(path: pathlib.Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def visual_tokens(config: dict, ids: list[int]) -> dict:
    """How many prompt positions are image / video tokens (the config's placeholder ids)."""
    out = {}
    for what in ("image", "video"):
        token = config.get(f"{what}_token_id", config.get(f"{what}_token_index"))
        if token is not None:
            out[what] = sum(1 for t in ids if t == token)
    return out


def run_vidlm_classify(model: pathlib.Path, images: list[pathlib.Path], coretype: str) -> dict:
    core_env, core_words = coretype_env(coretype)
    cmd = [str(VIDLM), "classify", *map(str, images), "--model", str(model), "--labels", LABELS, "--template", TEMPLATE, "--json"]
    saved = os.environ.pop("OPENBLAS_CORETYPE", None) if coretype == "default" else None
    try:
        out, rss, wall, cond = timed(cmd, {"VIDLM_THREADS": str(THREADS), **core_env})
    finally:
        if saved is not None:
            os.environ["OPENBLAS_CORETYPE"] = saved
    j = json.loads(out)
    results = j["results"] if "results" in j else [j]
    t = j["timings"]
    return {
        "tool": "vidlm", "coretype": coretype,
        "command": " ".join(["VIDLM_THREADS=2"] + core_words + cmd[:2] + [f"<{len(images)} images>"] + cmd[2 + len(images):]),
        "images": len(images), "load_seconds": t["load"], "classify_seconds": t["classify"],
        "images_per_s": len(images) / t["classify"], "images_per_s_with_load": len(images) / wall,
        "wall_seconds": wall, "peak_rss_kb": rss, "files": [pathlib.Path(r["media"]).name for r in results],
        "probabilities": [r["frames"][0]["probabilities"] for r in results], **cond,
    }


def run_torch_classify(model: pathlib.Path, folder: pathlib.Path, count: int) -> dict:
    cmd = [str(PY), str(ROOT / "benchmarks" / "vlm" / "torch_bench.py"), "classify", str(model), str(folder), str(count),
           str(CLIP_BATCH), str(THREADS), LABELS, TEMPLATE]
    out, rss, wall, cond = timed(cmd, {"OPENBLAS_CORETYPE": MAIN_CORETYPE})
    j = json.loads(out.strip().splitlines()[-1])
    j.update({"peak_rss_kb_time": rss, "wall_seconds": wall, "images_per_s_with_load": j["images"] / wall, **cond,
              "command": " ".join(["OPENBLAS_CORETYPE=" + MAIN_CORETYPE] + cmd)})
    return j


def classify_row(row: dict, model: pathlib.Path, folder: pathlib.Path, coretypes: list[str]) -> None:
    count = int(os.environ.get("VLM_IMAGES", "100"))
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:count]
    row["images"] = len(images)
    row["vidlm"], row["vidlm_extra"], row["transformers"] = [], [], []
    for coretype in coretypes:
        log(f"{row['name']}: vidlm classify ({coretype}), {len(images)} images")
        try:
            r = run_vidlm_classify(model, images, coretype)
            (row["vidlm"] if coretype == MAIN_CORETYPE else row["vidlm_extra"]).append(r)
        except RuntimeError as e:
            row["vidlm_error"] = {"stderr": str(e)[-3000:]}
            log(f"{row['name']}: vidlm failed: {e}")
            break
    log(f"{row['name']}: transformers classify, {len(images)} images, batches of {CLIP_BATCH}")
    try:
        row["transformers"].append(run_torch_classify(model, folder, len(images)))
    except RuntimeError as e:
        row["transformers_error"] = {"stderr": str(e)[-3000:]}
        log(f"{row['name']}: transformers failed: {e}")
    v = (row["vidlm"] or row["vidlm_extra"] or [None])[0]
    t = (row["transformers"] or [None])[0]
    if v and t:
        same_files = v["files"] == t["files"]
        diff = max(abs(a - b) for pv, pt in zip(v["probabilities"], t["probabilities"]) for a, b in zip(pv, pt))
        top = sum(1 for pv, pt in zip(v["probabilities"], t["probabilities"])
                  if max(range(len(pv)), key=pv.__getitem__) == max(range(len(pt)), key=pt.__getitem__))
        row["checks"] = {"same_files": same_files, "max_abs_probability_difference": diff,
                         "same_top1": f"{top}/{len(v['probabilities'])}"}
        log(f"{row['name']}: checks {row['checks']}")
    for r in row["vidlm"] + row["vidlm_extra"] + row["transformers"]:
        r["probabilities_first"] = r["probabilities"][0] if r.get("probabilities") else None
        r.pop("probabilities", None)


def main_suite(suite: str, work: pathlib.Path, out_path: pathlib.Path) -> None:
    """One run per row and tool (issues 20 and 21): `vidlm ask` vs transformers' generate on the same
    folder, media and frames, with the prompt ids, frame indices and greedy ids checked equal; CLIP rows
    time `vidlm classify` on a folder of images vs CLIPModel with its processor."""
    wanted = [r for r in os.environ.get("VLM_ROWS", "").split(",") if r]
    coretypes = [c for c in os.environ.get("VLM_CORETYPES", f"{MAIN_CORETYPE},default").split(",") if c]
    frames_override = os.environ.get("VLM_FRAMES")
    results = {
        "suite": suite, "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "loadavg_start": loadavg(), "threads": THREADS, "new_tokens": NEW_TOKENS, "coretypes": coretypes,
        "smoke": bool(frames_override or os.environ.get("VLM_NEW_TOKENS") or os.environ.get("VLM_IMAGES")),
        "machine": machine(), "rows": [],
    }
    if os.environ.get("VLM_PROBES", "1") != "0":
        log("kernel probes and GEMM peaks")
        results["kernels"] = kernel_probe()
        results["peaks"] = peaks("")
    for spec in SUITES[suite]:
        name, kind = spec["name"], spec["kind"]
        if wanted and name not in wanted:
            continue
        model, media = work / spec["folder"], work / spec["media"]
        frames = spec.get("frames")
        if frames_override and kind != "classify" and not media.suffix.lower() in (".png", ".jpg"):
            frames = int(frames_override)
        question = spec.get("question", QUESTION)
        row = {"name": name, "kind": kind, "frames": frames, "model": rel(model),
               "media": rel(media)}
        results["rows"].append(row)
        if not (model / "config.json").exists():
            row["skipped"] = f"{model} was not written"
            continue
        row["weights_bytes"] = weights_bytes(model)
        row["config"] = json.loads((model / "config.json").read_text())
        if kind == "classify":
            classify_row(row, model, media, coretypes)
            out_path.write_text(json.dumps(results, indent=1) + "\n")
            continue
        if media.suffix == ".mp4":
            row["media_probe"] = json.loads(subprocess.run([str(VIDLM), "probe", str(media)], capture_output=True, text=True).stdout or "{}")
        if os.environ.get("VLM_WARMUP", "1") != "0":
            log(f"{name}: warm-up (untimed vidlm, 1 frame, 1 token)")
            subprocess.run(vidlm_cmd(model, media, 1, 1, question=question), env={**os.environ, "VIDLM_THREADS": str(THREADS)},
                           capture_output=True, cwd=ROOT)
        row["vidlm"], row["transformers"], row["vidlm_extra"] = [], [], []
        for rnd in range(int(os.environ.get("VLM_ROUNDS", "1"))):
            for coretype in coretypes:
                log(f"{name}: vidlm ({coretype}) round {rnd + 1}")
                try:
                    r = run_vidlm(model, media, frames, coretype, question=question)
                    (row["vidlm"] if coretype == MAIN_CORETYPE else row["vidlm_extra"]).append(r)
                except RuntimeError as e:
                    row["vidlm_error"] = {"stderr": str(e)[-3000:]}
                    log(f"{name}: vidlm failed: {e}")
                    break
            log(f"{name}: transformers round {rnd + 1}")
            try:
                row["transformers"].append(run_torch(kind, model, media, frames, question))
            except RuntimeError as e:
                row["transformers_error"] = {"stderr": str(e)[-3000:]}
                log(f"{name}: transformers failed: {e}")
        v = (row["vidlm"] or row["vidlm_extra"] or [None])[0]
        t = (row["transformers"] or [None])[0]
        if v:
            row["visual_tokens"] = visual_tokens(row["config"], v["prompt_token_ids"])
        if v and t:
            row["checks"] = {
                "same_prompt_ids": v["prompt_token_ids"] == t["prompt_token_ids"],
                "same_token_ids": v["token_ids"] == t["token_ids"],
                "same_frame_indices": (v["frame_indices"] == t["frame_indices"]) if "frame_indices" in t else None,
                "vidlm_frame_indices": v["frame_indices"], "transformers_frame_indices": t.get("frame_indices"),
                "transformers_visual_tokens": visual_tokens(row["config"], t["prompt_token_ids"]),
            }
            if v["token_ids"] != t["token_ids"]:
                first = next((i for i, (a, b) in enumerate(zip(v["token_ids"], t["token_ids"])) if a != b), None)
                row["checks"]["first_different_token"] = first
            log(f"{name}: checks {dict((k, row['checks'][k]) for k in ('same_prompt_ids', 'same_token_ids', 'same_frame_indices'))}, "
                f"visual tokens {row['visual_tokens']}")
        compact(row)
        out_path.write_text(json.dumps(results, indent=1) + "\n")
    results["loadavg_end"] = loadavg()
    results["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    out_path.write_text(json.dumps(results, indent=1) + "\n")
    log(f"wrote {out_path}")


if __name__ == "__main__":
    if os.environ.get("VLM_SUITE") == "e2e":
        main_e2e(pathlib.Path(sys.argv[1]).resolve(), pathlib.Path(sys.argv[3]).resolve())
    elif os.environ.get("VLM_SUITE") in SUITES:
        main_suite(os.environ["VLM_SUITE"], pathlib.Path(sys.argv[1]).resolve(), pathlib.Path(sys.argv[3]).resolve())
    else:
        main(pathlib.Path(sys.argv[1]).resolve(), int(sys.argv[2]), pathlib.Path(sys.argv[3]).resolve())
