"""Hand-computed cases and structural checks of the performance model."""

import numpy as np
import pytest

from inferonomics.errors import DoesNotFitError, InputError, UnknownNameError
from inferonomics.perf import Deployment, active_params, frontier, kv_bytes_per_token, predict, sweep, total_params
from inferonomics.perf.api import operating_point
from inferonomics.perf.arch import arch_columns

GIB = 2**30


def _hw(cat, gpu):
    acc = cat.accelerator(gpu)
    return acc, cat.efficiency_for(acc.family)


def test_param_counts_by_hand(cat):
    m = cat.model("llama-3.1-8b")
    d, L, ffn, v = 4096, 32, 14336, 128256
    attn = d * 32 * 128 * 2 + 2 * d * 8 * 128
    assert total_params(m) == L * (attn + 3 * d * ffn) + 2 * v * d
    assert active_params(m) == L * (attn + 3 * d * ffn) + v * d
    ds = cat.model("deepseek-v3")
    assert total_params(ds) / 1e9 == pytest.approx(671, rel=0.01)
    assert active_params(ds) / 1e9 == pytest.approx(37, rel=0.05)


def test_kv_bytes_per_token_by_hand(cat):
    # GQA: 2 (k and v) x 8 heads x 128 dims x 80 layers x 2 bytes
    assert kv_bytes_per_token(cat.model("llama-3.1-70b"), 2) == 2 * 8 * 128 * 80 * 2
    # MLA: one 512 + 64 latent per layer, 61 layers
    assert kv_bytes_per_token(cat.model("deepseek-v3"), 1) == (512 + 64) * 61


def test_batch1_decode_is_weight_bytes_over_effective_bandwidth(cat):
    """One sequence, short context, one GPU: TPOT = weights / (bw x eff) + overheads (hand computed)."""
    acc, eff = _hw(cat, "h100-sxm")
    m = cat.model("llama-3.1-8b")
    r = predict("llama-3.1-8b", "h100-sxm", weights="bf16", isl=16, osl=16, concurrency=1, catalog=cat)
    c = arch_columns(m)
    weight_bytes = 2 * (active_params(m))  # every layer weight + LM head, bf16
    kv = (16 + 8) * kv_bytes_per_token(m, 2)  # the KV cache at the mean context isl + osl/2
    bw = acc.memory_bw_gb_s.value * 1e9 * eff.memory_bw_eff.value
    expected = (weight_bytes + kv) / bw + eff.step_overhead_s.value + eff.layer_overhead_s.value * c["n_layers"]
    assert r["tpot_s"] == pytest.approx(expected, rel=0.01)
    assert r["decode_memory_bound"]


def test_prefill_is_two_flops_per_parameter_per_token_plus_attention(cat):
    acc, eff = _hw(cat, "h100-sxm")
    m = cat.model("llama-3.1-8b")
    T = 4096
    r = predict("llama-3.1-8b", "h100-sxm", weights="bf16", isl=T, osl=8, concurrency=1, catalog=cat)
    body = active_params(m) - m.vocab_size * m.hidden_size
    gemm = 2 * body * T + 2 * m.vocab_size * m.hidden_size  # LM head for the last token only
    attn = 2 * m.num_layers * m.num_attention_heads * (2 * m.head_dim) * T * (T + 1) / 2
    rate = acc.peak_tflops("bf16") * 1e12 * eff.prefill_compute_eff.value
    overhead = eff.step_overhead_s.value + (eff.layer_overhead_s.value + eff.prefill_layer_overhead_s.value) * 32
    expected = (gemm + attn) / rate + overhead
    assert r["prefill_s"] == pytest.approx(expected, rel=0.01)


