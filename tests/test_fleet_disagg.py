"""Prefill/decode-disaggregated pools in the request-level simulator: a tandem of prefill ranks, the KV
transfer and decode instances (inferonomics.fleet.disagg)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from inferonomics.errors import InputError
from inferonomics.fleet import disagg, fluid
from inferonomics.fleet.demand import Tenant, binned, generate, make_trace
from inferonomics.fleet.policy import Slo
from inferonomics.fleet.replica import StepModel, constant_step


def _toy(decode_step_s=0.01, max_batch=4, xfer_s=0.005, ranks=1, instances=1) -> disagg.DisaggModel:
    """Prefill: 2 ms for one token, 20 ms for 1,000 (log-log in between), steps of up to 1,000 tokens;
    decode: every step 10 ms, one token per sequence; the KV transfer 5 ms whatever the prompt."""
    g = np.array([1.0, 2.0])
    pre = StepModel(g, g, np.full((2, 2), 0.002), np.array([1.0, 1000.0]), np.array([0.002, 0.02]), 1.0, 1000,
                    np.inf, 1000.0, 1, "toy prefill")
    dec = constant_step(decode_step_s, max_batch=max_batch)
    return disagg.DisaggModel(pre, dec, ranks, instances, 2, np.array([1.0, 1e6]), np.array([xfer_s, xfer_s]), "toy")


def test_a_request_is_prefilled_its_kv_moves_and_it_decodes_hand_computed():
    """Two 100-token prompts 1 ms apart, 11 output tokens each.  The prefill rank takes them one after the
    other (the second arrived during the first's step); each KV cache takes 5 ms to move; the first token
    reaches the client when the request joins a decode step, then 10 tokens follow, one per 10-ms step."""
    dm = _toy()
    pf = 0.002 * 10 ** (2 / 3)  # a 100-token prefill step, log-log between (1, 2 ms) and (1000, 20 ms)
    tr = make_trace([0.0, 0.001], [100, 100], [11, 11])
    r = disagg.simulate(tr, dm, slo=Slo(None, None))
    ttft, tpot = r.extra["ttft_s"], r.extra["tpot_s"]
    ready1, ready2 = pf + 0.005, 2 * pf + 0.005
    assert ttft[0] == pytest.approx(ready1, rel=1e-9)  # an idle decode instance: its first step starts at once
    assert tpot[0] == pytest.approx(0.01, rel=1e-9)
    # the second lands during the first's first decode step and joins at the step after it
    assert ttft[1] == pytest.approx(ready1 + 0.01 - 0.001, rel=1e-9)
    assert ready2 < ready1 + 0.01
    assert tpot[1] == pytest.approx(0.01, rel=1e-9)
    # GPU time: both stages held for the whole run, in P+D units of 2 GPUs (1 + 1)
    assert r.gpus_per_replica == 2 and r.peak_replicas == 1
    assert r.served_requests == 2 and r.served_tokens == 2 * (100 + 11)
    assert r.extra["prefill_gpu_seconds"] > 0 and r.extra["decode_gpu_seconds"] > 0


def test_a_full_decode_instance_makes_a_request_wait_and_its_ttft_shows_it():
    """One decode slot: the second request waits for the first to finish before its first token."""
    dm = _toy(max_batch=1)
    pf = 0.002 * 10 ** (2 / 3)
    tr = make_trace([0.0, 0.001], [100, 100], [11, 11])
    r = disagg.simulate(tr, dm, slo=Slo(None, None))
    end1 = pf + 0.005 + 10 * 0.01  # the first request's ten decode steps
    assert r.extra["ttft_s"][1] == pytest.approx(end1 - 0.001, rel=1e-9)
    assert r.extra["tpot_s"][1] == pytest.approx(0.01, rel=1e-9)


def test_prefill_ranks_batch_prompts_in_one_step():
    """Prompts that wait together are prefilled in one step of up to 1,000 tokens: three 300-token
    prompts waiting behind a first one share the next step, and get their first tokens together."""
    dm = _toy(max_batch=8)
    tr = make_trace([0.0, 0.0001, 0.0002, 0.0003], [300, 300, 300, 300], [3, 3, 3, 3])
    r = disagg.simulate(tr, dm, slo=Slo(None, None))
    t = r.extra["ttft_s"] + tr.arrival_s
    assert t[1] == pytest.approx(t[2], abs=1e-12) and t[2] == pytest.approx(t[3], abs=1e-12)
    step900 = float(np.exp(np.interp(np.log(900.0), np.log([1.0, 1000.0]), np.log([0.002, 0.02]))))
    step300 = float(np.exp(np.interp(np.log(300.0), np.log([1.0, 1000.0]), np.log([0.002, 0.02]))))
    # the first prompt alone, then the three together
    assert t[0] == pytest.approx(step300 + 0.005, rel=1e-9)
    ready = step300 + step900 + 0.005
    # their KV lands while the first request's second (last) decode step runs; they join at its end
    assert step300 + 0.005 + 0.01 < ready < step300 + 0.005 + 0.02
    assert t[1] == pytest.approx(step300 + 0.005 + 0.02, rel=1e-9)


def test_bad_units_and_deployments_are_clear():
    with pytest.raises(InputError, match="units"):
        disagg.simulate(make_trace([0.0], [10], [2]), _toy(), units=0)
    with pytest.raises(InputError, match="decode_gpus"):
        disagg.disagg_model({"model": "llama-3.1-8b", "gpu": "h100-sxm", "prefill_gpus": 1})


def test_the_tandem_and_the_time_stepped_engine_agree_on_a_disaggregated_pool():
    """A disaggregated Llama-3.1-8B (one prefill and one decode H100 per unit, sized at the tenants' mean
    lengths as a fleet scenario does) under a steady chat load on a fixed fleet of three units: the
    request-level tandem and the time-stepped engine's service curve agree within 5% on utilization, SLO
    attainment and GPU-hours per token, and within 5% on the median TPOT."""
    ten = [Tenant("chat", "chat", 1.0, 1000, 0.5, 200, 0.5, diurnal_amplitude=0.0, weekend_factor=1.0)]
    dep = {"model": "llama-3.1-8b", "gpu": "h100-sxm", "gpus": 2, "prefill_gpus": 1, "decode_gpus": 1,
           "isl": round(ten[0].mean_input_tokens()), "osl": round(ten[0].mean_output_tokens()),
           "max_tpot_s": 0.05, "max_ttft_s": 2.0}
    dm = disagg.disagg_model(dep)
    curve = fluid.curve_from_perf(dep)
    cap = curve.capacity_requests_per_s()
    # the two stages' capacities bracket the unit's (the slower one sets it)
    assert min(dm.prefill_capacity_requests_per_s(dep["isl"]), dm.decode_capacity_requests_per_s(
        dep["isl"], dep["osl"])) == pytest.approx(cap, rel=0.05)
    assert dm.decode.max_batch == curve.max_batch
    units = 3
    tr = generate(ten, 0.75 * units * cap, 1800, seed=5)
    slo = Slo(2.0, 0.05)
    a = disagg.simulate(tr, dm, units=units, slo=slo, capacity_requests_per_s=cap)
    b = fluid.simulate(binned(replace(tr, arrival_s=tr.arrival_s - tr.arrival_s[0])), curve, replicas=units, slo=slo)
    assert b.utilization == pytest.approx(a.utilization, rel=0.05)
    assert b.slo_attainment == pytest.approx(a.slo_attainment, rel=0.05)
    assert b.gpu_hours / b.served_tokens == pytest.approx(a.gpu_hours / a.served_tokens, rel=0.05)
    assert b.tpot_p50_s == pytest.approx(a.tpot_p50_s, rel=0.05)
    assert 0.6 < a.utilization < 0.9


def test_the_prefill_step_and_the_cache_load_are_the_perf_engines_own():
    """The tandem's prefill step and cached-prefix load (perf.kernel.prefill_step_s, prefill_cache_load_s)
    rebuild the engine's own figures for a P/D deployment with half its prompts cached: a lone prompt's
    prefill time, and the pool's prefill capacity from full steps of prefill_tokens_per_rank tokens."""
    from inferonomics.catalog import get_catalog
    from inferonomics.perf.api import Deployment, kernel_inputs
    from inferonomics.perf.kernel import evaluate, prefill_cache_load_s, prefill_step_s

    cat = get_catalog()
    d = Deployment(model="qwen3-235b-a22b", gpu="h20", gpus=64, prefill_gpus=32, decode_gpus=32, prefill_ep=8, ep=16,
                   weights="fp8", isl=2048, osl=512, prefix_hit_rate=0.5).resolved()
    a, hw, s = kernel_inputs(cat, [d])
    r = evaluate(a, hw, {**s, "concurrency": np.array([1.0])})
    lone = prefill_step_s(a, hw, s, 1024.0, 2048.0) + prefill_cache_load_s(a, hw, s, 2048.0)
    assert float(np.ravel(lone)[0]) == pytest.approx(float(np.ravel(r["prefill_s"])[0]), rel=1e-9)
    assert float(np.ravel(prefill_cache_load_s(a, hw, s, 2048.0))[0]) > 0
    # full steps of every rank (8 ranks in each of 4 prefill instances): uncached tokens/s, as input tokens/s per GPU
    tpr = float(cat.const("prefill_tokens_per_rank"))
    full = float(np.ravel(prefill_step_s(a, hw, s, tpr, 2048.0))[0])
    per_gpu = 32 * tpr / full * (2048 / 1024) / 32
    assert per_gpu == pytest.approx(float(np.ravel(r["prefill_capacity_input_tokens_per_s_per_gpu"])[0]), rel=1e-6)
    # and the tandem's rank reads the same steps at the deployment's hit rate
    dm = disagg.disagg_model({"model": "qwen3-235b-a22b", "gpu": "h20", "gpus": 64, "prefill_gpus": 32,
                              "decode_gpus": 32, "prefill_ep": 8, "ep": 16, "weights": "fp8", "isl": 2048, "osl": 512,
                              "prefix_hit_rate": 0.5})
    assert dm.prefill_ranks_per_unit == 32 and dm.prefill.gpus == 1
    assert dm.prefill_capacity_requests_per_s(2048, 1024) * 32 * 2048 / 32 == pytest.approx(per_gpu, rel=0.02)


def test_cli_fleet_run_shows_a_disaggregated_pools_two_stages(capsys):
    """At a small volume `auto` runs the alibaba-tiers pools on the request-level engine, the flagship and
    plus pools as tandems: the JSON splits their GPU-hours between the stages."""
    import json

    from inferonomics.cli import main

    assert main(["fleet", "run", "alibaba-tiers", "--daily-tokens", "1e9", "--duration-s", "600", "--json"]) == 0
    pools = {p["pool"]: p for p in json.loads(capsys.readouterr().out)["pools"]}
    flag = pools["flagship"]
    assert flag["engine"] == "des" and flag["gpus_per_replica"] == 208
    assert flag["prefill_gpu_hours"] + flag["decode_gpu_hours"] == pytest.approx(flag["gpu_hours"], rel=1e-9)
    # the owned fleet holds one unit: 64 prefill ranks (2 instances of EP32) and one EP144 decode instance
    assert flag["prefill_peak_ranks"] == 64 and flag["decode_peak_instances"] == 1
    assert flag["prefill_gpu_hours"] == pytest.approx(64 * 600 / 3600, rel=1e-6)
    assert 0 < flag["prefill_to_decode_s_mean"] < 0.1
    assert "prefill_gpu_hours" not in pools["turbo"]  # co-located
