"""Total cost of ownership → $ per GPU-hour → $ per million tokens.  Pure, vectorized functions.

Owning one accelerator for an hour costs (all per GPU):

* capital: ``capex x CRF(r, n)`` per year, where the capital recovery factor
  ``CRF = r (1+r)^n / ((1+r)^n - 1)`` (``1/n`` when ``r = 0``) turns the purchase into a level annual
  payment that covers depreciation and the cost of capital, PyPSA-style.  Capex is the accelerator
  plus its share of the server and network;
* power: ``(accelerator draw at the utilization + server overhead) x PUE x electricity price``;
* facility: data-centre capacity (space, cooling, power distribution) per kW of IT load provisioned;
* operations: staff and maintenance as a share of capex per year.

Tokens: a deployment running a fraction ``utilization`` of the hours produces
``tokens/s per GPU x 3600 x utilization`` tokens per GPU-hour.  The GPU-hour is split between input and
output tokens by the share of time the engine spends in prefill versus decode.
"""

from __future__ import annotations

import numpy as np

HOURS_PER_YEAR = 8760.0


def capital_recovery_factor(rate, years):
    """Annuity factor: the level yearly payment per $ of capex over ``years`` at ``rate``."""
    rate = np.asarray(rate, dtype=float)
    years = np.asarray(years, dtype=float)
    # r (1+r)^n / ((1+r)^n - 1) = r / (1 - (1+r)^-n), written with expm1/log1p to stay exact near r = 0
    small = np.abs(rate) < 1e-9
    safe = np.where(small, 1.0, rate)
    with np.errstate(divide="ignore", invalid="ignore"):
        crf = safe / -np.expm1(-years * np.log1p(safe))
    return np.where(small, 1.0 / years + rate / 2.0, crf)


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
) -> dict[str, np.ndarray]:
    """Line items of the hourly cost of one owned accelerator, and their total."""
    crf = capital_recovery_factor(cost_of_capital, life_years)
    server_usd = np.asarray(accelerator_usd, dtype=float) * server_network_frac
    cap_acc = accelerator_usd * crf / HOURS_PER_YEAR
    cap_srv = server_usd * crf / HOURS_PER_YEAR
    gpu_w = tdp_w * (idle_power_frac + (busy_power_frac - idle_power_frac) * utilization)
    it_kw = (gpu_w + server_overhead_w) / 1000.0
    power = it_kw * pue * electricity_usd_per_kwh
    provisioned_kw = (tdp_w + server_overhead_w) / 1000.0
    facility = provisioned_kw * facility_usd_per_kw_month * 12.0 / HOURS_PER_YEAR
    ops = (accelerator_usd + server_usd) * operations_frac_per_year / HOURS_PER_YEAR
    total = cap_acc + cap_srv + power + facility + ops
    return {
        "capital_accelerator_usd_per_gpu_hour": cap_acc,
        "capital_server_network_usd_per_gpu_hour": cap_srv,
        "power_usd_per_gpu_hour": power,
        "facility_usd_per_gpu_hour": facility,
        "operations_usd_per_gpu_hour": ops,
        "usd_per_gpu_hour": total,
        "it_power_kw_per_gpu": it_kw,
    }


def usd_per_mtok(
    usd_per_gpu_hour, output_tokens_per_s_per_gpu, input_tokens_per_s_per_gpu, prefill_time_share, utilization
) -> dict[str, np.ndarray]:
    """$ per million output and input tokens at a utilization, attributing GPU time to each phase."""
    out_tph = np.asarray(output_tokens_per_s_per_gpu, dtype=float) * 3600.0 * utilization
    in_tph = np.asarray(input_tokens_per_s_per_gpu, dtype=float) * 3600.0 * utilization
    with np.errstate(divide="ignore", invalid="ignore"):
        out_cost = usd_per_gpu_hour * (1.0 - prefill_time_share) / out_tph * 1e6
        in_cost = usd_per_gpu_hour * prefill_time_share / in_tph * 1e6
        all_in = usd_per_gpu_hour / out_tph * 1e6
        blended = usd_per_gpu_hour / (out_tph + in_tph) * 1e6
    return {
        "usd_per_mtok_output": out_cost,
        "usd_per_mtok_input": in_cost,
        "usd_per_mtok_output_all_in": all_in,
        "usd_per_mtok_blended": blended,
    }
