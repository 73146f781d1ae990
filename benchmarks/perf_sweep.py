"""Speed of the vectorized performance model: configurations evaluated per second in one call.

Grid (built-in catalog): every model x every accelerator x 9 parallel layouts (TP 1/2/4/8; expert
parallelism over 8, 16 and 32 GPUs with attention data-parallel; two disaggregated prefill/decode units:
TP8 prefill + TP8 decode, and EP8 prefill + EP16 decode with two-batch overlap) x 16 concurrencies x 4 ISL
x 4 OSL x prefix-cache hit rate {0, 0.5} x MTP draft tokens {0, 2} -- about 2.1 million configurations,
one row each (every input a full column, as sweep() over many models and accelerators builds them),
evaluated in ONE call of ``inferonomics.perf.evaluate``.  Dense models under EP are invalid rows and still
cost their share.  Target: >= 1,500,000 configurations/s on one core.

Absolute times on shared machines vary 2-4x, so the same run also times llm-analysis 0.2.2 (one
configuration per call; ``pip install inferonomics[bench]``) as a yardstick.

    python benchmarks/perf_sweep.py
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sys
import time

import numpy as np

from inferonomics.catalog import get_catalog
from inferonomics.perf import arch as _arch
from inferonomics.perf import hardware as _hw
from inferonomics.perf.api import _serving_arrays
from inferonomics.perf.kernel import evaluate

sys.path.insert(0, os.path.dirname(__file__))
from _reference import llm_analysis_rate, machine

# (tp, ep, gpus, disagg, prefill_gpus, decode_gpus, prefill_tp, prefill_ep, tbo)
LAYOUTS = np.array([
    (1, 1, 1, 0, 0, 0, 1, 1, 0),
    (2, 1, 2, 0, 0, 0, 1, 1, 0),
    (4, 1, 4, 0, 0, 0, 1, 1, 0),
    (8, 1, 8, 0, 0, 0, 1, 1, 0),
    (1, 8, 8, 0, 0, 0, 1, 1, 0),
    (1, 16, 16, 0, 0, 0, 1, 1, 0),
    (1, 32, 32, 0, 0, 0, 1, 1, 0),
    (8, 1, 16, 1, 8, 8, 8, 1, 0),
    (1, 16, 24, 1, 8, 16, 1, 8, 1),
], float)
LAYOUT_NAMES = ("tp", "ep", "gpus", "disagg", "prefill_gpus", "decode_gpus", "prefill_tp", "prefill_ep", "tbo")


def build(cat, weights: str = "fp8"):
    models = sorted(cat.models)
    accs = sorted(cat.accelerators)
    A = {c: np.array([_arch.arch_columns(cat.model(m))[c] for m in models]) for c in _arch.ARCH_COLUMNS}
    hw_rows = [_hw.hw_columns(cat, cat.accelerator(g), weights) for g in accs]
    H = {c: np.array([r[c] for r in hw_rows]) for c in _hw.HW_COLUMNS}
    dispatch = np.array([r["dispatch_bytes"] for r in hw_rows])
    concs = np.geomspace(1, 4096, 16)
    isls = np.array([256, 1024, 4096, 16384], float)
    osls = np.array([128, 512, 1024, 4096], float)
    hits = np.array([0.0, 0.5])
    mtps = np.array([0.0, 2.0])
    shape = (len(models), len(accs), len(LAYOUTS), len(concs), len(isls), len(osls), len(hits), len(mtps))
    idx = np.indices(shape, sparse=False).reshape(len(shape), -1)
    a = {c: v[idx[0]] for c, v in A.items()}
    hw = {c: v[idx[1]] for c, v in H.items()}
    lay = {k: LAYOUTS[idx[2], j] for j, k in enumerate(LAYOUT_NAMES)}
    s = _serving_arrays(
        cat, _hw.weight_bytes(cat, weights), _hw.kv_bytes("fp8"),
        pp=1.0, isl=isls[idx[4]], osl=osls[idx[5]], concurrency=concs[idx[3]],
        prefix_hit=hits[idx[6]], mtp_k=mtps[idx[7]], mtp_accept=cat.const("mtp_accept_rate"),
        dispatch_bytes=dispatch[idx[1]], **lay,
    )
    return a, hw, s, int(np.prod(shape)), shape


def main() -> None:
    cat = get_catalog()
    print(machine())
    t0 = time.perf_counter()
    a, hw, s, n, shape = build(cat)
    t_build = time.perf_counter() - t0
    evaluate(a, hw, s)  # warm-up
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        r = evaluate(a, hw, s)
        best = min(best, time.perf_counter() - t0)
    fits = np.asarray(r["fits"])
    dis = s["disagg"] > 0
    print(f"grid: {shape[0]} models x {shape[1]} accelerators x {shape[2]} layouts (TP, EP, P/D) x {shape[3]} "
          f"concurrency x {shape[4]} ISL x {shape[5]} OSL x {shape[6]} prefix hit x {shape[7]} MTP "
          f"= {n:,} configurations")
    print(f"gather/build arrays: {t_build:.2f} s (once)")
    print(f"one vectorized evaluate() call: {best:.3f} s (best of 5) -> {n / best:,.0f} configurations/s "
          "(target >= 1,500,000)")
    print(f"configurations that fit in memory: {int(fits.sum()):,} ({fits.mean():.0%}); disaggregated rows that "
          f"fit: {int(fits[dis].sum()):,}; expert-parallel rows that fit: {int(fits[s['ep'] > 1].sum()):,}")
    ref = llm_analysis_rate()
    if ref:
        print(f"llm-analysis 0.2.2, same run: {ref:,.0f} configurations/s (one inference() call each) -> "
              f"this kernel is {n / best / ref:,.0f}x faster")


if __name__ == "__main__":
    main()
