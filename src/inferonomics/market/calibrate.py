"""Base-year calibration: solve a few free inputs so that the modelled base year meets reported figures.

A scenario's ``calibration.targets`` lists reported figures of the base year (revenue, adjusted EBITA, capex
by kind, the AI share of revenue ...), each with its source, a relative ``tolerance`` and, for most,
``solve_for``: the input(s) the calibration moves to meet it (several paths move together, e.g. one
purchase-growth rate for every accelerator pool).  A target without ``solve_for`` is only checked.

The solve runs on the scenario's central point: every uncertain input at its median, one row of the
projection kernel, base year only.  It is a Gauss-Seidel sweep over the (target, unknown) pairs in file order,
each a one-dimensional root (Brent's method on a bracket inside the unknown's allowed range), repeated until
every target is met to 1e-10 relative; with targets ordered so that each unknown moves only its own target
and the ones after it (as in ``alibaba-100b``) one sweep solves the system and the second confirms it.

The solved values replace those inputs (their distributions, if any) in every Monte Carlo path of the
forward run (:func:`inferonomics.market.simulate`) and in the tornado, which leaves them out: they are no
longer free.  A target no value of its unknown can meet raises :class:`CalibrationError` naming the target,
the unknown, its range and what the model gives at the ends of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from inferonomics.errors import InputError, UnknownNameError

SOLVE_RTOL = 1e-10
MAX_SWEEPS = 30
_EXPAND = 60  # doublings tried to bracket an unknown with an open upper end


class CalibrationError(InputError):
    """A calibration target the model cannot meet (or a calibration section that names no real input)."""

    problem = "cannot be met"


@dataclass(frozen=True)
class CalibrationResult:
    """The solved base year: one row per target, one per solved input; ``values`` feeds the forward run."""

    scenario: str
    year: int
    year_label: str
    targets: list[dict]
    parameters: list[dict]
    values: dict[str, float] = field(repr=False)

    @property
    def ok(self) -> bool:
        return all(t["ok"] for t in self.targets)

    def table(self):
        import pandas as pd

        return pd.DataFrame(self.targets)

    def parameters_table(self):
        import pandas as pd

        return pd.DataFrame(self.parameters)

    def to_dict(self) -> dict:
        return {"scenario": self.scenario, "year": self.year, "year_label": self.year_label, "ok": self.ok,
                "targets": self.targets, "parameters": self.parameters}


def central_values(sc) -> dict[str, np.ndarray]:
    """Every input at its median (fixed inputs at their value), one row: the point the calibration solves."""
    from inferonomics.market.api import _values

    values = _values(sc, lambda path: None, calibrated=False)
    if sc.spec.market is not None:  # linked token tiers: the market's per-year median path, as in the tornado
        from inferonomics.market.api import DEFAULT_SEED
        from inferonomics.market.link import market_inputs

        values.update(market_inputs(sc.spec.market, DEFAULT_SEED))
    return values


def _leaf_specs(sc) -> dict:
    return {leaf.path: leaf for leaf in sc.leaves()}


def _unknown_range(sc, paths: list[str], where: str) -> tuple[float, float]:
    """The range every path allows (the schema's bounds on the field): the tightest over the paths."""
    leaves = _leaf_specs(sc)
    lo, hi = -math.inf, math.inf
    for p in paths:
        leaf = leaves.get(p)
        if leaf is None or p.startswith(("calibration.", "checks", "target.")):
            known = [k for k, v in leaves.items() if not v.per_year and not k.startswith(("calibration.", "checks",
                                                                                              "target."))]
            raise UnknownNameError(where, p, known)
        if leaf.per_year:
            raise CalibrationError(where, p, "a per-year list cannot be solved for: give a single-number input")
        s = leaf.specs[0]  # the kernel works in USD: bounds given in another currency convert with the value
        lo, hi = max(lo, s._lo * s._factor), min(hi, s._hi * s._factor)
    return lo, hi


def solve(sc) -> CalibrationResult:
    """Solve ``sc``'s calibration targets on its central point (see the module docstring)."""
    from inferonomics.market.model import Inputs, project

    spec = sc.spec
    cal = spec.calibration
    if cal is None:
        raise CalibrationError("calibration", None, f"scenario {sc.name} has no 'calibration' section with targets")
    values = central_values(sc)
    known = None
    pairs = []
    for i, t in enumerate(cal.targets):
        where = f"calibration.targets[{i}]"
        if known is None:
            known = list(project(sc, Inputs(values, 1), 1))
        if t.metric not in known:
            raise UnknownNameError(f"{where}.metric", t.metric, known)
        if t.solve_for:
            lo, hi = _unknown_range(sc, t.solve_for, f"{where}.solve_for")
            pairs.append((i, t, lo, hi))
    taken: dict[str, int] = {}
    for i, t, _, _ in pairs:
        for p in t.solve_for:
            if p in taken:
                raise CalibrationError(f"calibration.targets[{i}].solve_for", p,
                                       f"is already solved for by calibration.targets[{taken[p]}]: one target per input")
            taken[p] = i

    def base(vals: dict) -> dict[str, np.ndarray]:
        return project(sc, Inputs(vals, 1), 1)

    def model_value(vals: dict, metric: str) -> float:
        return float(base(vals)[metric][0, 0])

    def setv(vals: dict, paths: list[str], u: float) -> None:
        for p in paths:
            vals[p] = np.array([u])

    def residual(vals, t) -> float:
        goal = t.value.fixed_value()
        v = model_value(vals, t.metric)
        return v / goal - 1.0 if goal else v

    for _sweep in range(MAX_SWEEPS):
        worst = 0.0
        for i, t, lo, hi in pairs:
            r0 = residual(values, t)
            worst = max(worst, abs(r0))
            if abs(r0) <= SOLVE_RTOL:
                continue
            u0 = float(values[t.solve_for[0]].reshape(-1)[0])

            def f(u, t=t):
                trial = dict(values)
                setv(trial, t.solve_for, u)
                return residual(trial, t)

            u = _secant(f, u0, r0, lo, hi)
            if u is None:
                from scipy.optimize import brentq  # (only when secant steps do not meet the target)

                a, b = _bracket(f, u0, lo, hi, i, t)
                u = brentq(f, a, b, xtol=1e-14 * max(1.0, abs(a), abs(b)), rtol=1e-15, maxiter=200)
            setv(values, t.solve_for, u)
        if worst <= SOLVE_RTOL:
            break
    m = base(values)
    leaves = _leaf_specs(sc)
    central = central_values(sc)
    rows = []
    for i, t in enumerate(cal.targets):
        goal = t.value.fixed_value()
        v = float(m[t.metric][0, 0])
        ratio = v / goal if goal else math.nan
        rows.append({
            "target": t.label, "metric": t.metric, "reported": goal, "model": v, "model_over_reported": ratio,
            "tolerance": t.tolerance, "ok": bool(abs(ratio - 1.0) <= t.tolerance) if goal else abs(v) <= t.tolerance,
            "solved_by": ", ".join(t.solve_for) or "(checked only)", "provenance": _provenance(t.value),
        })
    params = []
    solved: dict[str, float] = {}
    for i, t, lo, hi in pairs:
        for p in t.solve_for:
            u = float(values[p].reshape(-1)[0])
            solved[p] = u
            s = leaves[p].specs[0]
            params.append({"input": p, "target": t.label, "prior_p50": float(central[p].reshape(-1)[0]),
                           "prior": s.describe(), "solved": u, "allowed_low": lo, "allowed_high": hi})
    return CalibrationResult(sc.name, spec.base_year.year, sc.year_label(spec.base_year.year), rows, params, solved)


def _secant(f, u0: float, r0: float, lo: float, hi: float, steps: int = 8) -> float | None:
    """Secant steps from ``u0`` inside [lo, hi]: two evaluations meet a target linear in its input (most are);
    None when they leave the range or stall (the caller then brackets the root and uses Brent's method)."""
    du = 1e-4 * max(abs(u0), 1e-6)
    u1 = u0 + du if u0 + du < hi else u0 - du
    if not lo < u1 < hi:
        return None
    up, rp, u = u0, r0, u1
    r = f(u)
    for _ in range(steps):
        if not math.isfinite(r) or r == rp:
            return None
        if abs(r) <= SOLVE_RTOL:
            return u
        up, rp, u = u, r, u - r * (u - up) / (r - rp)
        if not (lo < u < hi and math.isfinite(u)):
            return None
        r = f(u)
    return u if abs(r) <= SOLVE_RTOL else None


def _provenance(s) -> str:
    """Source and date, and the assumption that derives the target from them, when both are given."""
    parts = [f"{s.source} ({s.date})"] if s.source else []
    if s.assumption:
        parts.append(f"assumption: {s.assumption.strip()}")
    return "; ".join(parts) or (s.note or "")


def _bracket(f, u0: float, lo: float, hi: float, i: int, t) -> tuple[float, float]:
    """A bracket [a, b] within the allowed range where ``f`` changes sign; else :class:`CalibrationError`."""
    eps = 1e-9
    a = lo + eps * max(1.0, abs(lo)) if math.isfinite(lo) else None
    b = hi if math.isfinite(hi) else None
    if a is None:  # open below: expand downwards from the start
        a = min(u0, 0.0) - 1.0
        for _ in range(_EXPAND):
            if f(a) * f(u0) <= 0:
                break
            a = 2 * a
    fa = f(a)
    for _ in range(_EXPAND):  # an end where the model is undefined (e.g. a growth rate of -100%): step inwards
        if math.isfinite(fa):
            break
        a = (a + u0) / 2
        fa = f(a)
    if fa == 0:
        return a, a + eps
    if b is None:  # open above: expand upwards until the sign changes
        b = max(u0, a, 1.0)
        for _ in range(_EXPAND):
            if f(b) * fa <= 0:
                return a, b
            b = 2 * b
        hi_txt, fb = "no upper bound", f(b)
    else:
        fb = f(b)
        if fb * fa <= 0:
            return a, b
        hi_txt = f"{hi:g}"
    goal = t.value.fixed_value()
    lo_txt = f"{lo:g}" if math.isfinite(lo) else "no lower bound"
    raise CalibrationError(
        f"calibration.targets[{i}] ({t.label})", goal,
        f"{t.metric} cannot reach it by moving {', '.join(t.solve_for)} within its allowed range "
        f"({lo_txt} to {hi_txt}): the model gives {(fa + 1) * goal:.6g} to {(fb + 1) * goal:.6g} there; change the "
        "target, its solve_for input or the inputs that drive it")


def calibration_of(sc) -> CalibrationResult | None:
    """The scenario's solved calibration (cached on the scenario object), or None without a calibration section."""
    if sc.spec.calibration is None:
        return None
    cached = sc.__dict__.get("_calibration")
    if cached is None:
        key = _disk_key(sc)
        doc = None
        if key is not None:
            from inferonomics import _cache

            doc = _cache.get(_DISK_KIND, key)
        try:
            cached = CalibrationResult(**doc) if isinstance(doc, dict) else None
        except TypeError:  # an entry of another shape: solve again
            cached = None
        if cached is None:
            cached = solve(sc)
            if key is not None:
                _cache.put(_DISK_KIND, key, {"scenario": cached.scenario, "year": cached.year,
                                             "year_label": cached.year_label, "targets": cached.targets,
                                             "parameters": cached.parameters, "values": cached.values})
        object.__setattr__(sc, "_calibration", cached)  # a frozen dataclass: cache beside its fields
    return cached


_DISK_KIND = "provider-calibration"


def _disk_key(sc) -> str | None:
    """The on-disk cache key (:mod:`inferonomics._cache`) of a scenario's solved calibration: the validated
    scenario, plus a digest of the code it runs through (market, fleet, perf, cost and ledger, built-in scenario
    files included) and of the catalog files, so an edit to any is a new key.  None (solved every time) for a
    catalog other than the default, a scenario linked to a market file, or a fleet scenario given as a path."""
    import json

    from inferonomics import _cache
    from inferonomics.catalog import get_catalog

    spec = sc.spec
    if sc.catalog is not get_catalog() or spec.market is not None:
        return None
    fleet = spec.serving.fleet_scenario
    if fleet is not None:
        from inferonomics.fleet.scenario import builtin_names

        if fleet not in builtin_names():
            return None
    code = _cache.code_digest(("market", "fleet", "perf", "cost", "ledger"), scenarios=True)
    return json.dumps({"scenario": spec.model_dump(mode="json"), "inputs": code}, sort_keys=True, default=str)
