"""Fleet simulation: trace readers, generators, the two engines, their agreement, scenarios and the CLI."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from importlib import resources

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inferonomics.cli import main
from inferonomics.errors import InputError
from inferonomics.fleet import des, fluid
from inferonomics.fleet.demand import (
    DAY_S,
    Tenant,
    binned,
    detect_format,
    expected_rates,
    generate,
    make_trace,
    poisson_trace,
    read_trace,
    shape,
    trace_stats,
)
from inferonomics.fleet.policy import Autoscaler, Slo
from inferonomics.fleet.replica import constant_step, step_model
from inferonomics.fleet.scenario import FleetScenarioError, builtin_names, load_scenario

SAMPLES = resources.files("inferonomics.fleet").joinpath("data/samples")


def sample(name: str) -> str:
    return str(SAMPLES.joinpath(name))


def erlang_c(c: int, a: float) -> float:
    """Probability of waiting in M/M/c with offered load ``a`` (Erlangs)."""
    s = sum(a**k / math.factorial(k) for k in range(c))
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (s + top)


# --- readers ------------------------------------------------------------------------------------------
def test_readers_detect_and_parse_the_three_formats():
    assert detect_format(sample("azure_sample.csv")) == "azure"
    assert detect_format(sample("burstgpt_sample.csv")) == "burstgpt"
    assert detect_format(sample("mooncake_sample.jsonl")) == "mooncake"
    az = read_trace(sample("azure_sample.csv"))
    assert len(az) == 8
    assert az.arrival_s[0] == 0.0
    assert az.arrival_s[1] == pytest.approx(50.9951690 - 46.6805900, abs=1e-6)
    assert az.input_tokens.tolist()[:3] == [374, 396, 879]
    assert az.output_tokens.tolist()[-1] == 129


def test_burstgpt_drops_failed_requests_and_keeps_tenants():
    tr = read_trace(sample("burstgpt_sample.csv"))
    # one row has 0 response tokens: a failure, not served load
    assert len(tr) == 7
    assert 40 not in tr.input_tokens.tolist()
    assert set(tr.tenant_names) == {"ChatGPT/Conversation log", "GPT-4/Conversation log", "ChatGPT/API log",
                                    "GPT-4/API log"}
    assert tr.arrival_s[0] == 0.0 and tr.arrival_s[-1] == 267.0


def test_mooncake_timestamps_in_ms_and_shared_prefix_blocks():
    tr = read_trace(sample("mooncake_sample.jsonl"))
    assert tr.arrival_s.tolist() == [0.0, 0.105, 0.230, 0.512, 1.024]
    # request 2 shares blocks [0, 1] with request 1 (2 x 512 tokens); request 4 shares [0, 1, 3] with
    # request 2 (3 blocks, 1,536 tokens); the others share nothing
    assert tr.prefix_tokens.tolist() == [0.0, 1024.0, 0.0, 1536.0, 0.0]
    assert tr.prefix_id.tolist() == [0, 0, -1, 0, -1]


def test_reader_errors_name_the_line_and_field(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,12x,4\n")
    with pytest.raises(InputError, match=r"bad.csv:2 ContextTokens.*must be a number"):
        read_trace(bad)
    js = tmp_path / "bad.jsonl"
    js.write_text('{"timestamp": 0, "input_length": 5}\n')
    with pytest.raises(InputError, match="output_length"):
        read_trace(js)
    other = tmp_path / "x.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="not a recognised trace format"):
        read_trace(other)
    with pytest.raises(InputError, match="must be a whole number of tokens"):
        make_trace([0, 1], [10, 0], [1, 1])


# --- generators ---------------------------------------------------------------------------------------
def test_published_profiles_cite_sources():
    stats = trace_stats()
    assert {"mooncake", "azure-2023-code", "azure-2023-conv", "burstgpt"} <= set(stats)
    for name, t in stats.items():
        assert t["profile"].get("assumption"), name
        for k, v in t["published"].items():
            assert v.get("source") and v.get("date"), (name, k)
    # the Mooncake medians follow from its published means with the stated sigma
    p = stats["mooncake"]["profile"]
    assert p["input_tokens"]["median"] * math.exp(p["input_tokens"]["sigma"] ** 2 / 2) == pytest.approx(7590, rel=0.01)
    assert p["rate_per_s"] == pytest.approx(23608 / 3600, rel=0.01)


def test_diurnal_shape_peaks_at_local_peak_hour_and_averages_one_over_a_week():
    x = Tenant("t", diurnal_amplitude=0.5, peak_hour=14, utc_offset_h=-5, weekend_factor=0.6)
    t = np.arange(0, 7 * DAY_S, 60.0)
    s = shape(t, x)
    assert s.mean() == pytest.approx(1.0, rel=1e-3)
    day = s[int(DAY_S / 60): int(2 * DAY_S / 60)]  # UTC Tuesday: local Monday 19:00 to Tuesday 19:00
    assert (np.argmax(day) * 60 / 3600.0) == pytest.approx(14 + 5, abs=0.05)  # 14:00 in UTC-5 is 19:00 UTC
    assert day.max() / day.min() == pytest.approx(1.5 / 0.5, rel=1e-3)
    # Saturday (day 5) carries weekend_factor of a weekday at the same hour
    assert s[int(5 * DAY_S / 60) + 600] / s[600] == pytest.approx(0.6, rel=1e-6)


def test_generator_is_seeded_and_matches_rates_and_lengths():
    ten = [Tenant("a", "chat", 0.6, 800, 0.8, 150, 0.7), Tenant("b", "api", 0.4, 2000, 0.5, 60, 0.5,
                                                               burst_factor=3, mean_burst_s=60, mean_between_bursts_s=600)]
    a = generate(ten, 20.0, 3 * 3600, seed=5)
    b = generate(ten, 20.0, 3 * 3600, seed=5)
    assert np.array_equal(a.arrival_s, b.arrival_s) and np.array_equal(a.output_tokens, b.output_tokens)
    exp = expected_rates(ten, 20.0, 3 * 3600, seed=5)
    assert len(a) == pytest.approx(exp.sum(), rel=0.02)
    sel = a.tenant == 0
    assert a.input_tokens[sel].mean() == pytest.approx(ten[0].mean_input_tokens(), rel=0.03)
    assert a.output_tokens[~sel].mean() == pytest.approx(ten[1].mean_output_tokens(), rel=0.03)
    # bursts move demand in time without adding to it: the burst tenant's expected total is its share
    assert exp[1].sum() / exp.sum() == pytest.approx(0.4, rel=0.1)
    calm = expected_rates(ten, 20.0, 3 * 3600, seed=5, bursts=False)
    ratio = np.unique(np.round(exp[1] / calm[1], 9))
    assert len(ratio) == 2 and ratio[1] / ratio[0] == pytest.approx(3.0)
    assert np.array_equal(exp[0], calm[0])


def test_binned_sums_per_second_and_splits_batch():
    tr = make_trace([0.2, 0.7, 1.5, 3.9], [10, 20, 30, 40], [1, 2, 3, 4], tenant=[0, 1, 0, 1],
                    tenant_names=("chat", "jobs"), tenant_classes=("chat", "batch"))
    d = binned(tr, duration_s=4)
    assert d["requests"].tolist() == [1, 1, 0, 0]
    assert d["batch_requests"].tolist() == [1, 0, 0, 1]
    assert d["input_tokens"].tolist() == [10, 30, 0, 0]
    assert d["batch_output_tokens"].tolist() == [2, 0, 0, 4]


# --- replicas from the performance engine --------------------------------------------------------------
@pytest.fixture(scope="module")
def llama8b():
    return step_model({"model": "llama-3.1-8b", "gpu": "h100-sxm", "isl": 1300, "osl": 170, "max_tpot_s": 0.05, "max_ttft_s": 2.0})


def test_step_model_reproduces_the_perf_engine_on_its_grid(llama8b):
    from inferonomics.perf import sweep

    m = llama8b
    b, ctx = float(m.batch_grid[5]), float(m.ctx_grid[6])
    df = sweep("llama-3.1-8b", "h100-sxm", scheduler="static", concurrency=b, isl=round(ctx - 1), osl=2)
    assert m.decode_one(b, ctx) == pytest.approx(float(df["decode_step_s"][0]), rel=2e-3)
    n = float(m.prefill_grid[10])
    df = sweep("llama-3.1-8b", "h100-sxm", scheduler="static", concurrency=1.0, isl=int(n), osl=1)
    assert m.prefill_one(n) == pytest.approx(float(df["ttft_s"][0]), rel=1e-6)
    # decode steps grow with batch and context; the SLO operating point keeps TPOT within the target
    assert m.decode_one(64, 2000) > m.decode_one(8, 2000) > 0
    assert m.decode_one(8, 30000) > m.decode_one(8, 1000)
    ttft, tpot, _ = m.service(m.max_batch, 1300, 170)
    assert tpot <= 0.05 and ttft <= 2.0
    assert m.step_one(0, 1000, 500) == pytest.approx(m.prefill_one(500))


def test_a_disaggregated_deployment_is_a_p_d_unit_not_a_co_located_step_model():
    with pytest.raises(InputError, match=r"P\+D unit \(inferonomics.fleet.disagg.disagg_model"):
        step_model({"model": "qwen3-235b-a22b", "gpu": "h20", "prefill_gpus": 32, "decode_gpus": 32, "prefill_ep": 8, "ep": 16,
                        "weights": "fp8"})


# --- the request-level engine ----------------------------------------------------------------------------
def test_erlang_c_mmc_within_two_percent():
    """M/M/c: Poisson arrivals, exponential service (geometric token counts at a constant step), c servers
    with one sequence each and a shared FIFO queue.  Compared with Erlang C at the sample's own rate and
    mean service time."""
    c, lam, step = 4, 2.8, 1e-3
    tr = poisson_trace(lam, 300_000, output_mean_tokens=1000, seed=2)
    r = des.simulate(tr, constant_step(step, max_batch=1), replicas=c, slo=Slo(None, None))
    lam_hat = (len(tr) - 1) / tr.arrival_s[-1]
    mean_s = float(tr.output_tokens.mean()) * step
    a = lam_hat * mean_s
    pw = erlang_c(c, a)
    ew = pw * mean_s / (c - a)
    w = r.extra["wait_s"]
    assert float((w > 1e-12).mean()) == pytest.approx(pw, rel=0.02)
    assert float(w.mean()) == pytest.approx(ew, rel=0.02)
    assert r.slot_occupancy == pytest.approx(a / c, rel=0.01)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 40),
    slots=st.integers(1, 4),
    replicas=st.integers(1, 3),
    seed=st.integers(0, 10_000),
)
def test_request_level_invariants(n, slots, replicas, seed):
    """Every request is served once; it waits, then gets its first token after at least one step, then
    finishes no earlier than its remaining tokens allow; slots are never over-used."""
    rng = np.random.default_rng(seed)
    tr = make_trace(np.sort(rng.uniform(0, 2, n)), rng.integers(1, 50, n), rng.integers(1, 30, n))
    step = 0.01
    r = des.simulate(tr, constant_step(step, max_batch=slots), replicas=replicas)
    ttft, tpot, wait = r.extra["ttft_s"], r.extra["tpot_s"], r.extra["wait_s"]
    assert np.all(np.isfinite(ttft)) and r.served_requests == n
    assert np.all(wait >= -1e-12) and np.all(ttft >= wait + step - 1e-9)
    multi = tr.output_tokens > 1
    assert np.all(tpot[multi] >= step - 1e-9) and np.all(tpot[~multi] == 0)
    assert 0 < r.slot_occupancy <= 1 + 1e-9


def test_hand_computed_two_requests_on_one_slot():
    # constant 10 ms steps, one sequence slot: the second request waits for the first one's 5 tokens
    tr = make_trace([0.0, 0.001], [3, 3], [5, 2])
    r = des.simulate(tr, constant_step(0.01, max_batch=1), replicas=1, slo=Slo(0.025, 0.01))
    assert r.extra["ttft_s"].tolist() == pytest.approx([0.01, 0.05 - 0.001 + 0.01])
    assert r.extra["tpot_s"].tolist() == pytest.approx([0.01, 0.01])
    assert r.extra["wait_s"].tolist() == pytest.approx([0.0, 0.049])
    assert r.slo_attainment == 0.5  # the second misses the 25 ms TTFT target


def test_batching_shares_steps_and_new_prompts_join_at_a_step_boundary():
    # two slots: the second prompt joins the first's decode at the next step boundary
    tr = make_trace([0.0, 0.015], [4, 4], [10, 3])
    r = des.simulate(tr, constant_step(0.01, max_batch=2), replicas=1)
    ttft = r.extra["ttft_s"]
    assert ttft[0] == pytest.approx(0.01)
    # arrives at 15 ms; the step in progress ends at 20 ms; its (mixed) step ends at 30 ms
    assert ttft[1] == pytest.approx(0.03 - 0.015)
    fin0 = 0.0 + ttft[0] + 9 * r.extra["tpot_s"][0]
    assert fin0 == pytest.approx(0.10)


def test_kv_capacity_limits_admission_and_everything_is_served(llama8b):
    tr = generate([Tenant("a", "chat", 1.0, 1300, 0.6, 170, 0.6, diurnal_amplitude=0.0, weekend_factor=1.0)],
                  30.0, 300, seed=1)
    small = replace(llama8b, kv_capacity_tokens=20 * 1600.0)
    r_small = des.simulate(tr, small, replicas=2)
    r_big = des.simulate(tr, llama8b, replicas=2)
    assert r_small.extra["served_share"] == 1.0 and r_big.extra["served_share"] == 1.0
    assert r_small.slot_occupancy * small.max_batch <= 20.0 + 1e-9
    assert r_small.mean_wait_s > r_big.mean_wait_s


def test_requests_larger_than_the_kv_cache_are_refused_not_blocking(llama8b):
    tiny = replace(llama8b, kv_capacity_tokens=5000.0)
    tr = make_trace([0.0, 0.1, 0.2], [1000, 9000, 1000], [100, 100, 100])
    r = des.simulate(tr, tiny, replicas=1)
    assert r.extra["rejected"] == 1
    fin = np.isfinite(r.extra["ttft_s"])
    assert fin.tolist() == [True, False, True]
    assert r.slo_attainment == pytest.approx(2 / 3)


def test_autoscaler_adds_replicas_after_the_provisioning_delay(llama8b):
    ten = [Tenant("a", "chat", 1.0, 1300, 0.5, 170, 0.5, diurnal_amplitude=0.0, weekend_factor=1.0)]
    tr = generate(ten, 40.0, 1200, seed=2)
    auto = Autoscaler(interval_s=60, target_utilization=0.7, provisioning_delay_s=240, min_replicas=1)
    r = des.simulate(tr, llama8b, replicas=1, autoscaler=auto)
    tl = r.extra["timeline"]
    # rows: (time, active, provisioning, draining, arrivals) seen at each tick before it acts; the first
    # tick asks for more replicas, which are still provisioning at the next and serve 240 s later
    assert tl[0][1:3] == (1, 0) and tl[1][1] == 1 and tl[1][2] > 0
    first_active = next(t for t, active, *_ in tl if active > 1)
    assert first_active - tl[0][0] >= 240 - 1e-9
    assert r.peak_replicas == auto.desired(40.0, r.capacity_requests_per_s)
    assert Autoscaler(min_replicas=3).desired(0.0, 10.0) == 3
    assert Autoscaler(target_utilization=0.5).desired(10.0, 2.0) == 10


def test_backfill_serves_batch_jobs_in_idle_capacity(llama8b):
    ten = [Tenant("chat", "chat", 0.7, 1300, 0.5, 170, 0.5, diurnal_amplitude=0.0, weekend_factor=1.0),
           Tenant("jobs", "batch", 0.3, 1300, 0.5, 170, 0.5, diurnal_amplitude=0.0, weekend_factor=1.0)]
    tr = generate(ten, 20.0, 900, seed=4)
    only_chat = tr.select(~tr.is_batch())
    with_b = des.simulate(tr, llama8b, replicas=3)
    without = des.simulate(only_chat, llama8b, replicas=3)
    assert with_b.served_batch_requests == with_b.batch_requests > 0
    assert with_b.utilization > without.utilization
    assert with_b.backfilled_gpu_hours > 0 and without.backfilled_gpu_hours == 0
    assert with_b.slo_attainment == pytest.approx(without.slo_attainment, abs=0.01)
    # the time-stepped engine backfills the same work
    f = fluid.simulate(binned(replace(tr, arrival_s=tr.arrival_s - tr.arrival_s[0])),
                       fluid.curve_from_step_model(llama8b, float(tr.input_tokens.mean()), float(tr.output_tokens.mean())),
                       replicas=3)
    assert f.utilization == pytest.approx(with_b.utilization, rel=0.05)


# --- the two engines agree ----------------------------------------------------------------------------
def test_engines_agree_within_five_percent(llama8b):
    """Two tenants with diurnal shapes in different time zones and an autoscaler: utilization, SLO
    attainment and GPU-hours per token within 5% between the request-level and the time-stepped engine."""
    ten = [Tenant("chat", "chat", 0.7, 1000, 0.5, 200, 0.5, diurnal_amplitude=0.6, utc_offset_h=-5),
           Tenant("api", "api", 0.3, 2000, 0.5, 100, 0.5, diurnal_amplitude=0.3, utc_offset_h=1)]
    tr = generate(ten, 30.0, 3 * 3600, start_s=10 * 3600, seed=3)
    auto = Autoscaler(interval_s=60, provisioning_delay_s=120, min_replicas=2, target_utilization=0.7)
    m_in, m_out = float(tr.input_tokens.mean()), float(tr.output_tokens.mean())
    curve = fluid.curve_from_step_model(llama8b, m_in, m_out,
                                        kv_tokens_per_sequence=fluid.kv_tokens_in_flight(tr.input_tokens, tr.output_tokens))
    cap = curve.capacity_requests_per_s()
    a = des.simulate(tr, llama8b, replicas=2, autoscaler=auto, capacity_requests_per_s=cap)
    b = fluid.simulate(binned(replace(tr, arrival_s=tr.arrival_s - tr.arrival_s[0])), curve, replicas=2, autoscaler=auto)
    assert b.utilization == pytest.approx(a.utilization, rel=0.05)
    assert b.slo_attainment == pytest.approx(a.slo_attainment, rel=0.05)
    assert b.gpu_hours / b.served_tokens == pytest.approx(a.gpu_hours / a.served_tokens, rel=0.05)
    assert 0.3 < a.utilization < 1.0
    assert a.peak_replicas > 2  # the autoscaler did act


def test_scenario_engines_agree_on_chat_api_at_small_volume():
    scn = load_scenario("chat-api")
    from inferonomics.fleet.run import run

    a = run(scn, engine="des", daily_tokens=3e8, duration_s=6 * 3600)
    b = run(scn, engine="fluid", daily_tokens=3e8, duration_s=6 * 3600)
    ta, tb = a["totals"], b["totals"]
    assert tb["utilization"] == pytest.approx(ta["utilization"], rel=0.05)
    assert tb["slo_attainment"] == pytest.approx(ta["slo_attainment"], rel=0.05)
    assert tb["usd_per_mtok"] == pytest.approx(ta["usd_per_mtok"], rel=0.05)
    assert a["pools"][0].prefix_hit_rate == pytest.approx(b["pools"][0].prefix_hit_rate, abs=0.05)


def test_idle_replicas_lent_to_training():
    from inferonomics.fleet.run import run

    scn = load_scenario("chat-api")
    kept = run(scn, engine="fluid", daily_tokens=1e10, duration_s=86400)["totals"]
    lent = run(scn.model_copy(update={"idle_to_training": True}), engine="fluid", daily_tokens=1e10,
               duration_s=86400)["totals"]
    assert kept["training_gpu_hours"] == 0
    # the owned peak fleet's hours are split between serving and training
    assert lent["gpu_hours"] + lent["training_gpu_hours"] == pytest.approx(lent["gpus"] * 24, rel=1e-9)
    assert lent["training_gpu_hours"] > 0.3 * lent["gpus"] * 24
    assert lent["usd_per_mtok"] < kept["usd_per_mtok"]
    assert 0 < kept["serving_average_over_peak"] < 1


def test_models_sharing_one_fleet_need_fewer_gpus_when_their_peaks_differ(tmp_path):
    import yaml

    from inferonomics.fleet.run import run

    def pool(name, model, utc):
        return {"name": name, "token_share": 0.5, "deployment": {"model": model, "gpu": "h100-sxm",
                                                                 "max_tpot_s": 0.05, "max_ttft_s": 2.0},
                "tenants": [{"name": "t", "class": "chat", "token_share": 1.0, "profile": "azure-2023-conv",
                             "diurnal_amplitude": 0.8, "utc_offset_h": utc}]}

    f = tmp_path / "two.yaml"
    f.write_text(yaml.safe_dump({"name": "two", "daily_tokens": 2e10, "fleet": "owned", "pools": [
        pool("a", "llama-3.1-8b", -6), pool("b", "qwen3-8b", 6)]}))
    scn = load_scenario(str(f))
    apart = run(scn, engine="fluid")
    shared = run(scn.model_copy(update={"shared_fleet": True}), engine="fluid")
    sum_of_peaks = sum(r.peak_replicas * r.gpus_per_replica for r in apart["pools"])
    assert apart["totals"]["gpus"] == sum_of_peaks
    # opposite time zones: the summed need peaks well below the sum of the peaks
    assert shared["totals"]["gpus"] < 0.85 * sum_of_peaks
    assert shared["totals"]["utilization"] > apart["totals"]["utilization"]
    assert shared["totals"]["usd_per_mtok"] < apart["totals"]["usd_per_mtok"]
    assert shared["totals"]["gpu_hours"] == pytest.approx(shared["totals"]["gpus"] * 24, rel=0.01)


# --- scenarios, scale curve and CLI ----------------------------------------------------------------------
def test_flattening_volume():
    from inferonomics.fleet.run import flattening_volume

    pts = [{"daily_tokens": v, "usd_per_mtok": c} for v, c in ((1e9, 1.0), (1e10, 0.5), (1e11, 0.42), (1e12, 0.41))]
    assert flattening_volume(pts) == 1e11
    assert flattening_volume(pts[:2]) is None  # the last point alone says nothing
    assert flattening_volume([{"daily_tokens": 1e9, "usd_per_mtok": 1.0}]) is None


def test_builtin_scenarios_load():
    assert {"chat-api", "alibaba-tiers"} <= set(builtin_names())
    scn = load_scenario("alibaba-tiers")
    assert [p.name for p in scn.pools] == ["flagship", "plus", "turbo"]


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        ({"daily_tokens": -5}, r"field 'daily_tokens'"),
        ({"pools": [{"name": "p", "token_share": 1.0, "deployment": {"model": "llama-3.1-8b", "gpu": "h100-sxm"},
                     "tenants": [{"name": "t", "class": "chat", "token_share": 0.5, "profile": "azure-2023-conv"}]}]},
         r"token shares must add up to 1"),
        ({"pools": [{"name": "p", "token_share": 1.0, "deployment": {"model": "llama-3.1-8b", "gpu": "h100-sxm"},
                     "tenants": [{"name": "t", "class": "chat", "token_share": 1.0, "profile": "nope"}]}]},
         r"profile.*'nope' is unknown"),
        ({"colour": "red"}, r"field 'colour': unknown field"),
        ({"pools": [{"name": "p", "token_share": 1.0, "deployment": {"model": "llama-3.1-8b", "gpu": "h100-sxm",
                                                                     "tpp": 2},
                     "tenants": [{"name": "t", "class": "chat", "token_share": 1.0, "profile": "azure-2023-conv"}]}]},
         r"field 'pools\[0\]\.deployment\.tpp': unknown deployment field"),
    ],
)
def test_scenario_errors_name_the_field(tmp_path, patch, match):
    import yaml

    base = {"name": "x", "daily_tokens": 1e9, "pools": [
        {"name": "p", "token_share": 1.0, "deployment": {"model": "llama-3.1-8b", "gpu": "h100-sxm"},
         "tenants": [{"name": "t", "class": "chat", "token_share": 1.0, "profile": "azure-2023-conv"}]}]}
    base.update(patch)
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(base))
    with pytest.raises(FleetScenarioError, match=match):
        load_scenario(str(f))


def run_cli(capsys, *args):
    rc = main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cli_fleet_run_json(capsys):
    rc, out, err = run_cli(capsys, "fleet", "run", "chat-api", "--engine", "fluid", "--daily-tokens", "1e9", "--json")
    assert rc == 0, err
    d = json.loads(out)
    t = d["totals"]
    assert t["gpus"] >= 2 and 0 < t["utilization"] <= 1 and 0 < t["slo_attainment"] <= 1
    assert t["usd_per_mtok"] > 0
    assert d["pools"][0]["engine"] == "fluid"


def test_cli_fleet_run_trace_file(capsys):
    rc, out, err = run_cli(capsys, "fleet", "run", sample("mooncake_sample.jsonl"), "-m", "llama-3.1-8b", "-g",
                           "h100-sxm", "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["requests"] == 5 and d["pools"][0]["engine"] == "des"
    assert d["pools"][0]["slo_attainment"] == 1.0
    assert d["pools"][0]["usd_per_mtok"] > 0


def test_cli_fleet_scale_falls_with_volume_and_decomposes(capsys, tmp_path):
    png = tmp_path / "scale.png"
    rc, out, err = run_cli(capsys, "fleet", "scale", "chat-api", "--volumes", "1e9,1e11", "--chart", str(png), "--json")
    assert rc == 0, err
    d = json.loads(out)
    lo, hi = d["points"]
    assert hi["usd_per_mtok"] < lo["usd_per_mtok"]
    assert hi["gpus"] > 10 * lo["gpus"]
    for p in d["points"]:
        parts = p["floor_usd_per_mtok"] + p["caching_usd_per_mtok"] + p["batching_usd_per_mtok"] + p["multiplexing_usd_per_mtok"]
        assert parts == pytest.approx(p["usd_per_mtok"], rel=1e-9)
        assert p["floor_usd_per_mtok"] > 0 and p["caching_usd_per_mtok"] >= 0
    assert png.stat().st_size > 1000


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["fleet", "scale", "chat-api", "--volumes", "1e9,abc"], "volumes: 'abc'"),
        (["fleet", "run", "no-such-scenario"], "fleet scenario: 'no-such-scenario' is unknown"),
        (["fleet", "run", "chat-api", "--engine", "warp"], "engine: 'warp'"),
        (["fleet", "run", "alibaba-tiers", "--engine", "des"], "requests through the request-level engine (at most"),
        (["fleet", "run", "chat-api", "--daily-tokens", "5"], "daily-tokens: 5.0"),
    ],
)
def test_cli_fleet_bad_input_exits_2(capsys, args, match):
    rc, _out, err = run_cli(capsys, *args)
    assert rc == 2
    assert match in err
    assert "Traceback" not in err


def test_a_shared_fleet_hands_out_replicas_with_the_model_load_delay():
    """Hand-computed: two pools of one-GPU replicas share 4 GPUs.  A replica a pool no longer needs stays
    loaded until the other pool takes its GPU; a replica a pool gains serves after its delay."""
    from inferonomics.fleet.run import hand_out

    a = np.array([2, 2, 1, 1, 3, 3])
    b = np.array([2, 2, 3, 3, 1, 1])
    # no delay: each pool has what it needs, the GPUs move at once
    ra, rb = hand_out([a, b], [1, 1], [0, 0], 4)
    assert ra.tolist() == a.tolist() and rb.tolist() == b.tolist()
    # two seconds to load a model: b's third replica (a's spare GPU) serves from second 4, when b needs it no
    # more; a's two replicas back (b's spare GPUs) would serve from second 6, past the end
    ra, rb = hand_out([a, b], [1, 1], [2, 2], 4)
    assert ra.tolist() == [2, 2, 1, 1, 1, 1] and rb.tolist() == [2, 2, 2, 2, 1, 1]
    # a need that comes back finds its replica still loaded (no other pool took it)
    ra, rb = hand_out([np.array([2, 1, 2]), np.array([1, 1, 1])], [1, 1], [5, 5], 3)
    assert ra.tolist() == [2, 2, 2] and rb.tolist() == [1, 1, 1]
    # an 8-GPU replica waits for eight free GPUs: one spare 1-GPU replica is not enough
    ra, rb = hand_out([np.array([1, 2]), np.array([4, 3])], [8, 1], [0, 0], 12)
    assert ra.tolist() == [1, 1] and rb.tolist() == [4, 4]


def test_a_shared_fleet_is_re_simulated_with_the_time_to_load_a_model(tmp_path):
    """Two bursty API pools in opposite time zones share a fleet sized for their summed need: each pool's
    own peak fleet met every SLO, the shared fleet meets fewer, and fewer still when a model takes 30
    minutes to load onto GPUs another pool gave up."""
    import yaml

    from inferonomics.fleet.run import run

    def scenario(delay_s):
        def pool(name, model, utc):
            return {"name": name, "token_share": 0.5,
                    "deployment": {"model": model, "gpu": "h100-sxm", "max_tpot_s": 0.05, "max_ttft_s": 2.0},
                    "autoscaler": {"provisioning_delay_s": delay_s, "target_utilization": 0.95},
                    "tenants": [{"name": "t", "class": "api", "token_share": 1.0, "profile": "burstgpt",
                                 "diurnal_amplitude": 0.8, "utc_offset_h": utc}]}

        f = tmp_path / f"two-{delay_s}.yaml"
        f.write_text(yaml.safe_dump({"name": "two", "daily_tokens": 2e10, "fleet": "owned", "shared_fleet": True,
                                     "pools": [pool("a", "llama-3.1-8b", -6), pool("b", "qwen3-8b", 6)]}))
        return run(load_scenario(str(f)), engine="fluid")

    at_once, slow = scenario(0), scenario(1800)
    for out in (at_once, slow):
        tot = out["totals"]
        assert tot["slo_attainment"] == pytest.approx(1.0, abs=1e-3)  # each pool on its own peak fleet
        assert tot["slo_attainment_shared"] < tot["slo_attainment"]
        assert all("slo_attainment_shared" in r.extra for r in out["pools"])
    assert slow["totals"]["slo_attainment_shared"] < at_once["totals"]["slo_attainment_shared"] - 0.02
    assert at_once["totals"]["gpus"] == slow["totals"]["gpus"]  # the same fleet, sized with no delay
