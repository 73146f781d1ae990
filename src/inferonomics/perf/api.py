"""Python API of the performance model: single predictions with clear errors, sweeps and frontiers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from inferonomics._lazy import loaded, np
from inferonomics.catalog import Catalog, get_catalog
from inferonomics.catalog.records import KV_DTYPES, WEIGHT_DTYPES
from inferonomics.errors import DoesNotFitError, InputError, UnknownNameError
from inferonomics.perf import arch as _arch
from inferonomics.perf import hardware as _hw
from inferonomics.perf.kernel import (
    DEPRECATED_OUTPUTS,
    GIB,
    OUTPUT_COLUMNS,
    OUTPUTS,
    evaluate,
    evaluate_scalar,
    with_deprecated,
)

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
        return replace(self, **_resolve(self.__dict__))


# Fields whose resolved value depends on other fields (see _resolve) and the fields they depend on.
_RESOLVED = ("gpus", "tp", "kv", "tbo", "prefill_tp")
_RESOLVE_FROM = ("gpus", "tp", "pp", "ep", "weights", "kv", "tbo", "prefill_gpus", "decode_gpus", "prefill_tp",
                 "prefill_ep")


def _resolve(f: dict) -> dict:
    """The defaults a deployment's other fields imply: ``tp`` (the GPUs of one instance, 1 under EP), the
    prefill pool's ``prefill_tp``, ``gpus`` (one P+D unit), ``kv`` (from the weights) and ``tbo`` (on for
    expert-parallel disaggregated pools).  Returns the resolved values of :data:`_RESOLVED`."""
    tp, gpus, ptp, ep, pep, pp = f["tp"], f["gpus"], f["prefill_tp"], f["ep"], f["prefill_ep"], f["pp"]
    pg, dg = f["prefill_gpus"], f["decode_gpus"]
    dis = pg is not None or dg is not None
    if dis:
        if tp is None:
            tp = 1 if ep > 1 else max((dg or 1) // max(pp, 1), 1)
        if ptp is None:
            ptp = 1 if pep > 1 else max(pg or 1, 1)
        if gpus == 1 and pg and dg:
            gpus = pg + dg
    elif tp is None:
        tp = 1 if ep > 1 else max(gpus // max(pp, 1), 1)
    tbo = f["tbo"]
    if tbo is None:
        tbo = bool(dis and (ep > 1 or pep > 1))
    return {"gpus": gpus, "tp": tp, "kv": f["kv"] or _hw.default_kv(f["weights"]), "tbo": tbo, "prefill_tp": ptp}


# Serving inputs of the kernel that are catalog constants: kernel name -> constant name.
_SERVING_CONSTS = {
    "vocab_bytes": "vocab_bytes_per_weight",
    "act_bytes": "activation_bytes",
    "gpu_memory_utilization": "gpu_memory_utilization",
    "reserve_gb": "memory_reserve_gb",
    "max_batch_per_rank": "max_batch_per_rank",
    "max_batched_tokens": "max_batched_tokens",
    "prefill_tokens_per_rank": "prefill_tokens_per_rank",
    "cache_load_bw_gb_s": "prefix_cache_load_bw_gb_s",
    "mtp_layers": "mtp_draft_layers",
}


class _Columns:
    """The kernel's input columns that only depend on the catalog, computed once per catalog object:
    architecture columns per model, hardware columns per (accelerator, weights, engine), bytes per weight,
    serving constants.  Catalogs are immutable once loaded; a new catalog object gets its own table."""

    def __init__(self, cat: Catalog):
        self.cat = cat
        self.arch: dict[str, dict] = {}
        self.hw: dict[tuple, tuple[dict, float]] = {}
        self.wbytes: dict[str, float] = {}
        self._consts: dict | None = None
        self._accept: float | None = None

    def arch_cols(self, model: str) -> dict:
        c = self.arch.get(model)
        if c is None:
            c = self.arch[model] = _arch.arch_columns(self.cat.model(model))
        return c

    def hw_cols(self, gpu: str, weights: str, engine: str) -> tuple[dict, float]:
        """Hardware columns (``HW_COLUMNS``) and the MoE dispatch bytes."""
        key = (gpu, weights, engine)
        c = self.hw.get(key)
        if c is None:
            cols = _hw.hw_columns(self.cat, self.cat.accelerator(gpu), weights, engine)
            c = self.hw[key] = ({k: cols[k] for k in _hw.HW_COLUMNS}, cols["dispatch_bytes"])
        return c

    def weight_bytes(self, weights: str) -> float:
        b = self.wbytes.get(weights)
        if b is None:
            b = self.wbytes[weights] = _hw.weight_bytes(self.cat, weights)
        return b

    def consts(self) -> dict:
        if self._consts is None:
            self._consts = {k: self.cat.const(c) for k, c in _SERVING_CONSTS.items()}
        return self._consts

    def accept_default(self) -> float:
        if self._accept is None:
            self._accept = self.cat.const("mtp_accept_rate")
        return self._accept


_COLUMNS: dict[int, _Columns] = {}


def _columns(cat: Catalog) -> _Columns:
    """The column table of ``cat`` (keyed on the catalog object's identity; the table holds the catalog, so
    the identity cannot be reused while the entry lives)."""
    c = _COLUMNS.get(id(cat))
    if c is None or c.cat is not cat:
        if len(_COLUMNS) >= 8:
            _COLUMNS.clear()
        c = _COLUMNS[id(cat)] = _Columns(cat)
    return c


def _serving_arrays(cat: Catalog, weights, kv, **arrays) -> dict:
    return {**arrays, "weight_bytes": weights, "kv_bytes": kv, **_columns(cat).consts()}


def _is_int(v) -> bool:
    """A whole-number type (Python int or a NumPy integer; NumPy is looked at only if already imported)."""
    if isinstance(v, int):
        return True
    npm = loaded("numpy")
    return npm is not None and isinstance(v, npm.integer)


def _is_real(v) -> bool:
    """A real number, not a bool (Python int/float or a NumPy number)."""
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return True
    npm = loaded("numpy")
    return npm is not None and isinstance(v, (npm.integer, npm.floating))


def _whole(name: str, v, minimum: int = 1) -> None:
    if isinstance(v, bool) or not _is_int(v) or v < minimum:
        raise InputError(name, v, f"must be a whole number of at least {minimum}")


def _share(name: str, v, hi_open: bool = False) -> None:
    ok = _is_real(v) and math.isfinite(v)
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
    acc = cat.accelerator(d.gpu)
    # fp8/fp4 storage needs fp8 units, or (NVIDIA) weight-only fp8 kernels that upcast to 16-bit; an
    # accelerator with neither cannot run it (assumption: no fp8 kernels outside NVIDIA without fp8 units)
    if (d.weights in ("fp8", "fp4") or d.kv == "fp8") and "fp8" not in acc.peak_dense_tflops and (
        acc.vendor.lower() != "nvidia"
    ):
        which = ("weights", d.weights) if d.weights in ("fp8", "fp4") else ("kv", d.kv)
        raise InputError(which[0], which[1], f"{d.gpu} has no fp8 units (its catalog peaks: "
                         f"{', '.join(sorted(acc.peak_dense_tflops))}); use int8, int4, bf16 or fp16"
                         + (" weights with --kv bf16 or fp16" if which[0] == "kv" else ""))
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
        _is_real(d.concurrency) and 1 <= d.concurrency < 1e12
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


def kernel_inputs(cat: Catalog, deps: Sequence[Deployment]) -> tuple[dict, dict, dict]:
    """The kernel's architecture, hardware and serving columns for resolved deployments (one row each)."""
    col = _columns(cat)
    models = sorted({x.model for x in deps})
    accs = sorted({(x.gpu, x.weights, x.engine) for x in deps})
    m_pos = {m: i for i, m in enumerate(models)}
    m_idx = np.array([m_pos[x.model] for x in deps], int)
    acc_pos = {k: i for i, k in enumerate(accs)}
    h_idx = np.array([acc_pos[(x.gpu, x.weights, x.engine)] for x in deps], int)
    arch_tab = [col.arch_cols(m) for m in models]
    hw_tab = [col.hw_cols(*k) for k in accs]
    a = {c: np.array([t[c] for t in arch_tab])[m_idx] for c in _arch.ARCH_COLUMNS}
    hw = {c: np.array([t[0][c] for t in hw_tab])[h_idx] for c in _hw.HW_COLUMNS}
    wb = np.array([col.weight_bytes(k[1]) for k in accs])[h_idx]
    kvb = np.array([_hw.kv_bytes(x.kv) for x in deps])
    accept_default = col.accept_default()
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
        dispatch_bytes=np.array([t[1] for t in hw_tab])[h_idx],
    )
    return a, hw, s


