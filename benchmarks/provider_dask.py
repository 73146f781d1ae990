"""Provider Monte Carlo on a 2-worker dask.distributed LocalCluster: time, and the memory of the client and
of each worker, for a number of paths (default 1,000,000) x 5 years of ``alibaba-100b``, keeping a few metrics.

Each worker draws and projects its own chunks of paths (the random streams jump ahead), so worker memory
is bounded by the chunk size, not the path count; the client holds the kept metrics (paths x years x 8
bytes each).  The same seed gives the same paths as ``simulate`` in process.

    .venv/bin/python benchmarks/provider_dask.py [--paths 1000000] [--years 5] [--chunk 50000]
"""

from __future__ import annotations

import argparse
import resource
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=1_000_000)
    ap.add_argument("--years", type=int, default=5)
    ap.add_argument("--chunk", type=int, default=50_000)
    ap.add_argument("--scenario", default="alibaba-100b")
    args = ap.parse_args()
    from dask.distributed import Client, LocalCluster

    from inferonomics.market import load_scenario, simulate

    sc = load_scenario(args.scenario)
    keep = ["gross_margin", "capex_usd", "free_cash_flow_usd"]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        t = time.perf_counter()
        res = simulate(sc, paths=args.paths, seed=1, years=args.years, scheduler=client, metrics=keep,
                       chunk_paths=args.chunk)
        dt = time.perf_counter() - t
        workers = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)  # peak, Linux
        t = time.perf_counter()
        res.summary(keep)
        ds = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"{args.paths:,} paths x {args.years} years on 2 workers, chunks of {args.chunk:,}: {dt:.1f} s "
          f"({args.paths / dt:,.0f} paths/s); summary of {len(keep)} metrics {ds:.2f} s; peak RSS: client "
          f"{rss / 2**30:.2f} GiB, workers {', '.join(f'{v / 2**30:.2f}' for v in workers.values())} GiB")


if __name__ == "__main__":
    main()
