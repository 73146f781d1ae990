"""Production serving: prefix caching, speculative decoding / MTP, wide expert parallelism, prefill/decode
disaggregation and latency targets.  Invariants and hand-computed cases, not snapshots."""

import json
import math

import numpy as np
import pytest

from inferonomics.cli import main
from inferonomics.errors import InputError, UnknownNameError
from inferonomics.perf import predict, sweep
from inferonomics.perf.api import kernel_inputs, pd_ratios
from inferonomics.perf.kernel import _Instance, _inputs

DS = dict(weights="fp8", isl=2000, osl=1000)


# --- prefix caching ------------------------------------------------------------------------------------
def test_prefix_hits_skip_prefill_work(cat):
    base = dict(gpus=1, weights="fp8", isl=4000, osl=200, concurrency=32, catalog=cat)
    r0 = predict("llama-3.1-8b", "h100-sxm", **base)
    r5 = predict("llama-3.1-8b", "h100-sxm", prefix_hit_rate=0.5, **base)
    r9 = predict("llama-3.1-8b", "h100-sxm", prefix_hit_rate=0.9, **base)
    # only the uncached share of the prompt is prefilled
    for r, h in ((r0, 0.0), (r5, 0.5), (r9, 0.9)):
        assert r["prefill_tokens_per_s"] == pytest.approx((1 - h) * r["input_tokens_per_s"], rel=1e-9)
    # less prefill: faster first token, more output, less time in prefill
    assert r9["prefill_s"] < r5["prefill_s"] < r0["prefill_s"]
    assert r9["output_tokens_per_s"] > r5["output_tokens_per_s"] > r0["output_tokens_per_s"]
    assert r9["prefill_time_share"] < r0["prefill_time_share"]
    # the KV cache still holds the whole context: same memory per sequence
    assert r9["kv_per_sequence_per_gpu_gb"] == r0["kv_per_sequence_per_gpu_gb"]


def test_prefix_hit_rate_zero_is_the_default(cat):
    kw = dict(gpus=2, weights="fp8", isl=1000, osl=300, concurrency=16, catalog=cat)
    a = predict("llama-3.1-70b", "h100-sxm", **kw)
    b = predict("llama-3.1-70b", "h100-sxm", prefix_hit_rate=0.0, **kw)
    assert a["output_tokens_per_s"] == b["output_tokens_per_s"]


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan")])
def test_prefix_hit_rate_out_of_range(cat, bad):
    with pytest.raises(InputError) as e:
        predict("llama-3.1-8b", "h100-sxm", prefix_hit_rate=bad, concurrency=1, catalog=cat)
    assert e.value.field == "prefix_hit_rate"
    assert "between 0 and 1" in str(e.value)


# --- speculative decoding / MTP ----------------------------------------------------------------------
def test_mtp_tokens_per_step_is_one_plus_k_times_accept(cat):
    r = predict("deepseek-v3", "h200", gpus=8, mtp_tokens=2, mtp_accept_rate=0.7, concurrency=8, catalog=cat, **DS)
    assert r["tokens_per_step"] == pytest.approx(1 + 2 * 0.7)
    # co-located: TPOT is at least the pure decode step (verification + draft) over the tokens it yields
    assert r["tpot_s"] >= r["decode_step_s"] / 2.4
    # a decode pool has no prefill in its steps: exactly the step over the tokens it yields
    r = predict("deepseek-v3", "h200", prefill_gpus=8, decode_gpus=8, prefill_ep=8, ep=8, mtp_tokens=2,
                mtp_accept_rate=0.7, concurrency=64, catalog=cat, **DS)
    assert r["tpot_s"] == pytest.approx(r["decode_step_s"] / 2.4, rel=1e-12)


def test_mtp_pays_for_itself_only_when_drafts_are_accepted(cat):
    kw = dict(gpus=8, concurrency=4, catalog=cat, **DS)
    plain = predict("deepseek-v3", "h200", **kw)
    rejected = predict("deepseek-v3", "h200", mtp_tokens=1, mtp_accept_rate=0.0, **kw)
    accepted = predict("deepseek-v3", "h200", mtp_tokens=1, mtp_accept_rate=0.9, **kw)
    assert rejected["tpot_s"] > plain["tpot_s"]  # the draft and the extra verify token cost time
    # memory-bound decode at a small batch: verifying a second token is nearly free, so TPOT falls ~1.9x
    assert accepted["tpot_s"] < plain["tpot_s"] / 1.5
    assert accepted["output_tokens_per_s"] > plain["output_tokens_per_s"]


