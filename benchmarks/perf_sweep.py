"""Speed of the vectorized performance model: configurations evaluated per second in one call.

Grid: every catalog model x every accelerator x tp {1,2,4,8} x 32 concurrencies x 7 ISL x 6 OSL
(about 1.2 million configurations with the built-in catalog), evaluated in ONE call of ``inferonomics.perf.evaluate``.
Run on one core: ``python benchmarks/perf_sweep.py``.  Target: >= 1,000,000 configurations/s.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import time  # noqa: E402

import numpy as np  # noqa: E402

from inferonomics.catalog import get_catalog  # noqa: E402
from inferonomics.perf import arch as _arch  # noqa: E402
from inferonomics.perf import hardware as _hw  # noqa: E402
from inferonomics.perf.api import _serving_arrays  # noqa: E402
from inferonomics.perf.kernel import evaluate  # noqa: E402


def build(cat, weights: str = "fp8"):
    models = sorted(cat.models)
    accs = sorted(cat.accelerators)
    A = {c: np.array([_arch.arch_columns(cat.model(m))[c] for m in models]) for c in _arch.ARCH_COLUMNS}
    H = {c: np.array([_hw.hw_columns(cat, cat.accelerator(g), weights)[c] for g in accs]) for c in _hw.HW_COLUMNS}
    tps = np.array([1, 2, 4, 8], float)
    concs = np.geomspace(1, 2048, 32)
    isls = np.array([128, 256, 512, 1024, 2048, 4096, 8192], float)
    osls = np.array([64, 128, 256, 512, 1024, 2048], float)
    shape = (len(models), len(accs), len(tps), len(concs), len(isls), len(osls))
    idx = np.indices(shape, sparse=False).reshape(len(shape), -1)
    a = {c: v[idx[0]] for c, v in A.items()}
    hw = {c: v[idx[1]] for c, v in H.items()}
    tp = tps[idx[2]]
    s = _serving_arrays(
        cat, _hw.weight_bytes(cat, weights), _hw.kv_bytes("fp8"),
        gpus=tp, tp=tp, pp=1.0, ep=1.0, isl=isls[idx[4]], osl=osls[idx[5]], concurrency=concs[idx[3]],
    )
    return a, hw, s, int(np.prod(shape)), len(models), len(accs)


def main() -> None:
    cat = get_catalog()
    t0 = time.perf_counter()
    a, hw, s, n, nm, na = build(cat)
    t_build = time.perf_counter() - t0
    evaluate(a, hw, s)  # warm-up
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        r = evaluate(a, hw, s)
        best = min(best, time.perf_counter() - t0)
    fits = int(np.count_nonzero(r["fits"]))
    print(f"grid: {nm} models x {na} accelerators x 4 tp x 32 concurrency x 7 ISL x 6 OSL = {n:,} configurations")
    print(f"gather/build arrays: {t_build:.2f} s (once)")
    print(f"one vectorized evaluate() call: {best:.3f} s (best of 3) -> {n / best:,.0f} configurations/s")
    print(f"configurations that fit in memory: {fits:,} ({fits / n:.0%})")


if __name__ == "__main__":
    main()
