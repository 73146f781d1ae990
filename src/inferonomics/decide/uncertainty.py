"""The buyer's decision under uncertainty: workload inputs given as distributions, sampled on Monte Carlo
paths, every path run through the same engine (and ledger) as the deterministic comparison.

* Inputs: every workload number written as ``{dist: ..., ...}`` (volume, growth, peak, prices' trend,
  cache hits, discount rate, staff, ownership money).  Inputs that set the hardware sizing are fixed (the
  workload schema refuses distributions there), so the performance sweep runs once.
* Draws: inverse transform of one uniform stream per input, seeded by ``(seed, input path)``: the same
  seed gives the same paths, and two workloads sharing an input share its draws.
* Correlations: the workload's ``correlations`` (rank correlations between uncertain inputs) are drawn
  with a Gaussian copula; in the tornado an input at its P10/P90 takes its correlated inputs to their
  conditional medians.
* Outputs: ``P(own beats the best acceptable API)`` (the cheapest owned option's NPV below the cheapest
  API's on a path), how often the deterministic recommendation holds, the NPV fan (percentiles of every
  option's NPV, and of the cumulative discounted cost month by month for the options that matter), and a
  tornado: each uncertain input at its P10 and P90 with the others at their medians, the NPV gap
  ``best own - best API`` and the option that wins.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from inferonomics.catalog import Catalog, get_catalog
from inferonomics.decide import engine as E
from inferonomics.decide.workload import Workload, load_workload, parse_workload
from inferonomics.errors import InputError
from inferonomics.quantity import Quantity

PERCENTILES = (10, 50, 90)
#: The buyer's draws cut the tails of unbounded shapes at 0.1% / 99.9% (the support the workload checks).
TAIL = 0.001


def _ppf(d: Quantity, u):
    """Quantiles of a workload input, with ``u`` cut at :data:`TAIL` (the checked support)."""
    return d.ppf(np.clip(u, TAIL, 1.0 - TAIL))


def uncertain_inputs(w: Workload) -> dict[str, Quantity]:
    """Dotted field path -> distribution, for every workload input given as a distribution."""
    return w.uncertain_inputs()


def _fixed(w: Workload, values: dict[str, float]) -> Workload:
    """The workload with the given inputs fixed (the others: distributions at their median)."""
    doc = w.model_dump(exclude_none=True)
    doc.pop("correlations", None)  # every input is fixed now
    for path, d in uncertain_inputs(w).items():
        x = float(values[path]) if path in values else float(_ppf(d, 0.5))
        head, _, tail = path.partition(".")
        if tail:
            doc[head] = {**doc[head], tail: x}
        else:
            doc[head] = x
    return parse_workload(doc, "sampled workload")


@dataclass(frozen=True)
class Uncertainty:
    """``inputs``, ``options`` (NPV percentiles per option), ``fan`` (cumulative discounted cost by month)
    and ``tornado`` are DataFrames; ``paths`` is an ``xarray.Dataset`` (path x option, path x input)."""

    workload: str
    paths_n: int
    seed: int
    recommendation: str
    recommendation_kind: str
    p_own_beats_best_api: float | None
    p_recommendation_holds: float
    p_recommended_kind_holds: float
    inputs: object
    options: object
    fan: object
    tornado: object
    paths: object = field(repr=False)
    mc_standard_error_at_most: float = 0.0

    def to_dict(self) -> dict:
        from inferonomics.decide.api import _records

        return {
            "workload": self.workload, "paths": self.paths_n, "seed": self.seed,
            "recommendation": self.recommendation, "recommendation_kind": self.recommendation_kind,
            "p_own_beats_best_api": self.p_own_beats_best_api,
            "p_recommendation_holds": self.p_recommendation_holds,
            "p_recommended_kind_holds": self.p_recommended_kind_holds,
            "mc_standard_error_at_most": self.mc_standard_error_at_most,
            "inputs": _records(self.inputs), "options": _records(self.options), "tornado": _records(self.tornado),
            "fan": _records(self.fan),
        }


def _gap(ev: dict) -> float:
    """NPV of the cheapest owned option minus that of the cheapest API (negative: owning is cheaper)."""
    own = ev["npv"][ev["kind"] == "own"]
    api = ev["npv"][ev["kind"] == "api"]
    if not len(own) or not len(api):
        return float("nan")
    return float(own.min() - api.min())


def uncertainty(
    workload: Workload | str,
    paths: int = 400,
    seed: int = 0,
    catalog: Catalog | None = None,
) -> Uncertainty:
    """Sample the workload's distributions and compare the options on every path (see the module doc)."""
    import pandas as pd
    import xarray as xr

    if isinstance(paths, bool) or not isinstance(paths, int | np.integer) or not 1 <= paths <= 1_000_000:
        raise InputError("paths", paths, "must be a whole number from 1 to 1,000,000")
    cat = catalog or get_catalog()
    w = load_workload(workload) if isinstance(workload, str) else workload
    dists = uncertain_inputs(w)
    base = E.prepare(w, cat)
    names = E.option_names(base)
    mask = E.eligible_mask(base)
    ev0 = E.evaluate(base)
    kinds = ev0["kind"]
    best0 = int(np.argmin(np.where(mask, ev0["npv"], np.inf)))

    def run(values: dict[str, float]) -> dict:
        p = E.prepare(_fixed(w, values), cat, sized=base.sized) if dists else base
        return E.evaluate(p)

    # --- paths -------------------------------------------------------------------------------------------
    copula = w.copula()
    uniforms = {}
    for path in dists:
        rng = np.random.default_rng([seed, zlib.crc32(path.encode())])
        uniforms[path] = rng.random(paths)
    uniforms = copula.correlate(uniforms)  # rank correlations, marginals unchanged
    draws = {path: np.asarray(_ppf(d, uniforms[path]), float) for path, d in dists.items()}
    n_paths = paths if dists else 1
    H = ev0["H"]
    npv = np.empty((n_paths, len(names)))
    per_mtok = np.empty((n_paths, len(names)))
    fan_idx = sorted({best0, *(int(np.argmin(np.where(kinds == k, ev0["npv"], np.inf))) for k in set(kinds))})
    cum_pv = np.empty((n_paths, len(fan_idx), H))
    for i in range(n_paths):
        ev = run({k: v[i] for k, v in draws.items()})
        npv[i], per_mtok[i] = ev["npv"], ev["usd_per_mtok"]
        d_end = (1.0 + ev["monthly_rate"]) ** -np.arange(1, H + 1, dtype=float)
        cum_pv[i] = np.cumsum(_pv_flows(ev, fan_idx, d_end), axis=1)

    # --- probabilities -----------------------------------------------------------------------------------
    is_api, is_own = kinds == "api", kinds == "own"
    p_own = None
    if is_api.any() and is_own.any():
        p_own = float(np.mean(npv[:, is_own].min(1) < npv[:, is_api].min(1)))
    winners = np.argmin(np.where(mask[None, :], npv, np.inf), axis=1)
    p_holds = float(np.mean(winners == best0))
    p_kind = float(np.mean(kinds[winners] == kinds[best0]))

    # --- tables ------------------------------------------------------------------------------------------
    q = np.asarray(PERCENTILES) / 100.0
    inputs = pd.DataFrame([
        {"input": k, "distribution": d.to_dist().describe(),
         **{f"p{p}": float(_ppf(d, p / 100.0)) for p in PERCENTILES},
         "provenance": d.assumption or f"{d.source} ({d.date})"} for k, d in dists.items()
    ], columns=["input", "distribution", *[f"p{p}" for p in PERCENTILES], "provenance"])
    nq = np.quantile(npv, q, axis=0)
    mq = np.quantile(per_mtok, q, axis=0)
    options = pd.DataFrame({
        "option": names, "kind": kinds, "eligible": mask,
        **{f"npv_usd_p{p}": nq[i] for i, p in enumerate(PERCENTILES)},
        "npv_usd_mean": npv.mean(0),
        **{f"usd_per_mtok_p{p}": mq[i] for i, p in enumerate(PERCENTILES)},
        "p_cheapest_eligible": [float(np.mean(winners == j)) for j in range(len(names))],
    }).sort_values("npv_usd_p50", kind="stable").reset_index(drop=True)
    fq = np.quantile(cum_pv, q, axis=0)  # (q, option, month)
    fan = pd.concat([
        pd.DataFrame({"option": names[j], "kind": kinds[j], "month": np.arange(1, H + 1),
                      **{f"cumulative_pv_cost_usd_p{p}": fq[a, k] for a, p in enumerate(PERCENTILES)}})
        for k, j in enumerate(fan_idx)
    ], ignore_index=True)
    rows = []
    base_gap = _gap(ev0)
    for path, d in dists.items():
        row = {"input": path, "base_npv_gap_usd": base_gap}
        for label, u in (("p10", 0.1), ("p90", 0.9)):
            x = float(_ppf(d, u))
            # correlated inputs move to their conditional medians with it
            moved = {path: x, **{n: float(_ppf(dists[n], q)) for n, q in copula.conditional(path, u).items()}}
            ev = run(moved)
            j = int(np.argmin(np.where(mask, ev["npv"], np.inf)))
            row |= {f"value_{label}": x, f"npv_gap_usd_{label}": _gap(ev), f"winner_{label}": names[j],
                    f"winner_kind_{label}": str(kinds[j])}
        row["swing_usd"] = abs(row["npv_gap_usd_p90"] - row["npv_gap_usd_p10"])
        row["flips"] = row["winner_kind_p10"] != kinds[best0] or row["winner_kind_p90"] != kinds[best0]
        rows.append(row)
    tornado = pd.DataFrame(rows, columns=[
        "input", "value_p10", "value_p90", "base_npv_gap_usd", "npv_gap_usd_p10", "npv_gap_usd_p90", "swing_usd",
        "winner_p10", "winner_kind_p10", "winner_p90", "winner_kind_p90", "flips",
    ])
    if len(tornado):
        tornado = tornado.sort_values("swing_usd", ascending=False, kind="stable").reset_index(drop=True)

    ds = xr.Dataset(
        {"npv_usd": (("path", "option"), npv, {"units": "USD"}),
         "usd_per_mtok": (("path", "option"), per_mtok, {"units": "USD per 1e6 tokens, levelized"}),
         "kind": (("option",), kinds.astype(str))},
        coords={"path": np.arange(n_paths), "option": names},
        attrs={"seed": seed, "workload": w.name},
    )
    for k, v in draws.items():
        ds[f"input:{k}"] = (("path",), v)
    return Uncertainty(
        workload=w.name, paths_n=n_paths, seed=seed, recommendation=names[best0],
        recommendation_kind=str(kinds[best0]), p_own_beats_best_api=p_own, p_recommendation_holds=p_holds,
        p_recommended_kind_holds=p_kind, inputs=inputs, options=options, fan=fan, tornado=tornado, paths=ds,
        mc_standard_error_at_most=0.5 / np.sqrt(n_paths),
    )


def _pv_flows(ev: dict, idx: list[int], d_end: np.ndarray) -> np.ndarray:
    """Discounted cost by month of the chosen options (capex from the start of its month: the cost lines
    carry it as depreciation and financing, whose present value is the same)."""
    return ev["cost"][idx] * d_end[None, :]


__all__ = ["PERCENTILES", "Uncertainty", "uncertain_inputs", "uncertainty"]
