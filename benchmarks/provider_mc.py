"""Monte Carlo speed and memory of the provider model (``alibaba-100b``) against its targets.

1. In this process, several runs of 100,000 paths x 10 years: sampling + projection (the Monte Carlo itself)
   and the P10/P50/P90 + mean summary of every metric; target: both together under 1 s once warm.  The first
   run pays for loading the scenario (perf-engine calls and the base-year calibration, once) and for the
   operating system handing the process fresh memory; later runs show the steady state.  Like the CLI, the
   script asks glibc to keep freed memory for reuse (``--no-malloc-tuning`` leaves malloc alone).
2. Fresh processes running the CLI (``--fresh``, run first, three times each): ``provider run --paths 100000
   --years 10 --json`` (everything from the interpreter's start to the JSON of the full summary; target under
   2 s) and ``provider run --paths 1000000 --years 5`` (target under 10 s and a peak resident set under
   1.5 GB), each with its wall time and peak RSS, and the median.

    .venv/bin/python benchmarks/provider_mc.py [--paths 100000] [--years 10] [--runs 4] [--fresh] [--fresh-runs 3] [--no-malloc-tuning]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

GiB = 2**30


def _rss_self() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GiB  # Linux: KiB


def _fresh(argv: list[str]) -> tuple[float, float, int, float, float]:
    """Wall seconds, peak RSS (GiB), exit code, user and system CPU seconds of one CLI process (measured by a
    wrapper process, so that each figure is that command's own; CPU time is less sensitive to a busy machine)."""
    code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            "rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL); dt = time.perf_counter() - t; "
            "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
            "print(dt, u.ru_maxrss * 1024, rc, u.ru_utime, u.ru_stime)")
    cmd = [sys.executable, "-m", "inferonomics", *argv]
    out = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True, check=True,
                         env={**os.environ, "COLUMNS": "120"}).stdout.split()
    return float(out[0]), float(out[1]) / GiB, int(out[2]), float(out[3]), float(out[4])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=100_000)
    ap.add_argument("--years", type=int, default=10)
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--scenario", default="alibaba-100b")
    ap.add_argument("--fresh", action="store_true", help="also time the CLI in fresh processes (100k x 10, 1M x 5)")
    ap.add_argument("--no-malloc-tuning", action="store_true")
    ap.add_argument("--fresh-runs", type=int, default=3, help="fresh processes per command (the median is the figure)")
    args = ap.parse_args()
    if args.fresh:
        # first, while this process is small: a parent holding a gigabyte of freed memory slows the kernel
        # handing fresh pages to a child (2-3 s of system time measured right after the in-process runs)
        for argv, target in (
            (["provider", "run", args.scenario, "--paths", "100000", "--years", "10", "--json"], "< 2 s"),
            (["provider", "run", args.scenario, "--paths", "1000000", "--years", "5"], "< 10 s and < 1.5 GiB"),
        ):
            runs = [_fresh(argv) for _ in range(max(args.fresh_runs, 1))]
            for wall, rss, rc, user, system in runs:
                print(f"fresh process `inferonomics {' '.join(argv)}`: {wall:.2f} s (CPU: user {user:.2f} s, system "
                      f"{system:.2f} s), peak RSS {rss:.2f} GiB, exit {rc}; load average {os.getloadavg()[0]:.1f}")
            print(f"  median {statistics.median(r[0] for r in runs):.2f} s, peak RSS at most "
                  f"{max(r[1] for r in runs):.2f} GiB (target {target})")
    if not args.no_malloc_tuning:
        from inferonomics.cli.provider import _retain_freed_memory

        _retain_freed_memory()
    from inferonomics.market import load_scenario, simulate
    from inferonomics.market.calibrate import calibration_of

    t0 = time.perf_counter()
    sc = load_scenario(args.scenario)
    t1 = time.perf_counter()
    calibration_of(sc)
    t2 = time.perf_counter()
    print(f"load {args.scenario} (validation + one perf-engine call per tier): {t1 - t0:.2f} s; base-year "
          f"calibration: {t2 - t1:.2f} s; {len(sc.uncertain_inputs())} uncertain inputs, "
          f"{len(sc.spec.token_tiers)} token tiers; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    mc, tot = [], []
    for i in range(args.runs):
        t = time.perf_counter()
        res = simulate(sc, paths=args.paths, seed=i, years=args.years)
        dt = time.perf_counter() - t
        t = time.perf_counter()
        res.summary()
        ds = time.perf_counter() - t
        mc.append(dt)
        tot.append(dt + ds)
        print(f"run {i + 1}: Monte Carlo {args.paths:,} paths x {args.years} years: {dt:.3f} s "
              f"({args.paths / dt:,.0f} paths/s); summary of {len(res.metrics)} metrics: {ds:.3f} s; "
              f"together {dt + ds:.3f} s")
        del res
    steady = tot[1:] or tot
    print(f"Monte Carlo + summary: first run {tot[0]:.3f} s, median of later runs {statistics.median(steady):.3f} s "
          f"(target < 1 s warm); Monte Carlo alone median {statistics.median(mc[1:] or mc):.3f} s; "
          f"peak RSS of this process {_rss_self():.2f} GiB")


if __name__ == "__main__":
    main()