def test_mtp_default_accept_rate_comes_from_the_catalog(cat):
    r = predict("deepseek-v3", "h200", gpus=8, mtp_tokens=1, concurrency=4, catalog=cat, **DS)
    assert r["mtp_accept_rate"] == cat.const("mtp_accept_rate")
    assert r["tokens_per_step"] == pytest.approx(1 + cat.const("mtp_accept_rate"))


# --- wide expert parallelism ----------------------------------------------------------------------------
def _instance(cat, ep, redundant=0, model="deepseek-v3", gpu="h800"):
    from inferonomics.perf.api import Deployment

    d = Deployment(model, gpu, gpus=ep, ep=ep, weights="fp8", redundant_experts=redundant).resolved()
    a, hw, s = kernel_inputs(cat, [d])
    s = _inputs(s)
    return _Instance(a, {**hw, "expert_load_cv": np.array([0.5])}, s, s["tp"], s["pp"], s["ep"])


def test_expert_imbalance_by_hand(cat):
    """max/mean = 1 + sqrt(2 ln EP) * sqrt(1/assignments per rank + (cv / sqrt(experts per rank) * (1 - b))^2)"""
    inst = _instance(cat, 32)
    tok = 100.0  # tokens per rank per step
    assign = tok * 32 * 8 / 32  # dp = 32 ranks, top-8, over 32 expert ranks
    sysv = 0.5 / math.sqrt(256 / 32)
    want = 1 + math.sqrt(2 * math.log(32)) * math.sqrt(1 / assign + sysv**2)
    assert float(inst.imbalance(tok)[0]) == pytest.approx(want, rel=1e-12)


def test_redundant_experts_and_bigger_batches_reduce_imbalance(cat):
    plain, red = _instance(cat, 32), _instance(cat, 32, redundant=32)
    assert float(red.imbalance(100.0)[0]) < float(plain.imbalance(100.0)[0])
    assert float(plain.imbalance(1000.0)[0]) < float(plain.imbalance(10.0)[0])
    # wider EP: fewer experts per rank, less averaging of the popularity skew
    assert float(_instance(cat, 64).imbalance(100.0)[0]) > float(plain.imbalance(100.0)[0])
    # redundant copies take memory: 288 slots over 32 ranks = 9 experts per GPU instead of 8
    assert float(red.epr[0]) == 9 and float(plain.epr[0]) == 8


def test_no_imbalance_without_expert_parallelism(cat):
    r = predict("deepseek-v3", "h200", gpus=8, tp=8, concurrency=64, catalog=cat, **DS)
    assert r["expert_imbalance"] == 1.0
    r = predict("deepseek-v3", "h200", gpus=8, ep=8, concurrency=64, catalog=cat, **DS)
    assert r["expert_imbalance"] > 1.0


def test_ep_wider_than_experts_needs_redundant_copies(cat):
    with pytest.raises(InputError) as e:
        predict("qwen3-30b-a3b", "h100-sxm", gpus=256, ep=256, weights="fp8", concurrency=64, catalog=cat)
    assert e.value.field == "ep" and "128 experts" in str(e.value)
    # 144 does not divide 256 experts: allowed, with uneven experts per rank (ceil)
    r = predict("deepseek-v3", "h800", gpus=144, ep=144, redundant_experts=32, concurrency=1000, catalog=cat, **DS)
    assert r["fits"]


def test_two_batch_overlap_hides_communication(cat):
    kw = dict(gpus=64, ep=64, concurrency=64 * 64, catalog=cat, **DS)
    off = predict("deepseek-v3", "h800", tbo=False, **kw)
    on = predict("deepseek-v3", "h800", tbo=True, **kw)
    assert on["decode_step_s"] < off["decode_step_s"]
    # never better than the slower of computation and communication alone
    assert on["decode_step_s"] >= on["decode_comm_s"]


# --- prefill/decode disaggregation -----------------------------------------------------------------------
PD = dict(prefill_gpus=8, decode_gpus=16, prefill_ep=8, ep=16, **DS)


