"""Fit the performance model's few efficiency factors to measured points.

A measured point is a deployment (model, accelerator, parallelism, precisions, ISL/OSL, load) plus one
measured figure (throughput, TPOT, TTFT, end-to-end latency).  Fitting minimises the squared log error
of prediction against measurement, with a weak prior on every factor so that factors the data cannot
identify stay at their priors.  Per-family factors (compute and bandwidth efficiencies) are fitted for
the families present; engine overheads (per step, per layer, communication latency) are shared.

Used by ``validation/fit.py`` on published results and, later, by ``inferonomics calibrate`` on a
user's own benchmark runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from inferonomics.catalog import Catalog
from inferonomics.perf.api import Deployment, _check, kernel_inputs
from inferonomics.perf.kernel import evaluate

FAMILY_FACTORS = ("prefill_compute_eff", "decode_compute_eff", "memory_bw_eff", "comm_latency_s")
SHARED_FACTORS = ("step_overhead_s", "layer_overhead_s", "prefill_layer_overhead_s", "moe_expert_eff", "expert_load_cv")
BOUNDS = {
    "prefill_compute_eff": (0.2, 0.95),
    "decode_compute_eff": (0.15, 0.95),
    "memory_bw_eff": (0.4, 0.95),
    "step_overhead_s": (1e-4, 2e-2),
    "layer_overhead_s": (1e-6, 2e-4),
    "prefill_layer_overhead_s": (1e-6, 5e-4),
    "comm_latency_s": (2e-6, 2e-4),
    "moe_expert_eff": (0.2, 1.0),
    "expert_load_cv": (0.02, 3.0),
}
# Metrics a point may carry and how they come out of the kernel.
METRICS = (
    "decode_capacity_output_tokens_per_s_per_gpu",
    "prefill_capacity_input_tokens_per_s_per_gpu",
    "output_tokens_per_s",
    "output_tokens_per_s_per_gpu",
    "total_tokens_per_s",
    "tpot_s",
    "ttft_s",
    "e2e_latency_s",
    "output_tokens_per_s_per_user",
)


@dataclass
class Point:
    deployment: Deployment
    metric: str
    measured: float
    id: str = ""
    kind: str = ""


@dataclass
class Prepared:
    points: list[Point]
    families: list[str]
    a: dict
    hw: dict
    s: dict
    fam_index: np.ndarray
    metric: np.ndarray
    measured: np.ndarray
    rejected: list[tuple[Point, str]] = field(default_factory=list)


def prepare(cat: Catalog, points: list[Point]) -> Prepared:
    """Resolve and check points once; the fit then re-evaluates with new factors only."""
    from inferonomics.errors import InferonomicsError

    ok, rejected = [], []
    for p in points:
        d = p.deployment.resolved()
        if p.metric not in METRICS:
            rejected.append((p, f"metric {p.metric!r} is not one of {', '.join(METRICS)}"))
            continue
        try:
            _check(cat, d)
        except InferonomicsError as exc:
            rejected.append((p, str(exc)))
            continue
        ok.append(Point(d, p.metric, p.measured, p.id, p.kind))
    fams = sorted({cat.accelerator(p.deployment.gpu).family for p in ok})
    a, hw, s = kernel_inputs(cat, [p.deployment for p in ok])
    fam_index = np.array([fams.index(cat.accelerator(p.deployment.gpu).family) for p in ok], int)
    return Prepared(
        ok, fams, a, hw, s, fam_index,
        np.array([p.metric for p in ok]), np.array([p.measured for p in ok], float), rejected,
    )


ENGINE_BOUNDS = {"compute_eff_scale": (0.5, 1.6)}


def predict_prepared(
    prep: Prepared, factors: dict[str, dict[str, float]], engine: dict[str, float] | None = None
) -> np.ndarray:
    """Predicted value of each point's metric with the given factors (family -> factor -> value) and,
    optionally, an engine profile (shared factors and ``compute_eff_scale``) applied on top."""
    hw = dict(prep.hw)
    for name in FAMILY_FACTORS + SHARED_FACTORS:
        col = np.array([factors[f][name] for f in prep.families])
        hw[name] = col[prep.fam_index]
    if engine:
        for name in SHARED_FACTORS:
            if name in engine:
                hw[name] = np.full(len(prep.points), engine[name])
        scale = engine.get("compute_eff_scale", 1.0)
        for name in ("prefill_compute_eff", "decode_compute_eff"):
            hw[name] = np.minimum(hw[name] * scale, 0.95)
    r = evaluate(prep.a, hw, prep.s)
    out = np.full(len(prep.points), np.nan)
    for m in METRICS:
        sel = prep.metric == m
        if not sel.any():
            continue
        if m == "total_tokens_per_s":
            v = r["output_tokens_per_s"] + r["input_tokens_per_s"]
        else:
            v = r[m]
        out[sel] = np.asarray(v)[sel]
    return out


def fit(
    prep: Prepared,
    priors: dict[str, dict[str, float]],
    prior_sigma: float = 0.5,
    train: np.ndarray | None = None,
) -> dict[str, dict[str, float]]:
    """Least squares on log errors (rows in ``train``), with log-normal priors of width ``prior_sigma``."""
    fams = prep.families
    names = [(f, n) for f in fams for n in FAMILY_FACTORS] + [("*", n) for n in SHARED_FACTORS]
    shared_prior = {n: float(np.exp(np.mean([np.log(priors[f][n]) for f in fams]))) for n in SHARED_FACTORS}
    p0 = np.array([priors[f][n] if f != "*" else shared_prior[n] for f, n in names])
    lo = np.array([BOUNDS[n][0] for _, n in names])
    hi = np.array([BOUNDS[n][1] for _, n in names])
    p0 = np.clip(p0, lo * 1.0001, hi * 0.9999)
    sel = np.ones(len(prep.points), bool) if train is None else np.asarray(train, bool)

    def unpack(x):
        out = {f: {} for f in fams}
        for (f, n), v in zip(names, x, strict=True):
            if f == "*":
                for g in fams:
                    out[g][n] = v
            else:
                out[f][n] = v
        return out

    x = _least_squares(lambda x: predict_prepared(prep, unpack(x)), prep.measured, sel, p0, lo, hi, prior_sigma)
    return unpack(x)


def _least_squares(predict, measured, sel, p0, lo, hi, prior_sigma) -> np.ndarray:
    """Factors minimising the log error of ``predict(factors)`` on the ``sel`` rows, with log-normal priors
    of width ``prior_sigma`` at ``p0``, within [lo, hi]; soft-L1 loss so that a few points from unusual
    set-ups do not drag every factor."""
    from scipy.optimize import least_squares

    weight = np.sqrt(max(sel.sum(), 1) / len(p0)) * 0.1

    def resid(logx):
        r = np.log(predict(np.exp(logx))[sel] / measured[sel])
        r = np.where(np.isfinite(r), r, 3.0)
        return np.concatenate([r, (logx - np.log(p0)) / prior_sigma * weight])

    sol = least_squares(
        resid, np.log(p0), bounds=(np.log(lo), np.log(hi)), method="trf", loss="soft_l1", f_scale=0.15
    )
    return np.exp(sol.x)


def fit_engine(
    prep: Prepared,
    factors: dict[str, dict[str, float]],
    train: np.ndarray,
    prior_sigma: float = 0.5,
) -> dict[str, float]:
    """An engine profile: the engine-level factors and a scale on the family compute efficiencies, fitted on
    one engine's points (``train``) with the family factors held at ``factors`` (the shared fit), with weak
    log-normal priors at the shared values so that what the engine's points cannot identify stays there."""
    fam0 = factors[prep.families[0]]
    names = ["compute_eff_scale", *SHARED_FACTORS]
    bounds = {**BOUNDS, **ENGINE_BOUNDS}
    p0 = np.array([1.0] + [fam0[n] for n in SHARED_FACTORS])
    lo = np.array([bounds[n][0] for n in names])
    hi = np.array([bounds[n][1] for n in names])
    p0 = np.clip(p0, lo * 1.0001, hi * 0.9999)
    sel = np.asarray(train, bool)

    x = _least_squares(
        lambda x: predict_prepared(prep, factors, dict(zip(names, x, strict=True))), prep.measured, sel, p0, lo,
        hi, prior_sigma,
    )
    return dict(zip(names, (float(v) for v in x), strict=True))


def errors(pred: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """Signed relative error of prediction against measurement."""
    return pred / measured - 1.0


def summary(abs_err: np.ndarray) -> dict[str, float]:
    e = abs_err[np.isfinite(abs_err)]
    if e.size == 0:
        return {"n": 0, "median": float("nan"), "p90": float("nan")}
    return {"n": int(e.size), "median": float(np.median(e)), "p90": float(np.percentile(e, 90))}
