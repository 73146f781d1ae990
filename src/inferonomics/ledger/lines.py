"""Per-GPU line items of owning an accelerator, per hour in service.  Pure, vectorized (numpy broadcasting,
so xarray DataArrays work too); every view of the ledger computes its power, facility, maintenance and
capital lines with these functions.

* capital: the monthly annuity of the capex per GPU (:func:`conventions.capital_usd_per_gpu_hour`);
* power: ``(TDP x (idle + (busy - idle) x utilization) + host W) / 1000 x PUE x electricity price``;
* facility: ``(TDP + host W) / 1000`` kW provisioned ``x $/kW-month / 730``;
* maintenance and operations: ``capex per GPU x share per year / 8760``.
"""

from __future__ import annotations

import numpy as np

from inferonomics.ledger.conventions import HOURS_PER_MONTH, HOURS_PER_YEAR, capital_usd_per_gpu_hour


def it_power_kw(tdp_w, server_overhead_w, idle_power_frac, busy_power_frac, utilization):
    """IT power per GPU (accelerator at the utilization plus its share of the host), kW."""
    gpu_w = tdp_w * (idle_power_frac + (busy_power_frac - idle_power_frac) * utilization)
    return (gpu_w + server_overhead_w) / 1000.0


def power_usd_per_gpu_hour(*, tdp_w, server_overhead_w, idle_power_frac, busy_power_frac, utilization, pue,
                           electricity_usd_per_kwh):
    return it_power_kw(tdp_w, server_overhead_w, idle_power_frac, busy_power_frac, utilization) * pue \
        * electricity_usd_per_kwh


def facility_usd_per_gpu_hour(*, tdp_w, server_overhead_w, facility_usd_per_kw_month):
    """Facility capacity is paid for the power provisioned (nameplate), whether used or not."""
    return (tdp_w + server_overhead_w) / 1000.0 * facility_usd_per_kw_month / HOURS_PER_MONTH


def maintenance_usd_per_gpu_hour(capex_usd, maintenance_frac_per_year):
    return np.asarray(capex_usd, dtype=float) * maintenance_frac_per_year / HOURS_PER_YEAR


def owned_usd_per_gpu_hour(
    *,
    accelerator_usd,
    server_network_frac,
    life_years,
    cost_of_capital,
    tdp_w,
    server_overhead_w,
    idle_power_frac,
    busy_power_frac,
    utilization,
    pue,
    electricity_usd_per_kwh,
    facility_usd_per_kw_month,
    operations_frac_per_year,
) -> dict:
    """Every line item of one owned accelerator per hour in service, and their total (the steady state)."""
    acc = np.asarray(accelerator_usd, dtype=float)
    server = acc * server_network_frac
    cap_acc = capital_usd_per_gpu_hour(acc, cost_of_capital, life_years)
    cap_srv = capital_usd_per_gpu_hour(server, cost_of_capital, life_years)
    power = power_usd_per_gpu_hour(
        tdp_w=tdp_w, server_overhead_w=server_overhead_w, idle_power_frac=idle_power_frac,
        busy_power_frac=busy_power_frac, utilization=utilization, pue=pue,
        electricity_usd_per_kwh=electricity_usd_per_kwh,
    )
    facility = facility_usd_per_gpu_hour(tdp_w=tdp_w, server_overhead_w=server_overhead_w,
                                         facility_usd_per_kw_month=facility_usd_per_kw_month)
    ops = maintenance_usd_per_gpu_hour(acc + server, operations_frac_per_year)
    total = cap_acc + cap_srv + power + facility + ops
    return {
        "capital_accelerator_usd_per_gpu_hour": cap_acc,
        "capital_server_network_usd_per_gpu_hour": cap_srv,
        "power_usd_per_gpu_hour": power,
        "facility_usd_per_gpu_hour": facility,
        "operations_usd_per_gpu_hour": ops,
        "usd_per_gpu_hour": total,
        "it_power_kw_per_gpu": it_power_kw(tdp_w, server_overhead_w, idle_power_frac, busy_power_frac, utilization),
    }


__all__ = [
    "facility_usd_per_gpu_hour",
    "it_power_kw",
    "maintenance_usd_per_gpu_hour",
    "owned_usd_per_gpu_hour",
    "power_usd_per_gpu_hour",
]
