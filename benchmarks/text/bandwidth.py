"""Cross-check of `vidlm-bench bandwidth`: numpy sums a 1 GiB float32 array split across
THREADS Python threads (numpy releases the GIL inside the reduction). Prints one JSON line.

    bandwidth.py [THREADS] [RUNS]
"""
import json
import sys
import threading
import time

import numpy as np


def main(threads: int, runs: int) -> None:
    data = (np.arange(256 * 1024 * 1024, dtype=np.float32) % 1024) * 1e-3
    chunks = np.array_split(data, threads)
    results = [0.0] * threads

    def work(i):
        results[i] = float(np.add.reduce(chunks[i]))

    seconds = []
    for r in range(runs + 1):
        pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        t = time.perf_counter()
        for p in pool:
            p.start()
        for p in pool:
            p.join()
        dt = time.perf_counter() - t
        if r:
            seconds.append(dt)
    print(json.dumps({"seconds": seconds, "bytes": data.nbytes, "gbps": [data.nbytes / s / 1e9 for s in seconds],
                      "threads": threads, "numpy": np.__version__}))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2, int(sys.argv[2]) if len(sys.argv) > 2 else 10)
