"""Python API of the performance model: single predictions with clear errors, sweeps and frontiers."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from inferonomics.catalog import Catalog, get_catalog
from inferonomics.catalog.schema import KV_DTYPES, WEIGHT_DTYPES
from inferonomics.errors import DoesNotFitError, InputError, UnknownNameError
from inferonomics.perf import arch as _arch
from inferonomics.perf import hardware as _hw
from inferonomics.perf.kernel import GIB, OUTPUTS, evaluate

# continuous: in-flight batching with chunked prefill (vLLM, SGLang, TensorRT-LLM serving);
# static: a fixed batch that starts and ends together (offline latency benchmarks).
SCHEDULERS = ("continuous", "static")


ENGINES = ("generic", "trtllm", "vllm", "sglang", "llama.cpp")


@dataclass(frozen=True)
class Deployment:
    """One serving configuration.  ``concurrency`` counts requests in flight over the whole deployment
    (split evenly over replicas); ``None`` means the most that fits in memory (max throughput).

    Production features: ``prefix_hit_rate`` (share of input tokens served from a prefix cache),
    ``mtp_tokens``/``mtp_accept_rate`` (speculative decoding: draft tokens per step, accepted / drafted),
    ``redundant_experts`` (extra expert copies spread over the EP ranks against load imbalance), ``tbo``
    (two-batch overlap of communication and computation; ``None``: on for expert-parallel disaggregated
    pools), ``engine`` (efficiency profile).  Disaggregated prefill/decode: ``prefill_gpus`` and
    ``decode_gpus`` per P+D unit (``gpus`` is then a whole number of units), ``prefill_tp``/``prefill_ep``
    for the prefill instances; ``tp``/``ep``/``pp`` describe the decode instances."""

    model: str
    gpu: str
    gpus: int = 1
    tp: int | None = None
    pp: int = 1
    ep: int = 1
    weights: str = "bf16"
    kv: str | None = None
    isl: int = 1024
    osl: int = 256
    concurrency: float | None = None
    scheduler: str = "continuous"
    prefix_hit_rate: float = 0.0
    mtp_tokens: int = 0
    mtp_accept_rate: float | None = None
    redundant_experts: int = 0
    tbo: bool | None = None
    engine: str = "generic"
    prefill_gpus: int | None = None
    decode_gpus: int | None = None
    prefill_tp: int | None = None
    prefill_ep: int = 1

    @property
    def disaggregated(self) -> bool:
        return self.prefill_gpus is not None or self.decode_gpus is not None

    def resolved(self) -> Deployment:
        tp = self.tp
        upd: dict = {}
        if self.disaggregated:
            if tp is None:
                tp = 1 if self.ep > 1 else max((self.decode_gpus or 1) // max(self.pp, 1), 1)
            ptp = self.prefill_tp
            if ptp is None:
                ptp = 1 if self.prefill_ep > 1 else max(self.prefill_gpus or 1, 1)
            upd["prefill_tp"] = ptp
            if self.gpus == 1 and self.prefill_gpus and self.decode_gpus:
                upd["gpus"] = self.prefill_gpus + self.decode_gpus
        elif tp is None:
            tp = 1 if self.ep > 1 else max(self.gpus // max(self.pp, 1), 1)
        kv = self.kv or _hw.default_kv(self.weights)
        tbo = self.tbo
        if tbo is None:
            tbo = bool(self.disaggregated and (self.ep > 1 or self.prefill_ep > 1))
        return replace(self, tp=tp, kv=kv, tbo=tbo, **upd)


def _serving_arrays(cat: Catalog, weights, kv, **arrays) -> dict:
    return {
        **arrays,
        "weight_bytes": weights,
        "kv_bytes": kv,
        "vocab_bytes": cat.const("vocab_bytes_per_weight"),
        "act_bytes": cat.const("activation_bytes"),
        "gpu_memory_utilization": cat.const("gpu_memory_utilization"),
        "reserve_gb": cat.const("memory_reserve_gb"),
        "max_batch_per_rank": cat.const("max_batch_per_rank"),
        "max_batched_tokens": cat.const("max_batched_tokens"),
        "prefill_tokens_per_rank": cat.const("prefill_tokens_per_rank"),
        "cache_load_bw_gb_s": cat.const("prefix_cache_load_bw_gb_s"),
        "mtp_layers": cat.const("mtp_draft_layers"),
    }


def _whole(name: str, v, minimum: int = 1) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise InputError(name, v, f"must be a whole number of at least {minimum}")


def _share(name: str, v, hi_open: bool = False) -> None:
    ok = isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool) and np.isfinite(v)
    if not ok or v < 0 or (v >= 1 if hi_open else v > 1):
        raise InputError(name, v, "must be a share between 0 and 1" + (" (1 excluded)" if hi_open else ""))


def _check_parallel(m, d: Deployment, tp: int, ep: int, pp: int, gpus: int, role: str) -> None:
    """Parallel degrees of one instance (``role``: '' for co-located, 'prefill-'/'decode-' for pools)."""
    h, kvh = m.num_attention_heads, m.num_kv_heads
    pre = role.replace("-", "_")
    f_tp, f_ep = f"{pre}tp", f"{pre}ep"
    if h % tp:
        ok = [t for t in (1, 2, 4, 8, 16, 32, 64) if h % t == 0 and (kvh % t == 0 or t % kvh == 0)]
        raise InputError(f_tp, tp, f"must divide the {h} attention heads of {d.model}; valid: {ok}")
    if kvh % tp and tp % kvh:
        raise InputError(f_tp, tp, f"must divide, or be a multiple of, the {kvh} KV heads of {d.model}")
    if ep > 1:
        if m.moe is None:
            raise InputError(f_ep, ep, f"expert parallelism needs a mixture-of-experts model; {d.model} is dense")
        slots = m.moe.num_experts + d.redundant_experts
        if ep > slots:
            raise InputError(
                f_ep, ep, f"cannot exceed the {m.moe.num_experts} experts of {d.model} plus {d.redundant_experts} "
                "redundant copies (one expert per GPU at least)",
            )
        if ep % tp:
            raise InputError(f_tp, tp, f"must divide {f_ep}={ep} (attention is tp-wide within each ep rank group)")
    inst = (ep if ep > 1 else tp) * pp
    if gpus % inst:
        raise InputError(
            f"{pre}gpus", gpus,
            f"must be a multiple of the {inst} GPUs one {role.rstrip('-') or ''}{' ' if role else ''}instance "
            "uses (tp or ep x pp); the rest are replicas",
        )


def _check(cat: Catalog, d: Deployment) -> None:
    """Raise a clear error for a single configuration the model cannot serve as asked."""
    m = cat.model(d.model)
    cat.accelerator(d.gpu)
    if d.weights not in WEIGHT_DTYPES:
        raise InputError("weights", d.weights, f"allowed precisions are {', '.join(WEIGHT_DTYPES)}")
    if d.kv not in KV_DTYPES:
        raise InputError("kv", d.kv, f"allowed KV-cache precisions are {', '.join(KV_DTYPES)}")
    for name in ("gpus", "tp", "pp", "ep", "isl", "osl", "prefill_ep"):
        _whole(name, getattr(d, name))
    _whole("redundant_experts", d.redundant_experts, 0)
    _whole("mtp_tokens", d.mtp_tokens, 0)
    if d.mtp_tokens > 16:
        raise InputError("mtp_tokens", d.mtp_tokens, "must be at most 16 draft tokens per step")
    _share("prefix_hit_rate", d.prefix_hit_rate, hi_open=True)
    if d.mtp_accept_rate is not None:
        _share("mtp_accept_rate", d.mtp_accept_rate)
    if d.redundant_experts and (m.moe is None or d.ep <= 1 and d.prefill_ep <= 1):
        raise InputError("redundant_experts", d.redundant_experts, "needs a mixture-of-experts model served with --ep")
    if d.scheduler not in SCHEDULERS:
        raise InputError("scheduler", d.scheduler, f"allowed schedulers are {', '.join(SCHEDULERS)}")
    if d.engine not in ENGINES:
        raise UnknownNameError("engine", d.engine, ENGINES)
    if d.engine != "generic" and cat.engine_profile(d.engine) is None:
        fitted = ["generic", *sorted(cat.engines)]
        raise InputError(
            "engine", d.engine, f"has no fitted efficiency profile in the catalog; available: {', '.join(fitted)}",
            "A profile is fitted by validation/fit.py once validation/measurements.yaml holds at least 8 training "
            "points of that engine; or calibrate on your own runs (inferonomics calibrate).",
        )
    if d.concurrency is not None and not (
        isinstance(d.concurrency, (int, float, np.floating, np.integer)) and 1 <= d.concurrency < 1e12
    ):
        raise InputError("concurrency", d.concurrency, "must be at least 1 and below 1e12 requests in flight")
    if d.pp > m.num_layers:
        raise InputError("pp", d.pp, f"cannot exceed the {m.num_layers} layers of {d.model}")
    if d.isl + d.osl > m.max_context:
        raise InputError("isl+osl", d.isl + d.osl, f"must not exceed the {m.max_context}-token context of {d.model}")
    if d.disaggregated:
        if d.prefill_gpus is None or d.decode_gpus is None:
            raise InputError(
                "prefill_gpus" if d.prefill_gpus is None else "decode_gpus", None,
                "disaggregated serving needs both --prefill-gpus and --decode-gpus",
            )
        _whole("prefill_gpus", d.prefill_gpus)
        _whole("decode_gpus", d.decode_gpus)
        _whole("prefill_tp", d.prefill_tp)
        if d.scheduler == "static":
            raise InputError("scheduler", d.scheduler, "static batching applies to co-located serving only")
        unit = d.prefill_gpus + d.decode_gpus
        if d.gpus % unit:
            raise InputError(
                "gpus", d.gpus, f"must be a whole number of P+D units of {unit} GPUs "
                f"({d.prefill_gpus} prefill + {d.decode_gpus} decode)",
            )
        _check_parallel(m, d, d.prefill_tp, d.prefill_ep, 1, d.prefill_gpus, "prefill-")
        _check_parallel(m, d, d.tp, d.ep, d.pp, d.decode_gpus, "decode-")
    else:
        if d.prefill_ep > 1 or d.prefill_tp is not None:
            raise InputError("prefill_ep", d.prefill_ep, "prefill parallelism needs --prefill-gpus and --decode-gpus")
        _check_parallel(m, d, d.tp, d.ep, d.pp, d.gpus, "")


def _hw_table(cat: Catalog, keys) -> dict:
    return {k: _hw.hw_columns(cat, cat.accelerator(k[0]), k[1], k[2]) for k in keys}


def kernel_inputs(cat: Catalog, deps: Sequence[Deployment]) -> tuple[dict, dict, dict]:
    """The kernel's architecture, hardware and serving columns for resolved deployments (one row each)."""
    models = sorted({x.model for x in deps})
    accs = sorted({(x.gpu, x.weights, x.engine) for x in deps})
    arch_tab = {m: _arch.arch_columns(cat.model(m)) for m in models}
    hw_tab = _hw_table(cat, accs)
    a = {c: np.array([arch_tab[x.model][c] for x in deps]) for c in _arch.ARCH_COLUMNS}
    hw = {c: np.array([hw_tab[(x.gpu, x.weights, x.engine)][c] for x in deps]) for c in _hw.HW_COLUMNS}
    wb = np.array([_hw.weight_bytes(cat, x.weights) for x in deps])
    kvb = np.array([_hw.kv_bytes(x.kv) for x in deps])
    accept_default = cat.const("mtp_accept_rate")
    dis = [x.disaggregated for x in deps]
    s = _serving_arrays(
        cat,
        wb,
        kvb,
        gpus=np.array([x.gpus for x in deps], float),
        tp=np.array([x.tp for x in deps], float),
        pp=np.array([x.pp for x in deps], float),
        ep=np.array([x.ep for x in deps], float),
        isl=np.array([x.isl for x in deps], float),
        osl=np.array([x.osl for x in deps], float),
        concurrency=np.array([np.nan if x.concurrency is None else x.concurrency for x in deps], float),
        static=np.array([x.scheduler == "static" for x in deps], float),
        prefix_hit=np.array([x.prefix_hit_rate for x in deps], float),
        mtp_k=np.array([x.mtp_tokens for x in deps], float),
        mtp_accept=np.array(
            [accept_default if x.mtp_accept_rate is None else x.mtp_accept_rate for x in deps], float
        ),
        redundant_experts=np.array([x.redundant_experts for x in deps], float),
        tbo=np.array([bool(x.tbo) for x in deps], float),
        disagg=np.array(dis, float),
        prefill_gpus=np.array([x.prefill_gpus or 0 for x in deps], float),
        decode_gpus=np.array([x.decode_gpus or 0 for x in deps], float),
        prefill_tp=np.array([x.prefill_tp or 1 for x in deps], float),
        prefill_ep=np.array([x.prefill_ep for x in deps], float),
        dispatch_bytes=np.array([hw_tab[(x.gpu, x.weights, x.engine)]["dispatch_bytes"] for x in deps]),
    )
    return a, hw, s