def test_disaggregated_keys_and_identities(cat):
    r = predict("deepseek-v3", "h200", concurrency=16 * 64, catalog=cat, **PD)
    assert r["gpus"] == 24 and r["prefill_gpus"] == 8 and r["decode_gpus"] == 16
    assert r["decode_output_tokens_per_s_per_gpu"] * 16 == pytest.approx(r["output_tokens_per_s"])
    assert r["prefill_input_tokens_per_s_per_gpu"] * 8 == pytest.approx(r["input_tokens_per_s"])
    assert r["output_tokens_per_s_per_gpu"] * 24 == pytest.approx(r["output_tokens_per_s"])
    assert r["input_tokens_per_s"] / r["output_tokens_per_s"] == pytest.approx(2000 / 1000)
    assert 0 <= r["prefill_utilization"] <= 1
    assert r["kv_transfer_s"] > 0 and r["ttft_s"] > r["kv_transfer_s"]


def test_units_scale_throughput_not_per_gpu_figures(cat):
    one = predict("deepseek-v3", "h200", concurrency=16 * 64, catalog=cat, **PD)
    two = predict("deepseek-v3", "h200", gpus=48, concurrency=2 * 16 * 64, catalog=cat, **PD)
    assert two["output_tokens_per_s"] == pytest.approx(2 * one["output_tokens_per_s"])
    assert two["output_tokens_per_s_per_gpu"] == pytest.approx(one["output_tokens_per_s_per_gpu"])


def test_prefill_bound_then_decode_bound(cat):
    """With too few prefill GPUs the system serves what prefill delivers; adding prefill GPUs helps until
    the decode pool is the bottleneck."""
    kw = dict(decode_gpus=16, ep=16, prefill_ep=8, concurrency=16 * 100, catalog=cat, weights="fp8",
              isl=8000, osl=200)
    outs = [predict("deepseek-v3", "h200", prefill_gpus=p, **kw) for p in (32, 64, 256, 512)]
    rates = [r["output_tokens_per_s"] for r in outs]
    assert rates[1] == pytest.approx(2 * rates[0])  # prefill-bound: output follows prefill capacity
    assert rates[1] < rates[2]
    assert outs[0]["prefill_utilization"] > 0.99
    assert outs[-1]["prefill_utilization"] < outs[0]["prefill_utilization"]
    # once decode-bound, the decode pool's rate no longer depends on the prefill pool
    assert rates[-1] == pytest.approx(rates[-2], rel=1e-6)


def test_disaggregated_decode_is_free_of_prefill_interference(cat):
    co = predict("llama-3.1-70b", "h100-sxm", gpus=8, tp=8, weights="fp8", isl=4000, osl=300, concurrency=64,
                 catalog=cat)
    pd_ = predict("llama-3.1-70b", "h100-sxm", prefill_gpus=8, decode_gpus=8, prefill_tp=8, tp=8, weights="fp8",
                  isl=4000, osl=300, concurrency=64, catalog=cat)
    assert pd_["tpot_s"] < co["tpot_s"]


@pytest.mark.parametrize(
    "kw, field, text",
    [
        (dict(prefill_gpus=8), "decode_gpus", "needs both"),
        (dict(prefill_gpus=8, decode_gpus=16, prefill_ep=8, ep=16, gpus=30), "gpus", "P+D units of 24"),
        (dict(prefill_gpus=6, decode_gpus=16, prefill_ep=8, ep=16), "prefill_gpus", "multiple of the 8"),
        (dict(prefill_ep=8), "prefill_ep", "needs --prefill-gpus"),
        (dict(prefill_gpus=8, decode_gpus=8, ep=8, scheduler="static"), "scheduler", "co-located"),
    ],
)
def test_bad_disaggregated_configurations(cat, kw, field, text):
    with pytest.raises(InputError) as e:
        predict("deepseek-v3", "h200", concurrency=64, catalog=cat, **{**DS, **kw})
    assert e.value.field == field
    assert text in str(e.value)


def test_pd_ratio_search_is_sorted_and_meets_the_target(cat):
    df = pd_ratios("deepseek-v3", "h200", prefill_ep=8, ep=8, max_instances=4, max_tpot_s=0.05, catalog=cat, **DS)
    assert len(df) == 16
    assert (df["tpot_s"] <= 0.05).all()
    v = df["output_tokens_per_s_per_gpu"].to_numpy()
    assert (np.diff(v) <= 0).all()
    assert df["pd_ratio"].iloc[0] == pytest.approx(df["prefill_gpus"].iloc[0] / df["decode_gpus"].iloc[0])