def test_tp_wider_than_kv_heads_replicates_kv(cat):
    a8 = predict("llama-3.1-70b", "h100-sxm", gpus=8, tp=8, weights="fp8", isl=1000, osl=1000, concurrency=8, catalog=cat)
    a16 = predict("llama-3.1-70b", "h100-sxm", gpus=16, tp=16, weights="fp8", isl=1000, osl=1000, concurrency=8, catalog=cat)
    assert a16["kv_per_sequence_per_gpu_gib"] == pytest.approx(a8["kv_per_sequence_per_gpu_gib"])
    a4 = predict("llama-3.1-70b", "h100-sxm", gpus=4, tp=4, weights="fp8", isl=1000, osl=1000, concurrency=8, catalog=cat)
    assert a4["kv_per_sequence_per_gpu_gib"] == pytest.approx(2 * a8["kv_per_sequence_per_gpu_gib"])


def test_memory_tight_deployment_still_serves_with_a_small_pool(cat):
    """70B in fp8 on one 80 GB GPU: weights ~66 GiB, a small KV pool remains (DESIGN pitfall)."""
    r = predict("llama-3.1-70b", "h100-sxm", weights="fp8", isl=1000, osl=1000, catalog=cat)
    assert r["fits"]
    assert 1 <= r["max_concurrency"] < 64


def test_moe_decode_reads_more_experts_as_batch_grows(cat):
    """Distinct experts touched: top-k at batch 1, toward all experts at large batch."""
    df = sweep("qwen3-30b-a3b", "h100-sxm", weights="bf16", isl=128, osl=128, concurrency=[1, 8, 64, 512],
               catalog=cat)
    mem = df["decode_memory_s"].to_numpy()
    assert np.all(np.diff(mem) > 0)
    m = cat.model("qwen3-30b-a3b")
    c = arch_columns(m)
    acc, eff = _hw(cat, "h100-sxm")
    bw = acc.memory_bw_gb_s.value * 1e9 * eff.memory_bw_eff.value
    all_expert_bytes = 2 * c["n_moe_layers"] * c["n_experts"] * c["expert_params"]
    k_expert_bytes = 2 * c["n_moe_layers"] * c["top_k"] * c["expert_params"]
    # batch 1 reads top-k experts only; batch 512 reads (nearly) all of them, and 511 more KV caches
    kv_more = (512 - 1) * (128 + 64) * kv_bytes_per_token(m, 2)
    assert mem[-1] - mem[0] == pytest.approx((all_expert_bytes - k_expert_bytes + kv_more) / bw, rel=0.02)


def test_replicas_multiply_throughput(cat):
    one = predict("llama-3.1-8b", "h100-sxm", gpus=1, weights="fp8", isl=512, osl=256, concurrency=32, catalog=cat)
    four = predict("llama-3.1-8b", "h100-sxm", gpus=4, tp=1, weights="fp8", isl=512, osl=256, concurrency=128,
                   catalog=cat)
    assert four["replicas"] == 4
    assert four["output_tokens_per_s"] == pytest.approx(4 * one["output_tokens_per_s"])
    assert four["output_tokens_per_s_per_gpu"] == pytest.approx(one["output_tokens_per_s_per_gpu"])


def test_expert_parallel_with_data_parallel_attention(cat):
    r = predict("deepseek-v3", "h200", gpus=16, ep=16, weights="fp8", isl=1000, osl=1000, catalog=cat)
    assert r["tp"] == 1 and r["instance_gpus"] == 16 and r["fits"]
    tp = predict("deepseek-v3", "h200", gpus=16, tp=8, pp=2, weights="fp8", isl=1000, osl=1000, catalog=cat)
    # Attention DP keeps one latent KV copy per rank: far more sequences fit than with TP (latent replicated)
    assert r["max_concurrency"] > 2 * tp["max_concurrency"]


def test_queueing_beyond_memory_adds_wait_not_throughput(cat):
    top = predict("llama-3.1-70b", "h100-sxm", weights="fp8", isl=1000, osl=1000, catalog=cat)
    over = predict("llama-3.1-70b", "h100-sxm", weights="fp8", isl=1000, osl=1000,
                   concurrency=top["max_concurrency"] * 3, catalog=cat)
    assert over["output_tokens_per_s"] == pytest.approx(top["output_tokens_per_s"])
    assert over["ttft_s"] > 2 * top["e2e_latency_s"]


