#!/usr/bin/env python3
"""Side-by-side benchmark: "8 uniformly spaced frames of a video as RGB arrays".

vidlm (vidlm-bench, exact and keyframe modes) vs decord vs PyAV vs the ffmpeg CLI, plus
sequential full-decode throughput and frame exactness. Called by benchmarks/media/run.sh, which
generates the clips, creates the venv and builds vidlm-bench first.

Timing: every measured operation opens the file afresh and ends with 8 RGB24 arrays in memory.
Tools are run round-robin (rotating the starting tool each round) so slow drifts in machine
speed are shared. decord and PyAV run in persistent worker processes (this same file with
--worker), so Python start-up and imports are not timed and the two libraries (each bundling
its own FFmpeg) never share a process. vidlm runs the same way, in one persistent
`vidlm-bench serve` process, timed in-process. It is also timed in a fresh process per
repetition (`vidlm-bench sample --repeat 1`: the first request of a process, as a CLI call
makes it), in-process and as process wall time. The ffmpeg CLI can only be timed as a process
(wall time, including start-up).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
WORK = Path(os.environ.get("VIDLM_BENCH_WORK", ROOT / "benchmarks" / ".work"))
THREADS = 2


# ----------------------------------------------------------------------------------------------
# Shared helpers


def uniform_indices(n_frames: int, count: int) -> list[int]:
    """vidlm's "uniform" convention: segment centres floor((i + 1/2) * N / n), exact arithmetic."""
    return [((2 * i + 1) * n_frames) // (2 * count) for i in range(count)]


def perf() -> float:
    return time.perf_counter()


# ----------------------------------------------------------------------------------------------
# Workers (run as `run.py --worker decord|pyav`): JSON requests on stdin, one JSON reply per line.


def decord_sample(path, indices, threads, dump=None):
    import decord

    t0 = perf()
    vr = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=threads)
    batch = vr.get_batch(indices).asnumpy()
    seconds = perf() - t0
    reply = {"seconds": seconds, "shape": list(batch.shape), "frame_count": len(vr)}
    if dump:
        import numpy as np

        os.makedirs(dump, exist_ok=True)
        for i, idx in enumerate(indices):
            np.save(os.path.join(dump, f"frame-{idx}.npy"), batch[i])
    return reply


def decord_sequential(path, threads):
    import decord

    t0 = perf()
    vr = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=threads)
    n = 0
    for _ in range(len(vr)):
        vr.next().asnumpy()
        n += 1
    return {"seconds": perf() - t0, "frames": n}


def pyav_configure(stream, threads):
    # PyAV docs: thread_type "AUTO" enables frame + slice threading (the fast path for full
    # decoding); thread_count 0 would mean "all cores", we pin it to the shared budget.
    if threads > 1:
        stream.thread_type = "AUTO"
        stream.thread_count = threads
    else:
        stream.thread_count = 1


def pyav_frame_pts(container, stream, indices):
    """Presentation timestamps (stream time base) of the given presentation-order indices.

    Constant frame rate (average rate == guessed/real rate and frame count == duration * rate):
    pts(i) = start_pts + i / rate / time_base, exact in rationals (the MP4s here: 1/15360 time
    base, 30 fps -> 512 ticks per frame). Otherwise: scan every packet of the stream (demux only,
    no decoding), sort the pts and index into that. Returns (pts list, method).
    """
    tb = stream.time_base
    start = stream.start_time or 0
    rate = stream.average_rate
    guessed = getattr(stream, "guessed_rate", None)
    frames = stream.frames
    duration = stream.duration
    if rate and guessed and rate == guessed and frames and duration:
        if abs(Fraction(duration) * tb * Fraction(rate) - frames) < 1:
            step = Fraction(1) / (Fraction(rate) * tb)
            return [start + round(i * step) for i in indices], "cfr"
    pts = sorted(p.pts for p in container.demux(stream) if p.pts is not None)
    container.seek(start, stream=stream, backward=True)
    return [pts[i] for i in indices], "packet-scan"


def pyav_sample(path, indices, threads, dump=None):
    """Exact frames by seeking: for each index seek (backward) to the key frame at or before its
    pts, decode forward until that pts, convert with to_ndarray(format="rgb24")."""
    import av

    t0 = perf()
    got_pts = []
    arrays = []
    with av.open(path) as container:
        stream = container.streams.video[0]
        pyav_configure(stream, threads)
        targets, method = pyav_frame_pts(container, stream, indices)
        for target in targets:
            # seek() flushes the decoder; backward=True, any_frame=False -> key frame <= target.
            container.seek(target, stream=stream, backward=True, any_frame=False)
            frame = None
            for f in container.decode(stream):
                if f.pts is None or f.pts < target:
                    continue
                frame = f
                break
            if frame is None:
                raise RuntimeError(f"pyav: no frame at pts {target}")
            got_pts.append(frame.pts)
            arrays.append(frame.to_ndarray(format="rgb24"))
    seconds = perf() - t0
    reply = {"seconds": seconds, "pts_wanted": targets, "pts_got": got_pts, "pts_method": method,
             "shape": [len(arrays)] + list(arrays[0].shape)}
    if dump:
        import numpy as np

        os.makedirs(dump, exist_ok=True)
        for idx, a in zip(indices, arrays):
            np.save(os.path.join(dump, f"frame-{idx}.npy"), a)
    return reply


