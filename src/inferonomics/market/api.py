"""Monte Carlo over a scenario: sampling, the simulation result, events, calibration, sensitivity."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from inferonomics.errors import InputError, UnknownNameError
from inferonomics.market.model import Inputs, project
from inferonomics.market.scenario import Scenario, load_scenario

DEFAULT_PATHS = 10_000
DEFAULT_SEED = 0
CALIBRATION_COLUMNS = ["check", "metric", "years", "reported", "modelled_p10", "modelled_p50", "modelled_p90",
                       "modelled_p50_over_reported", "tolerance", "calibrated_ok", "solved_by", "provenance"]
CHUNK_PATHS = 25_000  # paths projected at once (bounds memory; progress is reported per chunk)
ONE_CHUNK_PATHS = CHUNK_PATHS  # in process, up to this many paths run as one chunk: no copy into the outputs
# (larger runs go by chunks: measured on a 2-core VM, 100k paths x 10 years by 25k-path chunks is as fast once
# warm and 0.1-0.3 s faster in a fresh process, where each chunk reuses the last one's memory instead of
# faulting in 1.6 GB of fresh pages)
CONNECT_TIMEOUT_S = 10  # seconds to reach a scheduler address
DASK_CHUNK_PATHS = 50_000  # paths per task on a dask cluster (worker memory grows with it)
PERCENTILES = (10, 50, 90)
_U_EPS = 1e-12

# Key figures of `compare`, in display order: (name, metric, statistic)
KEY_FIGURES = [
    ("revenue_usd_p50", "revenue_usd", 50),
    ("revenue_usd_p10", "revenue_usd", 10),
    ("revenue_usd_p90", "revenue_usd", 90),
    ("revenue_tokens_usd_p50", "revenue_tokens_usd", 50),
    ("ai_share_of_revenue_p50", "ai_share_of_revenue", 50),
    ("gross_margin_p50", "gross_margin", 50),
    ("gross_margin_tokens_p50", "gross_margin_tokens", 50),
    ("operating_margin_p50", "operating_margin", 50),
    ("rnd_to_gross_profit_p50", "rnd_to_gross_profit", 50),
    ("capex_usd_p50", "capex_usd", 50),
    ("cumulative_free_cash_flow_usd_p50", "cumulative_free_cash_flow_usd", 50),
    ("fleet_gpus_p50", "fleet_gpus", 50),
    ("token_price_usd_per_mtok_p50", "token_price_usd_per_mtok", 50),
    ("token_cost_usd_per_mtok_p50", "token_cost_usd_per_mtok", 50),
]


def _as_scenario(scenario) -> Scenario:
    return scenario if isinstance(scenario, Scenario) else load_scenario(scenario)


def _check_int(name: str, v, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
        raise InputError(name, v, f"must be a whole number from {lo:,} to {hi:,}")
    return int(v)


def _values(sc: Scenario, u_of: Callable[[str], np.ndarray | None], calibrated: bool = True) -> dict[str, np.ndarray]:
    """Evaluate every input: ``u_of(path)`` gives the uniform draws of an uncertain input (None: its median).

    With ``calibrated`` (the default) the inputs a ``calibration`` section solves for take their solved values
    on every row (:mod:`inferonomics.market.calibrate`)."""
    fixed = _calibrated(sc) if calibrated else {}
    out = {}
    for leaf in sc.leaves():
        u = u_of(leaf.path) if leaf.uncertain else None
        if u is None:
            vals = [np.array([s.fixed_value()]) for s in leaf.specs]
        else:
            vals = [np.asarray(s.ppf(u), dtype=float) for s in leaf.specs]
        out[leaf.path] = np.stack(vals, axis=1) if leaf.per_year else vals[0]
    for path, v in fixed.items():
        out[path] = np.array([v])
    return out


def _calibrated(sc: Scenario) -> dict[str, float]:
    """Input path -> solved value of the scenario's base-year calibration (empty without one)."""
    if sc.spec.calibration is None:
        return {}
    from inferonomics.market.calibrate import calibration_of

    return calibration_of(sc).values


