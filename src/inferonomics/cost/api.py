"""Cost per GPU-hour and per million tokens for a deployment, with every line item: the ledger's
steady-state (annuity) summary.  Defaults come from the ledger's data: the capex per GPU from a published
system price where there is one, the facility price of the region."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from inferonomics.catalog import Catalog, get_catalog
from inferonomics.cost import tco
from inferonomics.errors import InputError


@dataclass(frozen=True)
class OwnershipAssumptions:
    """Inputs of the ownership cost; ``None`` takes the catalog constant or the accelerator record."""

    accelerator_usd: float | None = None
    server_network_frac: float | None = None
    life_years: float | None = None
    cost_of_capital: float | None = None
    idle_power_frac: float | None = None
    busy_power_frac: float | None = None
    server_overhead_w: float | None = None
    facility_usd_per_kw_month: float | None = None
    operations_frac_per_year: float | None = None
    electricity_usd_per_kwh: float | None = None
    pue: float | None = None
    extra: dict = field(default_factory=dict)


def _check_range(name: str, v: float, lo: float, hi: float | None, what: str) -> None:
    if v is None:
        return
    if not np.isfinite(v) or v < lo or (hi is not None and v > hi):
        raise InputError(name, v, what)


def gpu_hour(
    gpu: str,
    *,
    region: str = "us-average",
    utilization: float | None = None,
    rent_usd_per_gpu_hour: float | None = None,
    own: bool = False,
    assumptions: OwnershipAssumptions | None = None,
    catalog: Catalog | None = None,
) -> dict:
    """$ per GPU-hour with its line items: rented (given price, or the catalog's rental price) or owned."""
    cat = catalog or get_catalog()
    acc = cat.accelerator(gpu)
    reg = cat.region(region)
    util = cat.const("utilization") if utilization is None else utilization
    _check_range("utilization", util, 1e-6, 1.0, "must be a fraction above 0 and at most 1")
    a = assumptions or OwnershipAssumptions()
    if rent_usd_per_gpu_hour is not None and own:
        raise InputError("rent-usd-per-gpu-hour", rent_usd_per_gpu_hour, "give a rental price or --own, not both")
    if not own:
        price = acc.rental_price().value if rent_usd_per_gpu_hour is None else rent_usd_per_gpu_hour
        _check_range("rent-usd-per-gpu-hour", price, 0.0, None, "must be a price of 0 or more USD per GPU-hour")
        src = "given" if rent_usd_per_gpu_hour is not None else acc.rental_price().provenance
        return {
            "mode": "rent",
            "gpu": gpu,
            "region": region,
            "utilization": util,
            "rental_usd_per_gpu_hour": price,
            "usd_per_gpu_hour": price,
            "rental_price_source": src,
        }

    def pick(v, default):
        return default if v is None else v

    from inferonomics import ledger

    terms = ledger.capex_terms(acc, cat)
    if a.server_network_frac is not None:
        capex_source = "given server_network_frac"
    elif a.accelerator_usd is not None and "published" in terms["capex_source"]:
        capex_source = "given accelerator price, server + network share from " + terms["capex_source"]
    else:
        capex_source = terms["capex_source"]
    fac_default, fac_source = ledger.facility_usd_per_kw_month(region, cat)
    if a.facility_usd_per_kw_month is not None:
        fac_source = "given"
    server_w = pick(
        a.server_overhead_w,
        acc.server_overhead_w.value if acc.server_overhead_w else acc.tdp_w.value * cat.const("server_overhead_frac_of_tdp"),
    )
    inputs = {
        "accelerator_usd": pick(a.accelerator_usd, acc.purchase_price_usd.value),
        "server_network_frac": pick(a.server_network_frac, terms["server_network_frac"]),
        "life_years": pick(a.life_years, cat.const("life_years")),
        "cost_of_capital": pick(a.cost_of_capital, cat.const("cost_of_capital")),
        "tdp_w": acc.tdp_w.value,
        "server_overhead_w": server_w,
        "idle_power_frac": pick(a.idle_power_frac, cat.const("idle_power_frac")),
        "busy_power_frac": pick(a.busy_power_frac, cat.const("busy_power_frac")),
        "utilization": util,
        "pue": pick(a.pue, reg.pue.value),
        "electricity_usd_per_kwh": pick(a.electricity_usd_per_kwh, reg.electricity_usd_per_kwh.value),
        "facility_usd_per_kw_month": pick(a.facility_usd_per_kw_month, fac_default),
        "operations_frac_per_year": pick(a.operations_frac_per_year, cat.const("operations_frac_per_year")),
    }
    _check_range("life_years", inputs["life_years"], 0.5, 30, "must be between 0.5 and 30 years")
    _check_range("cost_of_capital", inputs["cost_of_capital"], 0.0, 1.0, "must be a yearly rate between 0 and 1")
    _check_range("pue", inputs["pue"], 1.0, 3.0, "must be between 1.0 and 3.0")
    _check_range("electricity_usd_per_kwh", inputs["electricity_usd_per_kwh"], 0.0, 2.0, "must be 0-2 USD/kWh")
    _check_range("accelerator_usd", inputs["accelerator_usd"], 0.0, None, "must be 0 or more USD")
    _check_range("server_network_frac", inputs["server_network_frac"], 0.0, 10.0, "must be a share of 0-10")
    _check_range("facility_usd_per_kw_month", inputs["facility_usd_per_kw_month"], 0.0, None, "must be 0 or more")
    items = tco.owned_usd_per_gpu_hour(**inputs)
    return {"mode": "own", "gpu": gpu, "region": region, **inputs, **{k: float(v) for k, v in items.items()},
            "capex_source": capex_source, "facility_source": fac_source}


def _cache_prices(cat: Catalog, perf: dict, hour: dict) -> dict[str, float]:
    """Input tokens priced as APIs do with a prefix cache: a cache miss pays the prefill's GPU time, a cache
    hit pays for keeping its KV cache in storage (no GPU time: the prefill is skipped).

    * ``usd_per_mtok_input_cache_miss`` = GPU-hour x prefill time share / uncached input tokens per GPU-hour;
    * ``usd_per_mtok_input_cache_hit`` = KV bytes per token x storage price per GB-hour x storage hours
      attributed to one hit (catalog constants ``prefix_cache_storage_usd_per_gb_month`` and
      ``prefix_cache_storage_hours_per_hit``).
    ``usd_per_mtok_input`` stays the average over all input tokens (hits and misses)."""
    from inferonomics.perf.arch import kv_bytes_per_token
    from inferonomics.perf.hardware import kv_bytes

    util = hour["utilization"]
    uncached_tph = perf["prefill_tokens_per_s"] / perf["gpus"] * 3600.0 * util
    miss = hour["usd_per_gpu_hour"] * perf["prefill_time_share"] / uncached_tph * 1e6 if uncached_tph > 0 else 0.0
    gb_per_mtok = kv_bytes_per_token(cat.model(perf["model"]), kv_bytes(perf["kv"])) * 1e6 / 1e9
    usd_per_gb_hour = cat.const("prefix_cache_storage_usd_per_gb_month") * 12.0 / tco.HOURS_PER_YEAR
    hit = gb_per_mtok * usd_per_gb_hour * cat.const("prefix_cache_storage_hours_per_hit")
    return {"usd_per_mtok_input_cache_miss": float(miss), "usd_per_mtok_input_cache_hit": float(hit)}


def cost(
    model: str,
    gpu: str,
    *,
    region: str = "us-average",
    utilization: float | None = None,
    rent_usd_per_gpu_hour: float | None = None,
    own: bool = False,
    assumptions: OwnershipAssumptions | None = None,
    catalog: Catalog | None = None,
    **perf_kw,
) -> dict:
    """Performance plus cost of one deployment: $ per GPU-hour, per million output/input tokens, breakdown."""
    from inferonomics.perf import predict

    cat = catalog or get_catalog()
    perf = predict(model, gpu, catalog=cat, **perf_kw)
    hour = gpu_hour(
        gpu, region=region, utilization=utilization, rent_usd_per_gpu_hour=rent_usd_per_gpu_hour, own=own,
        assumptions=assumptions, catalog=cat,
    )
    per_tok = tco.usd_per_mtok(
        hour["usd_per_gpu_hour"],
        perf["output_tokens_per_s_per_gpu"],
        perf["input_tokens_per_s"] / perf["gpus"],
        perf["prefill_time_share"],
        hour["utilization"],
    )
    per_tok = {k: float(v) for k, v in per_tok.items()}
    per_tok.update(_cache_prices(cat, perf, hour))
    # The same line items per million output tokens (all-in), so the breakdown adds up to the total.
    scale = per_tok["usd_per_mtok_output_all_in"] / hour["usd_per_gpu_hour"] if hour["usd_per_gpu_hour"] else 0.0
    breakdown = {
        k.replace("_usd_per_gpu_hour", "_usd_per_mtok_output_all_in"): v * scale
        for k, v in hour.items()
        if k.endswith("_usd_per_gpu_hour") and k != "usd_per_gpu_hour"
    }
    return {**perf, **hour, **per_tok, "breakdown_usd_per_gpu_hour": {
        k: v for k, v in hour.items() if k.endswith("_usd_per_gpu_hour") and k != "usd_per_gpu_hour"
    }, "breakdown_usd_per_mtok_output_all_in": breakdown}


__all__ = ["OwnershipAssumptions", "cost", "gpu_hour"]
