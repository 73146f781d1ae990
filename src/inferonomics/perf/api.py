"""Python API of the performance model: single predictions with clear errors, sweeps and frontiers."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from inferonomics.catalog import Catalog, get_catalog
from inferonomics.catalog.schema import KV_DTYPES, WEIGHT_DTYPES
from inferonomics.errors import DoesNotFitError, InputError
from inferonomics.perf import arch as _arch
from inferonomics.perf import hardware as _hw
from inferonomics.perf.kernel import GIB, OUTPUTS, evaluate

# continuous: in-flight batching with chunked prefill (vLLM, SGLang, TensorRT-LLM serving);
# static: a fixed batch that starts and ends together (offline latency benchmarks).
SCHEDULERS = ("continuous", "static")


@dataclass(frozen=True)
class Deployment:
    """One serving configuration.  ``concurrency`` counts requests in flight over the whole deployment
    (split evenly over replicas); ``None`` means the most that fits in memory (max throughput)."""

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

    def resolved(self) -> Deployment:
        tp = self.tp
        if tp is None:
            tp = 1 if self.ep > 1 else max(self.gpus // max(self.pp, 1), 1)
        kv = self.kv or _hw.default_kv(self.weights)
        return Deployment(**{**asdict(self), "tp": tp, "kv": kv})


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
    }


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
    for name in ("gpus", "tp", "pp", "ep", "isl", "osl"):
        v = getattr(d, name)
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise InputError(name, v, "must be a whole number of at least 1")
    if d.scheduler not in SCHEDULERS:
        raise InputError("scheduler", d.scheduler, f"allowed schedulers are {', '.join(SCHEDULERS)}")
    if d.concurrency is not None and not d.concurrency >= 1:
        raise InputError("concurrency", d.concurrency, "must be at least 1 request in flight")
    h, kvh = m.num_attention_heads, m.num_kv_heads
    if h % d.tp:
        ok = [t for t in (1, 2, 4, 8, 16, 32, 64) if h % t == 0 and (kvh % t == 0 or t % kvh == 0)]
        raise InputError("tp", d.tp, f"must divide the {h} attention heads of {d.model}; valid: {ok}")
    if kvh % d.tp and d.tp % kvh:
        raise InputError("tp", d.tp, f"must divide, or be a multiple of, the {kvh} KV heads of {d.model}")
    if d.ep > 1:
        if m.moe is None:
            raise InputError("ep", d.ep, f"expert parallelism needs a mixture-of-experts model; {d.model} is dense")
        if m.moe.num_experts % d.ep:
            raise InputError("ep", d.ep, f"must divide the {m.moe.num_experts} experts of {d.model}")
        if d.ep % d.tp:
            raise InputError("tp", d.tp, f"must divide ep={d.ep} (attention is tp-wide within each ep rank group)")
    inst = (d.ep if d.ep > 1 else d.tp) * d.pp
    if d.gpus % inst:
        raise InputError(
            "gpus",
            d.gpus,
            f"must be a multiple of the {inst} GPUs one instance uses (tp or ep x pp); the rest are replicas",
        )
    if d.pp > m.num_layers:
        raise InputError("pp", d.pp, f"cannot exceed the {m.num_layers} layers of {d.model}")
    if d.isl + d.osl > m.max_context:
        raise InputError("isl+osl", d.isl + d.osl, f"must not exceed the {m.max_context}-token context of {d.model}")


def kernel_inputs(cat: Catalog, deps: Sequence[Deployment]) -> tuple[dict, dict, dict]:
    """The kernel's architecture, hardware and serving columns for resolved deployments (one row each)."""
    models = sorted({x.model for x in deps})
    accs = sorted({(x.gpu, x.weights) for x in deps})
    arch_tab = {m: _arch.arch_columns(cat.model(m)) for m in models}
    hw_tab = {k: _hw.hw_columns(cat, cat.accelerator(k[0]), k[1]) for k in accs}
    a = {c: np.array([arch_tab[x.model][c] for x in deps]) for c in _arch.ARCH_COLUMNS}
    hw = {c: np.array([hw_tab[(x.gpu, x.weights)][c] for x in deps]) for c in _hw.HW_COLUMNS}
    wb = np.array([_hw.weight_bytes(cat, x.weights) for x in deps])
    kvb = np.array([_hw.kv_bytes(x.kv) for x in deps])
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
    )
    return a, hw, s


def _rows(cat: Catalog, deps: Sequence[Deployment]) -> dict[str, np.ndarray]:
    """Evaluate resolved deployments in one vectorized call."""
    return evaluate(*kernel_inputs(cat, deps))