def sample_inputs(sc: Scenario, paths: int, seed: int, lo: int = 0, hi: int | None = None) -> Inputs:
    """Draw every uncertain input: one stream per input, seeded by (seed, field path), so a variant draws the
    same numbers as its base for the inputs they share (common random numbers).

    ``lo``/``hi``: only paths ``lo..hi-1`` of the ``paths`` (each stream jumps ahead ``lo`` draws), exactly the
    rows a full draw would give them: chunks drawn apart (e.g. on Dask workers) equal one draw sliced."""
    hi = paths if hi is None else hi

    def indep(path: str) -> np.ndarray:
        bits = np.random.PCG64(np.random.SeedSequence([seed, zlib.crc32(path.encode())]))  # = default_rng([...])
        if lo:
            bits.advance(lo)  # one 64-bit output per float64 draw
        return np.clip(np.random.Generator(bits).random(hi - lo), _U_EPS, 1 - _U_EPS)

    cop = sc.copula()  # rank-correlated inputs: the same streams, joined by a Gaussian copula
    joined = cop.correlate({p: indep(p) for p in cop.names}) if cop.names else {}

    fixed = _calibrated(sc)

    def u_of(path: str) -> np.ndarray | None:
        if path in fixed:  # solved by the calibration: no draws
            return None
        return joined[path] if path in joined else indep(path)

    vals = _values(sc, u_of)
    if sc.spec.market is not None:  # linked token tiers: their paths from the market's equilibrium run
        from inferonomics.market.link import market_inputs

        vals.update(market_inputs(sc.spec.market, seed, lo, hi))
    return Inputs(vals, hi - lo)


def _order_stats(blocks: list[np.ndarray], ranks, sums: np.ndarray | None = None) -> dict[int, np.ndarray]:
    """Values of rank k and k + 1 (0-based, where k + 1 < n) along the rows of ``blocks`` (rows x n_i each,
    side by side: one array, or its chunks of paths; n in all), for each k in ``ranks``: per row, nested
    single-rank selections (``ndarray.partition`` in place on one reused copy of the joined row), the middle
    rank first, then each side within its part only; the value of rank k + 1 is the minimum of the part
    above k.  A few times faster than one ``np.partition`` at several ranks or a full sort, and it touches
    one row's worth of new memory.  ``sums``: filled with each joined row's sum (the same figure as summing
    one contiguous array)."""
    rows, n = blocks[0].shape[0], sum(x.shape[1] for x in blocks)
    ks = sorted({int(k) for k in ranks})
    out = {k: np.empty(rows) for k in ks}
    out.update({k + 1: np.empty(rows) for k in ks if k + 1 < n})
    c = np.empty(n)

    def select(r: int, lo: int, hi: int, part: list[int]) -> None:
        if not part:
            return
        m = len(part) // 2
        k = part[m]
        c[lo:hi].partition(k - lo)
        out[k][r] = c[k]
        if k + 1 < hi:  # (else k + 1 is hi: a rank an enclosing call selected, or n)
            out[k + 1][r] = c[k + 1:hi].min()
        select(r, lo, k, part[:m])
        select(r, k + 1, hi, part[m + 1:])

    for r in range(rows):
        lo = 0
        for x in blocks:
            np.copyto(c[lo:lo + x.shape[1]], x[r])
            lo += x.shape[1]
        if sums is not None:
            sums[r] = c.sum()
        select(r, 0, n, ks)
    return out


def _rows(a: np.ndarray) -> np.ndarray:
    """``a`` (paths x years) as contiguous rows, years x paths (a view for the kernel's year-major arrays)."""
    return a.T if a.T.flags.c_contiguous else np.ascontiguousarray(a.T)


def _interpolated(blocks: list[np.ndarray], qs, sums: np.ndarray | None = None) -> np.ndarray:
    """Percentiles (``qs`` in %, linear interpolation as ``np.quantile``) x years of finite values held in
    row blocks side by side (years x paths each: one array, or its chunks of paths), from exact order
    statistics (:func:`_order_stats`, which fills ``sums`` with the joined rows' sums when given)."""
    q = np.asarray(qs, dtype=float) / 100.0
    n = sum(b.shape[1] for b in blocks)
    h = (n - 1) * q
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    stats = _order_stats(blocks, lo, sums)
    x0 = np.stack([stats[k] for k in lo], axis=1)
    x1 = np.stack([stats[k] for k in hi], axis=1)
    return (x0 + (x1 - x0) * (h - lo)).T


def _quantiles(a: np.ndarray, qs=PERCENTILES, finite: bool | None = None) -> np.ndarray:
    """Percentiles over paths (axis 0), linear interpolation as ``np.quantile``; non-finite values (e.g. an
    infinite R&D/gross-profit ratio) allowed.

    Finite metrics take exact order statistics (:func:`_order_stats`) along the contiguous path axis of the
    kernel's year-major arrays, instead of ``np.quantile``'s copy and wider partition.  ``finite``: already
    known (the caller summed the metric)."""
    if finite is None:
        finite = bool(np.isfinite(a).all())
    if finite:
        return _interpolated([_rows(a)], qs)
    import warnings

    with warnings.catch_warnings():  # a metric undefined on every path (e.g. no token revenue) stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanquantile(a, np.asarray(qs, dtype=float) / 100.0, axis=0, method="nearest")


