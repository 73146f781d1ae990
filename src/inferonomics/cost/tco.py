"""$ per GPU-hour and $ per million tokens: the ledger's steady-state (annuity) summary.  Pure, vectorized.

Owning one accelerator for an hour in service costs (all per GPU; formulas in :mod:`inferonomics.ledger`):

* capital: the level monthly payment ``capex x CRF(r_month, 12 x life)`` that covers depreciation and the
  cost of capital (capex = the accelerator plus its share of the server and network), per 730 hours;
* power: ``(accelerator draw at the utilization + server overhead) x PUE x electricity price``;
* facility: data-centre capacity (space, cooling, power distribution) per kW of IT load provisioned;
* operations: staff and maintenance as a share of capex per year.

Tokens: a deployment running a fraction ``utilization`` of the hours produces
``tokens/s per GPU x 3600 x utilization`` tokens per GPU-hour.  The GPU-hour is split between input and
output tokens by the share of time the engine spends in prefill versus decode.
"""

from __future__ import annotations

import numpy as np

from inferonomics.ledger.conventions import HOURS_PER_YEAR, capital_recovery_factor
from inferonomics.ledger.lines import owned_usd_per_gpu_hour


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


__all__ = ["HOURS_PER_YEAR", "capital_recovery_factor", "owned_usd_per_gpu_hour", "usd_per_mtok"]
