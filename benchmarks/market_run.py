"""Speed of the token market: ``market run china-2026 --paths 200`` (target < 20 s) and the market test files
(target: tests/test_competition.py < 60 s).

Prints, per built-in market (or the ones named): wall-clock and CPU seconds of ``run_market`` at the given
paths in a fresh process (perf, cost and buyer-engine calls included, as the CLI pays them), the share of
paths whose equilibrium converged in every year and the tolerance, and the rounds of best responses per
year; then, with ``--tests``, the wall-clock time of the market test files.  CPU seconds are the figure to
compare on a shared machine (wall-clock time includes waiting for the CPU).

    .venv/bin/python benchmarks/market_run.py [--paths 200] [--markets china-2026 ...] [--tests]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_ONE = """
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
from inferonomics.market.competition import run_market
r = run_market(sys.argv[1], paths=int(sys.argv[2]), seed=0)
c = r.convergence
print(json.dumps({"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                  "share_converged": r.share_converged, "tol": float(c["tol"].iloc[0]),
                  "rounds_max": c["iterations"].tolist(), "rounds_median": c["rounds_median"].tolist()}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=200)
    ap.add_argument("--markets", nargs="*", default=None)
    ap.add_argument("--tests", action="store_true", help="also time tests/test_competition.py and "
                    "tests/test_market_rules.py")
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if args.markets is None:
        sys.path.insert(0, str(ROOT / "src"))
        from inferonomics.market.competition import builtin_markets

        args.markets = builtin_markets()
    print(f"{os.cpu_count()} CPUs; {args.paths} paths, seed 0, one fresh process per market")
    for name in args.markets:
        out = subprocess.run([sys.executable, "-c", _ONE, name, str(args.paths)], env=env, capture_output=True,
                             text=True, check=True)
        d = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  {name:28s} {d['wall_s']:6.1f} s wall  {d['cpu_s']:6.1f} s CPU   converged on "
              f"{d['share_converged']:.1%} of paths (tolerance {d['tol']:g}); rounds per year, median "
              f"{d['rounds_median']} max {d['rounds_max']}")
    if args.tests:
        for f in ("tests/test_competition.py", "tests/test_market_rules.py"):
            t0 = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "pytest", f, "-q", "-p", "no:cacheprovider"], cwd=ROOT, env=env,
                               capture_output=True, text=True, check=False)
            last = (r.stdout.strip().splitlines() or ["?"])[-1]
            print(f"  {f:36s} {time.perf_counter() - t0:6.1f} s wall  ({last})")


if __name__ == "__main__":
    main()