def _describe(blocks: list[np.ndarray], percentiles) -> tuple[np.ndarray, np.ndarray]:
    """(percentiles x years, mean per year) of one metric held in row blocks (years x paths each: the whole
    metric, or its chunks of paths side by side); the mean is NaN for a year with a non-finite path.  One
    pass sums the paths: a finite sum means every path is finite.  Chunks give the figures of one array to
    the bit: their mean is summed on the joined rows, as one array's is."""
    with np.errstate(invalid="ignore", over="ignore"):
        total = np.sum([b.sum(axis=1) for b in blocks], axis=0) if len(blocks) > 1 else blocks[0].sum(axis=1)
    finite = np.isfinite(total)
    n = sum(b.shape[1] for b in blocks)
    if not finite.all():
        if len(blocks) > 1:  # joined, and summed again on the joined rows
            joined = np.concatenate(blocks, axis=1)
            with np.errstate(invalid="ignore", over="ignore"):
                total = joined.sum(axis=1)
            blocks = [joined]
        return _quantiles(blocks[0].T, percentiles, finite=False), np.where(finite, total / n, np.nan)
    exact = np.empty(len(total)) if len(blocks) > 1 else None
    q = _interpolated(blocks, percentiles, exact)
    return q, (total if exact is None else exact) / n


def _threads() -> int:
    import os

    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


