"""Capacity of self-hosted deployments at a latency target, from the performance engine.

For each candidate (open model x accelerator x weight precision x GPUs per instance), one vectorized
``inferonomics.perf.sweep`` over concurrency levels finds the highest throughput of ONE instance whose
TTFT and TPOT meet the workload's SLO without queueing (concurrency within what fits in memory).  The
decision then counts whole instances (and whole servers) for the peak request rate.
"""

from __future__ import annotations

import numpy as np

from inferonomics.catalog import Catalog
from inferonomics.errors import InputError

# Requests in flight per instance that the search tries (geometric, whole requests).
CONCURRENCY_LEVELS = tuple(float(c) for c in np.unique(np.round(np.geomspace(1, 4096, 56))))

CAPACITY_COLUMNS = [
    "model", "gpu", "weights", "gpus_per_instance", "tp", "ep", "concurrency", "output_tokens_per_s",
    "input_tokens_per_s", "requests_per_s", "ttft_s", "tpot_s", "memory_per_gpu_gib", "prefill_time_share",
    "memory_per_gpu_gb",  # deprecated name of memory_per_gpu_gib (the same GiB), kept for compatibility
]


class SloUnreachableError(InputError):
    """No candidate deployment meets the latency target."""

    problem = "cannot be met"


def native_precision(acc, weights: str) -> bool:
    """A precision the accelerator runs natively: 16-bit always; fp8/int8/fp4 only with units for it.

    (int4 is weight-only on every GPU and allowed wherever asked.)"""
    if weights in ("bf16", "fp16", "int4"):
        return True
    return weights in acc.peak_dense_tflops


def capacity_table(
    models: list[str],
    gpus: list[str],
    *,
    precisions: list[str],
    gpus_per_instance: list[int],
    isl: int,
    osl: int,
    max_ttft_s: float | None,
    max_tpot_s: float | None,
    catalog: Catalog,
):
    """One row per candidate that meets the SLO: its best operating point per instance.

    Raises :class:`SloUnreachableError` (naming the best TTFT and TPOT any candidate reaches) when none
    does, and :class:`InputError` when the request is longer than a model's context."""
    import pandas as pd

    from inferonomics.perf import sweep

    cat = catalog
    frames, probes = [], []
    for m in models:
        rec = cat.model(m)
        if isl + osl > rec.max_context:
            raise InputError(
                "isl_tokens + osl_tokens", isl + osl, f"must not exceed the {rec.max_context}-token context of {m}"
            )
        eps = [1]
        if rec.moe is not None:
            eps += [g for g in gpus_per_instance if g > 1 and rec.moe.num_experts % g == 0]
        for ep in eps:
            gl = [g for g in gpus_per_instance if ep == 1 or g == ep]
            df = sweep(
                m, list(gpus), gpus=gl, ep=ep, weights=list(precisions), isl=isl, osl=osl,
                concurrency=list(CONCURRENCY_LEVELS), catalog=cat,
            )
            df = df[np.asarray(df["fits"], bool) & (df["replicas"].to_numpy() == 1)]
            native = {(g, w): native_precision(cat.accelerator(g), w) for g in gpus for w in precisions}
            # a boolean mask, never a list: an empty list would select zero *columns* (KeyError downstream)
            keep = np.fromiter((native[(g, w)] for g, w in zip(df["gpu"], df["weights"], strict=True)), bool,
                               count=len(df))
            df = df.loc[keep]
            df = df[df["concurrency"].to_numpy() <= df["max_concurrency"].to_numpy()]
            probes.append(df[df["concurrency"] == 1.0])
            ok = np.ones(len(df), bool)
            if max_tpot_s is not None:
                ok &= df["tpot_s"].to_numpy() <= max_tpot_s
            if max_ttft_s is not None:
                ok &= df["ttft_s"].to_numpy() <= max_ttft_s
            frames.append(df[ok])
    ok = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if ok.empty:
        probe = pd.concat(probes, ignore_index=True) if probes else pd.DataFrame()
        slo = f"TTFT <= {max_ttft_s} s, TPOT <= {max_tpot_s} s"
        if probe.empty:
            raise SloUnreachableError(
                "deployment", f"{', '.join(models)} on {', '.join(gpus)}",
                f"no candidate fits in memory with the given precisions ({', '.join(precisions)}) and GPUs per "
                f"instance ({', '.join(map(str, gpus_per_instance))})",
                "Allow more GPUs per instance, a smaller precision or other accelerators.",
            )
        bt = probe.loc[probe["ttft_s"].idxmin()]
        bp = probe.loc[probe["tpot_s"].idxmin()]
        raise SloUnreachableError(
            "latency target (slo)", slo,
            f"no catalog hardware serves {', '.join(models)} at ISL {isl} / OSL {osl} within it: the best "
            f"any candidate reaches with one request in flight is TTFT {bt['ttft_s']:.3f} s "
            f"({bt['gpus']}x {bt['gpu']} {bt['weights']}) and TPOT {bp['tpot_s']:.4f} s "
            f"({bp['gpus']}x {bp['gpu']} {bp['weights']})",
            "Relax the SLO (slo.max_ttft_s / slo.max_tpot_s), shorten the prompts, or allow more "
            "accelerators, GPUs per instance or a smaller model.",
        )
    keys = ["model", "gpu", "weights", "gpus", "tp", "ep"]
    best = ok.loc[ok.groupby(keys, sort=True)["output_tokens_per_s"].idxmax()].reset_index(drop=True)
    out = pd.DataFrame({
        "model": best["model"], "gpu": best["gpu"], "weights": best["weights"],
        "gpus_per_instance": best["gpus"].astype(int), "tp": best["tp"].astype(int), "ep": best["ep"].astype(int),
        "concurrency": best["concurrency"], "output_tokens_per_s": best["output_tokens_per_s"],
        "input_tokens_per_s": best["input_tokens_per_s"],
        "requests_per_s": best["output_tokens_per_s"] / osl,
        "ttft_s": best["ttft_s"], "tpot_s": best["tpot_s"], "memory_per_gpu_gib": best["memory_per_gpu_gib"],
        "prefill_time_share": best["prefill_time_share"], "memory_per_gpu_gb": best["memory_per_gpu_gib"],
    })
    return out[CAPACITY_COLUMNS]


__all__ = ["CONCURRENCY_LEVELS", "SloUnreachableError", "capacity_table", "native_precision"]