def _scalar_inputs(cat: Catalog, d: Deployment) -> tuple[dict, dict, dict]:
    """The kernel's inputs for one resolved deployment as plain floats (the scalar backend's input)."""
    col = _columns(cat)
    hw, dispatch = col.hw_cols(d.gpu, d.weights, d.engine)
    accept = d.mtp_accept_rate
    pg, dg = d.prefill_gpus, d.decode_gpus
    s = {
        **col.consts(),
        "weight_bytes": col.weight_bytes(d.weights),
        "kv_bytes": _hw.kv_bytes(d.kv),
        "gpus": float(d.gpus),
        "tp": float(d.tp),
        "pp": float(d.pp),
        "ep": float(d.ep),
        "isl": float(d.isl),
        "osl": float(d.osl),
        "concurrency": math.nan if d.concurrency is None else float(d.concurrency),
        "static": float(d.scheduler == "static"),
        "prefix_hit": float(d.prefix_hit_rate),
        "mtp_k": float(d.mtp_tokens),
        "mtp_accept": float(col.accept_default() if accept is None else accept),
        "redundant_experts": float(d.redundant_experts),
        "tbo": float(bool(d.tbo)),
        "disagg": float(pg is not None or dg is not None),
        "prefill_gpus": float(pg or 0),
        "decode_gpus": float(dg or 0),
        "prefill_tp": float(d.prefill_tp or 1),
        "prefill_ep": float(d.prefill_ep),
        "dispatch_bytes": dispatch,
    }
    return col.arch_cols(d.model), hw, s