def test_frontier_trades_interactivity_for_throughput(cat):
    df = frontier("llama-3.1-70b", "h100-sxm", gpus=4, weights="fp8", isl=1000, osl=1000, catalog=cat)
    assert len(df) >= 10
    assert np.all(np.diff(df["output_tokens_per_s_per_gpu"]) >= -1e-9)
    assert np.all(np.diff(df["output_tokens_per_s_per_user"]) <= 1e-9)


def test_operating_point_meets_the_latency_target(cat):
    c = operating_point("llama-3.1-70b", "h100-sxm", gpus=4, weights="fp8", isl=2048, osl=512, max_tpot_s=0.05,
                        catalog=cat)
    at = predict("llama-3.1-70b", "h100-sxm", gpus=4, weights="fp8", isl=2048, osl=512, concurrency=c, catalog=cat)
    assert at["tpot_s"] <= 0.05
    with pytest.raises(InputError, match="even with one request"):
        operating_point("llama-3.1-405b", "h100-sxm", gpus=8, weights="fp8", isl=2048, osl=512, max_tpot_s=0.001,
                        catalog=cat)


def test_sweep_marks_invalid_and_unfit_rows_instead_of_raising(cat):
    df = sweep("llama-3.1-70b", "h100-sxm", gpus=[1, 3, 4], tp=[1, 3, 4], weights="bf16", isl=1000, osl=1000,
               catalog=cat)
    assert not df.loc[(df.tp == 3), "valid"].any()
    assert not df.loc[(df.gpus == 1) & (df.tp == 1), "fits"].any()  # 140 GB of bf16 weights on one GPU
    ok = df[(df.gpus == 4) & (df.tp == 4)]
    assert ok["fits"].all() and np.isfinite(ok["output_tokens_per_s"]).all()
    assert df.loc[~df.fits, "output_tokens_per_s"].isna().all()


def test_memory_outputs_are_gib_with_their_deprecated_gb_aliases(cat):
    from inferonomics.perf import DEPRECATED_OUTPUTS, OUTPUTS

    assert DEPRECATED_OUTPUTS == {f"{k}_gb": f"{k}_gib" for k in
                                  ("weights_per_gpu", "kv_per_sequence_per_gpu", "memory_per_gpu")}
    assert set(DEPRECATED_OUTPUTS.values()) <= set(OUTPUTS) and not set(DEPRECATED_OUTPUTS) & set(OUTPUTS)
    kw = {"gpus": 4, "weights": "fp8", "isl": 1000, "osl": 500, "catalog": cat}
    r = predict("llama-3.1-70b", "h100-sxm", concurrency=32, **kw)
    for old, new in DEPRECATED_OUTPUTS.items():
        assert r[old] == r[new], old
    # GiB by hand: one tp=4 instance holds its weights, the reserve (a GiB constant) and the running
    # sequences' KV cache on each GPU
    assert r["replicas"] == 1 and r["memory_per_gpu_gib"] == pytest.approx(
        r["weights_per_gpu_gib"] + cat.const("memory_reserve_gb")
        + r["running_concurrency"] * r["kv_per_sequence_per_gpu_gib"], rel=1e-12)
    # sweep: the aliases are the same columns again, after every output (NaN where a row does not fit)
    df = sweep("llama-3.1-70b", "h100-sxm", gpus=[1, 4], weights=["fp8", "bf16"], concurrency=[8.0, 32.0],
               isl=1000, osl=500, catalog=cat)  # bf16 on one GPU does not fit
    assert list(df.columns[-len(DEPRECATED_OUTPUTS):]) == list(DEPRECATED_OUTPUTS)
    assert (~df["fits"]).any() and df["fits"].any()
    for old, new in DEPRECATED_OUTPUTS.items():
        assert df[old].equals(df[new]), old
    row = df[(df.gpus == 4) & (df.weights == "fp8") & (df.concurrency == 32)].iloc[0]
    assert row["memory_per_gpu_gib"] == r["memory_per_gpu_gib"] and row["memory_per_gpu_gb"] == r["memory_per_gpu_gb"]
    empty = sweep("llama-3.1-70b", "h100-sxm", concurrency=[], catalog=cat)
    assert empty.empty and {"memory_per_gpu_gib", "memory_per_gpu_gb"} <= set(empty.columns)
    # the kernel's hardware column keeps reading its deprecated name
    from inferonomics.perf.api import _deployment, _scalar_inputs
    from inferonomics.perf.kernel import evaluate

    a, hw, s = _scalar_inputs(cat, _deployment("llama-3.1-70b", "h100-sxm", {"gpus": 4, "weights": "fp8", "isl": 1000, "osl": 500, "concurrency": 32.0}))
    hw_old = {("memory_gb" if k == "memory_gib" else k): v for k, v in hw.items()}
    assert "memory_gib" not in hw_old and evaluate(a, hw_old, s) == evaluate(a, hw, s)