# --- latency targets ----------------------------------------------------------------------------------------
def test_latency_target_picks_the_best_point_that_meets_it(cat):
    kw = dict(gpus=4, weights="fp8", isl=2048, osl=512, catalog=cat)
    r = predict("llama-3.1-70b", "h100-sxm", max_tpot_s=0.03, **kw)
    assert r["tpot_s"] <= 0.03
    df = sweep("llama-3.1-70b", "h100-sxm", concurrency=[float(c) for c in range(1, 400, 3)], **kw)
    meets = df[df["fits"] & (df["tpot_s"] <= 0.03)]
    # no swept point that meets the target does meaningfully better
    assert meets["output_tokens_per_s"].max() <= r["output_tokens_per_s"] * 1.02


def test_latency_target_with_concurrency_is_refused(cat):
    with pytest.raises(InputError) as e:
        predict("llama-3.1-8b", "h100-sxm", concurrency=8, max_tpot_s=0.05, catalog=cat)
    assert e.value.field == "concurrency"


def test_unreachable_latency_target_is_a_clear_error(cat):
    with pytest.raises(InputError) as e:
        predict("llama-3.1-70b", "h100-sxm", gpus=4, weights="fp8", max_tpot_s=0.0001, catalog=cat)
    assert "even with one request in flight" in str(e.value)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_latency_target(cat, bad):
    with pytest.raises(InputError) as e:
        predict("llama-3.1-8b", "h100-sxm", max_tpot_s=bad, catalog=cat)
    assert e.value.field == "max_tpot_s"


def test_engine_profiles_change_the_engine_factors_only(cat):
    kw = dict(gpus=1, weights="fp8", isl=1024, osl=256, concurrency=32, catalog=cat)
    gen = predict("llama-3.1-8b", "h100-sxm", **kw)
    for eng in cat.engines:
        r = predict("llama-3.1-8b", "h100-sxm", engine=eng, **kw)
        assert r["engine"] == eng
        assert r["output_tokens_per_s"] != gen["output_tokens_per_s"]
        assert r["memory_per_gpu_gb"] == gen["memory_per_gpu_gb"]  # memory does not depend on the engine


def test_engine_without_a_fitted_profile_is_refused(cat):
    import dataclasses

    bare = dataclasses.replace(cat, engines={})  # a catalog whose engines have no fitted profile
    for eng in ("trtllm", "vllm", "sglang"):
        with pytest.raises(InputError) as e:
            predict("llama-3.1-8b", "h100-sxm", engine=eng, concurrency=1, catalog=bare)
        assert e.value.field == "engine" and "no fitted efficiency profile" in str(e.value)
    assert predict("llama-3.1-8b", "h100-sxm", concurrency=1, catalog=bare)["fits"]


def test_unknown_engine_suggests_close_matches(cat):
    with pytest.raises(UnknownNameError) as e:
        predict("llama-3.1-8b", "h100-sxm", engine="vlm", concurrency=1, catalog=cat)
    assert "vllm" in str(e.value)


# --- the command line ----------------------------------------------------------------------------------------
def _run(capsys, *args):
    rc = main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cli_disaggregated_json(capsys):
    rc, out, _ = _run(
        capsys, "perf", "--model", "deepseek-v3", "--gpu", "h200", "--prefill-gpus", "8", "--decode-gpus", "16",
        "--prefill-ep", "8", "--decode-ep", "16", "--weights", "fp8", "--isl", "2000", "--osl", "1000",
        "--prefix-hit-rate", "0.5", "--mtp-tokens", "1", "--mtp-accept-rate", "0.8", "--max-tpot-s", "0.05", "--json",
    )
    assert rc == 0
    d = json.loads(out)
    for k in ("prefill_gpus", "decode_gpus", "prefill_input_tokens_per_s_per_gpu", "decode_output_tokens_per_s_per_gpu",
              "output_tokens_per_s", "output_tokens_per_s_per_gpu", "ttft_s", "tpot_s"):
        assert d[k] is not None, k
    assert d["prefill_gpus"] == 8 and d["decode_gpus"] == 16 and d["gpus"] == 24
    assert d["tpot_s"] <= 0.05 and d["tokens_per_step"] == pytest.approx(1.8)


def test_cli_gpus_must_be_whole_units(capsys):
    rc, _, err = _run(
        capsys, "perf", "--model", "deepseek-v3", "--gpu", "h200", "--prefill-gpus", "8", "--decode-gpus", "16",
        "--prefill-ep", "8", "--decode-ep", "16", "--gpus", "30", "--weights", "fp8", "--concurrency", "64",
    )
    assert rc == 2 and "P+D units" in err


