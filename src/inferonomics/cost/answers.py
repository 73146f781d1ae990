"""The questions users ask, answered as DataFrames (the CLI, the report and the dashboard only format them).

* :func:`flagship_costs` — what a million tokens costs to make on the flagship model/accelerator pairs
  (``inferonomics demo``, the report's cost table);
* :func:`cost_matrix` — the cheapest cell of every model x accelerator pair within a latency target;
* :func:`compare` — the cheapest configuration of one model on each of several accelerators at equal latency;
* :func:`margin` — a provider's gross margin per million tokens selling at given list prices, its cost
  lines and the utilization at which it breaks even.

Definitions (stated once, used on every figure):

* ``usd_per_mtok_output`` / ``usd_per_mtok_input``: GPU time split between the phases (decode time to
  output tokens, prefill time to input tokens);
* ``usd_per_mtok_output_all_in``: every GPU-hour loaded onto output tokens (input tokens free);
* ``usd_per_mtok_blended``: GPU-hours over all tokens of the request mix (``isl`` in, ``osl`` out).
"""

from __future__ import annotations

from inferonomics.catalog import Catalog, get_catalog
from inferonomics.errors import InputError

#: The interactive latency target used when none is given: 50 ms per output token (20 tokens/s per user),
#: the target of the demo, the report and the dashboard.
INTERACTIVE_MAX_TPOT_S = 0.05

FLAGSHIP_DEPLOYMENTS = [
    # model, gpu, gpus, weights, ep: flagship pairs across the markets the project studies
    ("llama-3.1-8b", "h100-sxm", 1, "fp8", 1),
    ("llama-3.1-70b", "h100-sxm", 4, "fp8", 1),
    ("llama-3.1-70b", "mi300x", 1, "fp8", 1),
    ("qwen2.5-72b", "h20", 4, "fp8", 1),
    ("qwen2.5-72b", "ascend-910b", 4, "int8", 1),
    ("qwen3-235b-a22b", "h200", 8, "fp8", 8),
    ("deepseek-v3", "h200", 8, "fp8", 8),
    ("deepseek-v3", "b200", 8, "fp4", 8),
]
FLAGSHIP_ISL, FLAGSHIP_OSL = 2048, 512


def flagship_costs(region: str = "us-average", catalog: Catalog | None = None, *,
                   max_tpot_s: float = INTERACTIVE_MAX_TPOT_S, isl: int = FLAGSHIP_ISL,
                   osl: int = FLAGSHIP_OSL):
    """Cost per million tokens of the flagship deployments at the highest load within ``max_tpot_s``,
    rented and owned, with the owned TCO lines per million output tokens (all-in) as ``own_<line>_usd_per_mtok``
    columns.  A deployment the catalog cannot serve keeps its row with the reason in ``note``."""
    import pandas as pd

    from inferonomics.cost.api import cost
    from inferonomics.perf.api import operating_point

    cat = catalog or get_catalog()
    cat.region(region, "--region")
    rows = []
    for model, gpu, gpus, weights, ep in FLAGSHIP_DEPLOYMENTS:
        if model not in cat.models or gpu not in cat.accelerators:
            continue
        kw = {"gpus": gpus, "weights": weights, "ep": ep, "isl": isl, "osl": osl}
        try:
            conc = operating_point(model, gpu, max_tpot_s=max_tpot_s, catalog=cat, **kw)
            rent = cost(model, gpu, region=region, concurrency=conc, catalog=cat, **kw)
            own = cost(model, gpu, region=region, concurrency=conc, own=True, catalog=cat, **kw)
        except InputError as exc:  # a deployment the catalog cannot serve is reported, not fatal
            rows.append({"model": model, "gpu": gpu, "gpus": gpus, "weights": weights, "ep": ep, "note": str(exc)})
            continue
        row = {
            "model": model, "gpu": gpu, "gpus": gpus, "weights": weights, "ep": ep,
            "concurrency": rent["concurrency"],
            "output_tokens_per_s_per_gpu": rent["output_tokens_per_s_per_gpu"],
            "output_tokens_per_s_per_user": rent["output_tokens_per_s_per_user"],
            "ttft_s": rent["ttft_s"],
            "rent_usd_per_gpu_hour": rent["usd_per_gpu_hour"],
            "rent_usd_per_mtok_output": rent["usd_per_mtok_output"],
            "own_usd_per_gpu_hour": own["usd_per_gpu_hour"],
            "own_usd_per_mtok_output": own["usd_per_mtok_output"],
            "own_usd_per_mtok_input": own["usd_per_mtok_input"],
            "own_usd_per_mtok_output_all_in": own["usd_per_mtok_output_all_in"],
            "note": "",
        }
        for k, v in own["breakdown_usd_per_mtok_output_all_in"].items():
            row["own_" + k.replace("_usd_per_mtok_output_all_in", "") + "_usd_per_mtok"] = v
        rows.append(row)
    return pd.DataFrame(rows)


