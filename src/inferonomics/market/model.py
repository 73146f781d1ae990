"""The projection kernel: sampled inputs (arrays over paths) → yearly P&L, fleet and cash, per path.

Inside the kernel every array is time-major, ``(years, rows)`` with row 0 the base year, so that sums
over years and vintages run over contiguous memory; :func:`project` hands back ``(rows, years)`` views.
The only Python loops run over years, tiers and fleets, never over paths.  See :mod:`inferonomics.market`
for the modelling choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from inferonomics.ledger import lines as ledger_lines
from inferonomics.ledger.conventions import (
    HOURS_PER_YEAR,
    MONTHS_PER_YEAR,
    capital_recovery_factor,
    period_rate,
)

SECONDS_PER_YEAR = HOURS_PER_YEAR * 3600.0


class Inputs:
    """Sampled inputs by field path: ``(rows,)`` or ``(1,)`` for a number, ``(rows, k)`` or ``(1, k)`` for a
    per-year list."""

    def __init__(self, values: dict[str, np.ndarray], rows: int):
        self.values = values
        self.rows = rows

    def s(self, path: str) -> np.ndarray:
        """A number, shaped ``(1, rows or 1)`` to broadcast over years."""
        return self.values[path].reshape(1, -1)

    def y(self, path: str, years: int) -> np.ndarray:
        """A per-year rate as ``(years, rows or 1)``: year t >= 1 takes entry t-1 (the last repeats); year 0 is 0."""
        v = self.values[path]
        v = v.reshape(v.shape[0], -1)
        cols = np.minimum(np.arange(years - 1), v.shape[1] - 1)
        out = np.zeros((years, v.shape[0]))
        out[1:] = v[:, cols].T
        return out

    def take(self, lo: int, hi: int) -> Inputs:
        return Inputs({k: (v if v.shape[0] == 1 else v[lo:hi]) for k, v in self.values.items()}, hi - lo)

    def subset(self, rows: np.ndarray) -> Inputs:
        """The rows where the boolean mask ``rows`` is true (inputs shared by every row stay shared)."""
        n = int(np.count_nonzero(rows))
        if self.rows == 1:
            return self
        return Inputs({k: (v if v.shape[0] == 1 else v[rows]) for k, v in self.values.items()}, n)


def index(rates: np.ndarray) -> np.ndarray:
    """Cumulative index from per-year rates whose row 0 is 0: 1, (1+r1), (1+r1)(1+r2), ..."""
    out = 1.0 + rates
    for i in range(1, out.shape[0]):  # row by row: much faster than a cumulative product over axis 0
        np.multiply(out[i - 1], out[i], out=out[i])
    return out


@dataclass
class Fleet:
    """One fleet: serving (per accelerator), rental or training.  Needs and capacity in GPU-equivalents of
    the pool's catalog accelerator (physical GPUs for rental)."""

    kind: str
    accelerator: str
    need: np.ndarray  # (years, rows) capacity the year needs (the peak for serving)
    busy: np.ndarray  # (years, rows) capacity busy on average (drives power)
    perf_gain: bool


def _steps(x: Inputs, prefix: str, steps, y0: int, years: int) -> np.ndarray:
    out = np.ones((years, 1))
    yrs = np.arange(years)[:, None]
    for i, st in enumerate(steps):
        k = st.year - y0
        if k < years:
            out = out * np.where(yrs >= k, 1.0 + x.s(f"{prefix}.price_steps[{i}].change"), 1.0)
    return out


def _safe_div(a, b, fill=np.nan):
    a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
    out = np.full(a.shape, fill, dtype=float)
    np.divide(a, b, out=out, where=b != 0)
    return out