def pyav_sequential(path, threads):
    import av

    t0 = perf()
    n = 0
    with av.open(path) as container:
        stream = container.streams.video[0]
        pyav_configure(stream, threads)
        for frame in container.decode(stream):
            frame.to_ndarray(format="rgb24")
            n += 1
    return {"seconds": perf() - t0, "frames": n}


def worker_versions(kind):
    import numpy

    v = {"numpy": numpy.__version__, "python": platform.python_version()}
    if kind == "decord":
        import decord

        v["decord"] = decord.__version__
        libs = Path(decord.__file__).parent.parent / "decord.libs"
        v["decord_bundled_libavcodec"] = sorted(p.name for p in libs.glob("libavcodec*")) if libs.exists() else []
    else:
        import av

        v["av"] = av.__version__
        v["av_ffmpeg"] = getattr(av, "ffmpeg_version_info", "?")
        v["av_libavcodec"] = ".".join(map(str, av.library_versions.get("libavcodec", ())))
    return v


def worker_main(kind):
    try:
        if kind == "decord":
            import decord  # noqa: F401
        else:
            import av  # noqa: F401
        ready = {"ok": True, "versions": worker_versions(kind)}
    except Exception as e:  # reported, the tool is then skipped
        ready = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    print(json.dumps(ready), flush=True)
    if not ready["ok"]:
        return
    ops = {
        ("decord", "sample"): decord_sample, ("decord", "sequential"): decord_sequential,
        ("pyav", "sample"): pyav_sample, ("pyav", "sequential"): pyav_sequential,
    }
    for line in sys.stdin:
        req = json.loads(line)
        try:
            fn = ops[(kind, req.pop("op"))]
            reply = fn(**req)
        except Exception as e:
            reply = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(reply), flush=True)


class Worker:
    def __init__(self, kind, python):
        self.kind = kind
        self.proc = subprocess.Popen([python, __file__, "--worker", kind], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        hello = json.loads(self.proc.stdout.readline())
        self.ok = hello["ok"]
        self.error = hello.get("error")
        self.versions = hello.get("versions", {})

    def call(self, **req):
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        if "error" in reply:
            raise RuntimeError(f"{self.kind}: {reply['error']}")
        return reply

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


# ----------------------------------------------------------------------------------------------
# Process-based tools


class VidlmServer:
    """vidlm-bench serve: one process answering requests the way the decord and PyAV workers do."""

    kind = "vidlm"
    ok = True
    error = None
    versions = {}

    def __init__(self, bench):
        self.proc = subprocess.Popen([str(bench), "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1, env=env_with_threads())

    def call(self, *args):
        self.proc.stdin.write(json.dumps([str(a) for a in args]) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        if "error" in reply:
            raise RuntimeError(f"vidlm-bench serve: {reply['error']}")
        return reply

    def sample(self, path, mode, count=8):
        r = self.call("sample", path, "--count", count, "--mode", mode, "--repeat", 1)
        return {"seconds": r["seconds"][0], "indices": r["indices"], "frames": r["frames"]}

    def sequential(self, path):
        r = self.call("sequential", path, "--repeat", 1)
        return {"seconds": r["seconds"][0], "frames": r["frames"]}

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


def env_with_threads():
    env = dict(os.environ)
    env["VIDLM_THREADS"] = str(THREADS)
    return env


def vidlm_sample(bench, path, mode, count=8, dump=None):
    cmd = [str(bench), "sample", str(path), "--count", str(count), "--mode", mode, "--repeat", "1"]
    if dump:
        cmd += ["--dump", str(dump)]
    t0 = perf()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env_with_threads())
    wall = perf() - t0
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return {"seconds": res["seconds"][0], "wall": wall, "indices": res["indices"],
            "frames": res["frames"], "threads": res["threads"], "stderr": out.stderr.strip()}


def select_expr(indices):
    return "select=" + "+".join(f"eq(n\\,{i})" for i in sorted(set(indices)))


def ffmpeg_select(path, indices, width, height):
    """Full decode through the select filter; raw RGB24 frames of the wanted indices on stdout."""
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-threads", str(THREADS),
           "-i", str(path), "-an", "-vf", select_expr(indices), "-vsync", "0",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    t0 = perf()
    out = subprocess.run(cmd, check=True, capture_output=True)
    wall = perf() - t0
    size = width * height * 3
    n = len(out.stdout) // size
    if n * size != len(out.stdout) or n != len(set(indices)):
        raise RuntimeError(f"ffmpeg select returned {len(out.stdout)} bytes ({n} frames), wanted {len(set(indices))}")
    return {"wall": wall, "data": out.stdout, "frames": n}


def ffmpeg_sequential(path):
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-threads", str(THREADS),
           "-i", str(path), "-an", "-pix_fmt", "rgb24", "-f", "null", "-"]
    t0 = perf()
    subprocess.run(cmd, check=True, capture_output=True)
    return {"wall": perf() - t0}


def ffprobe_stream(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets",
                          "-show_entries",
                          "stream=width,height,nb_frames,nb_read_packets,avg_frame_rate,r_frame_rate,"
                          "time_base,has_b_frames,codec_name,pix_fmt,profile,duration:format=size,bit_rate",
                          "-of", "json", str(path)], check=True, capture_output=True, text=True)
    j = json.loads(out.stdout)
    s = j["streams"][0]
    s.update({"file_size": int(j["format"]["size"]), "bit_rate": int(j["format"].get("bit_rate", 0))})
    key = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "packet=flags", "-of", "csv=p=0", str(path)],
                         check=True, capture_output=True, text=True).stdout.split()
    s["keyframes"] = sum(1 for f in key if f.startswith("K"))
    return s


