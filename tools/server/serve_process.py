"""Starts `vidlm-server` on a free loopback port for the tools/server checks and stops it."""
import collections
import re
import subprocess
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class Server:
    def __init__(self, binary=None, model="models/vidlm-shapes", extra=()):
        binary = binary or str(REPO / ".build/debug/vidlm-server")
        self.process = subprocess.Popen(
            [binary, "--model", str(REPO / model), "--port", "0", "--media-root", str(REPO / "samples"), *extra],
            cwd=REPO, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        self.url = None
        while time.time() < deadline:
            line = self.process.stderr.readline()
            if not line:
                break
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                self.url = match.group(1)
                break
        if self.url is None:
            self.stop()
            raise SystemExit("vidlm-server did not start")
        # Keep reading stderr (its last lines kept for messages): a server that logs every request
        # would otherwise block on a full pipe in a long run (the load test).
        self.log_tail = collections.deque(maxlen=50)
        threading.Thread(target=lambda: self.log_tail.extend(self.process.stderr), daemon=True).start()

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