def _rows(cat: Catalog, deps: Sequence[Deployment]) -> dict[str, np.ndarray]:
    """Evaluate resolved deployments in one vectorized call."""
    return evaluate(*kernel_inputs(cat, deps))


_DEP_FIELDS = tuple(Deployment.__dataclass_fields__)


def _deployment(model: str, gpu: str, kw: dict) -> Deployment:
    unknown = sorted(set(kw) - set(_DEP_FIELDS))
    if unknown:
        raise UnknownNameError("option", unknown[0], _DEP_FIELDS)
    return Deployment(model=model, gpu=gpu, **kw).resolved()


def _does_not_fit(cat: Catalog, d: Deployment, row: dict) -> DoesNotFitError:
    acc = cat.accelerator(d.gpu)
    avail = acc.memory_gb.value * cat.const("gpu_memory_utilization") - cat.const("memory_reserve_gb")
    par = (f"prefill {d.prefill_gpus} GPUs tp={d.prefill_tp} ep={d.prefill_ep}, decode {d.decode_gpus} GPUs "
           f"tp={d.tp} ep={d.ep}" if d.disaggregated else f"tp={d.tp}, pp={d.pp}, ep={d.ep}")
    return DoesNotFitError(
        "deployment",
        f"{d.model} {d.weights} on {d.gpus}x {d.gpu} ({par})",
        f"it needs {row['weights_per_gpu_gb']:.1f} GiB of weights per GPU plus "
        f"{row['kv_per_sequence_per_gpu_gb']:.2f} GiB of KV cache for one {d.isl + d.osl}-token sequence, "
        f"and {avail:.1f} GiB per GPU is usable",
        "Use more GPUs per instance (--tp/--pp/--ep), a smaller precision (--weights fp8/int4) or a "
        "shorter context.",
    )