@dataclass(frozen=True)
class Result:
    """Paths × years of every metric; column 0 is the modelled base year (kept for calibration)."""

    scenario: Scenario
    paths_n: int
    seed: int
    years: int
    metrics: dict[str, np.ndarray] = field(repr=False)

    # -- labels ------------------------------------------------------------------------------------
    @property
    def base_year(self) -> int:
        return self.scenario.spec.base_year.year

    @property
    def fiscal_years(self) -> list[int]:
        """Projected fiscal years, first to last."""
        return [self.base_year + k for k in range(1, self.years + 1)]

    @property
    def target_index(self) -> int | None:
        t = self.scenario.spec.target
        return None if t is None else t.year - self.base_year

    def metric_names(self) -> list[str]:
        return list(self.metrics)

    def _columns(self, name: str, cols) -> np.ndarray:
        """``metric[:, cols]``; a store-backed result reads only those years."""
        if isinstance(self.metrics, (_StoreMetrics, _ChunkedMetrics)):
            if name not in self.metrics:
                raise UnknownNameError("metric", name, self.metrics)
            return self.metrics.read(name, cols)
        return self._metric(name)[:, cols]

    def _last_col(self) -> int:
        if isinstance(self.metrics, (_StoreMetrics, _ChunkedMetrics)):
            return self.metrics.years - 1
        return self.metrics["revenue_usd"].shape[1] - 1

    def _metric(self, name: str) -> np.ndarray:
        if name not in self.metrics:
            raise UnknownNameError("metric", name, self.metrics)
        return self.metrics[name]

    def _col(self, year: int | None) -> int:
        """Column of a fiscal year (e.g. 2031) or of a projection year counted from 1 (e.g. 5)."""
        if year is None:
            return self.target_index or self.years
        k = year - self.base_year if year > 100 else year
        last = self._last_col()
        if not 1 <= k <= last:
            raise InputError("year", year, f"must be a projected year: 1 to {last} or fiscal year "
                             f"{self.base_year + 1} to {self.base_year + last}")
        return k

    # -- outputs -------------------------------------------------------------------------------------
    def summary(self, metrics: list[str] | None = None, percentiles=PERCENTILES):
        """Tidy DataFrame: one row per (fiscal year, metric) with p10, p50, p90 (and the mean) over paths.

        Metrics are described in parallel threads (the selections release the GIL), each exactly as alone."""
        import pandas as pd

        return pd.DataFrame(self.summary_columns(metrics, percentiles))

    def summary_columns(self, metrics: list[str] | None = None, percentiles=PERCENTILES) -> dict[str, np.ndarray]:
        """:meth:`summary` as columns (name -> array), without pandas."""
        names = list(metrics or self.metric_names())
        cols = slice(1, self.years + 1)
        chunked = isinstance(self.metrics, _ChunkedMetrics)

        def describe(name: str):
            if chunked:
                if name not in self.metrics:
                    raise UnknownNameError("metric", name, self.metrics)
                return _describe([_rows(c[:, cols]) for c in self.metrics.chunks(name)], percentiles)
            return _describe([_rows(self._columns(name, cols))], percentiles)

        stored = isinstance(self.metrics, _StoreMetrics)  # read back one metric at a time: bounded memory
        if len(names) > 1 and self.paths_n >= 10_000 and _threads() > 1 and not stored:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(_threads()) as pool:
                parts = list(pool.map(describe, names))
        else:
            parts = [describe(n) for n in names]
        ny = self.years
        d = {"year": np.tile(self.fiscal_years, len(names)),
             "year_label": np.tile([self.scenario.year_label(y) for y in self.fiscal_years], len(names)),
             "metric": np.repeat(np.array(names, dtype=object), ny)}
        for i, p in enumerate(percentiles):
            d[f"p{p}"] = np.concatenate([q[i] for q, _ in parts]) if parts else np.empty(0)
        d["mean"] = np.concatenate([m for _, m in parts]) if parts else np.empty(0)
        return d

    def wide(self, percentile: int = 50, metrics: list[str] | None = None):
        """One percentile as a year × metric table."""
        df = self.summary(metrics, (percentile,))
        return df.pivot(index="year", columns="metric", values=f"p{percentile}")[metrics or self.metric_names()]

    def to_dataset(self, include_base_year: bool = True, stack: bool = True, path_offset: int = 0):
        """Every metric as a labelled ``xarray.Dataset``: dims ``path x year`` (fiscal years), per-tier metrics
        gathered along ``tier`` and per-fleet ones along ``fleet`` (coordinates ``fleet_kind``,
        ``accelerator``), ``units`` from the name's unit suffix.  Tier and fleet metrics are stacked (copied),
        the others are views of the paths.  ``stack=False``: every metric stays its own ``path x year``
        variable under its own name (what a store written by :func:`simulate` holds); ``path_offset``: the
        number of the first path (a chunk of a larger run)."""
        import xarray as xr

        spec = self.scenario.spec
        first = 0 if include_base_year else 1
        years = [self.base_year + k for k in range(first, self.years + 1)]
        cols = slice(first, self.years + 1)
        fleets = [("serving", t.deployment.gpu) for t in spec.token_tiers.values()]
        if spec.gpu_rental is not None:
            fleets.append(("rental", spec.gpu_rental.accelerator))
        if spec.rnd.training is not None:
            fleets.append(("training", spec.rnd.training.accelerator))
        fleets = list(dict.fromkeys(fleets))
        tags = {f"fleet_{k}_{a.replace('-', '_').replace('.', '_')}_": (k, a) for k, a in fleets}
        tiers = {name: name.replace("-", "_") for name in spec.token_tiers}
        tier_keys = {"tokens_{}_mtok": "tokens_mtok", "price_{}_usd_per_mtok": "price_usd_per_mtok",
                     "revenue_tokens_{}_usd": "revenue_usd"}
        used, data = set(), {}
        if not stack:
            tier_keys, tags = {}, {}
        for pattern, short in tier_keys.items():
            names = [pattern.format(key) for key in tiers.values()]
            if names and all(n in self.metrics for n in names):
                data[f"tier_{short}"] = (("tier", "path", "year"), np.stack([self.metrics[n][:, cols] for n in names]))
                used.update(names)
        suffixes = sorted({k[len(t):] for k in self.metrics for t in tags if k.startswith(t)})
        for suf in suffixes:
            names = [t + suf for t in tags]
            if all(n in self.metrics for n in names):
                data[f"fleet_{suf}"] = (("fleet", "path", "year"), np.stack([self.metrics[n][:, cols] for n in names]))
                used.update(names)
        for k, v in self.metrics.items():
            if k not in used:
                data[k] = (("path", "year"), v[:, cols])
        ds = xr.Dataset(data, coords={
            "path": np.arange(path_offset, path_offset + self.paths_n), "year": years, "tier": list(tiers),
            "fleet": [f"{k} {a}" for k, a in fleets], "fleet_kind": ("fleet", [k for k, _ in fleets]),
            "accelerator": ("fleet", [a for _, a in fleets]),
        }, attrs={"scenario": self.scenario.name, "seed": self.seed, "base_year": self.base_year})
        for k in ds.data_vars:
            ds[k].attrs["units"] = _unit_of(k)
        return ds

    def paths(self, metric: str, include_base_year: bool = False):
        """Every path of one metric: rows = paths, columns = fiscal years."""
        import pandas as pd

        a = self._metric(metric)
        first = 0 if include_base_year else 1
        cols = [self.base_year + k for k in range(first, self.years + 1)]
        return pd.DataFrame(a[:, first:self.years + 1], columns=cols).rename_axis("path")

    def events(self, year: int | None = None) -> dict:
        """Probabilities (share of paths) in the target year (or ``year``): revenue >= target, gross margin > 0,
        cumulative free cash flow > 0 (summed from the first projected year), both revenue and margin."""
        k = self._col(year)
        rev = self._columns("revenue_usd", k)
        gp = self._columns("gross_profit_usd", k)
        cum = self._columns("cumulative_free_cash_flow_usd", k)
        op = self._columns("operating_profit_usd", k)
        t = self.scenario.spec.target
        out = {
            "year": self.base_year + k,
            "year_label": self.scenario.year_label(self.base_year + k),
            "target_revenue_usd": t.revenue_usd_per_year.fixed_value() if t else None,
            "p_gross_margin_positive": float(np.mean(gp > 0)),
            "p_cumulative_free_cash_flow_positive": float(np.mean(cum > 0)),
            "p_operating_profit_positive": float(np.mean(op > 0)),
        }
        if t is not None:
            hit = rev >= out["target_revenue_usd"]
            out["p_revenue_at_least_target"] = float(np.mean(hit))
            out["p_target_and_gross_margin_positive"] = float(np.mean(hit & (gp > 0)))
        else:
            out["p_revenue_at_least_target"] = None
            out["p_target_and_gross_margin_positive"] = None
        out["mc_standard_error_at_most"] = 0.5 / np.sqrt(self.paths_n)
        return out

    def calibration(self):
        """Reported base-year figures beside the Monte Carlo's modelled years (P10/P50/P90): the scenario's
        calibration targets (solved on its central point, see :mod:`inferonomics.market.calibrate`; the
        tolerance and whether the central point meets it) and its ``checks`` (no effect on the model)."""
        import pandas as pd

        rows = self.calibration_rows()
        return pd.DataFrame(rows) if rows else pd.DataFrame(columns=CALIBRATION_COLUMNS)

    def calibration_rows(self) -> list[dict]:
        """:meth:`calibration` as a list of rows (dicts), without pandas."""
        from inferonomics.market.calibrate import calibration_of

        rows = []
        last = self._last_col()
        items = []
        cal = calibration_of(self.scenario)
        if cal is not None:
            for t, solved in zip(self.scenario.spec.calibration.targets, cal.targets, strict=True):
                items.append((t.label, t.metric, [self.base_year], t.value, t.tolerance, solved["ok"],
                              solved["solved_by"]))
        for c in self.scenario.spec.checks:
            items.append((c.label, c.metric, c.years, c.value, np.nan, None, "(check)"))
        for label, metric, years, value, tol, ok, by in items:
            ks = [y - self.base_year for y in years]
            reported = value.fixed_value()
            row = {"check": label, "metric": metric, "years": "+".join(str(y) for y in years),
                   "reported": reported, "modelled_p10": np.nan, "modelled_p50": np.nan,
                   "modelled_p90": np.nan, "modelled_p50_over_reported": np.nan, "tolerance": tol,
                   "calibrated_ok": ok, "solved_by": by, "provenance": value.provenance}
            if all(0 <= k <= last for k in ks) and metric in self.metrics:
                s = self._columns(metric, ks).sum(1)
                q = _quantiles(s[:, None])[:, 0]
                row.update(modelled_p10=q[0], modelled_p50=q[1], modelled_p90=q[2],
                           modelled_p50_over_reported=q[1] / reported if reported else np.nan)
            rows.append(row)
        return rows

    def key_figures(self, year: int | None = None) -> dict:
        """Headline figures for one year (default: the target year) plus the events; for ``compare``."""
        k = self._col(year)
        out = {"scenario": self.scenario.name, "year": self.base_year + k}
        for name, metric, p in KEY_FIGURES:
            if metric in self.metrics:
                out[name] = float(_quantiles(self.metrics[metric][:, k:k + 1], (p,))[0, 0])
        capex_cum = self.metrics["capex_usd"][:, 1:k + 1].sum(1)
        out["cumulative_capex_usd_p50"] = float(np.median(capex_cum))
        ev = self.events(year)
        for e in ("p_revenue_at_least_target", "p_gross_margin_positive", "p_target_and_gross_margin_positive",
                  "p_cumulative_free_cash_flow_positive", "p_operating_profit_positive"):
            out[e] = ev[e]
        return out

    def price_for_gross_margin(self, gross_margin: float, year: int | None = None) -> dict:
        """Average token price (USD per Mtok) at which the token business earns ``gross_margin``: its cost per
        Mtok / (1 - margin), P10/P50/P90 over paths."""
        from inferonomics.market.targets import price_for_gross_margin

        k = self._col(year)
        cost = self.metrics["token_cost_usd_per_mtok"][:, k]
        q = _quantiles(price_for_gross_margin(cost, gross_margin)[:, None])[:, 0]
        return {"year": self.base_year + k, "gross_margin": gross_margin,
                "price_usd_per_mtok_p10": q[0], "price_usd_per_mtok_p50": q[1], "price_usd_per_mtok_p90": q[2]}


