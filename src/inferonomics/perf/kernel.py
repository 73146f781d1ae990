"""The vectorized serving model: one call evaluates NumPy arrays of configurations.

Inputs are dicts of arrays that broadcast against each other (architecture columns from
:mod:`inferonomics.perf.arch`, hardware columns from :mod:`inferonomics.perf.hardware`, serving settings).
The function is pure: no catalog look-ups, no I/O, no Python loops over configurations (large grids go
through in cache-sized blocks of many thousand).  One set of formulas runs on two backends: NumPy arrays
for sweeps, plain Python floats for a single prediction (no array overhead on one configuration).

The model, per instance (one copy of the model spread over ``tp x pp`` GPUs, or ``ep x pp`` GPUs with
attention data-parallel over ``ep / tp`` ranks):

* **Engine step**: decode tokens (one per running sequence, ``1 + K`` with ``K`` draft tokens of
  speculative decoding / MTP) and chunked-prefill tokens share a step, as in vLLM, SGLang and
  TensorRT-LLM.  Three operator groups (dense GEMMs, routed experts, attention over the KV cache) each
  run on a roofline with fitted efficiencies; then TP all-reduces and EP all-to-alls (latency + bytes /
  link bandwidth, split between the scale-up domain and the scale-out network), and a fixed per-step and
  per-layer overhead (launches, sync, sampling, scheduling).  With two-batch overlap the communication of
  one micro-batch hides behind the computation of the other.
* **Routed experts**: the weights of every *distinct* expert the step's tokens touch are read; with
  expert parallelism the slowest rank sets the pace: its load is the mean times an imbalance factor
  ``1 + sqrt(2 ln EP) * sigma``, where ``sigma`` combines Poisson noise in the token-to-rank counts with a
  systematic expert-popularity skew (a fitted coefficient of variation), the latter reduced by redundant
  experts (EPLB-style replication of hot experts).
* **Prefix caching**: a share ``H`` of each prompt's tokens comes from the cache; only the rest is
  prefilled (attending over the cached prefix), the cached KV is loaded at a stated bandwidth (TTFT only).
* **Speculative decoding / MTP**: a step verifies ``1 + K`` tokens per sequence and yields ``1 + K*A``
  on average (``A`` = accepted / drafted); the draft runs ``K`` passes of an ``mtp_layers``-deep module.
* **Steady state, co-located** at a running concurrency ``R``: while a sequence decodes, the other ``R-1``
  sequences' replacement prompts are prefilled in the same steps, so prefill's interference on decode is
  counted in TPOT; a sequence's own prompt is prefilled (in chunks) before its first token.  Throughput is
  ``R * osl / (TTFT + (osl-1) * TPOT)``.
* **Disaggregated** prefill/decode (``disagg`` rows): a prefill pool runs pure prefill steps of
  ``prefill_tokens_per_rank`` tokens per rank; a decode pool runs pure decode steps; each request's KV cache
  crosses the scale-out network once.  The system serves ``min(decode rate, prefill capacity)``; when
  prefill is the bottleneck the decode batch shrinks to match it.
* **Memory**: weights + a reserve, the rest of ``gpu_memory_utilization x memory`` holds the KV cache;
  the largest concurrency that fits (capped by the engine's batch limit) is ``max_concurrency``.  Asked
  concurrency beyond it queues: TTFT then includes the wait.
"""

from __future__ import annotations

import math
import operator
from types import SimpleNamespace

from inferonomics._lazy import loaded, np
from inferonomics.perf.arch import kv_context_tokens, window_attended_tokens

GIB = float(2**30)

# Output columns, in order; the API turns them into DataFrame columns.
OUTPUTS = (
    "valid",
    "fits",
    "replicas",
    "instance_gpus",
    "weights_per_gpu_gib",
    "kv_per_sequence_per_gpu_gib",
    "max_concurrency",
    "concurrency",
    "running_concurrency",
    "memory_per_gpu_gib",
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
    "prefill_tokens_per_s",
    "output_tokens_per_s_per_user",
    "prefill_time_share",
    "decode_memory_bound",
    "tokens_per_step",
    "expert_imbalance",
    "prefill_gpus",
    "decode_gpus",
    "prefill_input_tokens_per_s_per_gpu",
    "decode_output_tokens_per_s_per_gpu",
    "prefill_capacity_input_tokens_per_s_per_gpu",
    "decode_capacity_output_tokens_per_s_per_gpu",
    "prefill_utilization",
    "kv_transfer_s",
)

# Deprecated output names -> the output they repeat.  These figures are GiB (2^30 bytes) and were first
# named ``_gb``; the API keeps the old names as aliases with the same values, after the outputs.
DEPRECATED_OUTPUTS = {
    "weights_per_gpu_gb": "weights_per_gpu_gib",
    "kv_per_sequence_per_gpu_gb": "kv_per_sequence_per_gpu_gib",
    "memory_per_gpu_gb": "memory_per_gpu_gib",
}
# Every column of a result: the outputs, then the deprecated aliases.
OUTPUT_COLUMNS = OUTPUTS + tuple(DEPRECATED_OUTPUTS)


def with_deprecated(row: dict) -> dict:
    """``row`` (a kernel result) with the deprecated output names added, each the same value as its output."""
    for old, new in DEPRECATED_OUTPUTS.items():
        row[old] = row[new]
    return row


# Serving inputs with their defaults (a caller may leave any of them out).
SERVING_DEFAULTS = {
    "prefix_hit": 0.0,
    "mtp_k": 0.0,
    "mtp_accept": 0.0,
    "mtp_layers": 1.0,
    "redundant_experts": 0.0,
    "tbo": 0.0,
    "static": 0.0,
    "disagg": 0.0,
    "prefill_gpus": 0.0,
    "decode_gpus": 0.0,
    "prefill_tp": 1.0,
    "prefill_ep": 1.0,
    "prefill_pp": 1.0,
    "prefill_tokens_per_rank": 16384.0,
    "dispatch_bytes": 2.0,
    "cache_load_bw_gb_s": 10.0,
}
HW_DEFAULTS = {
    "expert_load_cv": 0.0,
    "eplb_effectiveness": 0.8,
    "scaleout_latency_s": 2e-5,
    "scaleout_bw_eff": 0.8,
    "tbo_overlap_loss": 0.1,
}


