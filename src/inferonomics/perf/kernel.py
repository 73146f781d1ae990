"""The vectorized serving model: one call evaluates NumPy arrays of configurations.

Inputs are dicts of arrays that broadcast against each other (architecture columns from
:mod:`inferonomics.perf.arch`, hardware columns from :mod:`inferonomics.perf.hardware`, serving settings).
The function is pure: no catalog look-ups, no I/O, no Python loops over configurations.

The model, per instance (one copy of the model spread over ``tp x pp`` GPUs, or ``ep x pp`` GPUs with
attention data-parallel over ``ep / tp`` ranks):

* **Engine step**: decode tokens (one per running sequence) and chunked-prefill tokens share a step, as
  in vLLM, SGLang and TensorRT-LLM.  Time = max(compute, memory) on a roofline with fitted efficiencies,
  plus TP all-reduces and EP all-to-alls (latency + bytes / link bandwidth), plus a fixed per-step and
  per-layer overhead (launches, sync, sampling, scheduling).  Memory traffic is the weights once (MoE:
  the expected number of *distinct* experts the step's tokens route to) plus the KV cache read at the
  mean context ``isl + osl/2`` and the prompts' KV written.  Attention FLOPs grow with context; causal
  prefill averages ``(isl+1)/2``.
* **Steady state** at a running concurrency ``R``: while a sequence decodes, the other ``R-1``
  sequences' replacement prompts are prefilled in the same steps (``isl/osl`` prefill tokens per decode
  token), so prefill's interference on decode is counted in TPOT; a sequence's own prompt is prefilled
  (in chunks) before its first token.  Throughput is ``R * osl / (TTFT + (osl-1) * TPOT)``.
* **Memory**: weights + a reserve, the rest of ``gpu_memory_utilization x memory`` holds the KV cache;
  the largest concurrency that fits (capped by the engine's batch limit) is ``max_concurrency``.  Asked
  concurrency beyond it queues: TTFT then includes the wait.
"""

from __future__ import annotations

import numpy as np

from inferonomics.perf.arch import kv_context_tokens, prefill_attended_tokens

GIB = float(2**30)

# Output columns, in order; the API turns them into DataFrame columns.
OUTPUTS = (
    "valid",
    "fits",
    "replicas",
    "instance_gpus",
    "weights_per_gpu_gb",
    "kv_per_sequence_per_gpu_gb",
    "max_concurrency",
    "concurrency",
    "running_concurrency",
    "memory_per_gpu_gb",
    "decode_step_s",
    "decode_compute_s",
    "decode_memory_s",
    "decode_comm_s",
    "prefill_s",
    "ttft_s",
    "tpot_s",
    "e2e_latency_s",
    "output_tokens_per_s",
    "output_tokens_per_s_per_gpu",
    "input_tokens_per_s",
    "output_tokens_per_s_per_user",
    "prefill_time_share",
    "decode_memory_bound",
)