def _rows(cat: Catalog, deps: Sequence[Deployment]) -> dict[str, np.ndarray]:
    """Evaluate resolved deployments in one vectorized call."""
    return evaluate(*kernel_inputs(cat, deps))


_DEP_FIELDS = tuple(Deployment.__dataclass_fields__)
_DEP_FIELD_SET = frozenset(_DEP_FIELDS)
_DEP_DEFAULTS = {k: f.default for k, f in Deployment.__dataclass_fields__.items() if k not in ("model", "gpu")}


def _deployment(model: str, gpu: str, kw: dict) -> Deployment:
    """``Deployment(model=model, gpu=gpu, **kw).resolved()``, built once."""
    if not _DEP_FIELD_SET.issuperset(kw):
        unknown = sorted(set(kw) - _DEP_FIELD_SET)
        raise UnknownNameError("option", unknown[0], _DEP_FIELDS)
    if "model" in kw or "gpu" in kw:  # the same TypeError as the dataclass
        return Deployment(model=model, gpu=gpu, **kw).resolved()
    f = {**_DEP_DEFAULTS, **kw}
    f.update(_resolve(f))
    return Deployment(model=model, gpu=gpu, **f)


def _does_not_fit(cat: Catalog, d: Deployment, row: dict) -> DoesNotFitError:
    acc = cat.accelerator(d.gpu)
    avail = acc.memory_gib.value * cat.const("gpu_memory_utilization") - cat.const("memory_reserve_gb")
    par = (f"prefill {d.prefill_gpus} GPUs tp={d.prefill_tp} ep={d.prefill_ep}, decode {d.decode_gpus} GPUs "
           f"tp={d.tp} ep={d.ep}" if d.disaggregated else f"tp={d.tp}, pp={d.pp}, ep={d.ep}")
    return DoesNotFitError(
        "deployment",
        f"{d.model} {d.weights} on {d.gpus}x {d.gpu} ({par})",
        f"it needs {row['weights_per_gpu_gib']:.1f} GiB of weights per GPU plus "
        f"{row['kv_per_sequence_per_gpu_gib']:.2f} GiB of KV cache for one {d.isl + d.osl}-token sequence, "
        f"and {avail:.1f} GiB per GPU is usable",
        "Use more GPUs per instance (--tp/--pp/--ep), a smaller precision (--weights fp8/int4) or a "
        "shorter context.",
    )


def _check_slo(name: str, v) -> None:
    if v is None:
        return
    ok = _is_real(v) and math.isfinite(v)
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
    row = evaluate_scalar(*_scalar_inputs(cat, d))
    if not row["fits"]:
        raise _does_not_fit(cat, d, row)
    out = dict(d.__dict__)  # the fields, in order (all immutable: no deep copy needed)
    out.update(with_deprecated(row))
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


def _axis_values(v) -> list:
    return list(v) if isinstance(v, (list, tuple, range, np.ndarray)) else [v]


def _column(values: list) -> np.ndarray:
    """A DataFrame column's values as pandas infers them from records (ints, floats with NaN for None,
    bools, objects)."""
    import pandas as pd

    return pd.Series(values).to_numpy()