def _np_finish(res, *shape_from):
    bshape = np.broadcast_shapes(*(np.shape(v) for v in shape_from))
    return {k: np.broadcast_to(v, bshape) for k, v in res.items()}


def _f(x):
    return np.asarray(x, dtype=np.float64)


# The formulas below run on one of two backends: NumPy arrays (sweeps: millions of configurations per
# call) or plain Python floats (one prediction: no array overhead).  Each backend supplies the few
# element-wise functions the formulas use; the arithmetic operators are Python's own.
class _LazyBackend:
    """The NumPy backend, built on first use (a single prediction never imports NumPy)."""

    _ns: SimpleNamespace | None = None

    def __getattr__(self, name: str):
        if _LazyBackend._ns is None:
            _LazyBackend._ns = SimpleNamespace(
                f=_f, where=np.where, maximum=np.maximum, minimum=np.minimum, clip=np.clip, sqrt=np.sqrt,
                log=np.log, floor=np.floor, ceil=np.ceil, isnan=np.isnan, mod=np.mod, div=np.divide,
                pow=np.power, any=np.any, all=np.all, not_=np.logical_not, finish=_np_finish,
            )
        return getattr(_LazyBackend._ns, name)


_NP = _LazyBackend()


def _s_where(c, a, b):
    return a if c else b


def _s_maximum(a, b):
    if a >= b:
        return a
    if b > a:
        return b
    return a + b  # one of them is NaN: NaN, as NumPy


def _s_minimum(a, b):
    if a <= b:
        return a
    if b < a:
        return b
    return a + b


def _s_clip(x, lo, hi):
    return _s_minimum(_s_maximum(x, lo), hi)


def _s_sqrt(x):
    return math.sqrt(x) if x >= 0.0 else math.nan


def _s_log(x):
    if x > 0.0:
        return math.log(x)
    return -math.inf if x == 0.0 else math.nan


def _s_floor(x):
    return float(math.floor(x)) if x - x == 0.0 else x  # inf and NaN stay as they are


def _s_ceil(x):
    return float(math.ceil(x)) if x - x == 0.0 else x


def _s_mod(a, b):
    return a % b if b else math.nan


def _s_div(a, b):
    if b:
        return a / b
    if math.isnan(a) or a == 0.0:
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _s_pow(a, b):
    r = a**b
    return math.nan if r.__class__ is complex else r


_SCALAR = SimpleNamespace(
    f=float, where=_s_where, maximum=_s_maximum, minimum=_s_minimum, clip=_s_clip, sqrt=_s_sqrt, log=_s_log,
    floor=_s_floor, ceil=_s_ceil, isnan=math.isnan, mod=_s_mod, div=_s_div, pow=_s_pow, any=bool, all=bool,
    not_=operator.not_, finish=lambda res, *shape_from: res,
)


def _is_scalar(v) -> bool:
    if isinstance(v, (float, int)):
        return True
    npm = loaded("numpy")  # a NumPy object can only exist if NumPy is imported
    return npm is not None and (isinstance(v, npm.generic) or (isinstance(v, npm.ndarray) and v.ndim == 0))


