"""Invariants of the performance and cost models, checked with hypothesis."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from inferonomics.cost import capital_recovery_factor, owned_usd_per_gpu_hour, usd_per_mtok
from inferonomics.perf import sweep
from inferonomics.perf.kernel import evaluate
from inferonomics.perf import arch as _arch
from inferonomics.perf import hardware as _hw
from inferonomics.perf.api import _serving_arrays

MODELS = ["llama-3.1-8b", "llama-3.1-70b", "qwen3-30b-a3b", "mixtral-8x7b", "deepseek-v3", "qwen2.5-7b"]
settings.register_profile("ci", max_examples=60, deadline=None)
settings.load_profile("ci")


def _eval(cat, model, gpu, weights, gpus, tp, isl, osl, conc, bw_scale=1.0, ep=1):
    m = cat.model(model)
    acc = cat.accelerator(gpu)
    a = {k: np.float64(v) for k, v in _arch.arch_columns(m).items()}
    hw = {k: np.float64(v) for k, v in _hw.hw_columns(cat, acc, weights).items()}
    hw["memory_bw_gb_s"] = hw["memory_bw_gb_s"] * np.asarray(bw_scale, float)
    s = _serving_arrays(cat, _hw.weight_bytes(cat, weights), _hw.kv_bytes(_hw.default_kv(weights)),
                        gpus=gpus, tp=tp, pp=1, ep=ep, isl=isl, osl=osl, concurrency=np.asarray(conc, float))
    return evaluate(a, hw, s)


deploy = st.tuples(
    st.sampled_from(MODELS),
    st.sampled_from(["h100-sxm", "h200", "mi300x", "b200", "a100-sxm-80gb"]),
    st.sampled_from(["bf16", "fp8", "int4"]),
    st.sampled_from([1, 2, 4, 8]),
    st.integers(16, 8000),
    st.integers(16, 4000),
)


@given(deploy, st.floats(1, 512))
def test_more_bandwidth_is_never_slower(cat, d, conc):
    model, gpu, weights, tp, isl, osl = d
    r = _eval(cat, model, gpu, weights, tp, tp, isl, osl, [conc, conc], bw_scale=np.array([1.0, 1.5]))
    if not r["fits"][0]:
        return
    assert r["tpot_s"][1] <= r["tpot_s"][0] * (1 + 1e-12)
    assert r["ttft_s"][1] <= r["ttft_s"][0] * (1 + 1e-12)
    assert r["output_tokens_per_s"][1] >= r["output_tokens_per_s"][0] * (1 - 1e-12)


@given(deploy)
def test_throughput_does_not_fall_as_concurrency_rises(cat, d):
    model, gpu, weights, tp, isl, osl = d
    conc = np.geomspace(1, 4096, 40)
    r = _eval(cat, model, gpu, weights, tp, tp, isl, osl, conc)
    if not r["fits"][0]:
        return
    thr = r["output_tokens_per_s"]
    assert np.all(np.diff(thr) >= -1e-9 * thr[:-1])
    # beyond the memory cap throughput is flat and latency only grows
    tpot = r["tpot_s"]
    assert np.all(np.diff(tpot) >= -1e-12)


@given(st.sampled_from(MODELS), st.sampled_from([1, 8, 64]))
def test_moe_expert_parallel_all_fit_or_not_consistently(cat, model, conc):
    df = sweep(model, "h200", gpus=8, weights="fp8", isl=1000, osl=500, concurrency=float(conc), catalog=cat)
    assert (df["fits"] <= df["valid"]).all()


prices = st.floats(0.0, 0.5)
utils = st.floats(0.05, 1.0)


def _own(cat, price, util):
    return owned_usd_per_gpu_hour(
        accelerator_usd=30000.0, server_network_frac=0.4, life_years=5.0, cost_of_capital=0.08, tdp_w=700.0,
        server_overhead_w=400.0, idle_power_frac=0.15, busy_power_frac=0.8, utilization=util, pue=1.3,
        electricity_usd_per_kwh=price, facility_usd_per_kw_month=150.0, operations_frac_per_year=0.03,
    )["usd_per_gpu_hour"]


@given(prices, prices, utils)
def test_cost_rises_with_electricity_price(cat, p1, p2, util):
    lo, hi = sorted([p1, p2])
    assert _own(cat, hi, util) >= _own(cat, lo, util)


@given(prices, utils, utils)
def test_cost_per_token_falls_with_utilization(cat, price, u1, u2):
    lo, hi = sorted([u1, u2])
    c_lo = usd_per_mtok(_own(cat, price, lo), 1000.0, 4000.0, 0.2, lo)["usd_per_mtok_output"]
    c_hi = usd_per_mtok(_own(cat, price, hi), 1000.0, 4000.0, 0.2, hi)["usd_per_mtok_output"]
    assert c_hi <= c_lo * (1 + 1e-12)


@given(st.floats(0.0, 0.3), st.integers(1, 30))
def test_annuity_recovers_capital(rate, years):
    """The annuity's payments discounted at the rate sum to the capital (the definition of the CRF)."""
    crf = float(capital_recovery_factor(rate, years))
    pv = sum(crf / (1 + rate) ** t for t in range(1, years + 1))
    assert abs(pv - 1.0) < 1e-9