def cost_matrix(models: list[str], gpus: list[str], *, region: str = "us-average", isl: int = FLAGSHIP_ISL,
                osl: int = FLAGSHIP_OSL, max_tpot_s: float = INTERACTIVE_MAX_TPOT_S,
                weights: tuple[str, ...] = ("fp8", "int8"), gpu_counts: tuple[int, ...] = (1, 2, 4, 8),
                catalog: Catalog | None = None):
    """The cheapest owned configuration of every model x accelerator pair (precision in ``weights``, up to
    ``max(gpu_counts)`` GPUs, any load within ``max_tpot_s``), one row per pair that fits, with
    ``usd_per_mtok_output_all_in`` (all GPU time on output tokens) and the split input/output prices."""
    import numpy as np
    import pandas as pd

    from inferonomics.cost import tco
    from inferonomics.cost.api import gpu_hour
    from inferonomics.perf import sweep

    cat = catalog or get_catalog()
    levels = [float(c) for c in np.unique(np.round(np.geomspace(1, 1024, 28)))]
    frames = [sweep(models, gpus, gpus=list(gpu_counts), tp=None, weights=w, isl=isl, osl=osl,
                    concurrency=levels, catalog=cat) for w in weights]
    df = pd.concat(frames, ignore_index=True)
    df = df[df["fits"] & (df["tpot_s"] <= max_tpot_s)].copy()
    hour = {g: gpu_hour(g, own=True, region=region, catalog=cat)["usd_per_gpu_hour"] for g in gpus}
    util = cat.const("utilization")
    per = tco.usd_per_mtok(df["gpu"].map(hour).to_numpy(), df["output_tokens_per_s_per_gpu"].to_numpy(),
                           (df["input_tokens_per_s"] / df["gpus"]).to_numpy(), df["prefill_time_share"].to_numpy(),
                           util)
    for k, v in per.items():
        df[k] = v
    if df.empty:
        return df
    best = df.loc[df.groupby(["model", "gpu"])["usd_per_mtok_output_all_in"].idxmin()]
    return best.sort_values("usd_per_mtok_output_all_in").reset_index(drop=True)


def _precisions(cat: Catalog, gpu: str) -> list[str]:
    acc = cat.accelerator(gpu)
    have = set(acc.peak_dense_tflops)
    return [w for w in ("fp4", "fp8", "int8", "bf16") if w in have] or ["bf16"]


COMPARE_COLUMNS = [
    "gpu", "gpus", "weights", "ep", "concurrency", "output_tokens_per_s_per_gpu", "tpot_s", "ttft_s",
    "usd_per_gpu_hour", "usd_per_mtok_input", "usd_per_mtok_output", "usd_per_mtok_blended", "winner", "note",
]


def compare(model: str, gpus_list: list[str], *, gpus: int = 8, max_tpot_s: float | None = None,
            max_ttft_s: float | None = None, isl: int = 1024, osl: int = 256, region: str = "us-average",
            own: bool = False, weights: list[str] | None = None, catalog: Catalog | None = None):
    """The cheapest configuration of ``model`` on each accelerator of ``gpus_list`` (``gpus`` of them) at the
    same latency target (default :data:`INTERACTIVE_MAX_TPOT_S`): every precision the accelerator runs (or
    ``weights``) with and without expert parallelism, each at the highest load within the target; ranked by
    ``usd_per_mtok_blended`` (GPU-hours over all tokens of the mix), the cheapest marked ``winner``.  An
    accelerator with no configuration meeting the target keeps a row with the reason in ``note``."""
    import pandas as pd

    from inferonomics.cost.api import cost
    from inferonomics.perf.api import operating_point

    cat = catalog or get_catalog()
    cat.model(model)
    if not gpus_list:
        raise InputError("gpu", None, "give at least one accelerator (--gpu h100-sxm --gpu h20 ...)")
    if max_tpot_s is None and max_ttft_s is None:
        max_tpot_s = INTERACTIVE_MAX_TPOT_S
    moe = cat.model(model).moe is not None
    rows = []
    for gpu in gpus_list:
        cat.accelerator(gpu)
        best, why = None, "no precision fits in memory"
        for w in weights or _precisions(cat, gpu):
            for ep in sorted({1, gpus} if moe else {1}):
                kw = {"gpus": gpus, "weights": w, "ep": ep, "isl": isl, "osl": osl}
                try:
                    conc = operating_point(model, gpu, max_tpot_s=max_tpot_s, max_ttft_s=max_ttft_s, catalog=cat, **kw)
                    r = cost(model, gpu, region=region, own=own, concurrency=conc, catalog=cat, **kw)
                except InputError as exc:
                    why = str(exc)
                    continue
                if best is None or r["usd_per_mtok_blended"] < best["usd_per_mtok_blended"]:
                    best = {**r, "weights": w, "ep": ep}
        if best is None:
            rows.append({"gpu": gpu, "gpus": gpus, "note": why})
        else:
            rows.append({c: best[c] for c in COMPARE_COLUMNS if c in best} | {"note": ""})
    df = pd.DataFrame(rows).reindex(columns=COMPARE_COLUMNS)
    df["winner"] = False
    ok = df["usd_per_mtok_blended"].notna()
    if ok.any():
        df.loc[df.loc[ok, "usd_per_mtok_blended"].astype(float).idxmin(), "winner"] = True
    df.insert(0, "model", model)
    df["max_tpot_s"], df["max_ttft_s"] = max_tpot_s, max_ttft_s
    return df.sort_values("usd_per_mtok_blended", na_position="last").reset_index(drop=True)