def _unit_of(name: str) -> str:
    for suffix, unit in (("_usd_per_gpu_hour", "USD/GPU-hour"), ("_usd_per_mtok", "USD per 1e6 tokens"),
                         ("_usd", "USD"), ("_mtok", "1e6 tokens"), ("_gpu_eq", "GPU-equivalents"),
                         ("_gpus", "GPUs"), ("_hours", "GPU-hours")):
        if name.endswith(suffix):
            return unit
    return "1" if any(w in name for w in ("margin", "share", "utilization", "ratio", "_to_")) else ""


def _horizon(sc: Scenario, years: int | None) -> tuple[int, int]:
    """(years shown, years simulated): simulation reaches the target year even if fewer are shown."""
    shown = sc.spec.horizon_years if years is None else _check_int("years", years, 1, 50)
    t = sc.spec.target
    need = t.year - sc.spec.base_year.year if t else shown
    return shown, max(shown, need)


def _project_chunk(sc: Scenario, paths: int, seed: int, lo: int, hi: int, sim: int, keep) -> dict[str, np.ndarray]:
    """Paths ``lo..hi-1``: sample, project, keep the metrics asked for (all when ``keep`` is None)."""
    part = project(sc, sample_inputs(sc, paths, seed, lo, hi), sim + 1)
    return part if keep is None else {k: part[k] for k in keep}


