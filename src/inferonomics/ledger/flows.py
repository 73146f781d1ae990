"""The cash-flow engine: a fleet of owned accelerators over periods (monthly or yearly), per option.

Arrays are ``(options, periods)``; every line is vectorized over both.  Per period ``t`` (1-based):

* ``capex_t = bought_t x capex per GPU`` (paid at the start of the period);
* straight-line depreciation over ``L`` periods from the purchase period:
  ``dep_t = (sum of capex over the last L periods up to t) / L``; closing book
  ``B_t = cumulative capex - cumulative depreciation``; opening book ``O_t = B_{t-1} + capex_t``;
* financing (the cost of the capital tied up): ``r_p x O_t`` at the period rate ``r_p``;
* power, facility and maintenance per GPU in service from :mod:`inferonomics.ledger.lines`, times the GPUs
  installed and the hours (or months) of the period; ``other`` (e.g. staff) as given;
* at the end of the last period the closing book ``B_T`` is either credited (``residual_frac_of_book``
  of it: resale or continued use) or written off: ``write_off = B_T - credit``;
* taxes (optional ``tax_rate``): depreciation, operating costs and the write-off are deductible; the shield
  ``tax_rate x (dep + opex + write_off)`` reduces both cash and cost.

``cash = capex + opex - credit - tax shield``, ``cost = dep + financing + opex + write_off - tax shield``.
Their present values are equal (capex discounted from the period start, everything else from the end):
``sum_t (dep_t + r O_t) v^t = sum_t capex_t v^(t-1) - B_T v^T`` for any depreciation schedule, so
``NPV = PV(cash) = PV(cost)``.  Levelized $/GPU-hour = ``PV(cost) / PV(GPU-hours)``.
"""

from __future__ import annotations

import numpy as np

from inferonomics.ledger import lines
from inferonomics.ledger.conventions import HOURS_PER_MONTH, period_months, period_rate

UNITS = {
    "gpus": "GPUs", "bought": "GPUs", "utilization": "fraction", "capex_usd": "USD", "depreciation_usd": "USD",
    "opening_book_usd": "USD", "closing_book_usd": "USD", "financing_usd": "USD", "power_usd": "USD",
    "facility_usd": "USD", "maintenance_usd": "USD", "other_usd": "USD", "residual_credit_usd": "USD",
    "write_off_usd": "USD", "tax_shield_usd": "USD", "cash_usd": "USD", "cost_usd": "USD",
    "gpu_hours": "GPU-hours", "discount_start": "1", "discount_end": "1",
}


def discount_factors(periods: int, rate_per_year, period: str = "month") -> tuple[np.ndarray, np.ndarray]:
    """(start, end) discount factors of periods 1..T: ``(1 + r_p)^-(t-1)`` and ``(1 + r_p)^-t``."""
    r = period_rate(rate_per_year, period)
    t = np.arange(1, periods + 1, dtype=float)
    return (1.0 + r) ** -(t - 1.0), (1.0 + r) ** -t