class _Instance:
    """Geometry of one model instance (tp, pp, ep, redundant experts) and its engine step."""

    def __init__(self, a, hw, s, tp, pp, ep, xp=_NP):
        self.xp = xp
        self.a = a
        self.tp, self.pp, self.ep = tp, pp, ep
        wb, kvb, vb = s["weight_bytes"], s["kv_bytes"], s["vocab_bytes"]
        self.wb, self.vb, self.ab = wb, vb, s["act_bytes"]
        self.dispatch_b = s["dispatch_bytes"]
        n_layers, n_dense, n_moe = a["n_layers"], a["n_dense_layers"], a["n_moe_layers"]
        n_kv, n_exp, top_k = a["n_kv_heads"], a["n_experts"], a["top_k"]
        self.n_layers, self.n_moe, self.n_exp, self.top_k, self.d = n_layers, n_moe, n_exp, top_k, a["hidden"]
        self.is_moe = xp.f(a["is_moe"]) > 0
        ep_on = ep > 1
        self.ep_on = ep_on
        self.dp = xp.where(ep_on, ep / tp, 1.0)  # attention data-parallel ranks
        self.es = xp.where(ep_on, ep, tp)  # shards of the routed experts
        self.inst = xp.where(ep_on, ep, tp) * pp
        self.lps = n_layers / pp  # layers per pipeline stage
        red = xp.where(ep_on, s["redundant_experts"], 0.0)
        # experts held per GPU: all slots (experts + redundant copies) spread over the EP ranks
        self.epr = xp.where(ep_on, xp.ceil((n_exp + red) / xp.maximum(ep, 1.0)), n_exp)
        self.red = red
        self.valid = (
            (tp >= 1)
            & (pp >= 1)
            & (ep >= 1)
            & (xp.mod(a["n_heads"], tp) == 0)
            & ((xp.mod(n_kv, tp) == 0) | (xp.mod(tp, n_kv) == 0))
            & (pp <= n_layers)
            & (xp.not_(ep_on) | ((a["is_moe"] > 0) & (ep <= n_exp + red) & (xp.mod(ep, tp) == 0)))
        )
        # --- parameters held per GPU ----------------------------------------------------------------
        kv_rep = xp.where(a["kv_replicable"] > 0, xp.maximum(n_kv / tp, 1.0) / n_kv, 1.0)
        attn_gpu = (
            (a["attn_shardable_params"] - a["kv_split_params"]) / tp
            + a["kv_split_params"] * kv_rep
            + a["attn_replicated_params"]
        )
        dense_gpu = a["dense_ffn_params"] / tp
        shared_gpu = a["shared_expert_params"] / tp
        # one expert's parameters on one GPU: whole experts under EP, a 1/tp slice of each under TP
        self.expert_gpu = xp.where(ep_on, a["expert_params"], a["expert_params"] / tp)
        vocab_gpu = a["vocab_params"] / tp
        per_layer_nonexpert = n_layers * attn_gpu + n_dense * dense_gpu + n_moe * shared_gpu
        self.weights_b = (
            (per_layer_nonexpert + n_moe * self.epr * self.expert_gpu) * wb + a["n_vocab_mats"] * vocab_gpu * vb
        ) / pp
        self.kv_tok_layer_gpu = a["kv_elems_per_token_layer"] * kv_rep * kvb  # bytes / token / layer / GPU
        self.kv_tok_all_layers = a["kv_elems_per_token_layer"] * n_layers * kvb  # whole model, one copy
        self.heads_gpu = a["n_heads"] / tp
        self.qkv_dec = a["attn_qk_dim_decode"] + a["attn_v_dim_decode"]
        self.qkv_pf = a["attn_qk_dim_prefill"] + a["attn_v_dim_prefill"]
        self.gemm_rate = hw["peak_gemm_tflops"] * 1e12
        self.attn_rate = hw["peak_attn_tflops"] * 1e12
        self.bw = hw["memory_bw_gb_s"] * 1e9 * hw["memory_bw_eff"]
        self.eff_dc, self.eff_pc = hw["decode_compute_eff"], hw["prefill_compute_eff"]
        self.alpha = hw["comm_latency_s"]
        domain = hw["scaleup_domain_gpus"]
        self.bw_out = hw["scaleout_bw_gb_s"] * 1e9 * hw["scaleout_bw_eff"]
        self.bw_up = hw["scaleup_bw_gb_s"] * 1e9
        self.bw_tp = xp.where(tp <= domain, self.bw_up, self.bw_out)
        self.alpha_ep = xp.where(ep <= domain, self.alpha, hw["scaleout_latency_s"])
        self.ep_out_share = xp.where(ep > domain, xp.maximum(ep - domain, 0.0) / xp.maximum(ep, 1.0), 0.0)
        self.bw_pp = self.bw_out
        self.overhead = hw["step_overhead_s"] + hw["layer_overhead_s"] * self.lps
        self.layer_overhead = hw["layer_overhead_s"]
        self.pf_overhead = hw["prefill_layer_overhead_s"] * self.lps  # prefill steps run without CUDA graphs
        self.moe_eff = hw["moe_expert_eff"]  # grouped-GEMM (small per-expert batches) losses
        self.cv = hw["expert_load_cv"]
        self.eplb = hw["eplb_effectiveness"]
        self.nonexpert_stage = per_layer_nonexpert / pp
        self.vocab_stage = vocab_gpu / pp
        self.tbo = xp.f(s["tbo"]) > 0
        self.tbo_loss = hw["tbo_overlap_loss"]
        self.domain = domain
        # --- per-step constants (independent of the step's tokens) ------------------------------------
        self.dense_b = self.nonexpert_stage * wb + self.vocab_stage * vb  # dense weights read per step
        self.dense_params = self.nonexpert_stage + self.vocab_stage
        self.any_moe, self.any_ep = xp.any(self.is_moe), xp.any(ep_on)
        self.any_tp, self.any_pp, self.any_tbo = xp.any(tp > 1), xp.any(pp > 1), xp.any(self.tbo)
        self.moe_stage = n_moe / pp  # MoE layers per stage
        if self.any_moe:
            self.keep = 1.0 - top_k / n_exp  # chance a token's routing misses a given expert
            per_gpu = xp.where(ep_on, self.epr, n_exp)  # experts (or expert slices) on one GPU
            self.exp_w = self.moe_stage * per_gpu
            mean_tokens = self.dp * top_k * xp.where(ep_on, 1.0 / self.es, 1.0)  # expert rows per token
            self.exp_c_w = 2.0 * mean_tokens * n_moe / pp * self.expert_gpu
            # load imbalance over the EP ranks (see imbalance())
            self.es1 = xp.maximum(self.es, 1.0)
            balance = self.eplb * xp.minimum(red / self.es1, 1.0)
            sysv = self.cv / xp.sqrt(xp.maximum(self.epr, 1.0)) * (1.0 - balance)
            self.sysv2 = sysv * sysv
            self.imb_scale = xp.sqrt(2.0 * xp.log(self.es1))
            self.imb_on = ep_on & self.is_moe
        self.ar_w = 2.0 * (tp - 1) / tp
        self.copy_b = self.dispatch_b + self.ab  # bytes of one token's dispatch + combine per hidden unit
        self.alpha2_ep = 2.0 * self.alpha_ep
        self._copies = {}

    def imbalance(self, tok):
        """Max/mean routed-expert load over the EP ranks for ``tok`` tokens per rank (1 without EP)."""
        xp = self.xp
        assign = tok * self.dp * self.top_k / self.es1  # token-expert pairs per rank
        stat2 = 1.0 / xp.maximum(assign, 1e-9)
        # Poisson noise in the token counts plus the systematic expert-popularity skew (``sysv2``: the
        # coefficient of variation per rank, reduced by redundant experts)
        imb = 1.0 + self.imb_scale * xp.sqrt(stat2 + self.sysv2)
        return xp.where(self.imb_on, xp.minimum(imb, self.es), 1.0)

    def copies(self, dedup):
        """Token copies one rank sends inside its scale-up domain and over the scale-out network."""
        c = self._copies.get(dedup)
        if c is None:
            xp, ep, top_k = self.xp, self.ep, self.top_k
            if dedup:
                nodes = xp.maximum(ep / self.domain, 1.0)
                distinct = nodes * (1.0 - xp.pow(1.0 - 1.0 / nodes, top_k))
                c = (top_k * (ep - 1.0) / xp.maximum(ep, 1.0), distinct * (nodes - 1.0) / nodes)
            else:
                c = (top_k * (1.0 - self.ep_out_share) * (ep - 1.0) / xp.maximum(ep, 1.0), top_k * self.ep_out_share)
            self._copies[dedup] = c
        return c

    def step(self, tok_dec, tok_pf, seqs_dec, ctx, pf_ctx, pf_prefix, chunk_len, pf_len, dedup=False):
        """Seconds for one stage step with ``tok_dec`` decode query tokens (``seqs_dec`` sequences at
        context ``ctx``) and ``tok_pf`` prefill tokens (at mean attention span ``pf_ctx``, reading a cached
        prefix of ``pf_prefix`` tokens once per ``chunk_len``-token chunk; the LM head runs once per
        ``pf_len``-token prompt) per rank.

        Returns (time, compute, memory, communication, imbalance)."""
        xp = self.xp
        tok = tok_dec + tok_pf
        gemm_rate, bw, lps = self.gemm_rate, self.bw, self.lps
        # dense GEMMs: weights read once per step; the LM head runs for decode tokens and last prompt tokens
        dense_b = self.dense_b
        lm_pf = self.vocab_stage / xp.maximum(pf_len, 1.0)
        dense_c = (
            2.0 * tok_dec * self.dense_params / self.eff_dc
            + 2.0 * tok_pf * (self.nonexpert_stage + lm_pf) / self.eff_pc
        ) / gemm_rate
        # routed experts: the step's tokens from all dp ranks route over the experts sharded on es GPUs
        if self.any_moe:
            touched = 1.0 - xp.pow(self.keep, tok * self.dp)  # chance an expert is touched
            exp_b = xp.where(self.is_moe, self.exp_w * touched * self.expert_gpu * self.wb, 0.0)
            imb = self.imbalance(tok)
            exp_c = (
                self.exp_c_w * imb
                * (tok_dec / self.eff_dc + tok_pf / self.eff_pc) / gemm_rate / self.moe_eff
            )
            exp_c = xp.where(self.is_moe, exp_c, 0.0)
            t_exp = xp.maximum(exp_b / bw, exp_c)
        else:
            exp_b = exp_c = t_exp = 0.0
            imb = 1.0
        # attention core: decode reads the KV cache at its context, prefill writes its prompt's KV (and
        # reads a cached prefix once per chunk)
        # (sliding-window layers hold and attend to at most their window: layer averages)
        ctx_kv = kv_context_tokens(self.a, ctx, xp)
        pf_attn = window_attended_tokens(self.a, pf_ctx, pf_prefix, pf_prefix + pf_len, xp)
        prefix_reads = xp.where(
            chunk_len > 0, tok_pf / xp.maximum(chunk_len, 1.0) * kv_context_tokens(self.a, pf_prefix, xp), 0.0
        )
        attn_b = (seqs_dec * ctx_kv + tok_pf + prefix_reads) * lps * self.kv_tok_layer_gpu
        attn_c = (
            2.0 * tok_dec * self.heads_gpu * self.qkv_dec * ctx_kv * lps / self.eff_dc
            + 2.0 * tok_pf * self.heads_gpu * self.qkv_pf * pf_attn * lps / self.eff_pc
        ) / self.attn_rate
        comp = dense_c + exp_c + attn_c
        mem = (dense_b + exp_b + attn_b) / bw
        busy = xp.maximum(dense_c, dense_b / bw) + t_exp + xp.maximum(attn_c, attn_b / bw)
        tp, d = self.tp, self.d
        ar = 0.0
        if self.any_tp:
            ar = xp.where(tp > 1, 2.0 * lps * (self.alpha + xp.div(self.ar_w * tok * d * self.ab, self.bw_tp)), 0.0)
        # all-to-all: dispatch (fp8 where the GEMMs run in fp8) and combine (activations).  The busiest rank
        # carries the imbalance factor times the mean.  Latency-optimised kernels (decode) send each of a
        # token's top_k copies straight to its expert's rank; throughput-optimised kernels (``dedup``,
        # prefill pools) send one copy per destination scale-up domain over the scale-out network and fan
        # out inside the domain (DeepEP's NVLink forwarding).
        a2a = 0.0
        if self.any_ep:
            per_copy = tok / tp * d * self.copy_b * imb
            in_copies, out_copies = self.copies(dedup)
            a2a_t = xp.maximum(xp.div(per_copy * in_copies, self.bw_up), xp.div(per_copy * out_copies, self.bw_out))
            a2a = xp.where(self.ep_on, self.moe_stage * (self.alpha2_ep + a2a_t), 0.0)
        p2p = 0.0
        if self.any_pp:
            p2p = xp.where(self.pp > 1, self.alpha + xp.div(tok * d * self.ab, self.bw_pp), 0.0)
        comm = ar + a2a + p2p
        # two-batch overlap: each micro-batch's communication runs under the other's computation
        # (across the layers of a step the pipeline stays full; the communication kernels' share of the
        # streaming multiprocessors and imperfect balance leave ``tbo_overlap_loss`` of the shorter side)
        work = busy + comm
        if self.any_tbo:
            work = xp.where(self.tbo, xp.maximum(busy, comm) + self.tbo_loss * xp.minimum(busy, comm), work)
        extra = xp.where(tok_pf > 0, self.pf_overhead, 0.0)
        return work + self.overhead + extra, comp, mem, comm, imb

    def draft_s(self, t_one_token_step, k, mtp_layers):
        """Time of ``k`` sequential draft passes of an ``mtp_layers``-deep module (MTP / a small draft):
        each pass costs the per-layer share of a one-token-per-sequence decode step."""
        per_layer = self.xp.maximum(t_one_token_step - self.overhead, 0.0) / self.lps + self.layer_overhead
        return k * mtp_layers * per_layer