def test_cli_cost_and_frontier_take_latency_targets(capsys):
    rc, out, _ = _run(capsys, "cost", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--weights", "fp8",
                      "--max-tpot-s", "0.02", "--json")
    assert rc == 0 and json.loads(out)["tpot_s"] <= 0.02
    rc, out, _ = _run(capsys, "frontier", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--weights", "fp8",
                      "--max-tpot-s", "0.02", "--json")
    assert rc == 0
    pts = json.loads(out)["points"]
    assert pts and all(p["tpot_s"] <= 0.02 for p in pts)


# --- provider scenarios size their token tiers on production deployments -----------------------------------
def test_scenario_tier_uses_the_production_deployment(cat):
    from inferonomics.market.scenario import load_scenario

    sc = load_scenario("alibaba-100b", catalog=cat)
    d = sc.spec.token_tiers["flagship"].deployment
    assert d.prefill_gpus and d.decode_gpus and d.prefix_hit_rate > 0 and d.mtp_tokens >= 1
    r = predict(d.model, d.gpu, prefill_gpus=d.prefill_gpus, decode_gpus=d.decode_gpus, prefill_ep=d.prefill_ep,
                ep=d.ep, redundant_experts=d.redundant_experts, weights=d.weights, isl=d.isl, osl=d.osl,
                prefix_hit_rate=d.prefix_hit_rate, mtp_tokens=d.mtp_tokens, max_tpot_s=d.max_tpot_s,
                max_ttft_s=d.max_ttft_s, catalog=cat)
    tps = sc.tiers_tokens_per_s_per_gpu["flagship"]
    assert tps == pytest.approx(r["output_tokens_per_s_per_gpu"] * (d.isl + d.osl) / d.osl)
    assert r["tpot_s"] <= d.max_tpot_s and r["ttft_s"] <= d.max_ttft_s


# --- cost: input tokens priced as cache hits and misses -------------------------------------------------------
def test_cache_hit_and_miss_input_prices(cat):
    from inferonomics.cost import cost
    from inferonomics.perf.arch import kv_bytes_per_token

    kw = dict(gpus=8, ep=8, weights="fp8", isl=4000, osl=500, concurrency=256, own=True, catalog=cat)
    r = cost("deepseek-v3", "h200", prefix_hit_rate=0.5, **kw)
    r0 = cost("deepseek-v3", "h200", **kw)
    # a miss pays the prefill's GPU time: per uncached token, the prefill share of the GPU-hour
    util = r["utilization"]
    want_miss = r["usd_per_gpu_hour"] * r["prefill_time_share"] / (r["prefill_tokens_per_s"] / 8 * 3600 * util) * 1e6
    assert r["usd_per_mtok_input_cache_miss"] == pytest.approx(want_miss)
    # the average input price mixes hits (no prefill) and misses
    assert r["usd_per_mtok_input"] == pytest.approx(0.5 * r["usd_per_mtok_input_cache_miss"], rel=1e-9)
    # a hit pays storage only: KV bytes x $/GB-hour x hours per hit (hand computed)
    gb = kv_bytes_per_token(cat.model("deepseek-v3"), 1.0) * 1e6 / 1e9
    want_hit = gb * cat.const("prefix_cache_storage_usd_per_gb_month") * 12 / 8760 * cat.const(
        "prefix_cache_storage_hours_per_hit")
    assert r["usd_per_mtok_input_cache_hit"] == pytest.approx(want_hit)
    assert r["usd_per_mtok_input_cache_hit"] < r["usd_per_mtok_input_cache_miss"]
    # caching lowers the cost of the whole request mix
    assert r["usd_per_mtok_blended"] < r0["usd_per_mtok_blended"]


def test_readme_deepseek_day6_decode_command_is_within_15_percent(capsys):
    """The README's single perf command for DeepSeek's published day-6 decode figure (about 1,850 output
    tokens/s per H800 at about 20 tokens/s per user) reproduces it within 15%, meeting the latency target."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"inferonomics perf --model deepseek-v3 --gpu h800 (.*?)\n(?!\s)", readme, re.S)
    assert block, "the README shows the DeepSeek day-6 command"
    argv = ["perf", "--model", "deepseek-v3", "--gpu", "h800", *block.group(1).replace("\\\n", " ").split(), "--json"]
    rc, out, _ = _run(capsys, *argv)
    assert rc == 0
    d = json.loads(out)
    assert d["decode_output_tokens_per_s_per_gpu"] == pytest.approx(1850, rel=0.15)
    assert d["tpot_s"] <= 0.05 and d["output_tokens_per_s_per_user"] >= 20