def _check_slo(name: str, v) -> None:
    if v is None:
        return
    ok = isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool) and np.isfinite(v)
    if not ok or not 0 < v <= 3600:
        raise InputError(name, v, "must be a latency target in seconds, above 0 and at most 3600")


def predict(
    model: str,
    gpu: str,
    *,
    max_tpot_s: float | None = None,
    max_ttft_s: float | None = None,
    catalog: Catalog | None = None,
    **kw,
) -> dict:
    """Predict one deployment; raises :class:`InputError` / :class:`DoesNotFitError` with a clear message.

    Keyword arguments are the fields of :class:`Deployment` (``gpus``, ``tp``, ``pp``, ``ep``, ``weights``,
    ``kv``, ``isl``, ``osl``, ``concurrency``, ``scheduler``, ``prefix_hit_rate``, ``mtp_tokens``,
    ``mtp_accept_rate``, ``redundant_experts``, ``tbo``, ``engine``, ``prefill_gpus``, ``decode_gpus``,
    ``prefill_tp``, ``prefill_ep``).  ``concurrency=None`` gives the max-throughput operating point (the
    most sequences that fit); ``max_tpot_s`` / ``max_ttft_s`` instead pick the highest-throughput
    concurrency that meets them."""
    cat = catalog or get_catalog()
    _check_slo("max_tpot_s", max_tpot_s)
    _check_slo("max_ttft_s", max_ttft_s)
    if max_tpot_s is not None or max_ttft_s is not None:
        if kw.get("concurrency") is not None:
            raise InputError(
                "concurrency", kw["concurrency"], "give --concurrency or a latency target (--max-tpot-s/--max-ttft-s), "
                "not both: the target picks the concurrency",
            )
        kw = {**kw, "concurrency": operating_point(
            model, gpu, max_tpot_s=max_tpot_s, max_ttft_s=max_ttft_s, catalog=cat, **kw)}
    d = _deployment(model, gpu, kw)
    _check(cat, d)
    r = _rows(cat, [d])
    row = {k: (v[0].item() if hasattr(v[0], "item") else v[0]) for k, v in r.items()}
    if not row["fits"]:
        raise _does_not_fit(cat, d, row)
    out = {**asdict(d), **row}
    if d.mtp_accept_rate is None:
        out["mtp_accept_rate"] = cat.const("mtp_accept_rate") if d.mtp_tokens else 0.0
    out["max_tpot_s"] = max_tpot_s
    out["max_ttft_s"] = max_ttft_s
    if not d.disaggregated:
        for k in ("prefill_input_tokens_per_s_per_gpu", "decode_output_tokens_per_s_per_gpu",
                  "prefill_capacity_input_tokens_per_s_per_gpu", "prefill_utilization"):
            out[k] = None
        out["prefill_gpus"] = out["decode_gpus"] = None
    return out