def _inputs(s: dict) -> dict:
    out = dict(SERVING_DEFAULTS)
    out.update(s)
    return out


def evaluate(a: dict, hw: dict, s: dict) -> dict[str, np.ndarray]:
    """Evaluate configurations.

    ``a``: architecture columns (see ``arch.ARCH_COLUMNS``).
    ``hw``: ``peak_gemm_tflops`` (at the weights' compute dtype), ``peak_attn_tflops``, ``memory_gib``,
    ``memory_bw_gb_s``, ``scaleup_bw_gb_s``, ``scaleup_domain_gpus``, ``scaleout_bw_gb_s``,
    ``prefill_compute_eff``, ``decode_compute_eff``, ``memory_bw_eff``, ``step_overhead_s``,
    ``layer_overhead_s``, ``prefill_layer_overhead_s``, ``comm_latency_s``, ``moe_expert_eff`` and
    optionally ``expert_load_cv``, ``eplb_effectiveness``, ``scaleout_latency_s``, ``scaleout_bw_eff``.
    ``s``: ``gpus``, ``tp``, ``pp``, ``ep``, ``weight_bytes``, ``kv_bytes``, ``vocab_bytes``, ``isl``,
    ``osl``, ``concurrency`` (whole deployment; NaN = the most that fits), ``gpu_memory_utilization``,
    ``reserve_gb``, ``max_batch_per_rank``, ``max_batched_tokens``, ``act_bytes``, and optionally (see
    ``SERVING_DEFAULTS``) ``prefix_hit``, ``mtp_k``, ``mtp_accept``, ``mtp_layers``,
    ``redundant_experts``, ``tbo``, ``static``, ``dispatch_bytes``, ``cache_load_bw_gb_s`` and, for
    disaggregated rows (``disagg`` = 1), ``prefill_gpus``/``decode_gpus`` per P+D unit,
    ``prefill_tp``/``prefill_ep``/``prefill_pp``, ``prefill_tokens_per_rank`` (``tp``/``ep``/``pp`` then
    describe the decode instances).

    Arrays broadcast against each other; the results have the broadcast shape.  When every input is a
    scalar the same formulas run on plain Python floats (:func:`evaluate_scalar`) and the results are
    Python floats and bools.
    """
    if all(_is_scalar(v) for d in (a, hw, s) for v in d.values()):
        return evaluate_scalar(
            {k: float(v) for k, v in a.items()}, {k: float(v) for k, v in hw.items()},
            {k: float(v) for k, v in s.items()},
        )
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _evaluate_blocks(a, hw, s)


