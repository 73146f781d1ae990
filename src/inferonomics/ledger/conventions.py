"""The ledger's conventions, in one place (docs/methodology-ledger.md states them with the formulas).

* Time: a year is 8,760 hours and 12 months; a month is 730 hours.  A ledger runs on monthly or yearly
  periods (``PERIOD_MONTHS``).
* Discounting: a yearly rate ``r`` is applied per period as ``(1 + r)^(months/12) - 1``.  Capex is paid at
  the start of the period it is bought in; every other flow (power, facility, maintenance, staff, API
  spend, a residual credit) at the end of its period.
* Capital: an accelerator bought for ``C`` and kept ``L`` years costs the level monthly payment
  ``C x CRF(r_month, 12 L)`` (capital recovery factor at the monthly rate, payments at month ends) for
  every month it is in service.  The present value of those payments is ``C`` exactly, which is why the
  steady-state annuity (``cost``), the monthly cash flows (``breakeven``) and the yearly books of a provider
  (``provider``: 12 monthly payments a year per vintage in service) give the same $/GPU-hour.
* Levelized cost: ``PV(costs) / PV(GPU-hours)`` and ``PV(costs) / PV(tokens)``, discounted like the flows.
"""

from __future__ import annotations

import numpy as np

HOURS_PER_YEAR = 8760.0
MONTHS_PER_YEAR = 12
HOURS_PER_MONTH = HOURS_PER_YEAR / MONTHS_PER_YEAR  # 730
PERIOD_MONTHS = {"month": 1, "year": 12}


def period_months(period: str) -> int:
    from inferonomics.errors import InputError

    if period not in PERIOD_MONTHS:
        raise InputError("period", period, f"allowed periods are {', '.join(PERIOD_MONTHS)}")
    return PERIOD_MONTHS[period]


def period_rate(rate_per_year, period: str = "month"):
    """The rate per period equivalent to a yearly rate: ``(1 + r)^(months/12) - 1``."""
    m = period_months(period)
    return np.expm1(np.log1p(np.asarray(rate_per_year, dtype=float)) * m / MONTHS_PER_YEAR)


def capital_recovery_factor(rate, periods):
    """Level payment per period, at the end of each of ``periods`` periods, per $ paid at the start:
    ``r / (1 - (1 + r)^-n)`` (``1/n`` at ``r = 0``)."""
    rate = np.asarray(rate, dtype=float)
    periods = np.asarray(periods, dtype=float)
    small = np.abs(rate) < 1e-12
    safe = np.where(small, 1.0, rate)
    with np.errstate(divide="ignore", invalid="ignore"):
        crf = safe / -np.expm1(-periods * np.log1p(safe))
    return np.where(small, 1.0 / periods + rate / 2.0, crf)


def capital_usd_per_gpu_hour(capex_usd, cost_of_capital, life_years):
    """The monthly annuity of ``capex_usd`` over ``life_years`` at the yearly ``cost_of_capital``, per hour."""
    r_m = period_rate(cost_of_capital, "month")
    months = np.asarray(life_years, dtype=float) * MONTHS_PER_YEAR
    return np.asarray(capex_usd, dtype=float) * capital_recovery_factor(r_m, months) / HOURS_PER_MONTH


__all__ = [
    "HOURS_PER_MONTH",
    "HOURS_PER_YEAR",
    "MONTHS_PER_YEAR",
    "PERIOD_MONTHS",
    "capital_recovery_factor",
    "capital_usd_per_gpu_hour",
    "period_months",
    "period_rate",
]