class _Grid:
    """The Cartesian product of axes as a sparse N-d grid: axis ``i`` varies along dimension ``i`` only;
    row ``r`` of the flattened grid is combination ``r`` of ``itertools.product`` over the axes."""

    def __init__(self, axes: dict[str, list]):
        self.names = list(axes)
        self.values = axes
        self.dim = {k: i for i, k in enumerate(self.names)}
        self.shape = tuple(len(v) for v in axes.values())
        self.size = math.prod(self.shape)

    def sparse_shape(self, names) -> tuple:
        keep = {self.dim[k] for k in names}
        return tuple(n if i in keep else 1 for i, n in enumerate(self.shape))

    def axis(self, name: str, conv=float, dtype=float) -> np.ndarray:
        """An axis's values, converted, shaped to broadcast over the grid."""
        return np.array([conv(v) for v in self.values[name]], dtype).reshape(self.sparse_shape([name]))

    def table(self, names, fn) -> tuple[list, tuple]:
        """``fn(*values)`` over the sub-grid of the named axes (one call per combination of their values,
        not per configuration) and the shape that broadcasts it over the grid."""
        shape = self.sparse_shape(names)
        vals = [self.values[k] for k in names]
        idx = [self.dim[k] for k in names]
        out = [fn(*(v[pos[i]] for v, i in zip(vals, idx, strict=True))) for pos in np.ndindex(shape)]
        return out, shape

    @staticmethod
    def pick(table: tuple[list, tuple], get) -> np.ndarray:
        """A float column ``get(entry)`` of a :meth:`table`, shaped to broadcast over the grid."""
        out, shape = table
        return np.array([get(t) for t in out], float).reshape(shape)

    def flat(self, x) -> np.ndarray:
        """A sparse-shaped array (or scalar) as a full column, one value per configuration."""
        return np.broadcast_to(x, self.shape).reshape(-1)


def sweep(model, gpu, *, catalog: Catalog | None = None, **axes):
    """Cartesian product of the given values (scalars or lists) → a DataFrame, one row per configuration.

    Axes are the fields of :class:`Deployment`.  Configurations that are invalid or do not fit are rows
    with ``valid``/``fits`` False and NaN figures, never errors; unknown slugs and precisions still raise."""
    import pandas as pd

    cat = catalog or get_catalog()
    if not _DEP_FIELD_SET.issuperset(axes):
        unknown = sorted(set(axes) - _DEP_FIELD_SET)
        raise UnknownNameError("option", unknown[0], _DEP_FIELDS)
    given = {"model": _axis_values(model), "gpu": _axis_values(gpu), **{k: _axis_values(v) for k, v in axes.items()}}
    # every field is an axis: the given ones in the order given (that is the row order), then the defaults
    g = _Grid({**given, **{k: [v] for k, v in _DEP_DEFAULTS.items() if k not in given}})
    if g.size == 0:  # an empty axis: no configurations
        return pd.DataFrame({k: [] for k in dict.fromkeys([*_DEP_FIELDS, *OUTPUT_COLUMNS])})
    col = _columns(cat)

    # --- fields that other fields imply (tp, kv, tbo, ...): resolved once per combination of the fields
    # they depend on, then broadcast -------------------------------------------------------------------
    dep_axes = [k for k in _RESOLVE_FROM if g.shape[g.dim[k]] > 1] or [_RESOLVE_FROM[0]]
    fixed = {k: g.values[k][0] for k in _RESOLVE_FROM}

    def resolve(*vals):
        f = {**fixed, **dict(zip(dep_axes, vals, strict=True))}
        r = _resolve(f)
        r["disagg"] = f["prefill_gpus"] is not None or f["decode_gpus"] is not None
        return r

    res = g.table(dep_axes, resolve)
    resolved = {k: _column([r[k] for r in res[0]]).reshape(res[1]) for k in _RESOLVED}

    # --- unknown slugs and precisions raise, as for one prediction --------------------------------------
    for m in g.values["model"]:
        cat.model(m)
    for acc in g.values["gpu"]:
        cat.accelerator(acc)
    for w in g.values["weights"]:
        col.weight_bytes(w)
    kv_bytes = {kv: _hw.kv_bytes(kv) for kv in dict.fromkeys(r["kv"] for r in res[0])}
    for e in g.values["engine"]:
        if e not in ENGINES:
            raise UnknownNameError("engine", e, ENGINES)

    # --- kernel inputs, each shaped over the axes it depends on -------------------------------------------
    arch = g.table(["model"], col.arch_cols)
    a = {c: g.pick(arch, lambda t, c=c: t[c]) for c in _arch.ARCH_COLUMNS}
    hwt = g.table(["gpu", "weights", "engine"], col.hw_cols)
    hw = {c: g.pick(hwt, lambda t, c=c: t[0][c]) for c in _hw.HW_COLUMNS}
    accept = col.accept_default()
    s = _serving_arrays(
        cat,
        g.axis("weights", col.weight_bytes),
        g.pick(res, lambda r: kv_bytes[r["kv"]]),
        gpus=g.pick(res, lambda r: r["gpus"]),
        tp=g.pick(res, lambda r: r["tp"]),
        pp=g.axis("pp"),
        ep=g.axis("ep"),
        isl=g.axis("isl"),
        osl=g.axis("osl"),
        concurrency=g.axis("concurrency", lambda c: np.nan if c is None else c),
        static=g.axis("scheduler", lambda x: x == "static"),
        prefix_hit=g.axis("prefix_hit_rate"),
        mtp_k=g.axis("mtp_tokens"),
        mtp_accept=g.axis("mtp_accept_rate", lambda x: accept if x is None else x),
        redundant_experts=g.axis("redundant_experts"),
        tbo=g.pick(res, lambda r: bool(r["tbo"])),
        disagg=g.pick(res, lambda r: r["disagg"]),
        prefill_gpus=g.axis("prefill_gpus", lambda x: x or 0),
        decode_gpus=g.axis("decode_gpus", lambda x: x or 0),
        prefill_tp=g.pick(res, lambda r: r["prefill_tp"] or 1),
        prefill_ep=g.axis("prefill_ep"),
        dispatch_bytes=g.pick(hwt, lambda t: t[1]),
    )
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = evaluate(a, hw, s)

    # --- the DataFrame: the deployment's fields (resolved), then the figures --------------------------
    cols = {}
    for k in _DEP_FIELDS:
        if k in resolved:
            cols[k] = g.flat(resolved[k])
        else:
            cols[k] = g.flat(_column(g.values[k]).reshape(g.sparse_shape([k])))
    for k in OUTPUTS:
        cols[k] = g.flat(r[k])
    with_deprecated(cols)  # the deprecated _gb names of the GiB outputs: the same columns again
    return pd.DataFrame(cols)