def _grid(**axes: Iterable) -> list[dict]:
    keys = list(axes)
    vals = [list(v) if isinstance(v, (list, tuple, range, np.ndarray)) else [v] for v in axes.values()]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*vals)]


def sweep(model, gpu, *, catalog: Catalog | None = None, **axes):
    """Cartesian product of the given values (scalars or lists) → a DataFrame, one row per configuration.

    Axes are the fields of :class:`Deployment`.  Configurations that are invalid or do not fit are rows
    with ``valid``/``fits`` False and NaN figures, never errors; unknown slugs and precisions still raise."""
    import pandas as pd

    cat = catalog or get_catalog()
    unknown = sorted(set(axes) - set(_DEP_FIELDS))
    if unknown:
        raise UnknownNameError("option", unknown[0], _DEP_FIELDS)
    combos = _grid(model=model, gpu=gpu, **axes)
    deps = [Deployment(**c).resolved() for c in combos]
    for x in {(x.model, x.gpu, x.weights, x.kv, x.engine) for x in deps}:
        cat.model(x[0])
        cat.accelerator(x[1])
        _hw.weight_bytes(cat, x[2])
        _hw.kv_bytes(x[3])
        if x[4] not in ENGINES:
            raise UnknownNameError("engine", x[4], ENGINES)
    r = _rows(cat, deps)
    df = pd.DataFrame([asdict(x) for x in deps])
    for k in OUTPUTS:
        df[k] = r[k]
    return df


