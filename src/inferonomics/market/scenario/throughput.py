"""Tokens/s per GPU of a tier's reference deployment from the perf engine, cached."""

from __future__ import annotations

from inferonomics.market.scenario.models import TierDeployment

_PERF_CACHE: dict[tuple, tuple] = {}  # key -> (catalog, result); the catalog is kept to check identity


_PRODUCTION_FIELDS = (
    "prefill_gpus", "decode_gpus", "prefill_tp", "prefill_ep", "redundant_experts", "prefix_hit_rate",
    "mtp_tokens", "mtp_accept_rate", "engine",
)


def _production(d: TierDeployment) -> tuple:
    """The tier's production-serving settings as a hashable tuple of (name, value), defaults left out."""
    defaults = TierDeployment.model_fields
    return tuple(
        (k, getattr(d, k)) for k in _PRODUCTION_FIELDS if getattr(d, k) != defaults[k].get_default()
    )


def tier_throughput(cat, model, gpu, gpus, tp, pp, ep, weights, kv, isl, osl, max_tpot_s, max_ttft_s,
                    production: tuple = ()) -> dict:
    """Tokens/s per GPU (input + output) of a deployment at its SLO operating point; cached.

    ``production``: (name, value) pairs of production-serving settings (disaggregated pools, redundant
    experts, prefix-cache hit rate, MTP, engine), passed to the perf engine as they are.  Per GPU counts
    every GPU of the deployment (prefill and decode pools together)."""
    from inferonomics.perf import predict

    key = (id(cat), model, gpu, gpus, tp, pp, ep, weights, kv, isl, osl, max_tpot_s, max_ttft_s, production)
    if key not in _PERF_CACHE or _PERF_CACHE[key][0] is not cat:
        disk_key = _disk_key(cat, key[1:])
        if disk_key is not None:
            from inferonomics import _cache

            hit = _cache.get(_DISK_KIND, disk_key)
            if isinstance(hit, dict):
                _PERF_CACHE[key] = (cat, hit)
                return hit
        kw = {"gpus": gpus, "tp": tp, "pp": pp, "ep": ep, "weights": weights, "kv": kv, "isl": isl, "osl": osl,
              "catalog": cat, **dict(production)}
        r = predict(model, gpu, max_tpot_s=max_tpot_s, max_ttft_s=max_ttft_s, **kw)
        out = r["output_tokens_per_s_per_gpu"]
        _PERF_CACHE[key] = (cat, {
            "concurrency": r["concurrency"],
            "output_tokens_per_s_per_gpu": out,
            "tokens_per_s_per_gpu": out * (isl + osl) / osl,
            "tpot_s": r["tpot_s"],
            "ttft_s": r["ttft_s"],
            "output_tokens_per_s_per_user": r["output_tokens_per_s_per_user"],
            "gpus": r["gpus"],
            "prefill_gpus": r.get("prefill_gpus"),
            "decode_gpus": r.get("decode_gpus"),
        })
        if disk_key is not None:
            _cache.put(_DISK_KIND, disk_key, _PERF_CACHE[key][1])
    return _PERF_CACHE[key][1]


_DISK_KIND = "tier-throughput"


def _disk_key(cat, args: tuple) -> str | None:
    """The on-disk cache key (:mod:`inferonomics._cache`) of a tier's operating point on the default catalog:
    the deployment, plus a digest of the perf code and the catalog files, so an edit to either is a new key.
    None for any other catalog object (overrides): computed every time."""
    import json

    from inferonomics import _cache
    from inferonomics.catalog import get_catalog

    if cat is not get_catalog():
        return None
    return json.dumps({"deployment": list(args), "inputs": _cache.code_digest(("perf",))}, default=str)