@pytest.mark.parametrize(
    "kw, field, text",
    [
        (dict(tp=3, gpus=3), "tp", "must divide the 64 attention heads"),
        (dict(tp=4, gpus=6), "gpus", "multiple of the 4 GPUs"),
        (dict(ep=8, gpus=8), "ep", "dense"),
        (dict(weights="fp6"), "weights", "bf16, fp16, fp8"),
        (dict(kv="int4"), "kv", "bf16, fp16, fp8"),
        (dict(isl=200000), "isl+osl", "context"),
        (dict(concurrency=0), "concurrency", "at least 1"),
    ],
)
def test_bad_single_configurations_are_clear_errors(cat, kw, field, text):
    base = dict(gpus=4, weights="fp8", isl=1000, osl=1000, concurrency=4)
    with pytest.raises(InputError) as e:
        predict("llama-3.1-70b", "h100-sxm", catalog=cat, **{**base, **kw})
    assert e.value.field == field
    assert text in str(e.value)


def test_model_that_does_not_fit_says_how_much_memory(cat):
    with pytest.raises(DoesNotFitError) as e:
        predict("llama-3.1-405b", "h100-sxm", gpus=1, weights="bf16", concurrency=1, catalog=cat)
    assert "GiB" in str(e.value) and "--tp" in str(e.value)


def test_unknown_accelerator(cat):
    with pytest.raises(UnknownNameError) as e:
        predict("llama-3.1-8b", "h100", concurrency=1, catalog=cat)
    assert "h100-sxm" in str(e.value)


def test_static_batching_has_no_prefill_interference(cat):
    kw = dict(gpus=1, weights="fp8", isl=2048, osl=256, concurrency=32, catalog=cat)
    cont = predict("llama-3.1-8b", "h100-sxm", **kw)
    stat = predict("llama-3.1-8b", "h100-sxm", scheduler="static", **kw)
    assert stat["tpot_s"] == pytest.approx(stat["decode_step_s"])  # decode steps carry no prefill
    assert stat["tpot_s"] < cont["tpot_s"]
    assert stat["ttft_s"] > cont["ttft_s"]  # everyone waits for the whole batch's prefill
    with pytest.raises(InputError, match="scheduler"):
        predict("llama-3.1-8b", "h100-sxm", scheduler="fifo", **kw)


def test_default_kv_follows_weights():
    assert Deployment("m", "g", weights="fp8").resolved().kv == "fp8"
    assert Deployment("m", "g", weights="fp4").resolved().kv == "fp8"
    assert Deployment("m", "g", weights="bf16").resolved().kv == "bf16"
    assert Deployment("m", "g", gpus=8).resolved().tp == 8
    assert Deployment("m", "g", gpus=8, ep=8).resolved().tp == 1
