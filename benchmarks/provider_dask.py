"""Provider Monte Carlo on a 2-worker dask.distributed LocalCluster: time, and the peak memory of the client and
of each worker, for a number of paths (default 10,000,000) x 5 years of ``alibaba-100b``, keeping a few metrics.

Each worker draws and projects its own chunks of paths (the random streams jump ahead), so worker memory
is bounded by the chunk size, not the path count (target: bounded memory per worker).  The client either
holds the kept metrics (paths x years x 8 bytes each) or, with ``--out FILE.zarr``, writes each chunk to the
store as it arrives and reads one metric at a time back for the summary.  The same seed gives the same paths
as ``simulate`` in process.

    .venv/bin/python benchmarks/provider_dask.py [--paths 10000000] [--years 5] [--chunk 50000] [--out run.zarr]
"""

from __future__ import annotations

import argparse
import resource
import time


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=10_000_000)
    ap.add_argument("--years", type=int, default=5)
    ap.add_argument("--chunk", type=int, default=50_000)
    ap.add_argument("--scenario", default="alibaba-100b")
    ap.add_argument("--out", default=None, help="stream the kept metrics to this .zarr store")
    args = ap.parse_args()
    from dask.distributed import Client, LocalCluster

    from inferonomics.cli.provider import _retain_freed_memory
    from inferonomics.market import load_scenario, simulate

    _retain_freed_memory()
    sc = load_scenario(args.scenario)
    keep = ["gross_margin", "capex_usd", "free_cash_flow_usd"]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        base = client.run(_peak_rss)
        t = time.perf_counter()
        res = simulate(sc, paths=args.paths, seed=1, years=args.years, scheduler=client, metrics=keep,
                       chunk_paths=args.chunk, store=args.out)
        dt = time.perf_counter() - t
        workers = client.run(_peak_rss)
        t = time.perf_counter()
        res.summary(keep)
        res.events()
        ds = time.perf_counter() - t
    rss = _peak_rss()
    print(f"{args.paths:,} paths x {args.years} years on 2 workers, chunks of {args.chunk:,}"
          f"{', streamed to ' + args.out if args.out else ''}: {dt:.1f} s ({args.paths / dt:,.0f} paths/s); summary "
          f"of {len(keep)} metrics + events {ds:.2f} s; peak RSS: client {rss / 2**30:.2f} GiB, workers "
          f"{', '.join(f'{v / 2**30:.2f}' for v in workers.values())} GiB (at start "
          f"{', '.join(f'{v / 2**30:.2f}' for v in base.values())} GiB)")


if __name__ == "__main__":
    main()