def smallest_fit(model: str, gpu: str, *, catalog: Catalog | None = None, **deployment) -> int:
    """The fewest GPUs (1, 2, 4 ... 64) one instance of ``model`` fits on with ``deployment``'s other options."""
    from inferonomics.perf.api import predict

    cat = catalog or get_catalog()
    last = None
    for n in (1, 2, 4, 8, 16, 32, 64):
        try:
            predict(model, gpu, catalog=cat, **{**deployment, "gpus": n, "concurrency": None})
            return n
        except InputError as exc:
            last = exc
    raise last


def _per_mtok_at(cat, perf: dict, hour_kw: dict, utilization: float) -> dict:
    """$ per million input (hit/miss/average) and output tokens of a fixed deployment at ``utilization``."""
    from inferonomics.cost import tco
    from inferonomics.cost.api import _cache_prices, gpu_hour

    hour = gpu_hour(utilization=utilization, catalog=cat, **hour_kw)
    per = tco.usd_per_mtok(hour["usd_per_gpu_hour"], perf["output_tokens_per_s_per_gpu"],
                           perf["input_tokens_per_s"] / perf["gpus"], perf["prefill_time_share"], hour["utilization"])
    per = {k: float(v) for k, v in per.items()}
    per.update(_cache_prices(cat, perf, hour))
    return {**per, "hour": hour}


def _mix_cost(per: dict, isl: float, osl: float, hit: float | None) -> float:
    """Cost per million tokens of the request mix: input priced by cache hit/miss when a hit rate is given."""
    if hit is None:
        cin = per["usd_per_mtok_input"]
    else:
        cin = hit * per["usd_per_mtok_input_cache_hit"] + (1 - hit) * per["usd_per_mtok_input_cache_miss"]
    return (cin * isl + per["usd_per_mtok_output"] * osl) / (isl + osl)


