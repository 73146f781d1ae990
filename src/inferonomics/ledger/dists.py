"""Probability distributions of uncertain scenario inputs: parametrisation, quantiles, sampling.

Each distribution is given by its own parameters or by its P10 and P90 (plus the mode for the
triangular and PERT shapes) and is stored in one canonical form:

=============  ==========================  ======================================
``dist``       by parameters               by percentiles
=============  ==========================  ======================================
normal         ``mean, sd``                ``p10, p90``
lognormal      ``median, sigma`` or        ``p10, p90`` (both > 0)
               ``mu, sigma`` (of the log)
uniform        ``low, high``               ``p10, p90``
triangular     ``low, mode, high``         ``p10, mode, p90`` (low/high solved)
pert           ``low, mode, high``         ``p10, mode, p90`` (low/high solved)
=============  ==========================  ======================================

PERT is the beta-PERT with shape 4: ``alpha = 1 + 4 (mode-low)/(high-low)``,
``beta = 1 + 4 (high-mode)/(high-low)``.

Samples are drawn by inverse transform, ``x = ppf(u)`` with ``u`` uniform, so several values can
share one ``u`` (the years of a per-year list move together) and the P10/P50/P90 used by the tornado
are the exact quantiles of the same distribution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

DISTS = ("normal", "lognormal", "uniform", "triangular", "pert")

# Accepted parameter sets per distribution (the set given must equal one of them exactly).
PARAM_SETS: dict[str, tuple[tuple[str, ...], ...]] = {
    "normal": (("mean", "sd"), ("p10", "p90")),
    "lognormal": (("median", "sigma"), ("mu", "sigma"), ("p10", "p90")),
    "uniform": (("low", "high"), ("p10", "p90")),
    "triangular": (("low", "mode", "high"), ("mode", "p10", "p90")),
    "pert": (("low", "mode", "high"), ("mode", "p10", "p90")),
}
ALL_PARAMS = ("mean", "sd", "median", "mu", "sigma", "low", "mode", "high", "p10", "p90")

Z90 = 1.2815515655446004  # standard normal quantile at 0.9


def _ndtri(u):
    from scipy.special import ndtri

    return ndtri(u)


@dataclass(frozen=True)
class Dist:
    """A distribution in canonical form: normal(a=mean, b=sd), lognormal(a=mu, b=sigma),
    uniform/triangular/pert(a=low, b=high, c=mode)."""

    kind: str
    a: float
    b: float
    c: float = float("nan")

    def ppf(self, u):
        """Quantile function, vectorized over ``u`` in (0, 1)."""
        u = np.asarray(u, dtype=float)
        k, a, b, c = self.kind, self.a, self.b, self.c
        if k == "normal":
            return a + b * _ndtri(u)
        if k == "lognormal":
            return np.exp(a + b * _ndtri(u))
        if b <= a:  # degenerate bounded distribution
            return np.full_like(u, a)
        if k == "uniform":
            return a + (b - a) * u
        if k == "triangular":
            fc = (c - a) / (b - a)
            lo = a + np.sqrt(u * (b - a) * (c - a))
            hi = b - np.sqrt((1.0 - u) * (b - a) * (b - c))
            return np.where(u < fc, lo, hi)
        if k == "pert":
            x = _pert_table(a, b, c)
            with np.errstate(divide="ignore"):
                pos = (np.log(u) - np.log1p(-u) - _Z_LO) / _Z_STEP  # logit(u) on the table's uniform grid
            pos = np.clip(pos, 0.0, len(x) - 1.000001)
            i = pos.astype(np.intp)
            w = pos - i
            return x[i] * (1.0 - w) + x[i + 1] * w
        raise ValueError(k)  # pragma: no cover - guarded by the schema

    def cdf(self, x):
        x = np.asarray(x, dtype=float)
        k, a, b, c = self.kind, self.a, self.b, self.c
        from scipy.special import ndtr

        if k == "normal":
            return ndtr((x - a) / b) if b > 0 else (x >= a).astype(float)
        if k == "lognormal":
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(x > 0, ndtr((np.log(np.maximum(x, 1e-300)) - a) / b), 0.0)
        return _bounded_cdf(k, a, b, c, x)

    def support(self) -> tuple[float, float]:
        """Where nearly all the mass lies: the bounds, or the 0.1%/99.9% quantiles of unbounded shapes."""
        if self.kind in ("normal", "lognormal"):
            return float(self.ppf(0.001)), float(self.ppf(0.999))
        return self.a, self.b

    @property
    def p10(self) -> float:
        return float(self.ppf(0.1))

    @property
    def p50(self) -> float:
        return float(self.ppf(0.5))

    @property
    def p90(self) -> float:
        return float(self.ppf(0.9))

    def describe(self) -> str:
        from inferonomics.present import compact  # fixed notation (never 1.58132e+11), 4 significant digits

        def g(x):
            return compact(x, 4)

        k, a, b, c = self.kind, self.a, self.b, self.c
        if k == "normal":
            return f"normal(mean={g(a)}, sd={g(b)})"
        if k == "lognormal":
            return f"lognormal(median={g(math.exp(a))}, sigma={g(b)})"
        if k == "uniform":
            return f"uniform({g(a)}, {g(b)})"
        return f"{k}(low={g(a)}, mode={g(c)}, high={g(b)})"


_Z_LO, _Z_HI, _Z_NODES = -28.0, 28.0, 8193
_Z_STEP = (_Z_HI - _Z_LO) / (_Z_NODES - 1)


@lru_cache(maxsize=256)
def _pert_table(a: float, b: float, c: float) -> np.ndarray:
    """PERT quantiles on a uniform grid of logit(u) from -28 to 28 (u from 7e-13 to 1 - 7e-13), computed once
    per distribution; ``ppf`` interpolates linearly in it (exact beta quantiles at the 8,193 nodes; errors
    below 1e-6 of the range)."""
    from scipy.special import betaincinv, expit

    al, be = _pert_shape(a, b, c)
    return a + (b - a) * betaincinv(al, be, expit(np.linspace(_Z_LO, _Z_HI, _Z_NODES)))


def _pert_shape(a, b, c):
    return 1.0 + 4.0 * (c - a) / (b - a), 1.0 + 4.0 * (b - c) / (b - a)


def _bounded_cdf(k, a, b, c, x):
    x = np.asarray(x, dtype=float)
    if b <= a:
        return (x >= a).astype(float)
    if k == "uniform":
        return np.clip((x - a) / (b - a), 0.0, 1.0)
    if k == "triangular":
        xc = np.clip(x, a, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            lo = np.where(c > a, (xc - a) ** 2 / ((b - a) * (c - a)), 0.0)
            hi = np.where(b > c, 1.0 - (b - xc) ** 2 / ((b - a) * (b - c)), 1.0)
        return np.where(xc <= c, lo, hi)
    from scipy.special import betainc

    al, be = _pert_shape(a, b, c)
    return betainc(al, be, np.clip((x - a) / (b - a), 0.0, 1.0))


def _solve_bounds(kind: str, p10: float, mode: float, p90: float) -> tuple[float, float]:
    """low and high of a triangular/PERT distribution with the given P10, mode and P90."""
    from scipy.optimize import least_squares

    if not p10 < p90:
        raise ValueError(f"p10 ({p10}) must be below p90 ({p90})")
    width = p90 - p10
    lo_anchor, hi_anchor = min(p10, mode), max(p90, mode)

    def bounds(z):
        return lo_anchor - width * math.exp(z[0]), hi_anchor + width * math.exp(z[1])

    def resid(z):
        a, b = bounds(z)
        f = _bounded_cdf(kind, a, b, mode, np.array([p10, p90]))
        return f - np.array([0.1, 0.9])

    best = None
    for start in ((-1.0, -1.0), (0.0, 0.0), (-3.0, 0.5), (0.5, -3.0), (-6.0, -6.0)):
        sol = least_squares(resid, np.array(start), xtol=1e-14, ftol=1e-14, gtol=1e-14, max_nfev=400)
        if best is None or sol.cost < best.cost:
            best = sol
        if sol.cost < 1e-20:
            break
    if best is None or np.max(np.abs(resid(best.x))) > 1e-7:
        raise ValueError(
            f"no {kind} distribution has P10 {p10}, mode {mode} and P90 {p90}; move the mode toward the "
            "middle or widen P10-P90"
        )
    return bounds(best.x)


def make_dist(kind: str, params: dict[str, float]) -> Dist:
    """Build the canonical :class:`Dist` from one accepted parameter set; raises ValueError if inconsistent."""
    given = tuple(sorted(k for k, v in params.items() if v is not None))
    sets = PARAM_SETS[kind]
    if given not in [tuple(sorted(s)) for s in sets]:
        allowed = " or ".join("{" + ", ".join(s) + "}" for s in sets)
        raise ValueError(f"{kind} takes {allowed}; got {{{', '.join(given)}}}")
    p = {k: float(v) for k, v in params.items() if v is not None}
    for k, v in p.items():
        if not math.isfinite(v):
            raise ValueError(f"{k} must be a finite number, got {v}")
    if kind == "normal":
        if "sd" in p:
            if p["sd"] < 0:
                raise ValueError(f"sd must be 0 or more, got {p['sd']}")
            return Dist("normal", p["mean"], p["sd"])
        _order(p)
        return Dist("normal", (p["p10"] + p["p90"]) / 2, (p["p90"] - p["p10"]) / (2 * Z90))
    if kind == "lognormal":
        if "p10" in p:
            _order(p)
            if p["p10"] <= 0:
                raise ValueError(f"p10 of a lognormal must be above 0, got {p['p10']}")
            l10, l90 = math.log(p["p10"]), math.log(p["p90"])
            return Dist("lognormal", (l10 + l90) / 2, (l90 - l10) / (2 * Z90))
        if p["sigma"] < 0:
            raise ValueError(f"sigma must be 0 or more, got {p['sigma']}")
        if "median" in p:
            if p["median"] <= 0:
                raise ValueError(f"median of a lognormal must be above 0, got {p['median']}")
            return Dist("lognormal", math.log(p["median"]), p["sigma"])
        return Dist("lognormal", p["mu"], p["sigma"])
    if kind == "uniform":
        if "p10" in p:
            _order(p)
            span = (p["p90"] - p["p10"]) / 0.8
            return Dist("uniform", p["p10"] - 0.1 * span, p["p90"] + 0.1 * span)
        if p["high"] < p["low"]:
            raise ValueError(f"high ({p['high']}) must not be below low ({p['low']})")
        return Dist("uniform", p["low"], p["high"])
    # triangular, pert
    if "p10" in p:
        lo, hi = _solve_bounds(kind, p["p10"], p["mode"], p["p90"])
        return Dist(kind, lo, hi, p["mode"])
    if not p["low"] <= p["mode"] <= p["high"]:
        raise ValueError(f"needs low <= mode <= high, got {p['low']}, {p['mode']}, {p['high']}")
    return Dist(kind, p["low"], p["high"], p["mode"])


def _order(p: dict[str, float]) -> None:
    if not p["p10"] < p["p90"]:
        raise ValueError(f"p10 ({p['p10']}) must be below p90 ({p['p90']})")


# ------------------------------------------------------------------------------------ rank correlation
def rank_to_gaussian(rho_s: float) -> float:
    """The Gaussian-copula correlation that gives a Spearman rank correlation ``rho_s``: ``2 sin(pi rho_s / 6)``."""
    return 2.0 * math.sin(math.pi * rho_s / 6.0)


class Copula:
    """A Gaussian copula over named inputs from pairwise rank (Spearman) correlations.

    Each input keeps its own distribution; only the ranks co-move.  Independent uniforms ``u`` become
    ``z = ndtri(u)``, then ``L z`` with ``L`` the Cholesky factor of the Gaussian correlation matrix, then
    ``ndtr``: marginals unchanged, rank correlations as given.  ``conditional`` gives the other inputs'
    conditional medians when one input is held at a quantile (for a tornado that respects the
    correlations): ``z_j = C_ji z_i``."""

    def __init__(self, pairs: list[tuple[str, str, float]]):
        names: list[str] = []
        for a, b, _ in pairs:
            for n in (a, b):
                if n not in names:
                    names.append(n)
        k = len(names)
        c = np.eye(k)
        for a, b, r in pairs:
            if a == b:
                raise ValueError(f"correlates {a} with itself")
            if not -1.0 <= r <= 1.0:
                raise ValueError(f"rank correlation must be between -1 and 1, got {r}")
            i, j = names.index(a), names.index(b)
            c[i, j] = c[j, i] = rank_to_gaussian(r)
        eig = np.linalg.eigvalsh(c) if k else np.array([1.0])
        if eig.min() < -1e-10:
            raise ValueError(
                "the correlations are not mutually consistent (the correlation matrix is not positive "
                f"semi-definite; smallest eigenvalue {eig.min():.3g}): weaken some of them")
        self.names = names
        self.matrix = c
        # Cholesky of a PSD matrix: a tiny ridge keeps perfectly correlated pairs factorable
        self._chol = np.linalg.cholesky(c + 1e-12 * np.eye(k)) if k else np.zeros((0, 0))

    def correlate(self, u: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Correlated uniforms for the copula's inputs (the others are returned unchanged)."""
        from scipy.special import ndtr

        if not self.names:
            return dict(u)
        z = np.stack([_ndtri(np.asarray(u[n], float)) for n in self.names])
        zc = self._chol @ z
        out = dict(u)
        for i, n in enumerate(self.names):
            out[n] = np.clip(ndtr(zc[i]), 1e-12, 1 - 1e-12)
        return out

    def conditional(self, name: str, q: float) -> dict[str, float]:
        """Quantiles (as uniforms) of the other correlated inputs at their conditional median when ``name``
        sits at quantile ``q``."""
        from scipy.special import ndtr

        if name not in self.names:
            return {}
        i = self.names.index(name)
        z = float(_ndtri(q))
        return {n: float(ndtr(self.matrix[j, i] * z)) for j, n in enumerate(self.names) if j != i}
