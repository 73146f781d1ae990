"""Measurement: load-test OpenAI-compatible endpoints, store every request, cost and calibrate from runs.

    from inferonomics.bench import BenchConfig, run, Store, measured_cost, calibrate_runs

    r = run(BenchConfig(url="http://127.0.0.1:8080", concurrency=8, num_requests=64, isl=512, osl=128))
    r.summary["output_tokens_per_s"], r.summary["ttft_s_p50"], r.summary["tpot_s_mean"]
    measured_cost(r, usd_per_gpu_hour=2.5, gpus=1)["usd_per_mtok_output"]

A measured day beside the simulated one: :func:`fit_replica` (a replica of the server for the fleet
simulator) and :mod:`inferonomics.bench.replay` (``bench run --trace``).

Metric definitions: docs/bench-metrics.md and :mod:`inferonomics.bench.records`.
"""

from __future__ import annotations

import asyncio

from inferonomics.bench.calibration import calibrate_runs, catalog_dir, fit_replica, load_replica
from inferonomics.bench.economics import measured_cost
from inferonomics.bench.metrics import summarize
from inferonomics.bench.records import RequestRecord
from inferonomics.bench.runner import BenchConfig, Session, run_async, sweep_async, sweep_levels
from inferonomics.bench.store import Run, Store, data_dir


def run(cfg: BenchConfig, store: Store | None = None, **kw) -> Run:
    """Measure one run (blocking wrapper of :func:`run_async`)."""
    return asyncio.run(run_async(cfg, store, **kw))


def sweep(cfg: BenchConfig, store: Store | None = None, **kw) -> tuple[str, list[Run]]:
    """Concurrency sweep (blocking wrapper of :func:`sweep_async`)."""
    return asyncio.run(sweep_async(cfg, store, **kw))


__all__ = [
    "BenchConfig",
    "RequestRecord",
    "Run",
    "Session",
    "Store",
    "calibrate_runs",
    "catalog_dir",
    "data_dir",
    "fit_replica",
    "load_replica",
    "measured_cost",
    "run",
    "run_async",
    "summarize",
    "sweep",
    "sweep_async",
    "sweep_levels",
]
