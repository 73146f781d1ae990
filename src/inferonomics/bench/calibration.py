"""Calibrate the performance model on measured runs: fit the accelerator family's efficiency factors.

Each run gives three measured points at its operating point (concurrency, mean input and output
tokens): ``output_tokens_per_s`` (whole deployment), ``tpot_s`` (mean) and ``ttft_s`` (mean).  The
concurrency is the run's fixed concurrency, or for Poisson runs the measured mean number of requests in
flight (Little's law).  The fit is :func:`inferonomics.perf.calibrate.fit` (least squares on log error,
weak priors at the factors the catalog uses now), and the result is a user catalog file
``calibration-<family>.yaml`` with an ``efficiency:`` record for the family; through the catalog's
override mechanism (``--catalog-dir`` / ``$INFERONOMICS_CATALOG_DIR``) it replaces the built-in record
of that family for ``perf``, ``cost`` and everything built on them.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np

from inferonomics.bench.store import Run, data_dir
from inferonomics.errors import InputError

DEFAULT_METRICS = ("output_tokens_per_s", "tpot_s", "ttft_s")
_SUMMARY_KEY = {"output_tokens_per_s": "output_tokens_per_s", "tpot_s": "tpot_s_mean", "ttft_s": "ttft_s_mean",
                "e2e_latency_s": "e2e_latency_s_mean"}


def catalog_dir() -> Path:
    """Where calibration files go: ``$INFERONOMICS_CATALOG_DIR``, else ``<data dir>/catalog``."""
    env = os.environ.get("INFERONOMICS_CATALOG_DIR")
    return Path(env).expanduser() if env else data_dir() / "catalog"


def run_points(runs: list[Run], deployment: dict, metrics=DEFAULT_METRICS) -> tuple[list, list[str]]:
    """Calibration points (``perf.calibrate.Point``) from runs; plus notes on runs or metrics left out."""
    from inferonomics.perf.api import Deployment
    from inferonomics.perf.calibrate import Point

    bad = [m for m in metrics if m not in _SUMMARY_KEY]
    if bad:
        raise InputError("metrics", ",".join(metrics), f"allowed metrics are {', '.join(_SUMMARY_KEY)}")
    points, notes = [], []
    for run in runs:
        sm = run.summarize()
        if not sm["n_ok"]:
            notes.append(f"run {run.id}: no successful requests, left out")
            continue
        cfg = run.config
        closed = cfg.get("mode") == "concurrency"
        conc = cfg.get("concurrency") if closed else sm["mean_concurrency"]
        isl = sm["input_tokens_mean"] or cfg.get("isl")
        osl = sm["output_tokens_mean"] or cfg.get("osl")
        if not conc or not isl or not osl:
            notes.append(f"run {run.id}: concurrency, input or output length unknown, left out")
            continue
        d = Deployment(**{**deployment, "isl": max(round(float(isl)), 1), "osl": max(round(float(osl)), 1),
                          "concurrency": float(max(conc, 1.0))})
        for m in metrics:
            if m == "output_tokens_per_s" and not closed and conc < 1.0:
                # the model's throughput at one request in flight is a capacity; an open-loop run with less
                # than one request in flight on average measured its arrival rate instead
                notes.append(f"run {run.id}: output_tokens_per_s left out (Poisson run with {conc:.2f} requests "
                             "in flight on average; its throughput is the arrival rate, not a capacity)")
                continue
            v = sm.get(_SUMMARY_KEY[m])
            if v is None or not np.isfinite(v) or v <= 0:
                notes.append(f"run {run.id}: no measured {m}, left out")
                continue
            points.append(Point(d, m, float(v), id=run.id, kind="bench"))
    return points, notes


def _factors_of(rec) -> dict[str, float]:
    from inferonomics.perf.calibrate import FAMILY_FACTORS, SHARED_FACTORS

    return {n: float(getattr(rec, n).value) for n in FAMILY_FACTORS + SHARED_FACTORS}


def calibrate_runs(
    runs: list[Run],
    *,
    model: str,
    gpu: str,
    gpus: int = 1,
    tp: int | None = None,
    pp: int = 1,
    ep: int = 1,
    weights: str = "bf16",
    kv: str | None = None,
    scheduler: str = "continuous",
    metrics=DEFAULT_METRICS,
    prior_sigma: float = 0.5,
    out_dir: str | os.PathLike | None = None,
    write: bool = True,
    catalog=None,
) -> dict:
    """Fit the family's efficiency factors to the runs; write the user calibration file (unless
    ``write=False``).  Returns the factors before/after, each point's error before/after and the file."""
    from inferonomics.catalog import get_catalog
    from inferonomics.perf.calibrate import (
        FAMILY_FACTORS,
        SHARED_FACTORS,
        errors,
        fit,
        predict_prepared,
        prepare,
    )

    if not runs:
        raise InputError("runs", [], "give at least one run id")
    cat = catalog or get_catalog()
    acc = cat.accelerator(gpu)
    cat.model(model)
    family = acc.family
    dep = {"model": model, "gpu": gpu, "gpus": gpus, "tp": tp, "pp": pp, "ep": ep, "weights": weights, "kv": kv, "scheduler": scheduler}
    points, notes = run_points(runs, dep, metrics)
    prep = prepare(cat, points)
    for p, why in prep.rejected:
        notes.append(f"run {p.id} {p.metric}: {why}")
    if not prep.points:
        raise InputError("runs", [r.id for r in runs], "give no point the performance model can evaluate",
                         "; ".join(notes) or None)
    eff = cat.efficiency_for(family)
    before = {family: _factors_of(eff)}
    prior_origin = cat.origin.get(f"efficiency:{eff.family}", "built-in")
    pred0 = predict_prepared(prep, before)
    after = fit(prep, before, prior_sigma=prior_sigma)
    pred1 = predict_prepared(prep, after)
    e0, e1 = errors(pred0, prep.measured), errors(pred1, prep.measured)
    rows = [
        {"run": p.id, "metric": p.metric, "concurrency": p.deployment.concurrency, "isl": p.deployment.isl,
         "osl": p.deployment.osl, "measured": float(p.measured), "predicted_before": float(a),
         "predicted_after": float(b), "error_before": float(x), "error_after": float(y)}
        for p, a, b, x, y in zip(prep.points, pred0, pred1, e0, e1, strict=True)
    ]
    from inferonomics.perf.calibrate import BOUNDS

    for n, v in after[family].items():
        lo, hi = BOUNDS[n]
        if v <= lo * 1.001 or v >= hi * 0.999:
            notes.append(f"{n} = {v:.4g} is at its bound [{lo:g}, {hi:g}]: the model cannot explain the measured "
                         "points within the allowed range (overheads outside the model, e.g. HTTP, queueing, "
                         "a server that does not batch)")
    ids = sorted({p.id for p in prep.points})
    today = dt.date.today().isoformat()
    src = (f"calibrated from run {', '.join(ids)} by inferonomics calibrate ({model} on {gpus}x {gpu}, "
           f"tp={dep['tp'] or 'auto'}, weights {weights}; {len(prep.points)} measured points: "
           f"{', '.join(sorted(set(prep.metric.tolist())))})")
    record = {"family": family}
    for n in FAMILY_FACTORS + SHARED_FACTORS:
        record[n] = {"value": float(f"{after[family][n]:.5g}"), "source": src, "date": today,
                     "note": f"prior {before[family][n]:.4g} from {prior_origin} ({eff.family})"}
    res = {
        "family": family,
        "model": model,
        "gpu": gpu,
        "runs": ids,
        "n_points": len(prep.points),
        "factors_before": before[family],
        "factors_after": after[family],
        "median_abs_error_before": float(np.median(np.abs(e0))),
        "median_abs_error_after": float(np.median(np.abs(e1))),
        "points": rows,
        "notes": notes,
        "file": None,
    }
    if write:
        import yaml

        from inferonomics.catalog import _cached
        from inferonomics.io import check_output_dir, write_text_atomic

        d = Path(out_dir) if out_dir is not None else catalog_dir()
        check_output_dir(d, "catalog directory")
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError("catalog directory", str(d), f"cannot be created ({exc.strerror or exc})") from None
        path = d / f"calibration-{family}.yaml"
        header = (
            f"# Efficiency factors of accelerator family '{family}', calibrated by `inferonomics calibrate` on\n"
            f"# measured runs {', '.join(ids)}.  Loaded as a user catalog file (--catalog-dir {d} or\n"
            f"# INFERONOMICS_CATALOG_DIR={d}); it overrides the built-in record of the family.\n"
        )
        write_text_atomic(path, header + yaml.safe_dump({"efficiency": [record]}, sort_keys=False, width=110))
        _cached.cache_clear()  # the catalog is cached per directory; the next look-up sees the new file
        res["file"] = str(path)
        res["catalog_dir"] = str(d)
    return res