def frontier(
    model: str,
    gpu: str,
    *,
    points: int = 24,
    max_tpot_s: float | None = None,
    max_ttft_s: float | None = None,
    catalog: Catalog | None = None,
    **kw,
):
    """Throughput–interactivity frontier: concurrency from 1 to the most that fits, geometrically spaced.

    Returns a DataFrame with ``output_tokens_per_s_per_gpu`` against ``output_tokens_per_s_per_user``;
    with ``max_tpot_s`` / ``max_ttft_s`` only the points that meet them (``meets_slo`` says which)."""
    cat = catalog or get_catalog()
    _check_slo("max_tpot_s", max_tpot_s)
    _check_slo("max_ttft_s", max_ttft_s)
    kw.pop("concurrency", None)
    top = predict(model, gpu, catalog=cat, concurrency=None, **kw)
    replicas = top["replicas"]
    per_rep = np.unique(np.round(np.geomspace(1, max(top["max_concurrency"] / replicas, 1), points)))
    df = sweep(model, gpu, catalog=cat, concurrency=[float(c * replicas) for c in per_rep], **kw)
    df = df[df["fits"]].reset_index(drop=True)
    ok = np.ones(len(df), bool)
    if max_tpot_s is not None:
        ok &= df["tpot_s"].to_numpy() <= max_tpot_s
    if max_ttft_s is not None:
        ok &= df["ttft_s"].to_numpy() <= max_ttft_s
    df["meets_slo"] = ok
    if max_tpot_s is not None or max_ttft_s is not None:
        if not ok.any():
            raise _slo_error(model, gpu, df, max_tpot_s, max_ttft_s)
        df = df[ok].reset_index(drop=True)
    return df