def _client(scheduler):
    """A dask.distributed client: an existing Client, ``"local"`` (a LocalCluster on this machine) or an
    address (``tcp://HOST:PORT``).  Returns (client, close) where close() ends what this call started."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise InputError("scheduler", scheduler, "needs dask.distributed: pip install 'inferonomics[dask]'") from None
    if isinstance(scheduler, Client):
        return scheduler, lambda: None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
        return client, lambda: (client.close(), cluster.close())
    if isinstance(scheduler, str) and scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:  # nothing listening, wrong host, firewall
            raise InputError("scheduler", scheduler, "no dask scheduler answered there within "
                             f"{CONNECT_TIMEOUT_S} s ({str(exc).splitlines()[0][:160]}); start one with "
                             "`dask scheduler` (and workers with `dask worker ADDRESS`), or give 'local'") from None
        return client, client.close
    raise InputError("scheduler", scheduler, "give 'local', a scheduler address such as tcp://HOST:PORT, or a "
                     "dask.distributed Client")


def simulate(
    scenario,
    paths: int = DEFAULT_PATHS,
    seed: int = DEFAULT_SEED,
    years: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    *,
    scheduler=None,
    metrics: list[str] | None = None,
    chunk_paths: int | None = None,
    store=None,
) -> Result:
    """Monte Carlo over ``paths`` draws of the uncertain inputs (seeded), vectorized over paths × years.

    ``scenario``: a built-in name, a YAML path or a loaded :class:`Scenario`.  ``progress(done, total)`` is
    called after each chunk of paths.  ``scheduler``: run the chunks on a dask.distributed cluster
    (``"local"``, ``tcp://HOST:PORT`` or a Client); each worker draws its own paths (the streams jump ahead),
    so the same seed gives the same paths, hence the same percentiles, as the in-process run.  ``metrics``:
    keep only these (memory: paths x years x 8 bytes each).  ``chunk_paths``: paths projected at once (default:
    all of them up to 131,072 in process, else 25,000; 50,000 per task on a cluster).  ``store``: a
    ``.zarr`` path: each chunk is written there as it arrives (in path order) instead of being kept, and the
    result reads its metrics back from the store one at a time (memory: one metric, not all); a ``.nc`` path:
    the whole result is written there as NetCDF at the end (held in memory first)."""
    sc = _as_scenario(scenario)
    paths = _check_int("paths", paths, 1, 100_000_000 if scheduler is not None else 5_000_000)
    seed = _check_int("seed", seed, 0, 2**63 - 1)
    if chunk_paths is None:
        chunk_paths = DASK_CHUNK_PATHS if scheduler is not None else (
            paths if paths <= ONE_CHUNK_PATHS else CHUNK_PATHS)
    chunk_paths = _check_int("chunk_paths", chunk_paths, 1, 10_000_000)
    shown, sim = _horizon(sc, years)
    _calibrated(sc)  # solve the base year here, once: a cluster's workers receive the solved scenario
    keep = None
    if metrics is not None:
        known = _metric_names(sc)
        for name in metrics:
            if name not in known:
                raise UnknownNameError("metrics", name, known)
        # and what every Result reads (its year axis, events)
        keep = list(dict.fromkeys([*metrics, "revenue_usd", "gross_profit_usd", "operating_profit_usd",
                                   "cumulative_free_cash_flow_usd"]))
    bounds = [(lo, min(lo + chunk_paths, paths)) for lo in range(0, paths, chunk_paths)]
    out: dict[str, np.ndarray] = {}
    kind = _store_kind(store)
    writer = _ZarrWriter(store, sc, seed, sim) if kind == "zarr" else None

    chunks: dict[int, dict] = {}  # in process: the chunks as projected, joined per metric when read

    def keep_part(lo: int, hi: int, part: dict) -> None:
        if writer is not None:
            writer.add(lo, hi, part)
            return
        if hi - lo == paths:
            out.update(part)
            return
        if scheduler is None:
            chunks[lo] = part
            return
        for k, v in part.items():
            if k not in out:  # (paths, years) stored year-major, as the kernel makes them
                out[k] = np.empty((sim + 1, paths)).T
            out[k][lo:hi] = v

    if scheduler is None:
        for lo, hi in bounds:
            keep_part(lo, hi, _project_chunk(sc, paths, seed, lo, hi, sim, keep))
            if progress:
                progress(hi, paths)
    else:
        client, close = _client(scheduler)  # first: it says what is missing when dask is not installed
        from dask.distributed import as_completed

        try:
            sc_remote = client.scatter(sc, broadcast=True)
            futures = {client.submit(_project_chunk, sc_remote, paths, seed, lo, hi, sim, keep, pure=False): (lo, hi)
                       for lo, hi in bounds}
            done = 0
            for fut in as_completed(futures):
                lo, hi = futures[fut]
                keep_part(lo, hi, fut.result())
                fut.release()
                done += hi - lo
                if progress:
                    progress(done, paths)
        finally:
            close()
    if writer is not None:
        return Result(sc, paths, seed, shown, writer.finish())
    res = Result(sc, paths, seed, shown, _ChunkedMetrics([chunks[k] for k in sorted(chunks)]) if chunks else out)
    if kind == "netcdf":
        _write_netcdf(res, store)
    return res


def _store_kind(store) -> str | None:
    if store is None:
        return None
    import os

    p = os.fspath(store)
    if p.endswith(".zarr"):
        return "zarr"
    if p.endswith(".nc"):
        return "netcdf"
    raise InputError("out", p, "must be a path ending in .zarr (streamed as the chunks arrive) or .nc (NetCDF)")


class _ZarrWriter:
    """Appends chunks of paths to a Zarr store in path order (chunks finishing early wait in a buffer), one
    ``year x path`` variable per metric (as the kernel lays them out: reading one back is contiguous)."""

    def __init__(self, path, sc: Scenario, seed: int, sim: int):
        try:
            import zarr  # noqa: F401
        except ImportError:
            raise InputError("out", str(path), "a .zarr store needs zarr: pip install 'inferonomics[dask]'") from None
        self.path, self.sc, self.seed, self.sim = path, sc, seed, sim
        self.next, self.waiting, self.names = 0, {}, None

    def add(self, lo: int, hi: int, part: dict) -> None:
        self.waiting[lo] = (hi, part)
        while self.next in self.waiting:
            hi2, p = self.waiting.pop(self.next)
            self._write(self.next, hi2, p)
            self.next = hi2

    def _write(self, lo: int, hi: int, part: dict) -> None:
        ds = Result(self.sc, hi - lo, self.seed, self.sim, part).to_dataset(stack=False, path_offset=lo)
        ds = ds.drop_vars(["tier", "fleet", "fleet_kind", "accelerator"], errors="ignore").transpose("year", "path")
        if lo == 0:
            ds.to_zarr(self.path, mode="w", consolidated=False,
                       encoding={k: {"chunks": (self.sim + 1, hi - lo)} for k in ds.data_vars})
            self.names = list(ds.data_vars)
        else:
            ds.to_zarr(self.path, append_dim="path", consolidated=False)

    def finish(self) -> _StoreMetrics:
        if self.waiting:  # pragma: no cover - every chunk arrives before finish
            raise RuntimeError(f"chunks not written: {sorted(self.waiting)}")
        return _StoreMetrics(self.path, self.names or [])


class _StoreMetrics(Mapping):
    """Metrics of a result kept in a Zarr store: ``paths x years`` arrays read on access, one at a time."""

    def __init__(self, path, names: list[str]):
        self.path, self.names = path, list(names)
        import xarray as xr

        with xr.open_zarr(self.path, consolidated=False, chunks=None) as ds:
            self.years = ds.sizes["year"]

    def read(self, name: str, cols) -> np.ndarray:
        """``paths x len(cols)`` (or ``paths`` for one column) of one metric, read from the store."""
        if name not in self.names:
            raise KeyError(name)
        import xarray as xr

        with xr.open_zarr(self.path, consolidated=False, chunks=None) as ds:
            return np.asarray(ds[name].isel(year=cols).values).T  # stored year x path: a contiguous read

    def __getitem__(self, name: str) -> np.ndarray:
        return self.read(name, slice(None))

    def __contains__(self, name) -> bool:  # (Mapping's would read the metric)
        return name in self.names

    def __iter__(self):
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


class _ChunkedMetrics(Mapping):
    """Metrics of an in-process run kept in the chunks of paths they were projected in (no copy into one
    array per metric): a metric is joined on first access (and kept); the summary and a few columns read
    the chunks directly."""

    def __init__(self, parts: list[dict[str, np.ndarray]]):
        self.parts = parts
        self.names = list(parts[0])
        self.years = parts[0][self.names[0]].shape[1]
        self._joined: dict[str, np.ndarray] = {}

    def chunks(self, name: str) -> list[np.ndarray]:
        if name not in self.parts[0]:
            raise KeyError(name)
        return [p[name] for p in self.parts]

    def read(self, name: str, cols) -> np.ndarray:
        """``paths x len(cols)`` (or ``paths`` for one column) of one metric."""
        if name in self._joined:
            return self._joined[name][:, cols]
        return np.concatenate([c[:, cols] for c in self.chunks(name)], axis=0)

    def __getitem__(self, name: str) -> np.ndarray:
        a = self._joined.get(name)
        if a is None:
            cs = self.chunks(name)
            # (paths, years) stored year-major, as the kernel makes them
            a = np.empty((cs[0].shape[1], sum(len(c) for c in cs))).T
            lo = 0
            for c in cs:
                a[lo:lo + len(c)] = c
                lo += len(c)
            self._joined[name] = a
        return a

    def __contains__(self, name) -> bool:  # (Mapping's would join the metric)
        return name in self.parts[0]

    def __iter__(self):
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def _write_netcdf(res: Result, path) -> None:
    """The whole result as NetCDF (netCDF4 or h5netcdf if installed, else NetCDF3 through SciPy)."""
    ds = res.to_dataset(stack=False).drop_vars(["tier", "fleet", "fleet_kind", "accelerator"], errors="ignore")
    ds.attrs = {k: v for k, v in ds.attrs.items() if v is not None}
    ds.to_netcdf(path)


def _metric_names(sc: Scenario) -> list[str]:
    return list(_project_chunk(sc, 1, 0, 0, 1, 1, None))


def sensitivity(scenario, output: str = "revenue_usd", year: int | None = None, *, years: int | None = None):
    """Tornado: the output in ``year`` (default: the target year) as each uncertain input moves from its P10 to
    its P90 with every other input at its P50 (inputs correlated with it at their conditional medians).  One
    vectorized run of 2K+1 rows.  Sorted by swing."""
    import pandas as pd

    sc = _as_scenario(scenario)
    _, sim = _horizon(sc, years)
    fixed = _calibrated(sc)  # inputs the calibration solves for are not free: no bar
    leaves = [lf for lf in sc.uncertain_inputs() if lf.path not in fixed]
    rows = 2 * len(leaves) + 1
    pos = {leaf.path: i for i, leaf in enumerate(leaves)}

    cop = sc.copula()
    cond = {p: (cop.conditional(p, 0.1), cop.conditional(p, 0.9)) for p in pos}

    def u_of(path: str) -> np.ndarray:
        u = np.full(rows, 0.5)
        i = pos.get(path)
        if i is not None:
            u[2 * i + 1], u[2 * i + 2] = 0.1, 0.9
        for other, k in pos.items():  # correlated inputs follow to their conditional medians
            lo, hi = cond[other]
            if path in lo:
                u[2 * k + 1], u[2 * k + 2] = lo[path], hi[path]
        return u

    vals = _values(sc, u_of)
    if sc.spec.market is not None:  # linked tiers at the market's per-year median path
        from inferonomics.market.link import market_inputs

        vals.update(market_inputs(sc.spec.market, DEFAULT_SEED))
    m = project(sc, Inputs(vals, rows), sim + 1)
    if output not in m:
        raise UnknownNameError("output", output, m)
    res = Result(sc, rows, 0, sim, m)
    k = res._col(year)
    col = m[output][:, k]
    base = float(col[0])
    out = []
    for path, i in pos.items():
        lf = leaves[i]
        # a per-year list moves all its years together; its first uncertain entry stands for it
        j = next(k for k, s in enumerate(lf.specs) if s.uncertain)
        s = lf.specs[j]
        many = lf.per_year and len(lf.specs) > 1
        out.append({
            "input": path, "entry": f"per-year list moved as one; entry {j + 1} shown" if many else "",
            "input_p10": float(s.ppf(0.1)), "input_p50": float(s.ppf(0.5)), "input_p90": float(s.ppf(0.9)),
            "output_at_input_p10": float(col[2 * i + 1]), "output_at_input_p90": float(col[2 * i + 2]),
        })
    df = pd.DataFrame(out, columns=["input", "entry", "input_p10", "input_p50", "input_p90", "output_at_input_p10",
                                    "output_at_input_p90"])
    df["swing"] = (df["output_at_input_p90"] - df["output_at_input_p10"]).abs()
    df = df.sort_values("swing", ascending=False, kind="stable").reset_index(drop=True)
    df.attrs.update(output=output, year=sc.spec.base_year.year + k, baseline=base, scenario=sc.name)
    return df


def compare(scenarios, paths: int = DEFAULT_PATHS, seed: int = DEFAULT_SEED, years: int | None = None,
            year: int | None = None, progress: Callable[[str], None] | None = None):
    """Key figures of several scenarios side by side (same seed: common random numbers): figure × scenario."""
    import pandas as pd

    cols = {}
    for s in scenarios:
        sc = _as_scenario(s)
        if progress:
            progress(sc.name)
        r = simulate(sc, paths=paths, seed=seed, years=years)
        kf = r.key_figures(year)
        cols[sc.name if sc.name not in cols else f"{sc.name} ({s})"] = kf
    df = pd.DataFrame(cols)
    return df
