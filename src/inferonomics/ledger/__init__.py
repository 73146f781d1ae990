"""The economic ledger: one set of money conventions for ``cost``, ``breakeven`` and ``provider``.

* :mod:`~inferonomics.ledger.conventions`: hours, periods, discounting, the capital annuity;
* :mod:`~inferonomics.ledger.lines`: per-GPU line items per hour in service (power, facility, maintenance,
  capital) - the steady state that ``cost`` reports;
* :mod:`~inferonomics.ledger.flows`: the cash-flow engine over ``options x periods`` (capex, straight-line
  depreciation, financing, residual value or write-off, taxes, NPV, levelized cost), labelled as an xarray
  ``Dataset`` on request;
* :mod:`~inferonomics.ledger.data`: published system prices and facility prices by region.

xarray is imported only by :func:`~inferonomics.ledger.flows.to_dataset`.
"""

from inferonomics.ledger.conventions import (
    HOURS_PER_MONTH,
    HOURS_PER_YEAR,
    capital_recovery_factor,
    capital_usd_per_gpu_hour,
    period_rate,
)
from inferonomics.ledger.data import capex_terms, facility_usd_per_kw_month
from inferonomics.ledger.flows import fleet, levelized, to_dataset
from inferonomics.ledger.lines import owned_usd_per_gpu_hour

__all__ = [
    "HOURS_PER_MONTH",
    "HOURS_PER_YEAR",
    "capex_terms",
    "capital_recovery_factor",
    "capital_usd_per_gpu_hour",
    "facility_usd_per_kw_month",
    "fleet",
    "levelized",
    "owned_usd_per_gpu_hour",
    "period_rate",
    "to_dataset",
]
