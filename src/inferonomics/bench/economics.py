"""From a measured run to money: $ per million output and input tokens at the measured throughput.

The GPU-hour price is given (``usd_per_gpu_hour``: rented at that price) or comes from the catalog
(``gpu``: its rental price, or with ``own=True`` the ownership cost of :func:`inferonomics.cost.gpu_hour`).
Tokens per GPU-hour are the run's measured tokens/s per GPU x 3600 x ``utilization`` (the share of hours
the deployment serves at the measured load), as in :func:`inferonomics.cost.cost`.

GPU time is split between input and output tokens by the *measured prefill time share*: the mean TTFT
over the mean end-to-end latency of the successful requests (the share of a request's life before its
first token), an approximation that can be overridden with ``prefill_time_share``.
"""

from __future__ import annotations

from inferonomics.bench.store import Run
from inferonomics.errors import InputError


def measured_cost(
    run: Run,
    *,
    usd_per_gpu_hour: float | None = None,
    gpus: int = 1,
    gpu: str | None = None,
    own: bool = False,
    region: str = "us-average",
    utilization: float | None = None,
    prefill_time_share: float | None = None,
    slo_ttft_s: float | None = None,
    slo_tpot_s: float | None = None,
    assumptions=None,
    catalog=None,
) -> dict:
    """Measured cost per million tokens of a stored run (a flat dict; see the module docstring)."""
    import numpy as np

    from inferonomics.cost import gpu_hour
    from inferonomics.cost.tco import usd_per_mtok

    if not isinstance(gpus, int) or gpus < 1:
        raise InputError("gpus", gpus, "must be a whole number of at least 1 (the GPUs serving the endpoint)")
    if usd_per_gpu_hour is None and gpu is None:
        raise InputError("rent-usd-per-gpu-hour", None, "give --rent-usd-per-gpu-hour X, or --gpu SLUG (catalog rental "
                         "price, or ownership cost with --own)")
    if usd_per_gpu_hour is not None and own:
        raise InputError("rent-usd-per-gpu-hour", usd_per_gpu_hour, "give a price or --own, not both")
    if prefill_time_share is not None and not 0.0 <= prefill_time_share < 1.0:
        raise InputError("prefill-time-share", prefill_time_share, "must be a fraction from 0 up to (not incl.) 1")
    sm = run.summarize(slo_ttft_s, slo_tpot_s)
    if not sm["n_ok"] or not sm["output_tokens_per_s"]:
        raise InputError("run", run.id, "has no successful requests, so no measured throughput to cost")
    if gpu is not None:
        hour = gpu_hour(gpu, region=region, utilization=utilization, rent_usd_per_gpu_hour=usd_per_gpu_hour,
                        own=own, assumptions=assumptions, catalog=catalog)
    else:
        from inferonomics.catalog import get_catalog

        util = (catalog or get_catalog()).const("utilization") if utilization is None else utilization
        if not (0 < util <= 1):
            raise InputError("utilization", util, "must be a fraction above 0 and at most 1")
        if not usd_per_gpu_hour >= 0:
            raise InputError("rent-usd-per-gpu-hour", usd_per_gpu_hour, "must be a price of 0 or more USD per GPU-hour")
        hour = {"mode": "rent", "gpu": None, "utilization": util, "usd_per_gpu_hour": float(usd_per_gpu_hour),
                "rental_price_source": "given"}
    share = prefill_time_share
    share_source = "given"
    if share is None:
        share = (sm["ttft_s_mean"] or 0.0) / sm["e2e_latency_s_mean"] if sm["e2e_latency_s_mean"] else 0.0
        share_source = "measured: mean TTFT / mean end-to-end latency"
    out_tps = sm["output_tokens_per_s"]
    in_tps = sm["input_tokens_per_s"] or 0.0
    per = usd_per_mtok(hour["usd_per_gpu_hour"], out_tps / gpus, in_tps / gpus, share, hour["utilization"])
    res = {
        "run": run.id,
        "status": run.status,
        "gpus": gpus,
        "gpu": gpu,
        "mode": hour["mode"],
        "region": hour.get("region"),
        "utilization": hour["utilization"],
        "usd_per_gpu_hour": float(hour["usd_per_gpu_hour"]),
        "usd_per_hour": float(hour["usd_per_gpu_hour"]) * gpus,
        "output_tokens_per_s": out_tps,
        "input_tokens_per_s": sm["input_tokens_per_s"],
        "output_tokens_per_s_per_gpu": out_tps / gpus,
        "prefill_time_share": share,
        "prefill_time_share_source": share_source,
        **{k: float(v) if np.isfinite(v) else None for k, v in per.items()},
        "n_ok": sm["n_ok"],
        "n_errors": sm["n_errors"],
        "concurrency": run.config.get("concurrency") if run.config.get("mode") == "concurrency" else None,
        "mean_concurrency": sm["mean_concurrency"],
        "isl": run.config.get("isl"),
        "osl": run.config.get("osl"),
        "input_tokens_mean": sm["input_tokens_mean"],
        "output_tokens_mean": sm["output_tokens_mean"],
        "gpu_hour": hour,
    }
    if sm.get("goodput_output_tokens_per_s") is not None:
        g = sm["goodput_output_tokens_per_s"]
        tph = g / gpus * 3600.0 * hour["utilization"]
        res["goodput_output_tokens_per_s"] = g
        res["goodput_fraction"] = sm["goodput_fraction"]
        res["usd_per_mtok_output_goodput_all_in"] = (hour["usd_per_gpu_hour"] / tph * 1e6) if tph > 0 else None
        res["slo_ttft_s"], res["slo_tpot_s"] = sm["slo_ttft_s"], sm["slo_tpot_s"]
    return res