def fleet(
    *,
    bought,
    gpus,
    utilization,
    capex_per_gpu_usd,
    life_periods: int,
    tdp_w,
    server_overhead_w,
    idle_power_frac: float,
    busy_power_frac: float,
    pue,
    electricity_usd_per_kwh,
    facility_usd_per_kw_month,
    maintenance_frac_per_year: float,
    rate_per_year: float,
    period: str = "month",
    other_usd=0.0,
    residual_frac_of_book: float = 0.0,
    tax_rate: float = 0.0,
) -> dict[str, np.ndarray]:
    """Every line of an owned fleet, ``(options, periods)`` each, plus ``npv_usd`` and the present values of
    GPU-hours (``(options,)``).  ``capex_per_gpu_usd`` and the per-GPU physics are ``(options,)`` or
    ``(options, 1)``; ``bought``, ``gpus``, ``utilization`` are ``(options, periods)``."""
    bought = np.asarray(bought, dtype=float)
    gpus = np.asarray(gpus, dtype=float)
    n_opt, T = bought.shape
    col = lambda a: np.asarray(a, dtype=float).reshape(-1, 1) if np.ndim(a) == 1 else np.asarray(a, float)
    months = period_months(period)
    hours = HOURS_PER_MONTH * months
    price = col(capex_per_gpu_usd)
    tdp, host = col(tdp_w), col(server_overhead_w)
    capex = bought * price
    cum = np.cumsum(capex, axis=1)
    L = int(life_periods)
    lagged = np.zeros_like(cum)
    if L < T:
        lagged[:, L:] = cum[:, :-L]
    dep = (cum - lagged) / L
    closing = cum - np.cumsum(dep, axis=1)
    opening = np.concatenate([np.zeros((n_opt, 1)), closing[:, :-1]], axis=1) + capex
    r_p = float(period_rate(rate_per_year, period))
    financing = r_p * opening
    power = gpus * lines.power_usd_per_gpu_hour(
        tdp_w=tdp, server_overhead_w=host, idle_power_frac=idle_power_frac, busy_power_frac=busy_power_frac,
        utilization=utilization, pue=pue, electricity_usd_per_kwh=electricity_usd_per_kwh,
    ) * hours
    facility = gpus * lines.facility_usd_per_gpu_hour(
        tdp_w=tdp, server_overhead_w=host, facility_usd_per_kw_month=facility_usd_per_kw_month) * hours
    maintenance = gpus * lines.maintenance_usd_per_gpu_hour(price, maintenance_frac_per_year) * hours
    other = np.broadcast_to(np.asarray(other_usd, dtype=float), (n_opt, T)).copy()
    opex = power + facility + maintenance + other
    credit = np.zeros((n_opt, T))
    credit[:, -1] = residual_frac_of_book * closing[:, -1]
    write_off = np.zeros((n_opt, T))
    write_off[:, -1] = closing[:, -1] - credit[:, -1]
    shield = tax_rate * (dep + opex + write_off)
    cash = capex + opex - credit - shield
    cost = dep + financing + opex + write_off - shield
    d_start, d_end = discount_factors(T, rate_per_year, period)
    npv = capex @ d_start + (cash - capex) @ d_end
    gpu_hours = gpus * hours
    return {
        "gpus": gpus, "bought": bought, "utilization": np.broadcast_to(utilization, (n_opt, T)),
        "capex_usd": capex, "depreciation_usd": dep, "opening_book_usd": opening, "closing_book_usd": closing,
        "financing_usd": financing, "power_usd": power, "facility_usd": facility, "maintenance_usd": maintenance,
        "other_usd": other, "residual_credit_usd": credit, "write_off_usd": write_off, "tax_shield_usd": shield,
        "cash_usd": cash, "cost_usd": cost, "gpu_hours": gpu_hours, "npv_usd": npv,
        "pv_gpu_hours": gpu_hours @ d_end, "discount_start": d_start, "discount_end": d_end,
    }


def levelized(pv_cost, pv_quantity, per: float = 1.0):
    """``PV(cost) / PV(quantity) x per`` (NaN where nothing is produced)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.asarray(pv_quantity) > 0, np.asarray(pv_cost) / np.asarray(pv_quantity) * per, np.nan)


def to_dataset(lines_: dict, options, period: str = "month", start: int = 1, extra: dict | None = None):
    """The lines as a labelled ``xarray.Dataset`` (dims ``option x period``, ``units`` attributes)."""
    import xarray as xr

    T = next(v.shape[1] for v in lines_.values() if np.ndim(v) == 2)
    coords = {"option": list(options), "period": np.arange(start, start + T)}
    data = {}
    for k, v in {**lines_, **(extra or {})}.items():
        v = np.asarray(v)
        if v.ndim == 2:
            data[k] = xr.DataArray(v, dims=("option", "period"), attrs={"units": UNITS.get(k, "")})
        elif v.ndim == 1 and len(v) == len(coords["option"]) and k not in ("discount_start", "discount_end"):
            data[k] = xr.DataArray(v, dims=("option",), attrs={"units": "USD" if k.endswith("_usd") else ""})
        elif v.ndim == 1 and len(v) == T:
            data[k] = xr.DataArray(v, dims=("period",), attrs={"units": UNITS.get(k, "")})
    return xr.Dataset(data, coords=coords, attrs={"period": period, "period_months": period_months(period)})


__all__ = ["UNITS", "discount_factors", "fleet", "levelized", "to_dataset"]
