"""Bounded load test of vidlm-server on loopback (stdlib only): C concurrent clients stream chat
completions about the same clip for D seconds each (one client alone first, as the anchor), honour
429 + Retry-After, and report requests/s, p50/p99 time to first token, aggregate tokens/s, 429s
and the server's peak RSS. Every loop is bounded in count and time; it targets 127.0.0.1 only.

    benchmarks/serve/run.sh            # builds release binaries, runs, prints the table
"""
import argparse
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools/server"))
from serve_process import REPO, Server  # noqa: E402

BODY = json.dumps({"stream": True, "messages": [{"role": "user", "content": [
    {"type": "video_url", "video_url": {"url": "world/sequence.mp4"}},
    {"type": "text", "text": "what happens"}]}]}).encode()
MAX_REQUESTS_PER_CLIENT = 10_000


def one_request(port):
    """(status, ttft seconds or None, tokens, retry_after)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    start = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body=BODY, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    if response.status != 200:
        retry = float(response.getheader("Retry-After") or 1)
        response.read()
        conn.close()
        return response.status, None, 0, retry
    ttft, tokens, buffer = None, 0, b""
    while True:
        line = response.readline()
        if not line:
            break
        if not line.startswith(b"data: "):
            continue
        data = line[6:].strip()
        if data == b"[DONE]":
            break
        chunk = json.loads(data)
        for choice in chunk.get("choices", []):
            if choice.get("delta", {}).get("content"):
                if ttft is None:
                    ttft = time.perf_counter() - start
                tokens += 1
    conn.close()
    return 200, ttft, tokens, 0


def run_clients(port, clients, seconds):
    results, lock = [], threading.Lock()
    end = time.perf_counter() + seconds

    def client():
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.perf_counter() >= end:
                return
            status, ttft, tokens, retry = one_request(port)
            with lock:
                results.append((status, ttft, tokens))
            if status == 429:
                time.sleep(min(retry, max(0.0, end - time.perf_counter())))

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ok = [r for r in results if r[0] == 200]
    ttfts = sorted(r[1] for r in ok if r[1] is not None)
    pct = lambda p: ttfts[min(len(ttfts) - 1, int(p * len(ttfts)))] if ttfts else float("nan")  # noqa: E731
    return {
        "clients": clients, "seconds": round(wall, 1), "completed": len(ok),
        "requests_per_s": round(len(ok) / wall, 3),
        "ttft_p50_s": round(pct(0.50), 3), "ttft_p99_s": round(pct(0.99), 3),
        "tokens_per_s": round(sum(r[2] for r in ok) / wall, 1),
        "status_429": sum(1 for r in results if r[0] == 429),
        "other_errors": sum(1 for r in results if r[0] not in (200, 429)),
    }


def peak_rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(REPO / ".build/release/vidlm-server"))
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--anchor-seconds", type=float, default=30)
    parser.add_argument("--extra", nargs="*", default=[])
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, server args {args.extra}")
    rows = []
    for clients, seconds in ((1, args.anchor_seconds), (args.clients, args.seconds)):
        # A fresh server per row, so peak RSS is the row's own.
        with Server(binary=args.binary, extra=["--quiet", *args.extra]) as server:
            port = int(server.url.rsplit(":", 1)[1])
            one_request(port)  # warm-up (page cache, first allocation)
            row = run_clients(port, clients, seconds)
            row["peak_rss_mib"] = peak_rss_mib(server.process.pid)
            rows.append(row)
            print(json.dumps(row))
    keys = list(rows[0].keys())
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
