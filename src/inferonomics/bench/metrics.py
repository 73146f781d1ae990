"""Aggregate metrics of a run, computed from its per-request records (pure NumPy).

Definitions are in docs/bench-metrics.md and :mod:`inferonomics.bench.records`.  Summary fields:

* ``duration_s``: the measured window, from the first request sent to the last one finished (failed
  requests included, warm-up excluded);
* ``request_throughput_per_s``: successful requests / ``duration_s``; ``output_tokens_per_s`` and
  ``input_tokens_per_s``: the successful requests' tokens / ``duration_s``;
* latency distributions over the successful requests: ``ttft_s_*``, ``tpot_s_*``, ``e2e_latency_s_*``
  (mean, p50, p90, p99); ``itl_s_*`` over all gaps of all successful requests;
* ``mean_concurrency``: requests in flight on average, Σ E2E / ``duration_s`` (Little's law);
* goodput, when SLOs are given: requests that succeeded and met every SLO (TTFT <= ``slo_ttft_s``, TPOT
  <= ``slo_tpot_s``; a request with one output token has no TPOT and passes that SLO), per second; and
  their output tokens per second;
* ``errors_by_kind`` / ``errors_by_type``: counts of failed requests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np

PCTS = (50, 90, 99)


def _dist(name: str, x: np.ndarray) -> dict[str, float | None]:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {f"{name}_mean": None, **{f"{name}_p{p}": None for p in PCTS}}
    q = np.percentile(x, PCTS)
    return {f"{name}_mean": float(x.mean()), **{f"{name}_p{p}": float(v) for p, v in zip(PCTS, q, strict=True)}}


def _col(recs: list, name: str) -> np.ndarray:
    return np.array([np.nan if getattr(r, name) is None else getattr(r, name) for r in recs], dtype=float)


def good_mask(ttft_s: np.ndarray, tpot_s: np.ndarray, ok: np.ndarray,
              slo_ttft_s: float | None = None, slo_tpot_s: float | None = None) -> np.ndarray:
    """Requests that succeeded and met the SLOs (NaN TPOT, one output token, passes the TPOT SLO)."""
    good = np.asarray(ok, bool).copy()
    if slo_ttft_s is not None:
        good &= np.nan_to_num(ttft_s, nan=np.inf) <= slo_ttft_s
    if slo_tpot_s is not None:
        good &= ~(np.nan_to_num(tpot_s, nan=-np.inf) > slo_tpot_s)
    return good


def summarize(records: Iterable, slo_ttft_s: float | None = None, slo_tpot_s: float | None = None) -> dict:
    """Aggregate the measured (non-warm-up) records of a run into one flat dict of figures."""
    recs = [r for r in records if getattr(r, "phase", "measure") == "measure"]
    n = len(recs)
    ok = np.array([bool(r.ok) for r in recs], dtype=bool)
    start = _col(recs, "start_s")
    end = _col(recs, "end_s")
    duration = float(end.max() - start.min()) if n else 0.0
    ttft, tpot, e2e = _col(recs, "ttft_s"), _col(recs, "tpot_s"), _col(recs, "e2e_s")
    out_tok = _col(recs, "output_tokens")
    in_tok = _col(recs, "input_tokens")
    itl = np.concatenate([np.asarray(r.itl_s, dtype=float) for r, k in zip(recs, ok, strict=True) if k] or [np.array([])])
    per = (lambda v: v / duration) if duration > 0 else (lambda v: None)
    out_ok = float(np.nansum(out_tok[ok])) if ok.any() else 0.0
    in_known = ok & np.isfinite(in_tok)
    in_ok = float(np.nansum(in_tok[in_known])) if in_known.any() else None
    errs = [r for r in recs if not r.ok]
    res: dict = {
        "n_requests": n,
        "n_ok": int(ok.sum()),
        "n_errors": len(errs),
        "error_rate": (len(errs) / n) if n else None,
        "duration_s": duration,
        "request_throughput_per_s": per(float(ok.sum())),
        "output_tokens_per_s": per(out_ok),
        "input_tokens_per_s": per(in_ok) if in_ok is not None else None,
        "total_tokens_per_s": per(out_ok + in_ok) if in_ok is not None else None,
        "mean_concurrency": per(float(np.nansum(e2e))) if n else None,
        "input_tokens_mean": float(np.nanmean(in_tok[in_known])) if in_known.any() else None,
        "output_tokens_mean": float(np.nanmean(out_tok[ok])) if ok.any() and np.isfinite(out_tok[ok]).any() else None,
        **_dist("ttft_s", ttft[ok]),
        **_dist("tpot_s", tpot[ok]),
        **_dist("itl_s", itl),
        **_dist("e2e_latency_s", e2e[ok]),
    }
    with np.errstate(divide="ignore", invalid="ignore"):
        user_rate = np.where(tpot[ok] > 0, 1.0 / tpot[ok], np.nan)
    res["output_tokens_per_s_per_user_mean"] = (
        float(np.nanmean(user_rate)) if np.isfinite(user_rate).any() else None
    )
    res["output_tokens_source"] = dict(Counter(r.output_tokens_source for r in recs if r.ok and r.output_tokens_source))
    res["input_tokens_source"] = dict(Counter(r.input_tokens_source for r in recs if r.ok and r.input_tokens_source))
    res["errors_by_kind"] = dict(Counter(r.error_kind for r in errs))
    res["errors_by_type"] = dict(Counter(f"{r.error_kind}:{r.error_type}" for r in errs))
    res["slo_ttft_s"] = slo_ttft_s
    res["slo_tpot_s"] = slo_tpot_s
    if slo_ttft_s is not None or slo_tpot_s is not None:
        good = good_mask(ttft, tpot, ok, slo_ttft_s, slo_tpot_s)
        res["n_good"] = int(good.sum())
        res["goodput_requests_per_s"] = per(float(good.sum()))
        res["goodput_output_tokens_per_s"] = per(float(np.nansum(out_tok[good]))) if good.any() else (0.0 if duration > 0 else None)
        res["goodput_fraction"] = float(good.sum() / n) if n else None
    return res