def _concurrency_sweep(model: str, gpu: str, cat: Catalog, points: int, kw: dict):
    """The deployment at ``points`` concurrency levels in whole requests per replica (or P+D unit),
    geometrically spaced from 1 up to the most that fits; returns the sweep and the replica count."""
    top = predict(model, gpu, catalog=cat, concurrency=None, **kw)
    replicas = top["replicas"]
    per_rep = np.unique(np.round(np.geomspace(1, max(top["max_concurrency"] / replicas, 1), points)))
    return sweep(model, gpu, catalog=cat, concurrency=[float(c * replicas) for c in per_rep], **kw), replicas


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
    df, _ = _concurrency_sweep(model, gpu, cat, points, kw)
    df = df[df["fits"]].reset_index(drop=True)
    ok = _meets(df, max_tpot_s, max_ttft_s)  # (df holds only the rows that fit)
    df["meets_slo"] = ok
    if max_tpot_s is not None or max_ttft_s is not None:
        if not ok.any():
            raise _slo_error(model, gpu, df, max_tpot_s, max_ttft_s)
        df = df[ok].reset_index(drop=True)
    return df


def memory_gib(bytes_: float) -> float:
    return bytes_ / GIB


def _meets(df, max_tpot_s, max_ttft_s):
    """Rows that fit and meet the latency targets given (``None``: no target)."""
    ok = np.array(df["fits"], dtype=bool)
    if max_tpot_s is not None:
        ok &= df["tpot_s"].to_numpy() <= max_tpot_s
    if max_ttft_s is not None:
        ok &= df["ttft_s"].to_numpy() <= max_ttft_s
    return ok


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
    df, replicas = _concurrency_sweep(model, gpu, cat, 64, kw)
    ok = _meets(df, max_tpot_s, max_ttft_s)
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
            ok2 = _meets(df2, max_tpot_s, max_ttft_s)
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
    for k in OUTPUT_COLUMNS:
        if k not in ("prefill_gpus", "decode_gpus"):
            df[k] = r[DEPRECATED_OUTPUTS.get(k, k)]
    ok = _meets(df, max_tpot_s, max_ttft_s)
    df = df[ok]
    if df.empty:
        raise InputError(
            "latency target", f"TPOT <= {max_tpot_s} s, TTFT <= {max_ttft_s} s",
            f"no prefill:decode mix of {model} on {gpu} meets it", "Relax the target or use larger instances.",
        )
    best = df.loc[df.groupby(["prefill_gpus", "decode_gpus"])["output_tokens_per_s_per_gpu"].idxmax()]
    best = best.assign(pd_ratio=best["prefill_gpus"] / best["decode_gpus"])
    return best.sort_values("output_tokens_per_s_per_gpu", ascending=False).reset_index(drop=True)
