"""Monte Carlo speed of the provider model: 100,000 paths x 10 years of ``alibaba-100b`` (target < 1 s).

Prints, for several runs in one process: sampling + projection time (the Monte Carlo itself) and paths per
second, then the time of the P10/P50/P90 summary of every metric.  The first run pays for loading the
scenario (perf-engine calls, once) and for the operating system handing the process fresh memory; later
runs show the steady state.  Like the CLI, the script asks glibc to keep freed memory for reuse (fresh
pages are slow to fault in on some virtual machines); ``--no-malloc-tuning`` leaves malloc alone.

    .venv/bin/python benchmarks/provider_mc.py [--paths 100000] [--years 10] [--runs 4] [--no-malloc-tuning]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=100_000)
    ap.add_argument("--years", type=int, default=10)
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--scenario", default="alibaba-100b")
    ap.add_argument("--no-malloc-tuning", action="store_true")
    args = ap.parse_args()
    if not args.no_malloc_tuning:
        from inferonomics.cli.provider import _retain_freed_memory

        _retain_freed_memory()
    from inferonomics.market import load_scenario, simulate

    t0 = time.perf_counter()
    sc = load_scenario(args.scenario)
    print(f"load {args.scenario} (validation + one perf-engine call per tier): {time.perf_counter() - t0:.2f} s; "
          f"{len(sc.uncertain_inputs())} uncertain inputs, {len(sc.spec.token_tiers)} token tiers; "
          f"{os.cpu_count()} CPUs")
    mc = []
    for i in range(args.runs):
        t = time.perf_counter()
        res = simulate(sc, paths=args.paths, seed=i, years=args.years)
        dt = time.perf_counter() - t
        t = time.perf_counter()
        res.summary()
        ds = time.perf_counter() - t
        mc.append(dt)
        print(f"run {i + 1}: Monte Carlo {args.paths:,} paths x {args.years} years: {dt:.3f} s "
              f"({args.paths / dt:,.0f} paths/s); summary of {len(res.metrics)} metrics: {ds:.2f} s")
        del res
    steady = mc[1:] or mc
    print(f"Monte Carlo: first run {mc[0]:.3f} s, median of later runs {statistics.median(steady):.3f} s "
          f"({args.paths / statistics.median(steady):,.0f} paths/s; target < 1 s)")


if __name__ == "__main__":
    main()
