"""Cost of ownership and per-token cost by hand."""

import pytest

from inferonomics.cost import OwnershipAssumptions, capital_recovery_factor, cost, gpu_hour
from inferonomics.errors import InputError


def test_crf_by_hand():
    assert float(capital_recovery_factor(0.08, 5)) == pytest.approx(0.08 * 1.08**5 / (1.08**5 - 1))
    assert float(capital_recovery_factor(0.08, 5)) == pytest.approx(0.250456, abs=1e-6)
    assert float(capital_recovery_factor(0.0, 4)) == 0.25


def test_owned_gpu_hour_line_items_by_hand(cat):
    h = gpu_hour("h100-sxm", region="us-average", own=True, utilization=0.5, catalog=cat)
    acc = cat.accelerator("h100-sxm")
    reg = cat.region("us-average")
    # capital: the level monthly payment over 60 months at the monthly equivalent of 8% a year, per 730 h
    r_m = 1.08 ** (1 / 12) - 1
    crf_m = r_m / (1 - (1 + r_m) ** -60)
    price = acc.purchase_price_usd.value
    # the ledger's published DGX H100 price (USD 270k for 8 GPUs) plus 10% network, per GPU
    per_gpu = 270_000 / 8 * 1.10
    assert h["capital_accelerator_usd_per_gpu_hour"] == pytest.approx(price * crf_m / 730)
    assert h["capital_server_network_usd_per_gpu_hour"] == pytest.approx((per_gpu - price) * crf_m / 730)
    assert h["capital_accelerator_usd_per_gpu_hour"] + h["capital_server_network_usd_per_gpu_hour"] == pytest.approx(
        per_gpu * crf_m / 730)
    assert h["facility_usd_per_gpu_hour"] == pytest.approx((700 + h["server_overhead_w"]) / 1000 * 150 / 730)
    tdp = acc.tdp_w.value
    gpu_w = tdp * (0.15 + (0.8 - 0.15) * 0.5)
    host_w = h["server_overhead_w"]
    assert h["power_usd_per_gpu_hour"] == pytest.approx(
        (gpu_w + host_w) / 1000 * reg.pue.value * reg.electricity_usd_per_kwh.value
    )
    items = [k for k in h if k.endswith("_usd_per_gpu_hour") and k != "usd_per_gpu_hour"]
    assert sum(h[k] for k in items) == pytest.approx(h["usd_per_gpu_hour"])


def test_hyperscaler_h100_cross_check(cat):
    """Public TCO put a hyperscaler-owned H100 near $1.3/GPU-hour over four years; we land in the band."""
    h = gpu_hour("h100-sxm", own=True, utilization=0.7, catalog=cat,
                 assumptions=OwnershipAssumptions(life_years=4, cost_of_capital=0.0))
    assert 1.0 < h["usd_per_gpu_hour"] < 2.0


def test_cost_per_mtok_by_hand(cat):
    r = cost("llama-3.1-8b", "h100-sxm", weights="fp8", isl=1000, osl=500, concurrency=32,
             rent_usd_per_gpu_hour=2.0, utilization=0.5, catalog=cat)
    out_per_hour = r["output_tokens_per_s_per_gpu"] * 3600 * 0.5
    assert r["usd_per_mtok_output_all_in"] == pytest.approx(2.0 / out_per_hour * 1e6)
    share = r["prefill_time_share"]
    assert r["usd_per_mtok_output"] == pytest.approx(2.0 * (1 - share) / out_per_hour * 1e6)
    in_per_hour = r["input_tokens_per_s"] * 3600 * 0.5
    assert r["usd_per_mtok_input"] == pytest.approx(2.0 * share / in_per_hour * 1e6)
    # output and input costs together pay for the whole GPU-hour
    total = r["usd_per_mtok_output"] * out_per_hour / 1e6 + r["usd_per_mtok_input"] * in_per_hour / 1e6
    assert total == pytest.approx(2.0)


def test_breakdown_adds_up(cat):
    r = cost("llama-3.1-70b", "h100-sxm", gpus=4, weights="fp8", isl=1000, osl=500, concurrency=64, own=True,
             catalog=cat)
    assert sum(r["breakdown_usd_per_mtok_output_all_in"].values()) == pytest.approx(r["usd_per_mtok_output_all_in"])


def test_cheaper_power_region_costs_less(cat):
    kw = dict(gpus=4, weights="fp8", isl=1000, osl=500, concurrency=64, own=True, catalog=cat)
    cn = cost("qwen2.5-72b", "h20", region="cn-inner-mongolia", **kw)
    eu = cost("qwen2.5-72b", "h20", region="eu-average", **kw)
    assert cn["power_usd_per_gpu_hour"] < eu["power_usd_per_gpu_hour"]


@pytest.mark.parametrize(
    "kw, field",
    [
        (dict(utilization=0.0), "utilization"),
        (dict(utilization=1.5), "utilization"),
        (dict(rent_usd_per_gpu_hour=-1.0), "rent-usd-per-gpu-hour"),
        (dict(rent_usd_per_gpu_hour=2.0, own=True), "rent-usd-per-gpu-hour"),
        (dict(own=True, assumptions=OwnershipAssumptions(life_years=0)), "life_years"),
        (dict(own=True, assumptions=OwnershipAssumptions(pue=0.8)), "pue"),
    ],
)
def test_bad_cost_inputs(cat, kw, field):
    with pytest.raises(InputError) as e:
        gpu_hour("h100-sxm", catalog=cat, **kw)
    assert e.value.field == field


def test_chinese_regions_get_a_chinese_facility_price_and_say_so(cat):
    us = gpu_hour("h20", region="us-average", own=True, catalog=cat)
    cn = gpu_hour("h20", region="cn-east", own=True, catalog=cat)
    assert us["facility_usd_per_kw_month"] == 150 and "colocation" in us["facility_source"]
    assert cn["facility_usd_per_kw_month"] == 81 and "region cn-east" in cn["facility_source"]
    # the 8xH20 server quote (RMB 1.3 m) sets the server share, not the 41% fallback
    assert cn["server_network_frac"] > 1.0 and "published 8-GPU system price" in cn["capex_source"]
    other = gpu_hour("ascend-910b", region="cn-east", own=True, catalog=cat)
    assert other["server_network_frac"] == cat.const("server_network_capex_frac")
    assert "no published system price" in other["capex_source"]