def margin(model: str, gpu: str, *, price_in_usd_per_mtok: float, price_out_usd_per_mtok: float,
           price_in_cache_hit_usd_per_mtok: float | None = None, prefix_hit_rate: float | None = None,
           region: str = "us-average", utilization: float | None = None, own: bool = False,
           rent_usd_per_gpu_hour: float | None = None, max_tpot_s: float | None = None,
           max_ttft_s: float | None = None, catalog: Catalog | None = None, **deployment) -> dict:
    """A provider's gross margin per million tokens of the request mix (``isl`` in, ``osl`` out) selling at
    the given list prices, on one deployment at the highest load within the latency target (default
    :data:`INTERACTIVE_MAX_TPOT_S`).

    With ``prefix_hit_rate``, input tokens cost the cache-hit price (KV storage) or the cache-miss price
    (prefill GPU time) and sell at ``price_in_cache_hit_usd_per_mtok`` (default: the input price) or the
    input price.  Returns ``summary`` (dict) and ``lines`` (DataFrame: revenue, each cost line, margin, per M
    tokens) and ``breakeven_utilization`` (the utilization at which the margin is zero; ``None`` when it is
    negative even at 100%)."""
    import pandas as pd

    from inferonomics.perf.api import operating_point, predict

    cat = catalog or get_catalog()
    for name, v in (("price_in", price_in_usd_per_mtok), ("price_out", price_out_usd_per_mtok)):
        if v is None or v < 0:
            raise InputError(name, v, "must be a price of 0 or more USD per million tokens")
    if max_tpot_s is None and max_ttft_s is None:
        max_tpot_s = INTERACTIVE_MAX_TPOT_S
    hit = prefix_hit_rate if prefix_hit_rate else None
    dep = {k: v for k, v in deployment.items() if v is not None}
    dep.pop("concurrency", None)
    if hit is not None:
        dep["prefix_hit_rate"] = hit
    if dep.get("gpus") is None and dep.get("prefill_gpus") is None and dep.get("decode_gpus") is None:
        dep["gpus"] = smallest_fit(model, gpu, catalog=cat, **dep)
    conc = operating_point(model, gpu, max_tpot_s=max_tpot_s, max_ttft_s=max_ttft_s, catalog=cat, **dep)
    perf = predict(model, gpu, concurrency=conc, catalog=cat, **dep)
    isl, osl = float(perf["isl"]), float(perf["osl"])
    hour_kw = {"gpu": gpu, "region": region, "own": own, "rent_usd_per_gpu_hour": rent_usd_per_gpu_hour}
    util = cat.const("utilization") if utilization is None else utilization
    per = _per_mtok_at(cat, perf, hour_kw, util)
    hour = per.pop("hour")
    p_hit = price_in_usd_per_mtok if price_in_cache_hit_usd_per_mtok is None else price_in_cache_hit_usd_per_mtok
    pin = price_in_usd_per_mtok if hit is None else hit * p_hit + (1 - hit) * price_in_usd_per_mtok
    revenue = (pin * isl + price_out_usd_per_mtok * osl) / (isl + osl)
    cost_mix = _mix_cost(per, isl, osl, hit)
    # cost lines: GPU-hour items spread in proportion (the cache-hit storage is its own line)
    storage = 0.0 if hit is None else hit * per["usd_per_mtok_input_cache_hit"] * isl / (isl + osl)
    gpu_part = cost_mix - storage
    items = {k: v for k, v in hour.items() if k.endswith("_usd_per_gpu_hour") and k != "usd_per_gpu_hour"}
    total_h = hour["usd_per_gpu_hour"]
    lines = [{"line": "revenue", "usd_per_mtok": revenue}]
    for k, v in items.items():
        lines.append({"line": k.removesuffix("_usd_per_gpu_hour").replace("_", " "),
                      "usd_per_mtok": -gpu_part * v / total_h if total_h else 0.0})
    if storage:
        lines.append({"line": "prefix-cache storage", "usd_per_mtok": -storage})
    lines.append({"line": "gross margin", "usd_per_mtok": revenue - cost_mix})

    def gap(u):
        return revenue - _mix_cost(_per_mtok_at(cat, perf, hour_kw, u), isl, osl, hit)

    lo, hi = 1e-4, 1.0
    if gap(hi) < 0:
        be_util = None
    elif gap(lo) >= 0:
        be_util = lo
    else:
        for _ in range(50):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if gap(mid) < 0 else (lo, mid)
        be_util = hi
    summary = {
        "model": model, "gpu": gpu, "gpus": perf["gpus"], "mode": hour["mode"], "region": region,
        "isl": int(isl), "osl": int(osl), "concurrency": perf["concurrency"], "tpot_s": perf["tpot_s"],
        "ttft_s": perf["ttft_s"], "max_tpot_s": max_tpot_s, "max_ttft_s": max_ttft_s,
        "prefix_hit_rate": hit or 0.0, "utilization": util, "usd_per_gpu_hour": total_h,
        "price_usd_per_mtok_input": price_in_usd_per_mtok, "price_usd_per_mtok_output": price_out_usd_per_mtok,
        "price_usd_per_mtok_input_cache_hit": p_hit if hit is not None else None,
        "cost_usd_per_mtok_input": per["usd_per_mtok_input"], "cost_usd_per_mtok_output": per["usd_per_mtok_output"],
        "cost_usd_per_mtok_input_cache_hit": per["usd_per_mtok_input_cache_hit"],
        "cost_usd_per_mtok_input_cache_miss": per["usd_per_mtok_input_cache_miss"],
        "revenue_usd_per_mtok": revenue, "cost_usd_per_mtok": cost_mix,
        "gross_margin_usd_per_mtok": revenue - cost_mix,
        "gross_margin": (revenue - cost_mix) / revenue if revenue > 0 else None,
        "breakeven_utilization": be_util,
    }
    return {"summary": summary, "lines": pd.DataFrame(lines)}


__all__ = ["FLAGSHIP_DEPLOYMENTS", "INTERACTIVE_MAX_TPOT_S", "compare", "cost_matrix", "flagship_costs", "margin",
           "smallest_fit"]