def _hw_inputs(hw: dict) -> dict:
    """``hw`` with the defaults filled in (and ``memory_gb``, the column's deprecated name, read)."""
    hw = {**HW_DEFAULTS, **hw}
    if "memory_gib" not in hw and "memory_gb" in hw:  # the column's deprecated name (the same GiB)
        hw["memory_gib"] = hw["memory_gb"]
    return hw


def _prefill_instance(a: dict, hw: dict, s: dict) -> _Instance:
    """The prefill instance of a disaggregated deployment's kernel inputs (defaults filled in)."""
    s = _inputs(s)
    return _Instance(a, _hw_inputs(hw), s, _f(s["prefill_tp"]), _f(s["prefill_pp"]), _f(s["prefill_ep"]), _NP)


def prefill_step_s(a: dict, hw: dict, s: dict, tokens, prompt_tokens) -> np.ndarray:
    """Seconds one step of a disaggregated deployment's prefill instance takes (``s`` as for
    :func:`evaluate`, ``prefill_tp``/``prefill_ep``/``prefill_pp`` its geometry, ``prefix_hit`` the share
    of each prompt read from a prefix cache) with ``tokens`` uncached prompt tokens per rank drawn from
    prompts of ``prompt_tokens`` tokens: with ``tokens`` = ``prefill_tokens_per_rank`` the full step the
    pool's capacity is made of, with ``tokens`` = the uncached part of one prompt a lone prompt's step.  The
    same step as :func:`evaluate`'s disaggregated rows; for the request-level simulator, which batches
    prompts of several lengths into one step."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        pre, s, xp = _prefill_instance(a, hw, s), _inputs(s), _NP
        n, length = np.asarray(tokens, float), np.asarray(prompt_tokens, float)
        _hit, new, prefix, pf_ctx = _prefill_shape(s, length, xp)
        t = pre.step(0.0, n, 0.0, length, pf_ctx, prefix, np.minimum(new, n), new, True)[0]
        return np.asarray(t * pre.pp, float)


def prefill_cache_load_s(a: dict, hw: dict, s: dict, prompt_tokens) -> np.ndarray:
    """Seconds a disaggregated deployment's prefill instance spends loading the cached prefix of a prompt of
    ``prompt_tokens`` tokens (``prefix_hit`` of it) from host memory or storage, as :func:`evaluate` adds to
    the TTFT (not to the pool's steps)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        pre, s = _prefill_instance(a, hw, s), _inputs(s)
        _hit, _new, prefix, _ctx = _prefill_shape(s, np.asarray(prompt_tokens, float), _NP)
        return np.asarray(_cache_load_s(pre, s, prefix), float)


# Rows evaluated per block: a block's temporaries stay in the CPU caches (and their memory is reused
# instead of being mapped afresh for every operation), which doubles the rate on millions of rows.  On a
# 2-core EPYC VM (32 MiB L3) benchmarks/perf_sweep.py gave 0.85-0.95 M configurations/s at 32,768 rows,
# 1.31-1.40 M/s at 8,192 and 1.34 M/s at 4,096.
BLOCK_ROWS = 8192
_BOOL_OUTPUTS = frozenset(("valid", "fits", "decode_memory_bound"))


def _evaluate_blocks(a, hw, s):
    """The NumPy backend over blocks of at most ``BLOCK_ROWS`` configurations of the broadcast grid (cut
    along its axes, so sparse grids stay sparse within a block).  Element-wise formulas: the same result
    as one call, bit for bit."""
    dicts = (a, hw, s)
    shape = np.broadcast_shapes(*(np.shape(v) for d in dicts for v in d.values()))
    if math.prod(shape) <= BLOCK_ROWS:
        return _evaluate_split(a, hw, s, shape)
    nd = len(shape)
    k = next(i for i in range(nd) if math.prod(shape[i + 1:]) <= BLOCK_ROWS)  # the axis the blocks cut
    step = max(BLOCK_ROWS // max(math.prod(shape[k + 1:]), 1), 1)
    full = [{n: (np.reshape(v, (1,) * (nd - np.ndim(v)) + np.shape(v)) if np.ndim(v) else v)
             for n, v in d.items()} for d in dicts]
    out = {n: np.empty(shape, bool if n in _BOOL_OUTPUTS else np.float64) for n in OUTPUTS}
    for lead in np.ndindex(shape[:k]):
        for i in range(0, shape[k], step):
            sel = tuple(slice(j, j + 1) for j in lead) + (slice(i, i + step),)

            def cut(v, sel=sel):
                if not np.ndim(v):
                    return v
                return v[tuple(sl if v.shape[j] > 1 else slice(None) for j, sl in enumerate(sel))]

            blk = [{n: cut(v) for n, v in d.items()} for d in full]
            bshape = np.broadcast_shapes(*(np.shape(v) for d in blk for v in d.values()))
            r = _evaluate_split(*blk, bshape)
            for n in OUTPUTS:
                out[n][sel] = r[n]
    return out


def _evaluate_split(a, hw, s, shape):
    """Co-located and disaggregated rows of a mixed block evaluated apart (each formula set on its rows
    only), else the whole block at once."""
    disagg = _f(s.get("disagg", 0.0)) > 0
    if not disagg.any() or disagg.all():
        return _evaluate(a, hw, s, _NP)
    mask = np.broadcast_to(disagg, shape).reshape(-1)
    size = mask.size
    out = {n: np.empty(size, bool if n in _BOOL_OUTPUTS else np.float64) for n in OUTPUTS}
    for rows in (np.flatnonzero(mask), np.flatnonzero(~mask)):
        sub = [{n: (np.broadcast_to(v, shape).reshape(-1).take(rows) if np.size(v) == size
                    else np.broadcast_to(v, shape).reshape(-1)[rows] if np.ndim(v) else v)
                for n, v in d.items()} for d in (a, hw, s)]
        r = _evaluate(*sub, _NP)
        for n in OUTPUTS:
            out[n][rows] = r[n]
    return {n: v.reshape(shape) for n, v in out.items()}


def evaluate_scalar(a: dict, hw: dict, s: dict) -> dict:
    """:func:`evaluate` for one configuration given as plain Python floats: the same formulas on the scalar
    backend (tens of microseconds instead of hundreds).  Returns Python floats and bools.  Where a scalar
    operation would raise (a zero division or an overflow that NumPy turns into inf/NaN), the configuration
    is evaluated on the NumPy backend instead, so both paths always agree."""
    try:
        return _evaluate(a, hw, s, _SCALAR)
    except (ArithmeticError, ValueError):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            r = _evaluate(*({k: np.full(1, v) for k, v in d.items()} for d in (a, hw, s)), _NP)
        return {k: v[0].item() for k, v in r.items()}


def _evaluate(a, hw, s, xp):
    s = _inputs(s)
    hw = _hw_inputs(hw)
    disagg = xp.f(s["disagg"]) > 0
    if not xp.any(disagg):
        return _colocated(a, hw, s, xp)
    if xp.all(disagg):
        return _disaggregated(a, hw, s, xp)
    co = _colocated(a, hw, s, xp)
    dis = _disaggregated(a, hw, s, xp)
    return {k: xp.where(disagg, dis[k], co[k]) for k in OUTPUTS}


def _memory(inst, hw, s, isl, osl):
    xp = inst.xp
    kv_seq_b = kv_context_tokens(inst.a, isl + osl, xp) * inst.lps * inst.kv_tok_layer_gpu  # windows honoured
    budget_b = hw["memory_gib"] * GIB * s["gpu_memory_utilization"] - inst.weights_b - s["reserve_gb"] * GIB
    seqs_rank = xp.floor(xp.maximum(budget_b, 0.0) / kv_seq_b)
    fits = inst.valid & (seqs_rank >= 1)
    seqs_rank = xp.minimum(seqs_rank, s["max_batch_per_rank"])
    return kv_seq_b, fits, seqs_rank * inst.dp


def _prefill_shape(s, isl, xp):
    """Uncached prompt tokens, their mean attention span and the cached prefix they attend to."""
    hit = xp.clip(xp.f(s["prefix_hit"]), 0.0, 1.0)
    new = xp.maximum((1.0 - hit) * isl, 1.0)
    prefix = hit * isl
    pf_ctx = prefix + (new + 1.0) * 0.5
    return hit, new, prefix, pf_ctx


def _cache_load_s(inst, s, prefix):
    """Loading a cached prefix's KV (all layers, this GPU's share) from host memory or storage."""
    return kv_context_tokens(inst.a, prefix, inst.xp) * inst.n_layers * inst.kv_tok_layer_gpu / (
        inst.xp.f(s["cache_load_bw_gb_s"]) * 1e9
    )


def _colocated(a, hw, s, xp):
    _f = xp.f
    tp, pp, ep, gpus = _f(s["tp"]), _f(s["pp"]), _f(s["ep"]), _f(s["gpus"])
    isl, osl = _f(s["isl"]), _f(s["osl"])
    inst = _Instance(a, hw, s, tp, pp, ep, xp)
    valid = inst.valid & (xp.mod(gpus, inst.inst) == 0) & (isl >= 1) & (osl >= 1)
    replicas = gpus / inst.inst
    kv_seq_b, fits, cmax_inst = _memory(inst, hw, s, isl, osl)
    fits = fits & valid
    dp = inst.dp

    conc = _f(s["concurrency"])
    c_inst = xp.where(xp.isnan(conc), cmax_inst, conc / replicas)
    running = xp.maximum(xp.minimum(c_inst, cmax_inst), 1e-9)

    _hit, isl_new, prefix, pf_ctx = _prefill_shape(s, isl, xp)
    k = xp.maximum(_f(s["mtp_k"]), 0.0)
    gain = 1.0 + k * xp.clip(_f(s["mtp_accept"]), 0.0, 1.0)  # tokens a decode step yields per sequence
    ctx = isl + 0.5 * osl
    mbt = s["max_batched_tokens"]

    # Each sequence emits ``gain`` tokens every pp stage steps.  While it decodes, the other R-1
    # sequences' replacement prompts are prefilled alongside.  A prompt is never split finer than one chunk
    # (min(new tokens, max_batched_tokens)): at low load a few steps carry a whole chunk and the rest are
    # pure decode; at high load every step carries prefill.
    others = xp.clip((running - 1.0) / running, 0.0, 1.0)
    seqs = running / (dp * pp)
    tok_dec = seqs * (1.0 + k)
    chunk = xp.minimum(isl_new, mbt)
    n_chunks = xp.maximum(isl_new / mbt, 1.0)
    tok_pf_spread = seqs * gain * isl_new / osl * others
    tok_pf_step = xp.maximum(tok_pf_spread, chunk)
    mixed = tok_pf_spread / tok_pf_step  # share of a rank's decode steps that also carry prefill
    # Attention data-parallel ranks meet at every MoE layer's all-to-all: a step is as slow as its slowest
    # rank, so it is a prefill step whenever any of the dp ranks carries a chunk.
    mixed = 1.0 - (1.0 - mixed) ** dp
    t_mix = inst.step(tok_dec, tok_pf_step, seqs, ctx, pf_ctx, prefix, chunk, isl_new)[0]
    t_pure, dec_comp, dec_mem, dec_comm, imb = inst.step(tok_dec, 0.0, seqs, ctx, pf_ctx, prefix, chunk, isl_new)
    draft = 0.0
    if xp.any(k > 0):
        t_one = inst.step(seqs, 0.0, seqs, ctx, pf_ctx, prefix, chunk, isl_new)[0]
        draft = xp.where(k > 0, inst.draft_s(t_one, k, _f(s["mtp_layers"])), 0.0)
    step_time = pp * (mixed * t_mix + (1.0 - mixed) * t_pure + draft)
    tpot = step_time / gain
    t_first = inst.step(tok_dec * others, chunk, seqs * others, ctx, pf_ctx, prefix, chunk, isl_new)[0]
    load_s = _cache_load_s(inst, s, prefix)
    ttft_service = pp * n_chunks * t_first + 0.5 * tpot * others + load_s
    cycle = ttft_service + (osl - 1.0) * tpot
    out_inst = running * osl / cycle
    # Static batching (all R requests start together: one prefill of every prompt, then R-wide decode
    # steps with no prefill in between), as in offline latency benchmarks (vLLM benchmark_latency,
    # TensorRT-LLM gptSessionBenchmark).
    static = _f(s["static"]) > 0
    if xp.any(static):
        t_pf_all = inst.step(0.0, seqs * isl_new, 0.0, ctx, pf_ctx, prefix, isl_new, isl_new)[0]
        tpot = xp.where(static, pp * (t_pure + draft) / gain, tpot)
        ttft_service = xp.where(static, pp * t_pf_all + load_s, ttft_service)
        cycle = ttft_service + (osl - 1.0) * tpot
        out_inst = running * osl / cycle
    decode_step = pp * (t_pure + draft)
    prefill_share = xp.clip(1.0 - osl / gain * decode_step / cycle, 0.0, 1.0)
    t_alone = inst.step(0.0, chunk, 0.0, ctx, pf_ctx, prefix, chunk, isl_new)[0]
    prefill_latency = pp * n_chunks * t_alone + load_s
    queue_wait = xp.where(c_inst > running, (c_inst - running) * cycle / running, 0.0)
    ttft = ttft_service + queue_wait
    e2e = ttft + (osl - 1.0) * tpot

    nan = math.nan

    def m(x):
        return xp.where(fits, x, nan)

    out_tps = replicas * out_inst
    req_s = replicas * running / cycle
    mem_used = inst.weights_b + s["reserve_gb"] * GIB + (running / dp) * kv_seq_b
    zero = xp.where(fits, 0.0, nan)
    res = {
        "valid": valid,
        "fits": fits,
        "replicas": xp.where(valid, replicas, nan),
        "instance_gpus": inst.inst,
        "weights_per_gpu_gib": xp.where(valid, inst.weights_b / GIB, nan),
        "kv_per_sequence_per_gpu_gib": xp.where(valid, kv_seq_b / GIB, nan),
        "max_concurrency": m(cmax_inst * replicas),
        "concurrency": m(c_inst * replicas),
        "running_concurrency": m(running * replicas),
        "memory_per_gpu_gib": m(mem_used / GIB),
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
        "input_tokens_per_s": m(req_s * isl),
        "prefill_tokens_per_s": m(req_s * isl_new),
        "output_tokens_per_s_per_user": m(1.0 / tpot),
        "prefill_time_share": m(prefill_share),
        "decode_memory_bound": fits & (dec_mem >= dec_comp),
        "tokens_per_step": m(gain + 0.0 * tpot),
        "expert_imbalance": m(imb),
        "prefill_gpus": zero,
        "decode_gpus": zero,
        "prefill_input_tokens_per_s_per_gpu": nan,
        "decode_output_tokens_per_s_per_gpu": nan,
        "prefill_capacity_input_tokens_per_s_per_gpu": nan,
        "decode_capacity_output_tokens_per_s_per_gpu": nan,
        "prefill_utilization": nan,
        "kv_transfer_s": zero,
    }
    return xp.finish(res, out_tps, valid, fits)


def _disaggregated(a, hw, s, xp):
    """Prefill and decode on separate pools; one P+D unit is ``prefill_gpus + decode_gpus`` GPUs."""
    _f = xp.f
    gpus = _f(s["gpus"])
    isl, osl = _f(s["isl"]), _f(s["osl"])
    pg, dg = _f(s["prefill_gpus"]), _f(s["decode_gpus"])
    unit = pg + dg
    units = gpus / xp.maximum(unit, 1.0)
    dec = _Instance(a, hw, s, _f(s["tp"]), _f(s["pp"]), _f(s["ep"]), xp)
    pre = _Instance(a, hw, s, _f(s["prefill_tp"]), _f(s["prefill_pp"]), _f(s["prefill_ep"]), xp)
    valid = (
        dec.valid & pre.valid & (pg >= 1) & (dg >= 1) & (isl >= 1) & (osl >= 1)
        & (xp.mod(pg, pre.inst) == 0) & (xp.mod(dg, dec.inst) == 0) & (xp.mod(gpus, xp.maximum(unit, 1.0)) == 0)
    )
    kv_seq_b, fits_d, cmax_inst = _memory(dec, hw, s, isl, osl)
    _kv_pf_b, fits_p, _ = _memory(pre, hw, s, isl, 1.0)
    fits = valid & fits_d & fits_p
    dec_instances = units * dg / dec.inst
    pre_instances = units * pg / pre.inst
    _hit, isl_new, prefix, pf_ctx = _prefill_shape(s, isl, xp)
    ctx = isl + 0.5 * osl

    # --- prefill pool: pure prefill steps of prefill_tokens_per_rank tokens per rank ------------------
    tpr = xp.maximum(_f(s["prefill_tokens_per_rank"]), 1.0)
    t_pf = pre.step(0.0, tpr, 0.0, ctx, pf_ctx, prefix, xp.minimum(isl_new, tpr), isl_new, True)[0] * pre.pp
    pf_new_tok_s = pre_instances * pre.dp * tpr / t_pf  # uncached prompt tokens / s, whole deployment
    kv_req_b = kv_context_tokens(a, isl, xp) * dec.kv_tok_all_layers  # one request's prompt KV, one copy
    # the KV crosses the scale-out network once; both pools' NICs carry it
    net_req_s = xp.minimum(pg, dg) * units * dec.bw_out / kv_req_b
    pf_req_cap = xp.minimum(pf_new_tok_s / isl_new, net_req_s)

    # --- decode pool: pure decode steps -----------------------------------------------------------------
    k = xp.maximum(_f(s["mtp_k"]), 0.0)
    gain = 1.0 + k * xp.clip(_f(s["mtp_accept"]), 0.0, 1.0)
    mtp_layers = _f(s["mtp_layers"])
    conc = _f(s["concurrency"])
    c_inst = xp.where(xp.isnan(conc), cmax_inst, conc / dec_instances)
    asked = xp.maximum(xp.minimum(c_inst, cmax_inst), 1e-9)

    def decode(running):
        seqs = running / (dec.dp * dec.pp)
        t, comp, mem, comm, imb = dec.step(seqs * (1.0 + k), 0.0, seqs, ctx, pf_ctx, prefix, 0.0, isl_new)
        if xp.any(k > 0):
            t_one = dec.step(seqs, 0.0, seqs, ctx, pf_ctx, prefix, 0.0, isl_new)[0]
            t = t + xp.where(k > 0, dec.draft_s(t_one, k, mtp_layers), 0.0)
        step_s = dec.pp * t
        return step_s, comp, mem, comm, imb, dec_instances * running * gain / step_s

    step_s, comp, mem, comm, imb, out_dec = decode(asked)
    dec_cap = out_dec  # the decode pool's rate at the asked batch, whatever prefill delivers
    cap_out = pf_req_cap * osl
    # prefill-bound: the decode batch shrinks until the decode rate matches what prefill delivers
    short = out_dec > cap_out
    running = xp.where(short, asked * cap_out / out_dec, asked)
    if xp.any(short):
        step_s, comp, mem, comm, imb, out_dec = decode(running)
    out_tps = xp.minimum(out_dec, cap_out)
    tpot = step_s / gain
    req_s = out_tps / osl
    rho = xp.clip(req_s / xp.maximum(pf_req_cap, 1e-30), 0.0, 0.999)

    # --- time to first token: prefill (batched with others at the pool's load), KV transfer -----------
    pf_steps = xp.maximum(isl_new / tpr, 1.0)
    first_chunk = xp.minimum(isl_new, tpr)
    t_pf_alone = pre.pp * pre.step(0.0, first_chunk, 0.0, ctx, pf_ctx, prefix, first_chunk, isl_new, True)[0]
    # One request's prompt: a lone prompt's latency, or its share of the pool's full-batch capacity when
    # that is longer (the engine batches prompts up to prefill_tokens_per_rank per rank); then an M/D/1 wait
    # in front of the pool.  When prefill is the bottleneck the requests beyond the running decode batch
    # wait there instead (Little's law).
    per_req_s = isl_new * pre_instances / xp.maximum(pf_new_tok_s, 1e-30)  # one instance's time per prompt
    service = xp.maximum(t_pf_alone * pf_steps, per_req_s)
    wait = xp.where(short, (asked - running) * dec_instances / xp.maximum(req_s, 1e-30),
                    rho / (2.0 * (1.0 - rho)) * service)
    xfer = kv_req_b / (dec.bw_out * xp.maximum(pre.tp, 1.0)) + hw["scaleout_latency_s"]
    load_s = _cache_load_s(pre, s, prefix)
    ttft = wait + service + load_s + xfer + 0.5 * tpot
    # asked concurrency beyond what fits in the decode pool's memory queues for a decode slot
    cycle = ttft + (osl - 1.0) * tpot
    ttft = ttft + xp.where(c_inst > asked, (c_inst - asked) * cycle / asked, 0.0)
    e2e = ttft + (osl - 1.0) * tpot

    nan = math.nan

    def m(x):
        return xp.where(fits, x, nan)

    mem_used = dec.weights_b + s["reserve_gb"] * GIB + (running / dec.dp) * kv_seq_b
    res = {
        "valid": valid,
        "fits": fits,
        "replicas": xp.where(valid, units, nan),
        "instance_gpus": unit,
        "weights_per_gpu_gib": xp.where(valid, xp.maximum(dec.weights_b, pre.weights_b) / GIB, nan),
        "kv_per_sequence_per_gpu_gib": xp.where(valid, kv_seq_b / GIB, nan),
        "max_concurrency": m(cmax_inst * dec_instances),
        "concurrency": m(c_inst * dec_instances),
        "running_concurrency": m(running * dec_instances),
        "memory_per_gpu_gib": m(mem_used / GIB),
        "decode_step_s": m(step_s),
        "decode_compute_s": m(dec.pp * comp),
        "decode_memory_s": m(dec.pp * mem),
        "decode_comm_s": m(dec.pp * comm),
        "prefill_s": m(t_pf_alone * pf_steps + load_s),
        "ttft_s": m(ttft),
        "tpot_s": m(tpot),
        "e2e_latency_s": m(e2e),
        "output_tokens_per_s": m(out_tps),
        "output_tokens_per_s_per_gpu": m(out_tps / gpus),
        "input_tokens_per_s": m(req_s * isl),
        "prefill_tokens_per_s": m(req_s * isl_new),
        "output_tokens_per_s_per_user": m(1.0 / tpot),
        "prefill_time_share": m(pg / xp.maximum(unit, 1.0) + 0.0 * tpot),
        "decode_memory_bound": fits & (mem >= comp),
        "tokens_per_step": m(gain + 0.0 * tpot),
        "expert_imbalance": m(imb),
        "prefill_gpus": m(pg * units),
        "decode_gpus": m(dg * units),
        "prefill_input_tokens_per_s_per_gpu": m(req_s * isl / (pg * units)),
        "decode_output_tokens_per_s_per_gpu": m(out_tps / (dg * units)),
        "prefill_capacity_input_tokens_per_s_per_gpu": m(pf_req_cap * isl / (pg * units)),
        "decode_capacity_output_tokens_per_s_per_gpu": m(dec_cap / (dg * units)),
        "prefill_utilization": m(rho),
        "kv_transfer_s": m(xfer),
    }
    return xp.finish(res, out_tps, valid, fits)
