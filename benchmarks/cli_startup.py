"""Start-up time of the command line, median of 10 runs in fresh processes:

* ``inferonomics --help`` (target < 0.3 s);
* one ``inferonomics perf ... --json`` prediction (target < 0.2 s): a single prediction runs on plain Python
  floats, so the process imports neither NumPy nor Rich; the catalog is read with the C YAML loader.

The machine's load average is printed next to the figures: on a shared machine the wall-clock times vary
2-4x.  The CPU time of the process (user + system) varies less under load and is printed beside them.

Each command runs once before it is timed, with ``PYTHONDONTWRITEBYTECODE`` left out of its environment, so
that the timed runs load compiled modules as an installed package does (compiling the package's own modules
in every run adds ~50-100 ms).
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

PERF = ["perf", "--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "4", "--weights", "fp8",
        "--isl", "2048", "--osl", "512", "--concurrency", "64", "--json"]


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _median_s(cmd: list[str], runs: int = 10) -> tuple[float, float, float]:
    """Median and max wall-clock seconds, and median CPU seconds, of ``cmd`` in fresh processes (after one
    untimed run that writes the compiled modules)."""
    subprocess.run(cmd, check=True, capture_output=True, env=ENV)
    times, cpu = [], []
    for _ in range(runs):
        c0, t0 = _cpu_s(), time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=ENV)
        times.append(time.perf_counter() - t0)
        cpu.append(_cpu_s() - c0)
    return statistics.median(times), max(times), statistics.median(cpu)


def main() -> None:
    local = os.path.join(os.path.dirname(sys.executable), "inferonomics")
    exe = local if os.path.exists(local) else shutil.which("inferonomics")
    base = [exe] if exe else [sys.executable, "-m", "inferonomics"]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load} (1, 5, 15 min)")
    py, _, py_cpu = _median_s([sys.executable, "-c", "pass"])
    print(f"python -c pass: median {py * 1000:.0f} ms, CPU {py_cpu * 1000:.0f} ms (the interpreter's own start)")
    for args, target in ((["--help"], 300), (PERF, 200)):
        med, mx, cpu = _median_s(base + args)
        print(f"inferonomics {' '.join(args)}: median {med * 1000:.0f} ms, max {mx * 1000:.0f} ms, "
              f"CPU {cpu * 1000:.0f} ms over 10 runs (target < {target} ms)")


if __name__ == "__main__":
    main()