def memory_gib(bytes_: float) -> float:
    return bytes_ / GIB


def _slo_error(model, gpu, df, max_tpot_s, max_ttft_s) -> InputError:
    best = df.iloc[0] if len(df) else {"tpot_s": float("nan"), "ttft_s": float("nan")}
    return InputError(
        "latency target",
        f"TPOT <= {max_tpot_s} s, TTFT <= {max_ttft_s} s",
        f"{model} on {gpu} reaches TPOT {best['tpot_s']:.3f} s and TTFT {best['ttft_s']:.3f} s even with "
        "one request in flight",
        "Relax the target, use more GPUs per instance or a faster accelerator.",
    )


def operating_point(
    model: str,
    gpu: str,
    *,
    max_tpot_s: float | None = None,
    max_ttft_s: float | None = None,
    catalog: Catalog | None = None,
    **kw,
) -> float:
    """The deployment concurrency with the highest throughput whose TPOT and TTFT meet the limits (the
    most that fits if none).  Raises :class:`InputError` when even one request in flight misses them."""
    cat = catalog or get_catalog()
    kw.pop("concurrency", None)
    top = predict(model, gpu, catalog=cat, concurrency=None, **kw)
    replicas = top["replicas"]
    # Concurrency levels in whole requests per replica (or P+D unit), from 1 up to what fits.
    per_rep = np.unique(np.round(np.geomspace(1, max(top["max_concurrency"] / replicas, 1), 64)))
    df = sweep(model, gpu, catalog=cat, concurrency=[float(c * replicas) for c in per_rep], **kw)
    ok = np.array(df["fits"], dtype=bool)
    if max_tpot_s is not None:
        ok &= df["tpot_s"].to_numpy() <= max_tpot_s
    if max_ttft_s is not None:
        ok &= df["ttft_s"].to_numpy() <= max_ttft_s
    if not ok.any():
        raise _slo_error(model, gpu, df, max_tpot_s, max_ttft_s)
    conc = df["concurrency"].to_numpy()
    best_c = _best_concurrency(df, ok)
    # refine between the best level and the next one up (the target is usually crossed there)
    above = conc[conc > best_c]
    if above.size:
        hi = float(above.min())
        fine = np.unique(np.round(np.linspace(best_c, hi, 34)[1:-1] / replicas) * replicas)
        fine = fine[(fine > best_c) & (fine < hi)]
        if fine.size:
            df2 = sweep(model, gpu, catalog=cat, concurrency=[float(c) for c in fine], **kw)
            ok2 = np.array(df2["fits"], dtype=bool)
            if max_tpot_s is not None:
                ok2 &= df2["tpot_s"].to_numpy() <= max_tpot_s
            if max_ttft_s is not None:
                ok2 &= df2["ttft_s"].to_numpy() <= max_ttft_s
            if ok2.any():
                import pandas as pd

                both = pd.concat([df[ok], df2[ok2]], ignore_index=True)
                best_c = _best_concurrency(both, np.ones(len(both), bool))
    return best_c


