"""Start-up time of the command line, median of 10 runs in fresh processes:

* ``inferonomics --help`` (target < 0.3 s);
* one ``inferonomics perf ... --json`` prediction (target < 0.2 s): a single prediction runs on plain Python
  floats, so the process imports neither NumPy nor Rich; the catalog is read with the C YAML loader.

The machine's load average is printed next to the figures: on a shared machine they vary 2-4x.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time

PERF = ["perf", "--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "4", "--weights", "fp8",
        "--isl", "2048", "--osl", "512", "--concurrency", "64", "--json"]


def _median_s(cmd: list[str], runs: int = 10) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), max(times)


def main() -> None:
    local = os.path.join(os.path.dirname(sys.executable), "inferonomics")
    exe = local if os.path.exists(local) else shutil.which("inferonomics")
    base = [exe] if exe else [sys.executable, "-m", "inferonomics"]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load} (1, 5, 15 min)")
    py, _ = _median_s([sys.executable, "-c", "pass"])
    print(f"python -c pass: median {py * 1000:.0f} ms (the interpreter's own start)")
    for args, target in ((["--help"], 300), (PERF, 200)):
        med, mx = _median_s(base + args)
        print(f"inferonomics {' '.join(args)}: median {med * 1000:.0f} ms, max {mx * 1000:.0f} ms over 10 runs "
              f"(target < {target} ms)")


if __name__ == "__main__":
    main()