# ----------------------------------------------------------------------------------------------
# Environment


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, shell=isinstance(cmd, str)).stdout.strip()
    except Exception as e:
        return f"unavailable ({e})"


def environment(bench, workers):
    lscpu = sh(["lscpu"])
    model = next((l.split(":", 1)[1].strip() for l in lscpu.splitlines() if l.startswith("Model name")), "?")
    swift = shutil.which("swift") or "/opt/swift/usr/bin/swift"
    env = {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "host": platform.node(),
        "os": sh("grep PRETTY_NAME /etc/os-release | cut -d= -f2 | tr -d '\"'"),
        "kernel": platform.release(),
        "cpu_model": model,
        "cpu_flags_avx512": "avx512f" in lscpu,
        "cores_online": os.cpu_count(),
        "nproc": sh(["nproc"]),
        "memory": sh("free -m | awk '/Mem:/ {print $2\" MiB\"}'"),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
        "VIDLM_THREADS": str(THREADS),
        "threads": {"vidlm": f"VIDLM_THREADS={THREADS}", "decord": f"num_threads={THREADS}",
                    "pyav": f'thread_type="AUTO", thread_count={THREADS} (and a thread_count=1 row)',
                    "ffmpeg": f"-threads {THREADS} (decoder); filter threads default"},
        "ffmpeg_cli": sh("ffmpeg -version | head -1"),
        "vidlm_libav": sh(f"ldd {bench} | grep -oE 'lib(avcodec|avformat|swscale)\\.so\\.[0-9]+' | sort -u | tr '\\n' ' '"),
        "system_libavcodec": sh("dpkg-query -W -f '${Version}' libavcodec59 2>/dev/null"),
        "swift": sh(f"{swift} --version 2>&1 | head -1"),
        "vidlm_git": os.environ.get("VIDLM_BENCH_GIT") or sh(f"git -C {ROOT} rev-parse --short HEAD") + (" (+uncommitted changes)" if sh(f"git -C {ROOT} status --porcelain -- Sources Package.swift benchmarks/media/swift") else ""),
        "python": platform.python_version(),
        "loadavg_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    for w in workers.values():
        env.update(w.versions)
        if not w.ok:
            env[f"{w.kind}_unavailable"] = w.error
    return env


# ----------------------------------------------------------------------------------------------
# Exactness


def load_rgb(path, w, h):
    import numpy as np

    return np.fromfile(path, dtype=np.uint8).reshape(h, w, 3)


def exactness(clip_name, path, info, bench, workers, indices, tmp):
    """Compares each tool's frames against ffmpeg's decode of the same indices (and of the
    neighbours index-2..index+2, to check frame identity)."""
    import numpy as np

    w, h = int(info["width"]), int(info["height"])
    n = int(info["nb_frames"])
    d = Path(tmp) / clip_name
    tools = {}

    # vidlm exact + keyframe dumps (raw RGB24), decord/PyAV dumps (.npy).
    vex = vidlm_sample(bench, path, "exact", dump=d / "vidlm-exact")
    vkf = vidlm_sample(bench, path, "keyframe", dump=d / "vidlm-keyframe")
    if workers["decord"].ok:
        workers["decord"].call(op="sample", path=str(path), indices=indices, threads=THREADS, dump=str(d / "decord"))
    pyav_info = workers["pyav"].call(op="sample", path=str(path), indices=indices, threads=THREADS, dump=str(d / "pyav"))

    wanted = set()
    for i in indices + vkf["indices"]:
        wanted.update(j for j in range(i - 2, i + 3) if 0 <= j < n)
    wanted = sorted(wanted)
    ref = ffmpeg_select(path, wanted, w, h)
    size = w * h * 3
    reference = {idx: np.frombuffer(ref["data"], dtype=np.uint8, count=size, offset=k * size).reshape(h, w, 3)
                 for k, idx in enumerate(wanted)}
    def mad(a, b):
        return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())

    def compare(name, frames_by_requested, returned_indices=None):
        rows = []
        for k, req in enumerate(indices):
            a = frames_by_requested[req]
            got = returned_indices[k] if returned_indices else req
            diff = np.abs(a.astype(np.int16) - reference[got].astype(np.int16))
            cands = {j: mad(a, reference[j]) for j in range(got - 2, got + 3) if j in reference}
            best = min(cands, key=cands.get)
            others = [v for j, v in cands.items() if j != got]
            rows.append({"requested": req, "returned": got, "max_abs": int(diff.max()),
                         "mean_abs": round(float(diff.mean()), 4), "best_match": best,
                         "nearest_neighbour_mean_abs": round(min(others), 3) if others else None})
        return {
            "frames": rows,
            "max_abs": max(r["max_abs"] for r in rows),
            "mean_abs": round(statistics.fmean(r["mean_abs"] for r in rows), 4),
            "identity_ok": all(r["best_match"] == r["returned"] for r in rows),
            "returned_equals_requested": all(r["returned"] == r["requested"] for r in rows),
            "min_neighbour_mean_abs": min((r["nearest_neighbour_mean_abs"] for r in rows if r["nearest_neighbour_mean_abs"] is not None), default=None),
        }

    if vex["indices"] != indices:
        tools["vidlm exact"] = {"error": f"vidlm returned indices {vex['indices']}, expected {indices}"}
    else:
        tools["vidlm exact"] = compare("vidlm exact", {i: load_rgb(d / "vidlm-exact" / f"frame-{i}.rgb", w, h) for i in indices})
    kf = {req: load_rgb(d / "vidlm-keyframe" / f"frame-{got}.rgb", w, h) for req, got in zip(indices, vkf["indices"])}
    tools["vidlm keyframe"] = compare("vidlm keyframe", kf, vkf["indices"])
    if workers["decord"].ok:
        tools["decord"] = compare("decord", {i: np.load(d / "decord" / f"frame-{i}.npy") for i in indices})
    tools["pyav"] = compare("pyav", {i: np.load(d / "pyav" / f"frame-{i}.npy") for i in indices})
    tools["pyav"]["pts_method"] = pyav_info["pts_method"]
    tools["pyav"]["pts_all_exact"] = pyav_info["pts_wanted"] == pyav_info["pts_got"]
    tools["vidlm keyframe"]["note"] = "keyframe mode returns the key frame nearest each requested index; compared against ffmpeg's frame of the returned index"
    shutil.rmtree(d, ignore_errors=True)
    return tools