def _best_concurrency(df, ok) -> float:
    """The highest throughput among ``ok`` rows; among rows within 0.1% of it, the lowest concurrency."""
    thr = np.where(ok, df["output_tokens_per_s"].to_numpy(), -np.inf)
    best = ok & (thr >= thr.max() * 0.999)
    return float(df["concurrency"].to_numpy()[best].min())


def pd_ratios(
    model: str,
    gpu: str,
    *,
    prefill_instance_gpus: int | None = None,
    decode_instance_gpus: int | None = None,
    max_instances: int = 8,
    max_tpot_s: float | None = None,
    max_ttft_s: float | None = None,
    points: int = 16,
    catalog: Catalog | None = None,
    **kw,
):
    """Search over prefill:decode ratios: for every mix of 1..``max_instances`` prefill instances and
    1..``max_instances`` decode instances (sizes from ``prefill_tp``/``prefill_ep`` and ``tp``/``ep``), the
    highest-throughput concurrency meeting the latency targets.  One vectorized evaluation; returns a
    DataFrame, one row per P:D mix, best output tokens/s per GPU first."""
    import pandas as pd

    cat = catalog or get_catalog()
    _check_slo("max_tpot_s", max_tpot_s)
    _check_slo("max_ttft_s", max_ttft_s)
    _whole("max_instances", max_instances)
    for k in ("gpus", "concurrency", "prefill_gpus", "decode_gpus"):
        kw.pop(k, None)
    ep, pep = kw.get("ep", 1), kw.get("prefill_ep", 1)
    pi = prefill_instance_gpus or (pep if pep > 1 else (kw.get("prefill_tp") or 1))
    di = decode_instance_gpus or (ep if ep > 1 else (kw.get("tp") or 1) * kw.get("pp", 1))
    mixes = [(p * pi, d * di) for p in range(1, max_instances + 1) for d in range(1, max_instances + 1)]
    # the largest concurrency per unit that fits: from the widest decode pool
    top = predict(model, gpu, catalog=cat, prefill_gpus=pi, decode_gpus=max_instances * di, **kw)
    cmax_per_decode_instance = top["max_concurrency"] / max_instances
    levels = np.unique(np.round(np.geomspace(1, max(cmax_per_decode_instance, 1), points)))
    deps = [
        Deployment(model=model, gpu=gpu, prefill_gpus=p, decode_gpus=d, concurrency=float(c * d / di), **kw).resolved()
        for p, d in mixes for c in levels
    ]
    _check(cat, deps[0])
    r = _rows(cat, deps)
    df = pd.DataFrame({"prefill_gpus": [x.prefill_gpus for x in deps], "decode_gpus": [x.decode_gpus for x in deps]})
    for k in OUTPUTS:
        if k not in ("prefill_gpus", "decode_gpus"):
            df[k] = r[k]
    ok = df["fits"].to_numpy(bool).copy()
    if max_tpot_s is not None:
        ok &= df["tpot_s"].to_numpy() <= max_tpot_s
    if max_ttft_s is not None:
        ok &= df["ttft_s"].to_numpy() <= max_ttft_s
    df = df[ok]
    if df.empty:
        raise InputError(
            "latency target", f"TPOT <= {max_tpot_s} s, TTFT <= {max_ttft_s} s",
            f"no prefill:decode mix of {model} on {gpu} meets it", "Relax the target or use larger instances.",
        )
    best = df.loc[df.groupby(["prefill_gpus", "decode_gpus"])["output_tokens_per_s_per_gpu"].idxmax()]
    best = best.assign(pd_ratio=best["prefill_gpus"] / best["decode_gpus"])
    return best.sort_values("output_tokens_per_s_per_gpu", ascending=False).reset_index(drop=True)