def predict(
    model: str,
    gpu: str,
    *,
    gpus: int = 1,
    tp: int | None = None,
    pp: int = 1,
    ep: int = 1,
    weights: str = "bf16",
    kv: str | None = None,
    isl: int = 1024,
    osl: int = 256,
    concurrency: float | None = None,
    scheduler: str = "continuous",
    catalog: Catalog | None = None,
) -> dict:
    """Predict one deployment; raises :class:`InputError` / :class:`DoesNotFitError` with a clear message.

    ``concurrency=None`` gives the max-throughput operating point (the most sequences that fit)."""
    cat = catalog or get_catalog()
    d = Deployment(model, gpu, gpus, tp, pp, ep, weights, kv, isl, osl, concurrency, scheduler).resolved()
    _check(cat, d)
    r = _rows(cat, [d])
    row = {k: (v[0].item() if hasattr(v[0], "item") else v[0]) for k, v in r.items()}
    if not row["fits"]:
        acc = cat.accelerator(d.gpu)
        avail = acc.memory_gb.value * cat.const("gpu_memory_utilization") - cat.const("memory_reserve_gb")
        raise DoesNotFitError(
            "deployment",
            f"{d.model} {d.weights} on {d.gpus}x {d.gpu} (tp={d.tp}, pp={d.pp}, ep={d.ep})",
            f"it needs {row['weights_per_gpu_gb']:.1f} GiB of weights per GPU plus "
            f"{row['kv_per_sequence_per_gpu_gb']:.2f} GiB of KV cache for one {d.isl + d.osl}-token sequence, "
            f"and {avail:.1f} GiB per GPU is usable",
            "Use more GPUs per instance (--tp/--pp/--ep), a smaller precision (--weights fp8/int4) or a "
            "shorter context.",
        )
    return {**asdict(d), **row}


def _grid(**axes: Iterable) -> list[dict]:
    keys = list(axes)
    vals = [list(v) if isinstance(v, (list, tuple, range, np.ndarray)) else [v] for v in axes.values()]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*vals)]


def sweep(
    model,
    gpu,
    *,
    gpus=1,
    tp=None,
    pp=1,
    ep=1,
    weights="bf16",
    kv=None,
    isl=1024,
    osl=256,
    concurrency=None,
    scheduler="continuous",
    catalog: Catalog | None = None,
):
    """Cartesian product of the given values (scalars or lists) → a DataFrame, one row per configuration.

    Configurations that are invalid or do not fit are rows with ``valid``/``fits`` False and NaN
    figures, never errors; unknown slugs and precisions still raise."""
    import pandas as pd

    cat = catalog or get_catalog()
    combos = _grid(
        model=model, gpu=gpu, gpus=gpus, tp=tp, pp=pp, ep=ep, weights=weights, kv=kv, isl=isl, osl=osl,
        concurrency=concurrency, scheduler=scheduler,
    )
    deps = [Deployment(**c).resolved() for c in combos]
    for x in {(x.model, x.gpu, x.weights, x.kv) for x in deps}:
        cat.model(x[0])
        cat.accelerator(x[1])
        _hw.weight_bytes(cat, x[2])
        _hw.kv_bytes(x[3])
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
    catalog: Catalog | None = None,
    **kw,
):
    """Throughput–interactivity frontier: concurrency from 1 to the most that fits, geometrically spaced.

    Returns a DataFrame with ``output_tokens_per_s_per_gpu`` against ``output_tokens_per_s_per_user``."""
    cat = catalog or get_catalog()
    top = predict(model, gpu, catalog=cat, concurrency=None, **kw)
    cmax = top["max_concurrency"]
    levels = np.unique(np.round(np.geomspace(1, max(cmax, 1), points)).astype(int))
    df = sweep(model, gpu, catalog=cat, concurrency=[float(c) for c in levels], **kw)
    return df[df["fits"]].reset_index(drop=True)


def memory_gib(bytes_: float) -> float:
    return bytes_ / GIB


def operating_point(
    model: str,
    gpu: str,
    *,
    max_tpot_s: float | None = None,
    max_ttft_s: float | None = None,
    catalog: Catalog | None = None,
    **kw,
) -> float:
    """The highest deployment concurrency whose TPOT and TTFT meet the limits (the most that fits if none).

    Raises :class:`InputError` when even one request in flight misses the limits."""
    cat = catalog or get_catalog()
    top = predict(model, gpu, catalog=cat, concurrency=None, **kw)
    replicas = top["replicas"]
    # Concurrency levels in whole requests per replica, from 1 up to what fits.
    per_rep = np.unique(np.round(np.geomspace(1, max(top["max_concurrency"] / replicas, 1), 64)))
    df = sweep(model, gpu, catalog=cat, concurrency=[float(c * replicas) for c in per_rep], **kw)
    ok = np.array(df["fits"], dtype=bool)
    if max_tpot_s is not None:
        ok &= df["tpot_s"].to_numpy() <= max_tpot_s
    if max_ttft_s is not None:
        ok &= df["ttft_s"].to_numpy() <= max_ttft_s
    if not ok.any():
        best = df.iloc[0]
        raise InputError(
            "latency target",
            f"TPOT <= {max_tpot_s} s, TTFT <= {max_ttft_s} s",
            f"{model} on {gpu} reaches TPOT {best['tpot_s']:.3f} s and TTFT {best['ttft_s']:.3f} s even with "
            "one request in flight",
            "Relax the target, use more GPUs per instance or a faster accelerator.",
        )
    return float(df["concurrency"].to_numpy()[ok].max())