# ----------------------------------------------------------------------------------------------
# Benchmark driver


class CpuMeter:
    """CPU used by everything else on the machine while we time (the box may be shared):
    machine busy time from /proc/stat minus this process, its waited-for children and the
    worker processes. Also hypervisor steal time."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, workers):
        self.pids = [w.proc.pid for w in workers.values() if w.ok]
        self.last = self.sample()

    def sample(self):
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        user, nice, system, idle, iowait, irq, softirq, steal = (v + [0] * 8)[:8]
        busy = (user + nice + system + irq + softirq) / self.TICK
        ours = 0.0
        import resource

        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
            r = resource.getrusage(who)
            ours += r.ru_utime + r.ru_stime
        for pid in self.pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                ours += (int(fields[11]) + int(fields[12])) / self.TICK
            except OSError:
                pass
        return {"t": perf(), "busy": busy, "ours": ours, "steal": steal / self.TICK}

    def lap(self):
        now = self.sample()
        dt = now["t"] - self.last["t"]
        other = max(0.0, (now["busy"] - self.last["busy"]) - (now["ours"] - self.last["ours"]))
        res = {"other_cores": round(other / dt, 3), "steal_cores": round((now["steal"] - self.last["steal"]) / dt, 3)}
        self.last = now
        return res


def summarize(values):
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def bench_clip(name, path, bench, workers, reps, ffmpeg_reps, log):
    info = ffprobe_stream(path)
    n = int(info["nb_frames"])
    w, h = int(info["width"]), int(info["height"])
    indices = uniform_indices(n, 8)
    log(f"[{name}] {n} frames {w}x{h}, {info['keyframes']} key frames; indices {indices}")

    # Warm-up (page cache, lazy library loading) and index agreement checks; not timed.
    v = vidlm_sample(bench, path, "exact")
    if v["indices"] != indices:
        raise SystemExit(f"index disagreement: vidlm {v['indices']} vs computed {indices}")
    checks = {"vidlm_indices": v["indices"], "computed_indices": indices, "agree": True}
    v2 = vidlm_sample(bench, path, "keyframe")
    for mode in ("exact", "keyframe"):
        if workers["vidlm"].sample(path, mode)["indices"] != (indices if mode == "exact" else v2["indices"]):
            raise SystemExit(f"vidlm-bench serve ({mode}) returned other frames than vidlm-bench sample")
    if workers["decord"].ok:
        r = workers["decord"].call(op="sample", path=str(path), indices=indices, threads=THREADS)
        checks["decord_frame_count"] = r["frame_count"]
        if r["frame_count"] != n:
            log(f"[{name}] WARNING: decord counts {r['frame_count']} frames, ffprobe {n}")
    r = workers["pyav"].call(op="sample", path=str(path), indices=indices, threads=THREADS)
    checks["pyav_pts_method"] = r["pts_method"]
    checks["pyav_pts_exact"] = r["pts_wanted"] == r["pts_got"]

    tools = {
        "vidlm exact": lambda: workers["vidlm"].sample(path, "exact"),
        "vidlm exact, fresh process": lambda: vidlm_sample(bench, path, "exact"),
        "vidlm keyframe": lambda: workers["vidlm"].sample(path, "keyframe"),
        "pyav seek (2 threads)": lambda: workers["pyav"].call(op="sample", path=str(path), indices=indices, threads=THREADS),
        "pyav seek (1 thread)": lambda: workers["pyav"].call(op="sample", path=str(path), indices=indices, threads=1),
        "ffmpeg select (full decode)": lambda: ffmpeg_select(path, indices, w, h),
    }
    if workers["decord"].ok:
        tools["decord get_batch"] = lambda: workers["decord"].call(op="sample", path=str(path), indices=indices, threads=THREADS)
    order = list(tools)
    load = []
    meter = CpuMeter(workers)
    times = {t: [] for t in order}
    walls = {t: [] for t in order}
    for rep in range(reps):
        k = rep % len(order)
        ran = []
        for tool in order[k:] + order[:k]:
            if tool.startswith("ffmpeg") and rep >= ffmpeg_reps:
                continue
            ran.append(tool)
            r = tools[tool]()
            if "seconds" in r:
                times[tool].append(r["seconds"])
                if "wall" in r:
                    walls[tool].append(r["wall"])
            else:  # process-timed only
                times[tool].append(r["wall"])
        load.append(meter.lap())
        log(f"[{name}] round {rep + 1}/{reps} (other processes {load[-1]['other_cores']:.2f} cores, steal {load[-1]['steal_cores']:.2f}): " + ", ".join(f"{t} {times[t][-1]:.3f}s" for t in order if t in ran))
    sampling = {}
    for t in order:
        sampling[t] = {"seconds": times[t], "summary": summarize(times[t]),
                       "timing": "process wall" if t.startswith("ffmpeg") else "in-process"}
        if walls[t]:
            sampling[t]["process_wall"] = walls[t]
            sampling[t]["process_wall_summary"] = summarize(walls[t])
    # Paired ratios: within each round, anchor time / vidlm time; the median over rounds is less
    # sensitive to slow changes in machine load than a ratio of medians.
    paired = {}
    for base in ("vidlm exact", "vidlm exact, fresh process", "vidlm keyframe"):
        for t in order:
            if t.startswith("vidlm"):
                continue
            r = [a / b for a, b in zip(times[t], times[base])]
            paired[f"{t} / {base}"] = {"median": statistics.median(r), "per_round": r}
    return {"path": str(path), "stream": info, "indices": indices, "checks": checks, "sampling": sampling,
            "paired_ratios": paired, "cpu_interference_per_round": load}


def bench_sequential(name, path, bench, workers, reps, log):
    info = ffprobe_stream(path)
    n = int(info["nb_frames"])
    tools = {
        "vidlm sequential": lambda: workers["vidlm"].sequential(path),
        "ffmpeg -f null (rgb24)": lambda: {**ffmpeg_sequential(path), "frames": n},
        "pyav decode+to_ndarray (2 threads)": lambda: workers["pyav"].call(op="sequential", path=str(path), threads=THREADS),
    }
    if workers["decord"].ok:
        tools["decord next() loop"] = lambda: workers["decord"].call(op="sequential", path=str(path), threads=THREADS)
    order = list(tools)
    res = {t: {"seconds": [], "frames": None} for t in order}
    meter = CpuMeter(workers)
    interference = []
    for rep in range(reps):
        k = rep % len(order)
        for tool in order[k:] + order[:k]:
            r = tools[tool]()
            res[tool]["seconds"].append(r.get("seconds", r.get("wall")))
            res[tool]["frames"] = r["frames"]
            res[tool]["timing"] = "process wall" if tool.startswith("ffmpeg") else "in-process"
        interference.append(meter.lap())
        log(f"[{name} sequential] round {rep + 1}/{reps} (other processes {interference[-1]['other_cores']:.2f} cores): " + ", ".join(f"{t} {res[t]['seconds'][-1]:.2f}s" for t in order))
    for t in order:
        s = summarize(res[t]["seconds"])
        res[t]["summary"] = s
        res[t]["fps_median"] = res[t]["frames"] / s["median"]
        if res[t]["frames"] != n:
            res[t]["warning"] = f"decoded {res[t]['frames']} frames, ffprobe says {n}"
    res["_cpu_interference_per_round"] = interference
    return res


# ----------------------------------------------------------------------------------------------
# Report


def ratio_text(other, vidlm):
    r = other / vidlm
    return f"{r:.2f}× faster" if r >= 1 else f"{1 / r:.2f}× slower"


def markdown(results, command):
    env = results["environment"]
    L = []
    L.append("# Media benchmark: 8 uniformly spaced frames as RGB arrays\n")
    L.append(f"Generated {env['date_utc']} by `{command}` "
             "(scripts: `benchmarks/media/`; raw numbers: `benchmarks/media/results.json`).\n")
    L.append("Task: open the file, get 8 frames at vidlm's uniform indices ⌊(i+½)·N/8⌋ (same indices for every "
             "tool), end with 8 RGB24 arrays in memory. Every repetition opens the file afresh; tools run "
             "round-robin (the starting tool rotates each round). Times in seconds. vidlm, decord and PyAV "
             "each run in one persistent process (as a library in an application or server is used) and are "
             "timed in-process; vidlm is also timed in a fresh process per repetition (the first request of "
             "a process, as a `vidlm frames` call makes it), in-process and as process wall time including "
             "start-up. The ffmpeg CLI is timed as process wall time. Ratios are given both as a ratio of medians and as the median of "
             "per-round ratios (tools paired within a round). During every round run.py measures the CPU time used "
             "by *other* processes on the machine (it may be shared) and reports it per clip.\n")
    for clip, c in results["clips"].items():
        s = c["stream"]
        L.append(f"## {clip}: {s['width']}×{s['height']} {s['codec_name']} {s['pix_fmt']}, "
                 f"{s['avg_frame_rate']} fps, {s['nb_frames']} frames, {s['keyframes']} key frames, "
                 f"{s['bit_rate'] / 1e6:.1f} Mbit/s\n")
        L.append(f"Indices: {c['indices']}\n")
        ck = c.get("checks", {})
        L.append(f"Checks: vidlm-bench's indices equal ⌊(i+½)·N/8⌋ computed here: {'yes' if ck.get('agree') else 'NO'}; "
                 f"decord's len(VideoReader) = {ck.get('decord_frame_count', 'n/a')} (ffprobe nb_frames {s['nb_frames']}); "
                 f"PyAV frame→pts by {ck.get('pyav_pts_method')}, reached pts equal targets: "
                 f"{'yes' if ck.get('pyav_pts_exact') else 'NO'}.\n")
        samp = c["sampling"]
        vx = samp["vidlm exact"]["summary"]["median"]
        L.append("| tool | median s | min s | reps | vidlm exact vs it |")
        L.append("|---|---:|---:|---:|---|")
        for t, d in samp.items():
            m = d["summary"]
            rel = "—" if t == "vidlm exact" else ratio_text(m["median"], vx)
            L.append(f"| {t} | {m['median']:.3f} | {m['min']:.3f} | {m['n']} | vidlm exact is {rel} |" if t != "vidlm exact"
                     else f"| {t} | {m['median']:.3f} | {m['min']:.3f} | {m['n']} | — |")
            if "process_wall_summary" in d:
                pw = d["process_wall_summary"]
                L.append(f"| ↳ {t}, process wall | {pw['median']:.3f} | {pw['min']:.3f} | {pw['n']} | |")
        L.append("")
        lines = []
        for anchor in ("decord get_batch", "pyav seek (2 threads)", "pyav seek (1 thread)", "ffmpeg select (full decode)"):
            if anchor in samp:
                a = samp[anchor]["summary"]["median"]
                for t in ("vidlm exact", "vidlm exact, fresh process", "vidlm keyframe"):
                    if t not in samp:
                        continue
                    m = samp[t]["summary"]["median"]
                    pr = c["paired_ratios"][f"{anchor} / {t}"]["median"]
                    lines.append(f"- {t} vs {anchor}: {ratio_text(a, m)} (ratio of medians); "
                                 f"{ratio_text(pr, 1.0)} (median of per-round ratios)")
        interf = c.get("cpu_interference_per_round", [])
        if interf:
            oc = [x["other_cores"] for x in interf]
            st = [x["steal_cores"] for x in interf]
            lines.append(f"- Other processes on the machine during the timed rounds: mean {statistics.fmean(oc):.2f} "
                         f"cores, max {max(oc):.2f} (of {os.cpu_count()}); hypervisor steal mean {statistics.fmean(st):.2f} cores.")
        L.extend(lines)
        L.append("")
        if "sequential" in c:
            L.append(f"### Sequential full decode to RGB24 ({clip})\n")
            L.append("| tool | median s | min s | reps | frames | fps (median) |")
            L.append("|---|---:|---:|---:|---:|---:|")
            for t, d in c["sequential"].items():
                if t.startswith("_"):
                    continue
                m = d["summary"]
                L.append(f"| {t} | {m['median']:.2f} | {m['min']:.2f} | {m['n']} | {d['frames']} | {d['fps_median']:.0f} |")
            L.append("")
        if "exactness" in c:
            L.append(f"### Exactness vs ffmpeg's decode of the same indices ({clip})\n")
            L.append("Pixel differences are RGB24 absolute differences over all 8 frames against ffmpeg's frames of "
                     "the same index (a different colour conversion would make them nonzero even for the right "
                     "frame). *Identity* = for every frame, the "
                     "best match (lowest mean abs diff) among ffmpeg's frames index−2..index+2 is the frame's own "
                     "index; *neighbour gap* = the smallest mean abs diff to a wrong neighbour, for scale.\n")
            L.append("| tool | max abs | mean abs | identity | returned = requested | neighbour gap |")
            L.append("|---|---:|---:|---|---|---:|")
            for t, d in c["exactness"].items():
                if "error" in d:
                    L.append(f"| {t} | — | — | error: {d['error']} | | |")
                    continue
                L.append(f"| {t} | {d['max_abs']} | {d['mean_abs']:.3f} | {'yes' if d['identity_ok'] else 'NO'} | "
                         f"{'yes' if d['returned_equals_requested'] else 'no'} | {d['min_neighbour_mean_abs']} |")
            kf = c["exactness"].get("vidlm keyframe")
            if kf and "frames" in kf:
                L.append("\nvidlm keyframe mode returned indices "
                         f"{[r['returned'] for r in kf['frames']]} for requested {c['indices']}.")
            L.append("")
    L.append("## Environment\n")
    for k, v in env.items():
        if isinstance(v, dict):
            L.append(f"- {k}:")
            L.extend(f"  - {kk}: {vv}" for kk, vv in v.items())
        else:
            L.append(f"- {k}: {v}")
    L.append("")
    if results.get("notes"):
        L.append("## Notes\n")
        L.extend(f"- {n}" for n in results["notes"])
        L.append("")
    return "\n".join(L) + "\n"


NOTES = [
    "PyAV seek: frame index → pts from the stream's time base and average rate (the clips are constant "
    "frame rate: average rate == guessed rate and frame count == duration × rate; pts = start + i/rate/time_base, "
    "exact rationals); a packet scan is the fallback for variable-rate streams. Each of the 8 targets: "
    "container.seek(pts, stream, backward=True, any_frame=False) (flushes the decoder, lands on the key frame at or "
    "before the target), decode forward until frame.pts >= target, frame.to_ndarray(format='rgb24'). "
    "The reached pts are checked to equal the targets.",
    "decord: VideoReader(path, ctx=cpu(0), num_threads=2).get_batch(indices).asnumpy(), as its README recommends.",
    "ffmpeg select: `ffmpeg -threads 2 -i clip -an -vf select=eq(n\\,i1)+… -vsync 0 -f rawvideo -pix_fmt rgb24 -` "
    "decodes the whole file (select cannot seek); fewer repetitions on the long clip.",
    "Each library uses its own FFmpeg: vidlm the system's (Debian 12: FFmpeg 5.1), PyAV its bundled one, decord "
    "its bundled FFmpeg 4.1; ffmpeg CLI is the system 5.1. All RGB conversions are swscale's unscaled "
    "yuv420p→rgb24 path with default flags (BT.601 matrix for untagged video), so pixel differences of 0 are "
    "possible; a nonzero difference means a different conversion (or a different frame).",
    "vidlm keyframe mode is approximate by design (nearest key frame), listed for speed only.",
    "Machine: a 2-vCPU VM that other work may share. run.py waits (up to --wait-idle s) for the load average "
    "to drop below 1 before starting, and reports the CPU used by other processes during the timed rounds; "
    "treat a run where that is well above 0 as noisy.",
]


HAND_WRITTEN = "## History and issue 22's decode goal (hand-written"


def write_doc(doc: Path, generated: str) -> None:
    """The generated report, followed by the doc's hand-written history section (kept verbatim)."""
    kept = ""
    if doc.exists():
        old = doc.read_text()
        at = old.find(HAND_WRITTEN)
        if at >= 0:
            kept = "\n" + old[at:]
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(generated.rstrip("\n") + "\n" + kept)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", choices=["decord", "pyav"], help=argparse.SUPPRESS)
    ap.add_argument("--bench", default=str(ROOT / ".build" / "release" / "vidlm-bench"))
    ap.add_argument("--clips", nargs="*", default=["clip-1min.mp4", "clip-10min.mp4"])
    ap.add_argument("--reps", type=int, default=7, help="repetitions per tool per clip")
    ap.add_argument("--ffmpeg-reps-long", type=int, default=3,
                    help="repetitions of the ffmpeg full-decode select on clips over 5 minutes")
    ap.add_argument("--seq-reps", type=int, default=3, help="repetitions of the sequential decode (1-minute clip)")
    ap.add_argument("--sequential-clip", default="clip-1min.mp4")
    ap.add_argument("--no-exactness", action="store_true")
    ap.add_argument("--json", default=str(HERE / "results.json"))
    ap.add_argument("--doc", default=str(ROOT / "docs" / "benchmarks" / "media.md"))
    ap.add_argument("--command", default="benchmarks/media/run.sh", help="command line recorded in the report")
    ap.add_argument("--wait-idle", type=float, default=120,
                    help="wait up to this many seconds for the 1-minute load average to fall below 1 before starting")
    ap.add_argument("--report-only", action="store_true", help="rewrite --doc from an existing --json, run nothing")
    ap.add_argument("--results-note", action="append", default=[], help="extra note for the report")
    args = ap.parse_args()
    if args.worker:
        worker_main(args.worker)
        return

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    if args.report_only:
        results = json.loads(Path(args.json).read_text())
        write_doc(Path(args.doc), markdown(results, results.get("command", args.command)))
        log(f"rewrote {args.doc} from {args.json}")
        return
    bench = Path(args.bench)
    if not bench.exists():
        raise SystemExit(f"{bench} missing: swift build -c release --product vidlm-bench")
    waited = 0.0
    while os.getloadavg()[0] >= 1.0 and waited < args.wait_idle:
        if waited == 0:
            log(f"load average {os.getloadavg()[0]:.2f}: waiting up to {args.wait_idle:.0f} s for the machine to go quiet")
        time.sleep(10)
        waited += 10
    started = perf()
    workers = {k: Worker(k, sys.executable) for k in ("decord", "pyav")}
    workers["vidlm"] = VidlmServer(bench)
    if not workers["pyav"].ok:
        raise SystemExit(f"PyAV unavailable: {workers['pyav'].error}")
    if not workers["decord"].ok:
        log(f"decord unavailable, skipped: {workers['decord'].error}")
    results = {"command": args.command, "environment": environment(bench, workers), "clips": {}, "notes": list(NOTES) + args.results_note,
               "settings": {"reps": args.reps, "ffmpeg_reps_long": args.ffmpeg_reps_long,
                            "seq_reps": args.seq_reps, "threads": THREADS}}
    if not workers["decord"].ok:
        results["notes"].append(f"decord could not be used: {workers['decord'].error}")
    try:
        with tempfile.TemporaryDirectory(prefix="vidlm-media-", dir=WORK) as tmp:
            for clip in args.clips:
                path = WORK / clip
                if not path.exists():
                    raise SystemExit(f"{path} missing: run benchmarks/media/make_clips.sh")
                dur = float(ffprobe_stream(path).get("duration", 0))
                ffreps = args.ffmpeg_reps_long if dur > 300 else args.reps
                c = bench_clip(clip, path, bench, workers, args.reps, ffreps, log)
                if clip == args.sequential_clip and args.seq_reps > 0:
                    c["sequential"] = bench_sequential(clip, path, bench, workers, args.seq_reps, log)
                if not args.no_exactness:
                    log(f"[{clip}] exactness ...")
                    c["exactness"] = exactness(clip, path, c["stream"], bench, workers, c["indices"], tmp)
                results["clips"][clip] = c
    finally:
        for w in workers.values():
            w.close()
    results["elapsed_seconds"] = perf() - started
    results["environment"]["loadavg_at_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    write_doc(Path(args.doc), markdown(results, args.command))
    log(f"wrote {args.json} and {args.doc} ({results['elapsed_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