def _life_split(life: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whole years of full service K = floor(life) and the share served in year K, frac = life - K."""
    k = np.floor(life)
    return k.astype(np.int64), life - k


def _cumsum0(a: np.ndarray) -> np.ndarray:
    """Cumulative sum over axis 0 (row by row: much faster than ``np.cumsum(axis=0)`` for few long rows)."""
    out = np.empty_like(a)
    out[0] = a[0]
    for i in range(1, a.shape[0]):
        np.add(out[i - 1], a[i], out=out[i])
    return out


class _Lag:
    """``a[row - K[path], path]`` for per-path whole lives K, which take few distinct values: one slice per
    value and a masked copy, instead of a gather."""

    def __init__(self, k: np.ndarray):
        k = np.asarray(k).reshape(-1)
        self.values = np.unique(k)
        self.masks = [k == v for v in self.values[1:]]

    def __call__(self, a: np.ndarray, rows, extra: int = 0) -> np.ndarray:
        out = a[rows - self.values[0] - extra].copy()
        for v, mask in zip(self.values[1:], self.masks, strict=True):
            np.copyto(out, a[rows - v - extra], where=mask)
        return out


def vintage_books(spend: np.ndarray, rows_of_years: np.ndarray, life: np.ndarray):
    """Straight-line depreciation of purchases by vintage.

    ``spend``: (V, paths) USD bought per vintage row, with at least ``floor(max life) + 1`` leading zero
    rows; ``rows_of_years``: (years,) the vintage row of each year; ``life``: (1, paths) years, possibly
    fractional.  A vintage at age a (0 in its purchase year) is in service ``s_a = clip(life - a, 0, 1)`` of
    the year: the first K = floor(life) years fully, year K for frac = life - K.  It depreciates
    ``spend x s_a / life`` a year, which adds up to ``spend`` over its life.  With cumulative sums over
    vintages each year is a window: gross book in service = S[c] - S[c-K] + frac x spend[c-K]; net book
    value at year end = sum over a < K of spend[c-a] (1 - (a+1)/life).  Returns (depreciation, gross book
    in service, net book value), each (years, paths)."""
    k, frac = _life_split(life)
    lag = _Lag(k)
    cum = _cumsum0(spend)
    weighted = _cumsum0(spend * np.arange(spend.shape[0])[:, None])
    full = cum[rows_of_years] - lag(cum, rows_of_years)
    gross = full + frac * lag(spend, rows_of_years)
    age_weighted = (rows_of_years[:, None] + 1.0) * full - (weighted[rows_of_years] - lag(weighted, rows_of_years))
    return gross / life, gross, full - age_weighted / life


def run_fleet(fl: Fleet, x: Inputs, pool, pool_path: str, y0: int, years: int) -> dict[str, np.ndarray]:
    """Purchases (growth + replacement at end of life) so that capacity never falls below the need; books.

    Vintages are rows: ``pad`` zero rows, the base-year fleet's tranches, then one per projected year.  The
    only loop is over years (a purchase depends on what survives from earlier ones)."""
    rows = fl.need.shape[1]
    life = np.broadcast_to(x.s(f"{pool_path}.life_years"), (1, rows)).astype(float)
    k, frac = _life_split(life)
    n_init = pool.initial_fleet_purchase_years
    pad = int(k.max()) + 2
    v0 = pad + n_init - 1  # vintage row of the base year
    nv = v0 + years
    yrows = v0 + np.arange(years)
    capex0 = x.s(f"{pool_path}.accelerator_usd") * (1.0 + x.s(f"{pool_path}.server_network_frac"))
    capex_v = capex0 * index(x.y(f"{pool_path}.price_change_per_year", years))
    perf_v = index(x.y(f"{pool_path}.throughput_gain_per_year", years)) if fl.perf_gain else np.ones((years, 1))
    tdp_v = np.ones((years, 1))
    if pool.in_house is not None and fl.kind in pool.in_house.applies_to:
        ih = f"{pool_path}.in_house"
        on = (np.arange(years) >= pool.in_house.from_year - y0)[:, None]
        share = x.s(f"{ih}.share_of_purchases")
        perf_v = perf_v * np.where(on, 1 - share + share * x.s(f"{ih}.throughput_multiplier"), 1.0)
        capex_v = capex_v * np.where(on, 1 - share + share * x.s(f"{ih}.capex_multiplier"), 1.0)
        tdp_v = np.where(on, 1 - share + share * x.s(f"{ih}.power_multiplier"), 1.0)
    units = np.zeros((nv, rows))
    perf_u = np.ones((nv, rows))
    capex_u = np.zeros((nv, rows))
    tdp_u = np.ones((nv, rows))
    capex_u[pad:v0] = capex0
    capex_u[v0:] = capex_v
    perf_u[v0:] = perf_v
    tdp_u[v0:] = tdp_v
    # the base-year fleet meets the base-year need, bought over the last n_init years (the last one being the
    # base year) with purchases growing at the given rate, at base-year prices and performance
    h = x.s(f"{pool_path}.initial_fleet_purchases_growth_per_year")
    w = (1.0 + h) ** -np.arange(n_init, dtype=float)[:, None]
    w = w / w.sum(0, keepdims=True)
    units[pad:v0 + 1] = (fl.need[:1] * w)[::-1]
    cap = units * perf_u
    cum_cap = _cumsum0(cap)
    lag = _Lag(k)
    for t in range(1, years):
        c = v0 + t
        surviving = cum_cap[c - 1] - lag(cum_cap, c) + frac[0] * lag(cap, c)  # ages 1..K-1 fully, K in part
        buy = np.maximum(fl.need[t] - surviving, 0.0) / perf_u[c]
        units[c] = buy
        cap[c] = buy * perf_u[c]
        cum_cap[c] = cum_cap[c - 1] + cap[c]

    def in_service(v, cum=None):
        cum = _cumsum0(v) if cum is None else cum
        return cum[yrows] - lag(cum, yrows) + frac * lag(v, yrows)

    gpus = in_service(units)
    capacity = in_service(cap, cum_cap)
    tdp_w = in_service(units * tdp_u)
    retired = (1.0 - frac) * lag(units, yrows) + frac * lag(units, yrows, extra=1)
    spend = units * capex_u
    dep, gross, nbv = vintage_books(spend, yrows, life)
    return {
        "gpus": gpus,
        "capacity": capacity,
        "need": fl.need,
        "purchased": units[v0:],
        "retired": retired,
        "capex": spend[v0:],
        "depreciation": dep,
        "gross_book": gross,
        "net_book": nbv,
        "tdp_factor": _safe_div(tdp_w, gpus, 1.0),
        "utilization": np.clip(_safe_div(fl.busy, capacity, 0.0), 0.0, 1.0),
        # vintage detail for the accounting checks: spend and year of every vintage row, life per path
        "vintage_spend": spend,
        "vintage_year": np.arange(nv) - v0,
        "life": life,
    }


def _fleet_table(spec):
    """The fleet simulation's scale table when ``serving.utilization_from`` is ``fleet`` (computed once,
    cached on disk), else None."""
    if spec.serving.utilization_from != "fleet":
        return None
    import os

    name = spec.serving.fleet_scenario
    try:  # a fleet scenario file: its edits are seen (the key holds its modification time)
        stamp = os.stat(name).st_mtime_ns if os.path.isfile(name) else None
    except OSError:
        stamp = None
    tiers = tuple((n, t.deployment.model, t.deployment.gpu) for n, t in spec.token_tiers.items())
    return _fleet_table_cached(name, tiers, bool(spec.serving.idle_to_training), stamp)


@lru_cache(maxsize=32)
def _fleet_table_cached(name: str, tiers: tuple, idle_to_training: bool, _stamp):
    """One load and check per fleet scenario and tier set (a projection runs many times per simulation)."""
    from inferonomics.fleet.scale_table import for_tiers

    return for_tiers(name, {n: (model, gpu) for n, model, gpu in tiers}, idle_to_training=idle_to_training)


def project(sc, x: Inputs, years: int, books: dict | None = None) -> dict[str, np.ndarray]:
    """All yearly metrics, ``(rows, years)`` each, column 0 the base year.  ``books``, if given, receives each
    fleet's vintage books, time-major (for the accounting checks).

    The exit rule: on a path whose token gross margin falls below the exit margin in a projected year, the
    token tiers sell nothing from that year on (a second pass; the years before are unchanged, since a fleet
    is bought for the year's own need).  Tiers linked to a market (:mod:`inferonomics.market.link`) take the
    market file's ``exit_gross_margin``; other scenarios ``serving.exit_gross_margin`` (none: no exit)."""
    if sc.spec.market is not None:
        exit_gm = x.values.get("market.exit_gross_margin")
    else:
        exit_gm = x.values.get("serving.exit_gross_margin")
    if exit_gm is None or years < 2:  # no projected year: nothing to exit from
        return _project(sc, x, years, books)
    m = _project(sc, x, years, books)
    with np.errstate(invalid="ignore"):
        below = np.nan_to_num(m["gross_margin_tokens"][:, 1:], nan=np.inf) < np.reshape(exit_gm, (-1, 1))
    out = np.zeros(below.shape[0], int)
    hit = below.any(axis=1)
    out[hit] = np.argmax(below[hit], axis=1) + 1  # the exit year's column
    if hit.any():
        stay = ~(hit[:, None] & (np.arange(years)[None, :] >= out[:, None]))
        values = {**x.values, "token_sales.stay": stay.astype(float)}  # read by _project's token tiers
        if books is not None:  # the accounting checks read every path's books: run them all again
            books.clear()
            m = _project(sc, Inputs(values, x.rows), years, books)
        else:  # only the paths that exit change: run those again
            for k, v in _project(sc, Inputs(values, x.rows).subset(hit), years).items():
                a = m[k] if m[k].flags.writeable else np.array(m[k])
                a[hit] = v
                m[k] = a
    m["token_sales_exited"] = (hit[:, None] & (np.arange(years)[None, :] >= out[:, None])).astype(float)
    return m


def _project(sc, x: Inputs, years: int, books: dict | None = None) -> dict[str, np.ndarray]:
    spec = sc.spec
    cat = sc.catalog
    y0 = spec.base_year.year
    rows = x.rows
    shape = (years, rows)
    m: dict[str, np.ndarray] = {}

    def full(a):
        return np.broadcast_to(a, shape).astype(float, copy=False)

    def volume(p: str):
        """Index of demand: growth and attrition (before any price effect)."""
        return index(x.y(f"{p}.growth_per_year", years)) * index(-x.y(f"{p}.attrition_per_year", years))

    # --- token tiers -------------------------------------------------------------------------------
    sw = index(x.y("serving.software_throughput_gain_per_year", years))
    fleet_table = _fleet_table(spec)
    if fleet_table is None:
        peak_factor = x.s("serving.peak_to_average") / x.s("serving.peak_utilization")
    else:
        from inferonomics.fleet.scale_table import daily_tokens as fleet_daily_tokens
    fleets: list[Fleet] = []
    serving: dict[str, list[np.ndarray]] = {}
    rev_tokens = np.zeros(shape)
    tokens = np.zeros(shape)
    linked = spec.market.tiers if spec.market is not None else {}
    tier_use: dict[str, tuple] = {}  # tier -> (metric key, accelerator, volume, average busy GPUs)
    lendable: dict[str, np.ndarray] = {}  # accelerator -> serving GPU-equivalents idle for training, on average
    for name, t in spec.token_tiers.items():
        p = f"token_tiers.{name}"
        d = t.deployment
        blended_list = (d.isl * x.s(f"{p}.input_price_usd_per_mtok")
                        + d.osl * x.s(f"{p}.output_price_usd_per_mtok")) / (d.isl + d.osl)
        price0 = blended_list * x.s(f"{p}.realized_share_of_list_price")
        if t.base_tokens_mtok_per_year is not None:
            vol0 = x.s(f"{p}.base_tokens_mtok_per_year")
        else:
            vol0 = _safe_div(x.s(f"{p}.base_revenue_usd_per_year"), price0, 0.0)
        if name in linked:
            # prices and volume beyond demand growth from the market's equilibrium (inferonomics.market.link)
            from inferonomics.market.link import market_years

            pidx = market_years(x.values[f"market.{name}.price_index"], years)
            vol = full(vol0 * index(x.y(f"{p}.growth_per_year", years))
                       * market_years(x.values[f"market.{name}.volume_factor"], years))
        else:
            pidx = index(x.y(f"{p}.price_change_per_year", years)) * _steps(x, p, t.price_steps, y0, years)
            elasticity = x.s(f"{p}.price_elasticity")
            vol = full(vol0 * volume(p) * (pidx ** -elasticity if np.any(elasticity) else 1.0))
        if "token_sales.stay" in x.values:  # the exit pass of project(): nothing sold from the exit year on
            vol = vol * x.values["token_sales.stay"].T
        price = full(price0 * pidx)
        rev = vol * price
        tps = sc.tiers_tokens_per_s_per_gpu[name] * x.s(f"{p}.throughput_multiplier") * sw
        avg_gpus = vol * (1e6 / SECONDS_PER_YEAR) / tps
        need, busy = serving.setdefault(d.gpu, [np.zeros(shape), np.zeros(shape)])
        if fleet_table is None:
            need += avg_gpus * peak_factor
        else:
            # the fleet simulation's utilization at the tier's daily volume, counted in replicas of the
            # reference deployment: a path or year with more tokens/s per GPU needs fewer replicas
            daily = fleet_daily_tokens(vol, HOURS_PER_YEAR) / (x.s(f"{p}.throughput_multiplier") * sw)
            tier_need = avg_gpus / np.maximum(fleet_table.lookup(name, "owned_utilization", daily), 1e-6)
            need += tier_need
            # the owned GPU-hours the simulation lent to training (0 unless the fleet scenario lends)
            share = fleet_table.lookup(name, "training_share", daily)
            if np.any(share > 0):
                lendable[d.gpu] = lendable.get(d.gpu, 0.0) + tier_need * share
        busy += avg_gpus
        key = name.replace("-", "_")
        tier_use[name] = (key, d.gpu, vol, avg_gpus)
        m[f"tokens_{key}_mtok"] = vol
        m[f"price_{key}_usd_per_mtok"] = price
        m[f"revenue_tokens_{key}_usd"] = rev
        rev_tokens += rev
        tokens += vol
    for acc, (need, busy) in serving.items():
        fleets.append(Fleet("serving", acc, need, busy, perf_gain=True))

    # --- GPU rental ------------------------------------------------------------------------------------
    rev_rental = np.zeros(shape)
    if spec.gpu_rental is not None:
        g = spec.gpu_rental
        p = "gpu_rental"
        price0 = x.s(f"{p}.price_usd_per_gpu_hour")
        price = full(price0 * index(x.y(f"{p}.price_change_per_year", years)) * _steps(x, p, g.price_steps, y0, years))
        if g.base_gpu_hours_per_year is not None:
            hours0 = x.s(f"{p}.base_gpu_hours_per_year")
        else:
            hours0 = _safe_div(x.s(f"{p}.base_revenue_usd_per_year"), price0, 0.0)
        hours = full(hours0 * volume(p))
        rev_rental = hours * price
        busy = hours / HOURS_PER_YEAR
        fleets.append(Fleet("rental", g.accelerator, busy / x.s(f"{p}.utilization"), busy, perf_gain=True))
        m["gpu_rental_hours"] = hours
        m["price_gpu_rental_usd_per_gpu_hour"] = price

    # --- model training (R&D) -----------------------------------------------------------------------
    lent = {}  # accelerator -> serving GPU-equivalents that train (counted against the training fleet)
    lent_busy = {}  # ... and how busy they keep the serving fleet (training's utilization of them)
    if spec.rnd.training is not None:
        tr = spec.rnd.training
        need = full(x.s("rnd.training.base_gpus") * index(x.y("rnd.training.growth_per_year", years)))
        u_train = x.s("rnd.training.utilization")
        if tr.accelerator in lendable:
            # the serving fleet's idle GPU-hours on the same accelerator train, at the training fleet's own
            # utilization: the training fleet buys only what they do not cover (its need and the serving
            # fleet's are GPU-equivalents of the same pool's card)
            lent[tr.accelerator] = np.minimum(lendable[tr.accelerator], need)
            need = need - lent[tr.accelerator]
            lent_busy[tr.accelerator] = lent[tr.accelerator] * u_train
            for fl in fleets:
                if fl.kind == "serving" and fl.accelerator == tr.accelerator:
                    fl.busy = fl.busy + lent_busy[tr.accelerator]
        fleets.append(Fleet("training", tr.accelerator, need, need * u_train, perf_gain=True))
    m["training_on_serving_gpu_eq"] = sum(lent.values()) if lent else np.zeros(shape)

    # --- classic cloud -------------------------------------------------------------------------------
    rev_classic = np.zeros(shape)
    cor_classic = np.zeros(shape)
    capex_classic = np.zeros(shape)
    dep_classic = np.zeros(shape)
    nbv_classic = np.zeros(shape)
    if spec.classic_cloud is not None:
        cc = spec.classic_cloud
        p = "classic_cloud"
        if cc.base_revenue_usd_per_year == "residual":
            rev0 = x.s("base_year.revenue_usd") - rev_tokens[:1] - rev_rental[:1]
            m["classic_residual_clipped"] = full((rev0 < 0).astype(float))
            rev0 = np.maximum(rev0, 0.0)
        else:
            rev0 = x.s(f"{p}.base_revenue_usd_per_year")
        rev_classic = full(rev0 * volume(p))
        life = np.broadcast_to(x.s(f"{p}.life_years"), (1, rows)).astype(float)
        hist = int(np.ceil(life.max()))  # flat history: the base year's capex in each earlier year
        pad = hist + 1
        capex_classic = full(x.s(f"{p}.capex_share_of_revenue") * rev_classic)
        spend = np.concatenate([np.zeros((pad, rows)), np.repeat(capex_classic[:1], hist - 1, axis=0),
                                capex_classic], axis=0)
        dep_classic, _, nbv_classic = vintage_books(spend, pad + hist - 1 + np.arange(years), life)
        cor_classic = x.s(f"{p}.cash_cost_share_of_revenue") * rev_classic + dep_classic

    # --- fleets: purchases, books, power ------------------------------------------------------------
    elec = x.s("costs.electricity_usd_per_kwh") * index(x.y("costs.electricity_change_per_year", years))
    pue = x.s("costs.pue")
    fac = x.s("costs.facility_usd_per_kw_month")
    ops_share = x.s("costs.operations_share_of_capex_per_year")
    coc = x.s("costs.cost_of_capital")
    idle, busy_frac = cat.const("idle_power_frac"), cat.const("busy_power_frac")
    totals = {k: np.zeros(shape) for k in ("tokens", "rental", "training")}
    agg = {k: np.zeros(shape) for k in ("capex", "depreciation", "power", "facility", "operations", "fleet_gpus",
                                        "purchased", "retired", "replaced", "net_book", "capital_charge")}
    econ_tokens = np.zeros(shape)
    fleet_out = {}
    serving_cash: dict[str, tuple] = {}  # accelerator -> (power + facility + operations, busy GPUs)
    for fl in fleets:
        acc = cat.accelerator(fl.accelerator)
        pool = spec.pools[fl.accelerator]
        r = run_fleet(fl, x, pool, f"pools.{fl.accelerator}", y0, years)
        server_w = acc.server_overhead_w.value if acc.server_overhead_w else acc.tdp_w.value * cat.const(
            "server_overhead_frac_of_tdp")
        # the ledger's per-GPU lines (the same functions as ``cost``), per GPU in service for a year
        tdp, host = acc.tdp_w.value * r["tdp_factor"], server_w * r["tdp_factor"]
        power = ledger_lines.power_usd_per_gpu_hour(
            tdp_w=tdp, server_overhead_w=host, idle_power_frac=idle, busy_power_frac=busy_frac,
            utilization=r["utilization"], pue=pue, electricity_usd_per_kwh=elec,
        ) * HOURS_PER_YEAR * r["gpus"]
        facility = ledger_lines.facility_usd_per_gpu_hour(
            tdp_w=tdp, server_overhead_w=host, facility_usd_per_kw_month=fac) * HOURS_PER_YEAR * r["gpus"]
        ops = ops_share * r["gross_book"]
        # economic capital charge: every vintage in service pays the ledger's monthly annuity on its capex
        # (12 a year), which covers its depreciation and the cost of capital; the P&L keeps book depreciation
        capital = r["gross_book"] * MONTHS_PER_YEAR * capital_recovery_factor(
            period_rate(coc, "month"), r["life"] * MONTHS_PER_YEAR)
        seg = {"serving": "tokens", "rental": "rental", "training": "training"}[fl.kind]
        cost = r["depreciation"] + power + facility + ops
        econ = capital + power + facility + ops
        cash, own = power + facility + ops, 1.0
        if fl.kind == "serving" and fl.accelerator in lent:
            # the share of the serving fleet that trains is R&D's cost, not the tokens'
            own = 1.0 - np.clip(_safe_div(lent[fl.accelerator], r["capacity"], 0.0), 0.0, 1.0)
            totals["training"] += (1.0 - own) * cost
        if fl.kind == "serving":
            serving_cash[fl.accelerator] = (own * cash, fl.busy - lent_busy.get(fl.accelerator, 0.0))
        totals[seg] += own * cost
        if seg == "tokens":
            econ_tokens += own * econ
        for k, v in (("capital_charge", capital), ("capex", r["capex"]), ("depreciation", r["depreciation"]), ("power", power),
                     ("facility", facility), ("operations", ops), ("fleet_gpus", r["gpus"]),
                     ("purchased", r["purchased"]), ("retired", r["retired"]),
                     ("replaced", np.minimum(r["purchased"], r["retired"])), ("net_book", r["net_book"])):
            agg[k] += v
        tag = f"fleet_{fl.kind}_{fl.accelerator.replace('-', '_').replace('.', '_')}"
        m[f"{tag}_gpus"] = r["gpus"]
        m[f"{tag}_need_gpu_eq"] = r["need"]
        m[f"{tag}_capacity_gpu_eq"] = r["capacity"]
        m[f"{tag}_purchased_gpus"] = r["purchased"]
        m[f"{tag}_utilization"] = r["utilization"]
        m[f"{tag}_capex_usd"] = r["capex"]
        m[f"{tag}_economic_cost_usd_per_gpu_hour"] = _safe_div(capital + power + facility + ops,
                                                               r["gpus"] * HOURS_PER_YEAR)
        fleet_out[tag] = r

    # --- cash cost per Mtok of each tier: its share (by busy GPUs) of its fleet's power, facility and
    # operations (not depreciation).  Every tier's price is floored there from the first projected year on,
    # as the market floors every provider's price at its cash cost (a provider re-prices or exits rather than
    # sell below cash cost for years); the base year keeps its reported price.
    for name, (key, acc, vol, avg_gpus) in tier_use.items():
        cash, busy = serving_cash[acc]
        cash_mtok = _safe_div(cash * _safe_div(avg_gpus, busy, 0.0), vol)
        m[f"cash_cost_{key}_usd_per_mtok"] = cash_mtok
        price = m[f"price_{key}_usd_per_mtok"]
        floor = np.where(np.arange(years)[:, None] >= 1, np.nan_to_num(cash_mtok, nan=0.0), 0.0)
        m[f"price_{key}_at_cash_cost_floor"] = (price < floor).astype(float)
        price = np.maximum(price, floor)
        rev_tokens += vol * price - m[f"revenue_tokens_{key}_usd"]
        m[f"price_{key}_usd_per_mtok"] = price
        m[f"revenue_tokens_{key}_usd"] = vol * price

    # --- P&L and cash --------------------------------------------------------------------------------
    revenue = rev_tokens + rev_rental + rev_classic
    cor = totals["tokens"] + totals["rental"] + cor_classic
    gp = revenue - cor
    rnd_other = full(x.s("rnd.other_usd_per_year") * index(x.y("rnd.other_growth_per_year", years)))
    rnd = totals["training"] + rnd_other
    sga = x.s("costs.sga_share_of_revenue") * revenue
    op = gp - rnd - sga
    dep = agg["depreciation"] + dep_classic
    # data-centre buildings (land, shells, power and cooling plant) bought with the IT equipment: cash only; the
    # P&L charges the halls through the facility cost per kW-month (the rent-equivalent of owned buildings)
    capex_buildings = full(x.s("costs.buildings_share_of_it_capex") * (agg["capex"] + capex_classic))
    capex = agg["capex"] + capex_classic + capex_buildings
    ebitda = op + dep
    fcf = ebitda - capex
    cum = np.cumsum(fcf, axis=0) - fcf[:1]  # from the first projected year on; 0 in the base year
    m.update({
        "revenue_usd": revenue,
        "revenue_tokens_usd": rev_tokens,
        "revenue_gpu_rental_usd": rev_rental,
        "revenue_classic_usd": rev_classic,
        "ai_share_of_revenue": _safe_div(rev_tokens + rev_rental, revenue),
        "tokens_mtok": tokens,
        "token_price_usd_per_mtok": _safe_div(rev_tokens, tokens),
        "token_cost_usd_per_mtok": _safe_div(totals["tokens"], tokens),
        # the ledger's economic view: capital annuity instead of book depreciation (cost of capital included)
        "token_economic_cost_usd_per_mtok": _safe_div(econ_tokens, tokens),
        "capital_charge_usd": agg["capital_charge"],
        "cost_of_revenue_usd": cor,
        "cost_of_revenue_tokens_usd": totals["tokens"],
        "cost_of_revenue_gpu_rental_usd": totals["rental"],
        "cost_of_revenue_classic_usd": cor_classic,
        "gross_profit_usd": gp,
        "gross_margin": _safe_div(gp, revenue),
        "gross_margin_tokens": _safe_div(rev_tokens - totals["tokens"], rev_tokens),
        "gross_margin_gpu_rental": _safe_div(rev_rental - totals["rental"], rev_rental),
        "gross_margin_classic": _safe_div(rev_classic - cor_classic, rev_classic),
        "cost_of_revenue_ratio": _safe_div(cor, revenue),
        "capex_usd": capex,
        "capex_accelerators_usd": agg["capex"],
        "capex_classic_usd": capex_classic,
        "capex_buildings_usd": capex_buildings,
        "depreciation_usd": dep,
        "power_usd": agg["power"],
        "facility_usd": agg["facility"],
        "operations_usd": agg["operations"],
        "rnd_usd": rnd,
        "rnd_training_compute_usd": totals["training"],
        "rnd_other_usd": rnd_other,
        "sga_usd": sga,
        "operating_profit_usd": op,
        "operating_margin": _safe_div(op, revenue),
        "ebitda_usd": ebitda,
        "free_cash_flow_usd": fcf,
        "cumulative_free_cash_flow_usd": cum,
        "net_book_value_usd": agg["net_book"] + nbv_classic,
        "rnd_to_gross_profit": np.where(gp > 0, _safe_div(rnd, gp), np.inf),
        "fleet_gpus": agg["fleet_gpus"],
        "gpus_purchased": agg["purchased"],
        "gpus_purchased_for_replacement": agg["replaced"],  # per fleet: min(bought, retired) that year
        "gpus_purchased_for_growth": agg["purchased"] - agg["replaced"],
        "gpus_retired": agg["retired"],
    })
    if books is not None:
        books.update(fleet_out)
        if spec.classic_cloud is not None:
            books["classic"] = {"vintage_spend": spend, "vintage_year": np.arange(spend.shape[0]) - (pad + hist - 1),
                                "life": life, "depreciation": dep_classic, "net_book": nbv_classic}
    return {k: v.T for k, v in m.items()}