def evaluate(a: dict, hw: dict, s: dict) -> dict[str, np.ndarray]:
    """Evaluate configurations.

    ``a``: architecture columns (see ``arch.ARCH_COLUMNS``).
    ``hw``: ``peak_gemm_tflops`` (at the weights' compute dtype), ``peak_attn_tflops``, ``memory_gb``,
    ``memory_bw_gb_s``, ``scaleup_bw_gb_s``, ``scaleup_domain_gpus``, ``scaleout_bw_gb_s``,
    ``prefill_compute_eff``, ``decode_compute_eff``, ``memory_bw_eff``, ``step_overhead_s``,
    ``layer_overhead_s``, ``comm_latency_s``.
    ``s``: ``gpus``, ``tp``, ``pp``, ``ep``, ``weight_bytes``, ``kv_bytes``, ``vocab_bytes``, ``isl``,
    ``osl``, ``concurrency`` (whole deployment; NaN = the most that fits), ``gpu_memory_utilization``,
    ``reserve_gb``, ``max_batch_per_rank``, ``max_batched_tokens``, ``act_bytes``.
    """
    f8 = np.float64
    tp = np.asarray(s["tp"], dtype=f8)
    pp = np.asarray(s["pp"], dtype=f8)
    ep = np.asarray(s["ep"], dtype=f8)
    gpus = np.asarray(s["gpus"], dtype=f8)
    wb = s["weight_bytes"]
    kvb = s["kv_bytes"]
    vb = s["vocab_bytes"]
    ab = s["act_bytes"]
    isl = np.asarray(s["isl"], dtype=f8)
    osl = np.asarray(s["osl"], dtype=f8)

    n_layers = a["n_layers"]
    n_dense = a["n_dense_layers"]
    n_moe = a["n_moe_layers"]
    d = a["hidden"]
    n_kv = a["n_kv_heads"]
    n_exp = a["n_experts"]
    top_k = a["top_k"]

    ep_on = ep > 1
    dp = np.where(ep_on, ep / tp, 1.0)  # attention data-parallel ranks
    es = np.where(ep_on, ep, tp)  # shards of the routed experts
    inst = np.where(ep_on, ep, tp) * pp
    replicas = gpus / inst
    lps = n_layers / pp  # layers per pipeline stage

    valid = (
        (tp >= 1)
        & (pp >= 1)
        & (ep >= 1)
        & (np.mod(a["n_heads"], tp) == 0)
        & ((np.mod(n_kv, tp) == 0) | (np.mod(tp, n_kv) == 0))
        & (np.mod(gpus, inst) == 0)
        & (pp <= n_layers)
        & (~ep_on | ((a["is_moe"] > 0) & (np.mod(n_exp, ep) == 0) & (np.mod(ep, tp) == 0)))
        & (isl >= 1)
        & (osl >= 1)
    )

    # --- parameters held per GPU ------------------------------------------------------------------
    kv_rep = np.where(a["kv_replicable"] > 0, np.maximum(n_kv / tp, 1.0) / n_kv, 1.0)  # share of KV heads
    attn_gpu = (
        (a["attn_shardable_params"] - a["kv_split_params"]) / tp
        + a["kv_split_params"] * kv_rep
        + a["attn_replicated_params"]
    )
    dense_gpu = a["dense_ffn_params"] / tp
    shared_gpu = a["shared_expert_params"] / tp
    expert_gpu = a["expert_params"] / es  # per expert, its share on one GPU
    vocab_gpu = a["vocab_params"] / tp

    per_layer_nonexpert = n_layers * attn_gpu + n_dense * dense_gpu + n_moe * shared_gpu
    weights_b = (
        (per_layer_nonexpert + n_moe * n_exp * expert_gpu) * wb + a["n_vocab_mats"] * vocab_gpu * vb
    ) / pp

    # --- memory and the largest concurrency ---------------------------------------------------------
    kv_tok_layer_gpu = a["kv_elems_per_token_layer"] * kv_rep * kvb  # bytes per token per layer on a GPU
    kv_seq_b = kv_context_tokens(a, isl + osl) * lps * kv_tok_layer_gpu  # sliding layers hold <= window
    budget_b = hw["memory_gb"] * GIB * s["gpu_memory_utilization"] - weights_b - s["reserve_gb"] * GIB
    seqs_rank = np.floor(np.maximum(budget_b, 0.0) / kv_seq_b)
    fits = valid & (seqs_rank >= 1)
    seqs_rank = np.minimum(seqs_rank, s["max_batch_per_rank"])
    cmax_inst = seqs_rank * dp

    conc = np.asarray(s["concurrency"], dtype=f8)
    c_inst = np.where(np.isnan(conc), cmax_inst, conc / replicas)
    running = np.maximum(np.minimum(c_inst, cmax_inst), 1e-9)

    # --- one engine step of one pipeline stage, for one micro-batch -------------------------------
    # Engines batch decode tokens and (chunked) prefill tokens in the same step: the weights are read once
    # for both; decode tokens read the KV cache at their context, prefill tokens write theirs.
    ctx = isl + 0.5 * osl
    ctx_kv = kv_context_tokens(a, ctx)  # KV tokens a decode step reads and attends to, per layer
    pf_attn = prefill_attended_tokens(a, isl)  # keys one prompt token attends to, per layer
    heads_gpu = a["n_heads"] / tp
    qkv_dec = a["attn_qk_dim_decode"] + a["attn_v_dim_decode"]
    qkv_pf = a["attn_qk_dim_prefill"] + a["attn_v_dim_prefill"]
    gemm_rate = hw["peak_gemm_tflops"] * 1e12
    attn_rate = hw["peak_attn_tflops"] * 1e12
    bw = hw["memory_bw_gb_s"] * 1e9 * hw["memory_bw_eff"]
    eff_dc = hw["decode_compute_eff"]
    eff_pc = hw["prefill_compute_eff"]
    alpha = hw["comm_latency_s"]
    domain = hw["scaleup_domain_gpus"]
    bw_tp = np.where(tp <= domain, hw["scaleup_bw_gb_s"], hw["scaleout_bw_gb_s"]) * 1e9
    bw_ep = np.where(ep <= domain, hw["scaleup_bw_gb_s"], hw["scaleout_bw_gb_s"]) * 1e9
    bw_pp = hw["scaleout_bw_gb_s"] * 1e9
    overhead = hw["step_overhead_s"] + hw["layer_overhead_s"] * lps
    pf_overhead = hw["prefill_layer_overhead_s"] * lps  # prefill steps run without CUDA graphs
    moe_eff = hw["moe_expert_eff"]  # grouped-GEMM (small per-expert batches) and routing-imbalance losses
    nonexpert_stage = per_layer_nonexpert / pp
    routed_stage = n_moe / pp * top_k * expert_gpu  # routed-expert params one token uses on one GPU
    vocab_stage = vocab_gpu / pp
    is_moe = np.asarray(a["is_moe"]) > 0  # True for mixture-of-experts rows

    def step(tok_dec, tok_pf):
        """Seconds for one stage step with ``tok_dec`` decode and ``tok_pf`` prefill tokens per rank.

        Three operator groups, each on its own roofline (they run as separate kernels): the dense GEMMs
        (attention projections, dense FFN, shared experts, LM head), the routed experts, and the attention
        core over the KV cache.  Returns (time, compute, memory, communication)."""
        tok = tok_dec + tok_pf
        # dense GEMMs: weights read once per step; the LM head runs for decode tokens and last prompt tokens
        dense_b = nonexpert_stage * wb + vocab_stage * vb
        dense_c = (
            2.0 * tok_dec * (nonexpert_stage + vocab_stage) / eff_dc
            + 2.0 * tok_pf * (nonexpert_stage + vocab_stage / isl) / eff_pc
        ) / gemm_rate
        # routed experts: the step's tokens from all dp ranks route over the experts sharded on es GPUs
        if np.any(is_moe):
            with np.errstate(divide="ignore", invalid="ignore"):
                u = n_exp * (1.0 - (1.0 - top_k / n_exp) ** (tok * dp))  # distinct experts touched
            u = np.where(is_moe, u, 0.0)
            exp_b = n_moe / pp * u * expert_gpu * wb
            exp_c = 2.0 * dp * routed_stage * (tok_dec / eff_dc + tok_pf / eff_pc) / gemm_rate / moe_eff
            t_exp = np.maximum(exp_b / bw, exp_c)
        else:
            exp_b = exp_c = t_exp = 0.0
        # attention core: decode reads the KV cache at its context, prefill writes its prompt's KV
        attn_b = (tok_dec * ctx_kv + tok_pf) * lps * kv_tok_layer_gpu
        attn_c = (
            2.0 * tok_dec * heads_gpu * qkv_dec * ctx_kv * lps / eff_dc
            + 2.0 * tok_pf * heads_gpu * qkv_pf * pf_attn * lps / eff_pc
        ) / attn_rate
        comp = dense_c + exp_c + attn_c
        mem = (dense_b + exp_b + attn_b) / bw
        busy = np.maximum(dense_c, dense_b / bw) + t_exp + np.maximum(attn_c, attn_b / bw)
        ar = np.where(tp > 1, 2.0 * lps * (alpha + 2.0 * (tp - 1) / tp * tok * d * ab / bw_tp), 0.0)
        a2a = np.where(
            ep_on, 2.0 * n_moe / pp * (alpha + tok / tp * top_k * d * ab * (ep - 1) / ep / bw_ep), 0.0
        )
        p2p = np.where(pp > 1, alpha + tok * d * ab / bw_pp, 0.0)
        comm = ar + a2a + p2p
        extra = np.where(np.asarray(tok_pf) > 0, pf_overhead, 0.0)
        return busy + comm + overhead + extra, comp, mem, comm

    # --- steady state at a running concurrency R per instance ------------------------------------------
    # Each sequence emits one token every pp stage steps.  While it decodes, the other R-1 sequences'
    # replacement prompts are prefilled alongside (isl/osl prefill tokens per decode token on average).
    # A prompt is never split finer than one chunk (min(isl, max_batched_tokens)): at low load a few
    # steps carry a whole chunk and the rest are pure decode; at high load every step carries prefill.
    others = np.clip((running - 1.0) / running, 0.0, 1.0)  # share of running sequences that are not ours
    tok_dec = running / (dp * pp)
    chunk = np.minimum(isl, s["max_batched_tokens"])
    n_chunks = np.maximum(isl / s["max_batched_tokens"], 1.0)
    tok_pf_spread = tok_dec * isl / osl * others
    tok_pf_step = np.maximum(tok_pf_spread, chunk)
    mixed = tok_pf_spread / tok_pf_step  # share of decode steps that also carry prefill
    t_mix, _, _, _ = step(tok_dec, tok_pf_step)
    t_pure, dec_comp, dec_mem, dec_comm = step(tok_dec, 0.0)
    tpot = pp * (mixed * t_mix + (1.0 - mixed) * t_pure)
    t_first, _, _, _ = step(tok_dec * others, chunk)
    ttft_service = pp * n_chunks * t_first + 0.5 * tpot * others
    cycle = ttft_service + (osl - 1.0) * tpot
    out_inst = running * osl / cycle
    # Static batching (all R requests start together: one prefill of every prompt, then R-wide decode
    # steps with no prefill in between), as in offline latency benchmarks (vLLM benchmark_latency,
    # TensorRT-LLM gptSessionBenchmark).
    static = np.asarray(s.get("static", 0.0)) > 0
    if np.any(static):
        t_pf_all, _, _, _ = step(0.0, tok_dec * isl)
        tpot = np.where(static, pp * t_pure, tpot)
        ttft_service = np.where(static, pp * t_pf_all, ttft_service)
        cycle = ttft_service + (osl - 1.0) * tpot
        out_inst = running * osl / cycle
    decode_step = pp * t_pure
    prefill_share = np.clip(1.0 - osl * decode_step / cycle, 0.0, 1.0)
    t_alone, _, _, _ = step(0.0, chunk)
    prefill_latency = pp * n_chunks * t_alone
    queue_wait = np.where(c_inst > running, (c_inst - running) * cycle / running, 0.0)
    ttft = ttft_service + queue_wait
    e2e = ttft + (osl - 1.0) * tpot

    ok = fits
    nan = np.nan

    def m(x):
        return np.where(ok, x, nan)

    out_tps = replicas * out_inst
    mem_used = weights_b + s["reserve_gb"] * GIB + (running / dp) * kv_seq_b
    bshape = np.broadcast_shapes(*(np.shape(v) for v in (out_tps, valid)))
    res = {
        "valid": np.broadcast_to(valid, bshape),
        "fits": np.broadcast_to(fits, bshape),
        "replicas": np.broadcast_to(np.where(valid, replicas, nan), bshape),
        "instance_gpus": np.broadcast_to(inst, bshape),
        "weights_per_gpu_gb": np.broadcast_to(np.where(valid, weights_b / GIB, nan), bshape),
        "kv_per_sequence_per_gpu_gb": np.broadcast_to(np.where(valid, kv_seq_b / GIB, nan), bshape),
        "max_concurrency": m(cmax_inst * replicas),
        "concurrency": m(c_inst * replicas),
        "running_concurrency": m(running * replicas),
        "memory_per_gpu_gb": m(mem_used / GIB),
        "decode_step_s": m(decode_step),
        "decode_compute_s": m(pp * dec_comp),
        "decode_memory_s": m(pp * dec_mem),
        "decode_comm_s": m(pp * dec_comm),
        "prefill_s": m(prefill_latency),
        "ttft_s": m(ttft),
        "tpot_s": m(tpot),
        "e2e_latency_s": m(e2e),
        "output_tokens_per_s": m(out_tps),
        "output_tokens_per_s_per_gpu": m(out_tps / gpus),
        "input_tokens_per_s": m(replicas * running * isl / cycle),
        "output_tokens_per_s_per_user": m(1.0 / tpot),
        "prefill_time_share": m(prefill_share),
        "decode_memory_bound": np.broadcast_to(ok & (dec_mem >= dec_comp), bshape),
    }
    return {k: np.broadcast_to(v, bshape) for k, v in res.items()}
