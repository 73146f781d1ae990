"""Architecture accounting: parameters, FLOPs and bytes per token, derived from a catalog model.

Everything here is per *whole model* (unsharded); the kernel divides by the parallel degrees.  The
columns of :func:`arch_columns` are plain floats so that a table of models can be gathered into NumPy
arrays and evaluated in one vectorized call.

Conventions (one place, so the tests can check them by hand):

* FFNs are gated (SwiGLU): 3 matrices of ``hidden x width``.
* GQA attention: q and o are ``hidden x heads*head_dim``; k and v are ``hidden x kv_heads*head_dim``.
* MLA (DeepSeek): q_a ``hidden x q_lora``, q_b ``q_lora x heads*(nope+rope)``, kv_a
  ``hidden x (kv_lora+rope)``, kv_b ``kv_lora x heads*(nope+v)``, o ``heads*v x hidden``.  Decode runs the
  "absorbed" form (scores over the 576-wide latent), prefill the expanded form, as vLLM and SGLang do.
* KV cache per token per layer: GQA ``2*kv_heads*head_dim`` elements; MLA ``kv_lora+rope`` elements.
* Embedding and LM head: ``vocab x hidden`` each, one matrix when tied.  The embedding is a lookup
  (no FLOPs, only its rows are read); the LM head is a GEMM every step.
* Sliding-window attention (gpt-oss: every other layer, 128 tokens): a sliding layer caches and attends
  to at most ``sliding_window`` tokens.  The columns carry the window and the share of sliding layers;
  :func:`kv_context_tokens` and :func:`prefill_attended_tokens` turn a context into the tokens cached /
  attended per layer, averaged over the layers (layers are spread evenly over pipeline stages).
  Attention sinks are one logit per head and layer: their parameters are negligible and not counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inferonomics._lazy import np

if TYPE_CHECKING:  # annotations only: the kernel imports this module and stays free of the catalog
    from inferonomics.catalog.schema import Model

ARCH_COLUMNS = (
    "n_layers",
    "n_dense_layers",
    "n_moe_layers",
    "hidden",
    "n_heads",
    "n_kv_heads",
    "kv_replicable",  # 1 if KV heads can be split over TP (GQA/MHA), 0 if replicated (MLA latent)
    "attn_shardable_params",  # per layer, split over TP
    "attn_replicated_params",  # per layer, replicated over TP (MLA down-projections, router)
    "kv_split_params",  # per layer, part of attn_shardable that is k/v projection (replicated when tp > kv heads)
    "dense_ffn_params",  # per dense layer
    "shared_expert_params",  # per MoE layer
    "expert_params",  # one routed expert
    "n_experts",
    "top_k",
    "vocab_params",  # one vocab x hidden matrix
    "n_vocab_mats",  # 1 if tied else 2 (memory)
    "attn_qk_dim_prefill",
    "attn_v_dim_prefill",
    "attn_qk_dim_decode",
    "attn_v_dim_decode",
    "kv_elems_per_token_layer",
    "is_moe",
    "sliding_window",  # tokens a sliding-window layer caches and attends to (0: no sliding layers)
    "sliding_layer_share",  # share of the layers that use sliding-window attention
)


def arch_columns(m: Model) -> dict[str, float]:
    d = m.hidden_size
    h = m.num_attention_heads
    hd = m.head_dim
    kvh = m.num_kv_heads
    if m.mla is not None:
        a = m.mla
        qk = a.qk_nope_head_dim + a.qk_rope_head_dim
        if a.q_lora_rank:
            q_repl = d * a.q_lora_rank
            q_shard = a.q_lora_rank * h * qk
        else:
            q_repl = 0
            q_shard = d * h * qk
        kv_repl = d * (a.kv_lora_rank + a.qk_rope_head_dim)
        kv_shard = a.kv_lora_rank * h * (a.qk_nope_head_dim + a.v_head_dim)
        o = h * a.v_head_dim * d
        attn_shard = q_shard + kv_shard + o
        attn_repl = q_repl + kv_repl
        kv_split = 0.0
        kv_elems = a.kv_lora_rank + a.qk_rope_head_dim
        qk_pf, v_pf = qk, a.v_head_dim
        qk_dec, v_dec = a.kv_lora_rank + a.qk_rope_head_dim, a.kv_lora_rank
        kv_replicable = 0.0
    else:
        q = d * h * hd
        kv = 2 * d * kvh * hd
        o = h * hd * d
        attn_shard = q + kv + o
        attn_repl = 0
        kv_split = kv
        kv_elems = 2 * kvh * hd
        qk_pf = v_pf = qk_dec = v_dec = hd
        kv_replicable = 1.0

    dense_ffn = 3 * d * m.intermediate_size
    if m.moe is not None:
        e = m.moe
        n_dense = e.first_dense_layers
        n_moe = m.num_layers - n_dense
        expert = 3 * d * e.expert_intermediate_size
        shared_width = e.shared_expert_intermediate_size
        if shared_width is None:
            shared_width = e.num_shared_experts * e.expert_intermediate_size
        shared = 3 * d * shared_width
        n_exp, top_k = e.num_experts, e.experts_per_token
        router = d * n_exp
    else:
        n_dense, n_moe = m.num_layers, 0
        expert = shared = 0
        n_exp, top_k = 1, 1
        router = 0
    # The router is tiny; it is counted as replicated attention-side weight in MoE layers only, so it is
    # folded into attn_replicated_params scaled by the MoE layer share.
    attn_repl_eff = attn_repl + (router * n_moe / m.num_layers if m.num_layers else 0)

    return {
        "n_layers": float(m.num_layers),
        "n_dense_layers": float(n_dense),
        "n_moe_layers": float(n_moe),
        "hidden": float(d),
        "n_heads": float(h),
        "n_kv_heads": float(kvh),
        "kv_replicable": kv_replicable,
        "attn_shardable_params": float(attn_shard),
        "attn_replicated_params": float(attn_repl_eff),
        "kv_split_params": float(kv_split),
        "dense_ffn_params": float(dense_ffn),
        "shared_expert_params": float(shared),
        "expert_params": float(expert),
        "n_experts": float(n_exp),
        "top_k": float(top_k),
        "vocab_params": float(m.vocab_size * d),
        "n_vocab_mats": 1.0 if m.tie_word_embeddings else 2.0,
        "attn_qk_dim_prefill": float(qk_pf),
        "attn_v_dim_prefill": float(v_pf),
        "attn_qk_dim_decode": float(qk_dec),
        "attn_v_dim_decode": float(v_dec),
        "kv_elems_per_token_layer": float(kv_elems),
        "is_moe": 1.0 if m.moe is not None else 0.0,
        "sliding_window": float(m.sliding_window or 0),
        "sliding_layer_share": m.sliding_window_layers / m.num_layers,
    }


def kv_context_tokens(a: dict, tokens, xp=np):
    """Tokens of KV cache one sequence holds per layer (layer average) at a context of ``tokens``.

    Full-attention layers hold the whole context, sliding-window layers at most the window:
    ``(1 - s) * T + s * min(T, W)``.  The same count is what a decode step reads per layer.  ``xp`` is the
    array backend (NumPy by default; the perf kernel passes its own, which also runs on plain floats)."""
    s = a["sliding_layer_share"]
    if not xp.any(s > 0):
        return tokens
    return (1.0 - s) * tokens + s * xp.minimum(tokens, a["sliding_window"])


def window_attended_tokens(a: dict, full, start, end, xp=np):
    """Keys a prompt token at positions ``start+1 .. end`` attends to, averaged over positions and layers:
    ``full`` (the mean causal span) in full-attention layers, ``min(position, W)`` in sliding-window layers.

    With ``m = clip(W, start, end)`` the positions up to ``m`` attend to all before them and the rest to
    ``W`` keys: ``((m (m + 1) - start (start + 1)) / 2 + (end - m) W) / (end - start)``."""
    s = a["sliding_layer_share"]
    if not xp.any(s > 0):
        return full
    w = a["sliding_window"]
    n = xp.maximum(end - start, 1.0)
    m = xp.clip(w, start, end)
    capped = ((m * (m + 1.0) - start * (start + 1.0)) * 0.5 + (end - m) * w) / n
    return (1.0 - s) * full + s * capped


def prefill_attended_tokens(a: dict, isl, xp=np):
    """Keys one prompt token attends to on average (layer average) in a causal prefill of ``isl`` tokens.

    Full attention: ``(isl + 1) / 2``.  A window ``W`` caps position ``p``'s keys at ``min(p, W)``, whose
    mean over ``p = 1..isl`` is ``(isl + 1) / 2`` for ``isl <= W`` and ``W (W + 1) / 2 / isl + W (isl - W) /
    isl`` beyond."""
    return window_attended_tokens(a, (isl + 1.0) * 0.5, 0.0, isl, xp)


def _layer_params(c: dict[str, float], experts_per_layer: float) -> float:
    """Parameters of all transformer layers with ``experts_per_layer`` routed experts counted."""
    return (
        c["n_layers"] * (c["attn_shardable_params"] + c["attn_replicated_params"])
        + c["n_dense_layers"] * c["dense_ffn_params"]
        + c["n_moe_layers"] * (c["shared_expert_params"] + experts_per_layer * c["expert_params"])
    )


def total_params(m: Model) -> float:
    """Total parameters (all experts, embeddings counted once when tied), excluding norms and biases."""
    c = arch_columns(m)
    return _layer_params(c, c["n_experts"]) + c["n_vocab_mats"] * c["vocab_params"]


def active_params(m: Model) -> float:
    """Parameters one token passes through (routed experts: top-k), including the LM head, not the embedding."""
    c = arch_columns(m)
    return _layer_params(c, c["top_k"]) + c["vocab_params"]


def kv_bytes_per_token(m: Model, kv_bytes_per_elem: float) -> float:
    """KV-cache bytes one token occupies across all layers (unsharded), ignoring sliding windows.

    For a model with sliding-window layers this is the cost of a token inside the window; use
    :func:`kv_bytes_per_sequence` for the cache a whole sequence holds."""
    c = arch_columns(m)
    return c["n_layers"] * c["kv_elems_per_token_layer"] * kv_bytes_per_elem


def kv_bytes_per_sequence(m: Model, kv_bytes_per_elem: float, tokens: float) -> float:
    """KV-cache bytes one sequence of ``tokens`` holds across all layers (unsharded), windows honoured."""
    c = arch_columns(m)
    return float(c["n_layers"] * c["kv_elems_per_token_layer"] * kv_bytes_per_elem * kv_context_tokens(c, tokens))
