"""Calibrate the performance model on measured runs: fit the accelerator family's efficiency factors.

Each run gives three measured points at its operating point (concurrency, mean input and output
tokens): ``output_tokens_per_s`` (whole deployment), ``tpot_s`` (mean) and ``ttft_s`` (mean).  The
concurrency is the run's fixed concurrency, or for Poisson runs the measured mean number of requests in
flight (Little's law).  The fit is :func:`inferonomics.perf.calibrate.fit` (least squares on log error,
weak priors at the factors the catalog uses now), and the result is a user catalog file
``calibration-<family>.yaml`` with an ``efficiency:`` record for the family; through the catalog's
override mechanism (``--catalog-dir`` / ``$INFERONOMICS_CATALOG_DIR``) it replaces the built-in record
of that family for ``perf``, ``cost`` and everything built on them.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from pathlib import Path

import numpy as np

from inferonomics.bench.store import Run, data_dir
from inferonomics.errors import InputError

DEFAULT_METRICS = ("output_tokens_per_s", "tpot_s", "ttft_s")
_SUMMARY_KEY = {"output_tokens_per_s": "output_tokens_per_s", "tpot_s": "tpot_s_mean", "ttft_s": "ttft_s_mean",
                "e2e_latency_s": "e2e_latency_s_mean"}


def catalog_dir() -> Path:
    """Where calibration files go: ``$INFERONOMICS_CATALOG_DIR``, else ``<data dir>/catalog``."""
    env = os.environ.get("INFERONOMICS_CATALOG_DIR")
    return Path(env).expanduser() if env else data_dir() / "catalog"


def run_points(runs: list[Run], deployment: dict, metrics=DEFAULT_METRICS) -> tuple[list, list[str]]:
    """Calibration points (``perf.calibrate.Point``) from runs; plus notes on runs or metrics left out."""
    from inferonomics.perf.api import Deployment
    from inferonomics.perf.calibrate import Point

    bad = [m for m in metrics if m not in _SUMMARY_KEY]
    if bad:
        raise InputError("metrics", ",".join(metrics), f"allowed metrics are {', '.join(_SUMMARY_KEY)}")
    points, notes = [], []
    for run in runs:
        sm = run.summarize()
        if not sm["n_ok"]:
            notes.append(f"run {run.id}: no successful requests, left out")
            continue
        cfg = run.config
        closed = cfg.get("mode") == "concurrency"
        conc = cfg.get("concurrency") if closed else sm["mean_concurrency"]
        isl = sm["input_tokens_mean"] or cfg.get("isl")
        osl = sm["output_tokens_mean"] or cfg.get("osl")
        if not conc or not isl or not osl:
            notes.append(f"run {run.id}: concurrency, input or output length unknown, left out")
            continue
        d = Deployment(**{**deployment, "isl": max(round(float(isl)), 1), "osl": max(round(float(osl)), 1),
                          "concurrency": float(max(conc, 1.0))})
        for m in metrics:
            if m == "output_tokens_per_s" and not closed and conc < 1.0:
                # the model's throughput at one request in flight is a capacity; an open-loop run with less
                # than one request in flight on average measured its arrival rate instead
                notes.append(f"run {run.id}: output_tokens_per_s left out (Poisson run with {conc:.2f} requests "
                             "in flight on average; its throughput is the arrival rate, not a capacity)")
                continue
            v = sm.get(_SUMMARY_KEY[m])
            if v is None or not np.isfinite(v) or v <= 0:
                notes.append(f"run {run.id}: no measured {m}, left out")
                continue
            points.append(Point(d, m, float(v), id=run.id, kind="bench"))
    return points, notes


def _factors_of(rec) -> dict[str, float]:
    from inferonomics.perf.calibrate import FAMILY_FACTORS, SHARED_FACTORS

    return {n: float(getattr(rec, n).value) for n in FAMILY_FACTORS + SHARED_FACTORS}


def calibrate_runs(
    runs: list[Run],
    *,
    model: str,
    gpu: str,
    gpus: int = 1,
    tp: int | None = None,
    pp: int = 1,
    ep: int = 1,
    weights: str = "bf16",
    kv: str | None = None,
    scheduler: str = "continuous",
    metrics=DEFAULT_METRICS,
    prior_sigma: float = 0.5,
    out_dir: str | os.PathLike | None = None,
    write: bool = True,
    catalog=None,
) -> dict:
    """Fit the family's efficiency factors to the runs; write the user calibration file (unless
    ``write=False``).  Returns the factors before/after, each point's error before/after and the file."""
    from inferonomics.catalog import get_catalog
    from inferonomics.perf.calibrate import (
        FAMILY_FACTORS,
        SHARED_FACTORS,
        errors,
        fit,
        predict_prepared,
        prepare,
    )

    if not runs:
        raise InputError("runs", [], "give at least one run id")
    cat = catalog or get_catalog()
    acc = cat.accelerator(gpu)
    cat.model(model)
    family = acc.family
    dep = {"model": model, "gpu": gpu, "gpus": gpus, "tp": tp, "pp": pp, "ep": ep, "weights": weights, "kv": kv, "scheduler": scheduler}
    points, notes = run_points(runs, dep, metrics)
    prep = prepare(cat, points)
    for p, why in prep.rejected:
        notes.append(f"run {p.id} {p.metric}: {why}")
    if not prep.points:
        raise InputError("runs", [r.id for r in runs], "give no point the performance model can evaluate",
                         "; ".join(notes) or None)
    eff = cat.efficiency_for(family)
    before = {family: _factors_of(eff)}
    prior_origin = cat.origin.get(f"efficiency:{eff.family}", "built-in")
    pred0 = predict_prepared(prep, before)
    after = fit(prep, before, prior_sigma=prior_sigma)
    pred1 = predict_prepared(prep, after)
    e0, e1 = errors(pred0, prep.measured), errors(pred1, prep.measured)
    rows = [
        {"run": p.id, "metric": p.metric, "concurrency": p.deployment.concurrency, "isl": p.deployment.isl,
         "osl": p.deployment.osl, "measured": float(p.measured), "predicted_before": float(a),
         "predicted_after": float(b), "error_before": float(x), "error_after": float(y)}
        for p, a, b, x, y in zip(prep.points, pred0, pred1, e0, e1, strict=True)
    ]
    from inferonomics.perf.calibrate import BOUNDS

    for n, v in after[family].items():
        lo, hi = BOUNDS[n]
        if v <= lo * 1.001 or v >= hi * 0.999:
            notes.append(f"{n} = {v:.4g} is at its bound [{lo:g}, {hi:g}]: the model cannot explain the measured "
                         "points within the allowed range (overheads outside the model, e.g. HTTP, queueing, "
                         "a server that does not batch)")
    ids = sorted({p.id for p in prep.points})
    today = dt.date.today().isoformat()
    src = (f"calibrated from run {', '.join(ids)} by inferonomics calibrate ({model} on {gpus}x {gpu}, "
           f"tp={dep['tp'] or 'auto'}, weights {weights}; {len(prep.points)} measured points: "
           f"{', '.join(sorted(set(prep.metric.tolist())))})")
    record = {"family": family}
    for n in FAMILY_FACTORS + SHARED_FACTORS:
        record[n] = {"value": float(f"{after[family][n]:.5g}"), "source": src, "date": today,
                     "note": f"prior {before[family][n]:.4g} from {prior_origin} ({eff.family})"}
    res = {
        "family": family,
        "model": model,
        "gpu": gpu,
        "runs": ids,
        "n_points": len(prep.points),
        "factors_before": before[family],
        "factors_after": after[family],
        "median_abs_error_before": float(np.median(np.abs(e0))),
        "median_abs_error_after": float(np.median(np.abs(e1))),
        "points": rows,
        "notes": notes,
        "file": None,
    }
    if write:
        import yaml

        from inferonomics.catalog import _cached
        from inferonomics.io import check_output_dir, write_text_atomic

        d = Path(out_dir) if out_dir is not None else catalog_dir()
        check_output_dir(d, "catalog directory")
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError("catalog directory", str(d), f"cannot be created ({exc.strerror or exc})") from None
        path = d / f"calibration-{family}.yaml"
        header = (
            f"# Efficiency factors of accelerator family '{family}', calibrated by `inferonomics calibrate` on\n"
            f"# measured runs {', '.join(ids)}.  Loaded as a user catalog file (--catalog-dir {d} or\n"
            f"# INFERONOMICS_CATALOG_DIR={d}); it overrides the built-in record of the family.\n"
        )
        write_text_atomic(path, header + yaml.safe_dump({"efficiency": [record]}, sort_keys=False, width=110))
        _cached.cache_clear()  # the catalog is cached per directory; the next look-up sees the new file
        res["file"] = str(path)
        res["catalog_dir"] = str(d)
    return res


# --- a calibrated replica for the fleet simulator ---------------------------------------------------------
# What the performance model leaves out of a real server's request path, fitted on measured requests:
# a fixed cost per request (HTTP, tokenization, sampling set-up: the TTFT intercept), prompt costs per token
# and per token squared beyond the roofline (attention on small or CPU engines grows with the square of the
# prompt), per decode step a fixed cost and a cost per token of context, and the end of a request's stream
# after its last token (final chunk, clean-up), during which a one-slot server starts nothing else.
# What only shows when requests overlap is measured on open-loop runs (or runs with more requests in flight
# than slots): the arrival's front-end work that stalls the stream in progress (moved from the request's own
# prefill to its arrival), the cost of each waiting request per step, an idle server's wake-up, and how much
# slower streams run between rests than back to back.  A step's cost also grows with the output so far.
OVERHEAD_TERMS = ("request_overhead_s", "prefill_overhead_s_per_token", "prefill_overhead_s_per_token_sq",
                  "decode_overhead_s_per_step", "decode_overhead_s_per_context_token", "request_finish_s",
                  "arrival_overhead_s", "step_overhead_s_per_waiting_request", "idle_start_s", "idle_start_tau_s",
                  "decode_overhead_s_per_output_token", "open_loop_decode_factor")
# terms a replica file may lack (files written before the terms existed): read as 0 (the factor as 1)
OPTIONAL_TERMS = ("arrival_overhead_s", "step_overhead_s_per_waiting_request", "idle_start_s", "idle_start_tau_s",
                  "decode_overhead_s_per_output_token", "open_loop_decode_factor")
MIN_CLEAN_STREAMS = 20
# the spread of decode speed from stream to stream is kept as percentiles 0, 1, ..., 100 of the clean
# streams' speed over their median (the simulator draws each request's factor from them); a factor beyond
# these bounds (for the spread and for open_loop_decode_factor) is a stuck or a broken stream, not a speed
SPEED_PERCENTILES = 101
SPEED_BOUNDS = (0.2, 5.0)
# slow streams come in spells (a busy neighbour, a throttled clock): the correlation between two streams'
# speeds (their normal scores) is fitted as ``share * exp(-gap / decay_s)`` over the pairs of clean streams
# up to SPEED_CORRELATION_LAGS apart in time order, ``decay_s`` on a grid from 1 ms to 100 s
SPEED_CORRELATION_LAGS = 32
SPEED_DECAY_GRID_S = tuple(float(x) for x in np.geomspace(1e-3, 100.0, 61))
MIN_STALL_EVENTS = 5
STALL_WINDOW = 8  # token gaps an arrival's work is looked for in (it spreads over a few)
REPLICA_FORMAT = "inferonomics-replica/1"


def _calibrated_catalog(cat, family: str, factors: dict[str, float]):
    """``cat`` with the family's efficiency record replaced by ``factors`` (in memory; nothing written)."""
    from dataclasses import replace

    eff = cat.efficiency_for(family)
    upd = {n: getattr(eff, n).model_copy(update={"value": float(v)}) for n, v in factors.items()}
    upd["family"] = family
    return replace(cat, efficiency={**cat.efficiency, family: eff.model_copy(update=upd)})


def _request_points(runs: list[Run], slots: int) -> dict[str, np.ndarray]:
    """Per successful measured request: input and output tokens, TTFT, TPOT, and the batch it ran in (the
    run's fixed concurrency, at most ``slots``)."""
    cols: dict[str, list] = {k: [] for k in ("isl", "osl", "ttft_s", "tpot_s", "batch", "run")}
    for run in runs:
        conc = run.config.get("concurrency") if run.config.get("mode") == "concurrency" else 1
        for r in run.records:
            if r.phase != "measure" or not r.ok or r.ttft_s is None or r.input_tokens is None or not r.output_tokens:
                continue
            cols["isl"].append(float(r.input_tokens))
            cols["osl"].append(float(r.output_tokens))
            cols["ttft_s"].append(float(r.ttft_s))
            cols["tpot_s"].append(np.nan if r.tpot_s is None else float(r.tpot_s))
            cols["batch"].append(float(min(max(conc or 1, 1), slots)))
            cols["run"].append(run.id)
    return {k: np.array(v, dtype=object if k == "run" else float) for k, v in cols.items()}


def _overlapped(run: Run, slots: int) -> bool:
    """A run in which requests may queue behind others: open-loop (``--rate``, a trace) or closed-loop with
    more requests in flight than the server's slots."""
    mode = run.config.get("mode")
    return mode in ("rate", "trace") or (mode == "concurrency" and int(run.config.get("concurrency") or 1) > slots)


def _arrival_marks(itl: np.ndarray, marks: np.ndarray, sends: np.ndarray) -> np.ndarray:
    """Per token gap of a stream: whether a request was sent during it."""
    inside = (sends > marks[0]) & (sends < marks[-1])
    hit = np.zeros(len(itl), bool)
    hit[np.searchsorted(marks, sends[inside]) - 1] = True
    return hit


def _streams(runs: list[Run], min_gaps: int):
    """Each measured stream of ``runs`` with ``min_gaps`` token gaps or more: (record, gaps, token times) and
    its run's send times, first-token times and ends (every successful request, warm-up included)."""
    for run in runs:
        recs = [r for r in run.records if r.ok and r.ttft_s is not None]
        if len(recs) < 2:
            continue
        sends = np.array([r.start_s for r in recs], float)
        firsts = sends + np.array([r.ttft_s for r in recs], float)
        ends = np.array([r.end_s for r in recs], float)
        for r in recs:
            itl = np.asarray(r.itl_s, float)
            if r.phase == "measure" and len(itl) >= min_gaps:
                marks = r.start_s + r.ttft_s + np.concatenate([[0.0], np.cumsum(itl)])
                yield r, itl, marks, sends, firsts, ends


def arrival_stall(runs: list[Run], per_waiting_s: float = 0.0) -> dict:
    """The engine time one arriving request's front-end work takes from the stream in progress, measured on
    runs where requests arrive during others' streams and wait for them (:func:`_overlapped` runs).

    In every measured stream, each token gap in which another request was sent, that request's first token
    coming only after this stream ended (it waited, it did not join this stream's batch), opens a window of
    :data:`STALL_WINDOW` gaps with no other arrival (the work spreads over the next few gaps: the request
    is read, parsed and handed to a waiting thread); its excess is the window's gaps minus as many times the
    stream's median gap.  The same excess over windows with no arrival is the baseline (gaps vary on their
    own).  Every gap is first reduced by what the requests waiting during it add (``per_waiting_s`` each,
    from :func:`waiting_cost`): the arrival is one more of them for the rest of the window.  The stall is
    the 10%-trimmed mean excess with arrivals minus the one without, at least 0.  An
    open-loop run (``--rate``, or a trace) at moderate load has such arrivals at random points of the
    streams; a closed loop barely does (its next request is sent as a stream ends).  Returns ``value_s``,
    ``n_events`` and ``n_baseline``; ``value_s`` is ``None`` with fewer than :data:`MIN_STALL_EVENTS`
    events."""
    from scipy.stats import trim_mean

    k = STALL_WINDOW
    events: list[float] = []
    base: list[float] = []
    for _, itl, marks, sends, firsts, _ in _streams(runs, k + 2):
        hit = _arrival_marks(itl, marks, sends)
        later = firsts > marks[-1]
        waited = _arrival_marks(itl, marks, sends[later])
        if per_waiting_s:  # each gap less what the requests waiting then add to it
            mid = 0.5 * (marks[:-1] + marks[1:])
            itl = itl - per_waiting_s * (sends[None, later] < mid[:, None]).sum(axis=1)
        med = float(np.median(itl))
        csum = np.concatenate([[0.0], np.cumsum(itl)])
        chit = np.concatenate([[0], np.cumsum(hit)])
        for j in np.flatnonzero(waited[: len(itl) - k + 1]):
            if chit[j + k] - chit[j + 1] == 0:  # no other arrival in the window
                events.append(csum[j + k] - csum[j] - k * med)
        for j in range(1, len(itl) - k + 1, k):
            if chit[j + k] - chit[j - 1] == 0:
                base.append(csum[j + k] - csum[j] - k * med)
    if len(events) < MIN_STALL_EVENTS or len(base) < MIN_STALL_EVENTS:
        return {"value_s": None, "n_events": len(events), "n_baseline": len(base)}
    v = float(trim_mean(events, 0.1)) - float(trim_mean(base, 0.1))
    return {"value_s": max(v, 0.0), "n_events": len(events), "n_baseline": len(base)}


def _stream_gaps(runs: list[Run], slots: int):
    """Per measured stream of open-loop or overlapped runs with 8 or more token gaps, the gaps in which no
    request arrived (nor in the :data:`STALL_WINDOW` - 1 gaps before), each with its stream's input and
    output tokens, the requests waiting then (sent, first token only after this stream ends) and the
    sequences streaming then (at most ``slots``)."""
    cols: dict[str, list] = {k: [] for k in ("gap_s", "isl", "osl", "waiting", "running", "pos")}
    for r, itl, marks, sends, firsts, ends in _streams(runs, 8):
        if r.input_tokens is None or not r.output_tokens:
            continue
        hit = _arrival_marks(itl, marks, sends)
        # quiet: no arrival in this gap nor in the STALL_WINDOW - 1 before it (an arrival's work spreads)
        chit = np.concatenate([[0], np.cumsum(hit)])
        idx = np.arange(len(itl))
        quiet = chit[idx + 1] - chit[np.maximum(idx - STALL_WINDOW + 1, 0)] == 0
        mid = 0.5 * (marks[:-1] + marks[1:])[quiet]
        later = firsts > marks[-1]
        cols["gap_s"].extend(itl[quiet].tolist())
        cols["pos"].extend(idx[quiet].tolist())  # tokens the earlier decode steps generated
        cols["waiting"].extend(((sends[None, later] < mid[:, None]).sum(axis=1)).tolist())
        run_now = ((firsts[None, :] <= mid[:, None]) & (ends[None, :] > mid[:, None])).sum(axis=1)
        cols["running"].extend(np.clip(run_now, 1, slots).tolist())
        cols["isl"].extend([float(r.input_tokens)] * len(mid))
        cols["osl"].extend([float(r.output_tokens)] * len(mid))
    return {k: np.asarray(v, float) for k, v in cols.items()}


def _idle_starts(runs: list[Run]) -> dict[str, np.ndarray]:
    """The measured requests of open-loop or overlapped runs sent while no other request was in flight (the
    server idle): input tokens, TTFT, and how long the server had been idle (since the last end)."""
    cols: dict[str, list] = {"isl": [], "ttft_s": [], "idle_s": []}
    for run in runs:
        recs = sorted((r for r in run.records if r.ok and r.ttft_s is not None), key=lambda r: r.start_s)
        last_end = -math.inf
        for r in recs:
            if r.start_s > last_end and r.phase == "measure" and r.input_tokens is not None:
                cols["isl"].append(float(r.input_tokens))
                cols["ttft_s"].append(float(r.ttft_s))
                cols["idle_s"].append(r.start_s - last_end)
            last_end = max(last_end, r.end_s)
    return {k: np.asarray(v, float) for k, v in cols.items()}


def open_loop_factor(runs: list[Run], per_token_s, finish_s: float,
                     per_waiting_s: float) -> tuple[float | None, np.ndarray, np.ndarray]:
    """How much slower a stream runs in open-loop traffic than the closed-loop fit says: the median, over
    the streams of ``runs`` that no arrival interrupted (12 tokens or more), of the measured time from the
    first token to the end less ``finish_s``, over ``per_token_s(input, output)`` x (output - 1) plus what
    the requests waiting all along add (``per_waiting_s`` each per step).  Servers that rest between
    requests run their streams a few percent slower than back to back (caches and threads cool); the
    cause is not modelled, the figure is measured.  Returns the median (``None`` with fewer than
    :data:`MIN_CLEAN_STREAMS` such streams), every stream's ratio and the time of its first token (s on
    its run's clock; runs are told apart by a gap of a day between them)."""
    ratios, times = [], []
    for run in runs:
        offset = None  # each run's clock starts a day after the last stream of the runs before it
        for r, itl, marks, sends, firsts, _ in _streams([run], 11):
            if r.input_tokens is None or not r.output_tokens or np.any((sends > marks[0]) & (sends < marks[-1])):
                continue
            if offset is None:
                offset = (max(times) + 86_400.0 - float(sends.min())) if times else 0.0
            waiting = int(((sends < marks[0]) & (firsts > marks[-1])).sum())
            o = float(r.output_tokens)
            pred = (o - 1.0) * (per_token_s(float(r.input_tokens), o) + per_waiting_s * waiting)
            ratios.append((r.end_s - marks[0] - finish_s) / pred)
            times.append(float(marks[0]) + offset)
    ratios, times = np.asarray(ratios, float), np.asarray(times, float)
    if len(ratios) < MIN_CLEAN_STREAMS:
        return None, ratios, times
    return float(np.median(ratios)), ratios, times


def speed_percentiles(ratios: np.ndarray) -> list[float] | None:
    """Percentiles 0 to 100 of the clean streams' decode speed over its median (:func:`open_loop_factor`'s
    ratios), within :data:`SPEED_BOUNDS`: how much one stream runs slower or faster than the typical one
    (the machine's hiccups, a stream's own tokens); ``None`` with fewer than :data:`MIN_CLEAN_STREAMS`."""
    r = np.asarray(ratios, float)
    r = r[np.isfinite(r) & (r > 0)]
    if len(r) < MIN_CLEAN_STREAMS:
        return None
    q = np.clip(np.percentile(r / np.median(r), np.linspace(0.0, 100.0, SPEED_PERCENTILES)), *SPEED_BOUNDS)
    return [float(x) for x in np.maximum.accumulate(q)]


def _normal_scores(x: np.ndarray) -> np.ndarray:
    from scipy.special import ndtri

    ranks = np.argsort(np.argsort(x, kind="stable"), kind="stable")
    return ndtri((ranks + 0.5) / len(x))


def speed_correlation(times_s: np.ndarray, ratios: np.ndarray) -> dict | None:
    """How the clean streams' speeds (:func:`open_loop_factor`'s ratios at their first tokens' times) are
    correlated in time: ``share * exp(-gap / decay_s)`` between the normal scores of two streams ``gap``
    seconds apart, fitted by least squares on the products of the scores of the pairs up to
    :data:`SPEED_CORRELATION_LAGS` streams apart (``share`` in [0, 1] solved at each ``decay_s`` of
    :data:`SPEED_DECAY_GRID_S` from the median gap between consecutive streams up, under which the pairs
    weigh at least as much as :data:`MIN_CLEAN_STREAMS` independent ones).  ``share`` 0: independent
    streams (which come out at a few hundredths: the fit's noise).  ``None`` with fewer than
    :data:`MIN_CLEAN_STREAMS` streams."""
    t, r = np.asarray(times_s, float), np.asarray(ratios, float)
    ok = np.isfinite(t) & np.isfinite(r) & (r > 0)
    t, r = t[ok], r[ok]
    if len(r) < MIN_CLEAN_STREAMS:
        return None
    order = np.argsort(t, kind="stable")
    t, z = t[order], _normal_scores(np.log(r[order]))
    lags = range(1, min(SPEED_CORRELATION_LAGS, len(z) - 1) + 1)
    gap = np.concatenate([t[k:] - t[:-k] for k in lags])
    prod = np.concatenate([z[k:] * z[:-k] for k in lags])
    # a spell shorter than the typical gap between two streams cannot be told from noise in a few close pairs
    shortest = float(np.median(np.diff(t)))
    grid = [x for x in SPEED_DECAY_GRID_S if x >= shortest] or [SPEED_DECAY_GRID_S[-1]]
    best = (np.inf, 0.0, grid[0])
    for tau in grid:
        e = np.exp(-gap / tau)
        ee = float(e @ e)
        if ee < MIN_CLEAN_STREAMS:  # a handful of pairs that close in time: no estimate of a share
            continue
        share = min(max(float(e @ prod) / ee, 0.0), 1.0)
        sse = float(np.sum((prod - share * e) ** 2))
        if sse < best[0]:
            best = (sse, share, tau)
    return {"share": best[1], "decay_s": best[2], "n_pairs": len(prod)}


def decode_speed_draws(doc: dict, n: int, seed: int = 0, times_s: np.ndarray | None = None) -> np.ndarray | None:
    """Per request, a decode speed factor drawn (seeded) from a fitted replica's ``decode_speed_percentiles``
    by inverse transform; ``None`` for a replica without them (every request at the typical speed).

    With the requests' times (``times_s``, e.g. their arrivals) and a replica that measured how speeds are
    correlated in time (``decode_speed_correlation``), the draws come in spells as the server's did: the
    normal score of request ``i`` is ``sqrt(share) * y(t_i) + sqrt(1 - share) * e_i``, ``y`` a unit
    Ornstein-Uhlenbeck process of time constant ``decay_s`` and ``e_i`` independent, so two requests
    ``gap`` apart correlate by ``share * exp(-gap / decay_s)``; each factor keeps the measured spread."""
    q = doc.get("decode_speed_percentiles")
    if q is None:
        return None
    n = int(n)
    grid, q = np.linspace(0.0, 1.0, len(q)), np.asarray(q, float)
    corr = doc.get("decode_speed_correlation") or {}
    share, tau = float(corr.get("share", 0.0)), float(corr.get("decay_s", 0.0))
    if times_s is None or share <= 0.0 or tau <= 0.0:
        u = np.random.default_rng([int(seed), 7573]).random(n)
        return np.interp(u, grid, q)
    from scipy.special import ndtr

    t = np.asarray(times_s, float)
    if len(t) != n:
        raise InputError("times_s", f"{len(t)} times", f"must give one time per request ({n})")
    rng = np.random.default_rng([int(seed), 7574])
    eta, eps = rng.standard_normal(n), rng.standard_normal(n)
    order = np.argsort(t, kind="stable")
    rho = np.exp(-np.diff(t[order]) / tau)
    kick = (np.sqrt(1.0 - rho * rho) * eta[1:]).tolist()
    y = [float(eta[0])]
    for a, b in zip(rho.tolist(), kick, strict=True):  # the OU process at the requests' times, in order
        y.append(a * y[-1] + b)
    z = np.empty(n)
    z[order] = math.sqrt(share) * np.asarray(y) + math.sqrt(1.0 - share) * eps
    return np.interp(ndtr(z), grid, q)


def idle_wake(idle_s: np.ndarray, excess_s: np.ndarray) -> tuple[float, float] | None:
    """The wake-up of an idle server as a function of how long it rested: ``w * (1 - exp(-idle / tau))``
    fitted on the TTFT excess of requests that found it idle (least absolute deviations over a grid of
    ``tau`` from 1 ms to 1 s, ``w`` >= 0 solved at each; ``tau`` 0 when a constant fits as well).  Returns
    ``(w, tau)``, or ``None`` with fewer than :data:`MIN_STALL_EVENTS` requests."""
    from scipy.optimize import minimize_scalar

    if len(idle_s) < MIN_STALL_EVENTS:
        return None
    best = None
    for tau in (0.0, *np.geomspace(1e-3, 1.0, 25)):
        x = np.ones_like(idle_s) if tau == 0.0 else 1.0 - np.exp(-idle_s / tau)
        hi = float(np.max(np.abs(excess_s))) / max(float(np.max(x)), 1e-9) + 1e-9
        res = minimize_scalar(lambda w, x=x: float(np.sum(np.abs(excess_s - w * x))), bounds=(0.0, hi),
                              method="bounded")
        loss = float(res.fun) * (1.0 - 1e-6 if tau == 0.0 else 1.0)  # a tie goes to the simpler constant
        if best is None or loss < best[0]:
            best = (loss, max(float(res.x), 0.0), float(tau))
    return best[1], best[2]


def waiting_cost(gaps: dict[str, np.ndarray], predicted_gap_s: np.ndarray) -> float | None:
    """Seconds each waiting request adds to every engine step of the replica (a scheduler that walks its
    queue each step, a front end polling its connections): token gaps ~ c x the fitted gap + this x the
    requests waiting, robust least squares on the quiet gaps of :func:`_stream_gaps`; ``None`` where no gap
    had a request waiting."""
    w = gaps["waiting"]
    if len(w) < 20 or (w > 0).sum() < 10:
        return None
    x = np.column_stack([predicted_gap_s, w])
    c = _robust_fit(x, gaps["gap_s"], np.array([0.0, 0.0]), float(np.median(gaps["gap_s"])))
    return float(c[1])


def _robust_fit(x: np.ndarray, y: np.ndarray, lo: np.ndarray, y_scale: float) -> np.ndarray:
    """Coefficients >= ``lo`` of ``y ~ x`` with a robust (soft-L1) loss: a few requests delayed by a busy
    machine do not drag the fit.  Columns are scaled to unit size so the solver sees comparable terms."""
    from scipy.optimize import least_squares

    scale = np.maximum(np.abs(x).max(axis=0), 1e-30)
    xs = x / scale
    lo_s = lo * scale
    c0 = np.clip(np.linalg.lstsq(xs, y, rcond=None)[0], lo_s + 1e-12 * np.abs(lo_s), None)
    sol = least_squares(lambda c: (xs @ c - y) / y_scale, c0, bounds=(lo_s, np.inf), loss="soft_l1", f_scale=0.1)
    return sol.x / scale


def _quality(measured: np.ndarray, predicted: np.ndarray) -> dict:
    ok = np.isfinite(measured) & np.isfinite(predicted) & (measured > 0)
    m, p = measured[ok], predicted[ok]
    if not len(m):
        return {"n": 0, "median_abs_rel_error": None, "p90_abs_rel_error": None, "r2": None}
    rel = np.abs(p / m - 1.0)
    ss_tot = float(np.sum((m - m.mean()) ** 2))
    return {"n": len(m), "median_abs_rel_error": float(np.median(rel)),
            "p90_abs_rel_error": float(np.percentile(rel, 90)), "mean_rel_error": float(np.mean(p / m - 1.0)),
            "r2": 1.0 - float(np.sum((m - p) ** 2)) / ss_tot if ss_tot > 0 else None}


def fit_replica(
    runs: list[Run],
    *,
    model: str,
    gpu: str,
    slots: int = 1,
    gpus: int = 1,
    tp: int | None = None,
    weights: str = "bf16",
    kv: str | None = None,
    prior_sigma: float = 0.5,
    catalog=None,
) -> dict:
    """A replica of the measured server for the fleet simulator: the performance model calibrated on the
    runs, plus the overheads outside it (:data:`OVERHEAD_TERMS`) fitted on every measured request.

    Two stages.  (1) The accelerator family's efficiency factors are fitted on the runs' mean TTFT and TPOT
    (:func:`calibrate_runs`, nothing written).  (2) On each measured request, what the calibrated model
    still leaves unexplained is fitted as overheads (robust least squares): TTFT − model prefill ~ request
    overhead + a·input tokens + b·input tokens²; TPOT − model decode step ~ c + d·context tokens + f /
    (output tokens − 1) (context = input + half the output; ``f``: the end of the stream after the last
    token, identified when the runs hold two or more output lengths).  ``a``, ``b``, ``d``, ``f`` are >= 0; the fixed terms may be negative, a correction
    where the model's own fixed step cost (fitted in stage 1 on run means) is above the server's.  ``slots``: sequences the server runs at once (llama-cpp-python's server: 1).

    Returns a JSON-able dict (the replica file's content): the deployment, ``slots``, the factors, the
    overheads, and the fit quality per metric (median and p90 |relative error| per request, R², and the
    same for the model before stage 2, so the share the overheads explain is visible)."""
    from inferonomics.catalog import get_catalog
    from inferonomics.fleet.replica import step_model

    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
        raise InputError("slots", slots, "must be a whole number of sequences, at least 1")
    cat = catalog or get_catalog()
    overlapped = [r for r in runs if _overlapped(r, slots)]
    runs = [r for r in runs if not _overlapped(r, slots)]
    if not runs:
        raise InputError("runs", [r.id for r in overlapped], f"all have more requests in flight than the "
                         f"server's {slots} slot(s): they measure queueing, not service",
                         "Add runs at --concurrency 1 (a few --isl and --osl values) to fit the service times.")
    stage1 = calibrate_runs(runs, model=model, gpu=gpu, gpus=gpus, tp=tp, weights=weights, kv=kv,
                            metrics=("ttft_s", "tpot_s"), prior_sigma=prior_sigma, write=False, catalog=cat)
    pts = _request_points(runs, slots)
    n = len(pts["isl"])
    if n < 5 or len(np.unique(pts["isl"])) < 2:
        raise InputError("runs", [r.id for r in runs], "need at least 5 successful requests at 2 or more input "
                         "lengths to fit the request overheads", "Measure runs at a few --isl values (e.g. 16, 128, "
                         "512) with --concurrency 1.")
    dep = {"model": model, "gpu": gpu, "gpus": gpus, "weights": weights,
           "isl": max(round(float(np.mean(pts["isl"]))), 1), "osl": max(round(float(np.mean(pts["osl"]))), 1)}
    if tp is not None:
        dep["tp"] = tp
    if kv is not None:
        dep["kv"] = kv
    cat1 = _calibrated_catalog(cat, stage1["family"], stage1["factors_after"])
    m = step_model(dep, catalog=cat1, max_batch=slots)
    isl, osl, batch = pts["isl"], pts["osl"], pts["batch"]
    ctx = isl + 0.5 * osl
    pf = np.array([m.prefill_one(x) for x in isl])
    dec = np.array([m.decode_one(b, c) for b, c in zip(batch, ctx, strict=True)]) / m.tokens_per_step
    # the fixed terms may be negative (down to 90% of the model's smallest time), a correction where the
    # calibrated model's own fixed step cost (fitted on run means) exceeds the server's; the rest are >= 0
    a = _robust_fit(np.column_stack([np.ones(n), isl, isl**2]), pts["ttft_s"] - pf,
                    np.array([-0.9 * pf.min(), 0.0, 0.0]), float(np.median(pts["ttft_s"])))
    # TPOT = (E2E - TTFT) / (output - 1) also carries the end of the stream: finish / (output - 1); it is
    # identified where the runs hold more than one output length (else it stays 0)
    has_tpot = np.isfinite(pts["tpot_s"]) & (osl >= 2)
    gaps = np.maximum(osl - 1.0, 1.0)
    if has_tpot.sum() >= 3:
        dh = dec[has_tpot]
        cols = [np.ones(has_tpot.sum()), ctx[has_tpot]]
        lo = [-0.9 * dh.min(), 0.0]
        if len(np.unique(osl[has_tpot])) >= 2:
            # the end of the stream, and a step cost growing with the output so far (its mean over the
            # stream's decode steps: (output - 2) / 2 tokens generated by earlier steps)
            cols += [1.0 / gaps[has_tpot], 0.5 * (osl[has_tpot] - 2.0)]
            lo += [0.0, 0.0]
        d = _robust_fit(np.column_stack(cols), pts["tpot_s"][has_tpot] - dh, np.array(lo),
                        float(np.median(pts["tpot_s"][has_tpot])))
        d = np.concatenate([d, np.zeros(4 - len(d))])
    else:
        d = np.zeros(4)
    def gap_s(model_s, ctx, earlier):
        """A decode token gap: the model's time per token plus the fitted per-step, per-context-token and
        per-earlier-output-token costs."""
        return model_s + d[0] + d[1] * ctx + d[3] * earlier

    # what requests waiting in the queue add to each step, on the quiet token gaps of the overlapped runs
    sg = _stream_gaps(overlapped, slots)
    sctx = sg["isl"] + 0.5 * sg["osl"]
    pred_gap = gap_s(np.array([m.decode_one(b, c) for b, c in zip(sg["running"], sctx, strict=True)])
                     / m.tokens_per_step, sctx, sg["pos"])
    per_waiting = waiting_cost(sg, pred_gap)
    # what an arrival takes from the stream in progress
    stall = arrival_stall(overlapped, per_waiting or 0.0)
    arrival = stall["value_s"] or 0.0
    # a request that finds the server idle, in open-loop runs, against the same request in the closed loop
    # (where the server never rests): the wake-up of an idle server (threads parked, caches cold)
    idle = _idle_starts(overlapped)
    ii = idle["isl"]
    pf_i = np.array([m.prefill_one(x) for x in ii]) + a[0] + a[1] * ii + a[2] * ii**2
    wake = idle_wake(idle["idle_s"], idle["ttft_s"] - pf_i) or (0.0, 0.0)
    # the decode speed of streams in open-loop traffic against the closed loop's (mean gap over a stream)
    factor, ratios, stream_times = open_loop_factor(
        overlapped, lambda i, o: gap_s(m.decode_one(1, i + 0.5 * o) / m.tokens_per_step, i + 0.5 * o,
                                       0.5 * max(o - 2.0, 0.0)),
        float(d[2]), per_waiting or 0.0)
    over = dict(zip(OVERHEAD_TERMS, [*map(float, a), *map(float, d[:3]), arrival, per_waiting or 0.0, *wake,
                                     float(d[3]), factor or 1.0], strict=True))
    notes = list(stage1["notes"])
    if stall["value_s"] is None:
        notes.append("arrival_overhead_s is 0: no run had requests arriving while another streamed and waiting "
                     f"for it ({stall['n_events']} such token gaps; {MIN_STALL_EVENTS} needed). Add an open-loop "
                     "run (--rate at about half the server's capacity, e.g. -n 60) to measure what an arrival takes "
                     "from the stream in progress.")
    # each stream's speed against the typical one, for the simulator to draw from (absent without enough
    # clean streams: every request then runs at the typical speed)
    q = speed_percentiles(ratios)
    speed = {} if q is None else {"decode_speed_percentiles": q}
    corr = speed_correlation(stream_times, ratios) if q is not None else None
    if corr is not None:
        speed["decode_speed_correlation"] = {"share": corr["share"], "decay_s": corr["decay_s"]}
    ttft_fit = pf + a[0] + a[1] * isl + a[2] * isl**2
    tpot_fit = gap_s(dec, ctx, 0.5 * np.maximum(osl - 2.0, 0.0)) + d[2] / gaps
    quality = {
        "ttft_s": {**_quality(pts["ttft_s"], ttft_fit), "model_only": _quality(pts["ttft_s"], pf)},
        "tpot_s": {**_quality(pts["tpot_s"], tpot_fit), "model_only": _quality(pts["tpot_s"], dec)},
    }
    return {
        "format": REPLICA_FORMAT,
        "deployment": {k: v for k, v in dep.items() if k not in ("isl", "osl")},
        "slots": slots,
        "family": stage1["family"],
        "factors": {k: float(v) for k, v in stage1["factors_after"].items()},
        "overheads": over,
        "fit": quality,
        "arrival_stall": {"n_events": stall["n_events"], "n_baseline": stall["n_baseline"],
                          "runs": sorted(r.id for r in overlapped)},
        "waiting": {"n_gaps": len(sg["gap_s"]), "n_gaps_with_waiting": int((sg["waiting"] > 0).sum())},
        "clean_streams": {"n_streams": len(ratios)},
        **speed,
        "idle_starts": {"n_requests": len(idle["isl"]),
                        "median_idle_s": float(np.median(idle["idle_s"])) if len(idle["isl"]) else None},
        "runs": sorted({str(x) for x in pts["run"]}),
        "n_requests": n,
        "input_tokens_range": [float(isl.min()), float(isl.max())],
        "notes": notes,
    }


def check_replica(doc: object, where: str = "replica") -> dict:
    """Validate a replica document (from :func:`fit_replica` or a replica file); errors name the field."""
    if not isinstance(doc, dict):
        raise InputError(where, type(doc).__name__, "must be a JSON object written by `inferonomics bench fit-replica`")
    if doc.get("format") != REPLICA_FORMAT:
        raise InputError(f"{where}.format", doc.get("format"), f"must be {REPLICA_FORMAT!r}")
    dep = doc.get("deployment")
    if not isinstance(dep, dict) or not isinstance(dep.get("model"), str) or not isinstance(dep.get("gpu"), str):
        raise InputError(f"{where}.deployment", dep, "must be an object with a model and a gpu slug")
    s = doc.get("slots")
    if isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= 1_000_000:
        raise InputError(f"{where}.slots", s, "must be a whole number of sequences from 1 to 1,000,000")
    for sec, names in (("overheads", OVERHEAD_TERMS), ("factors", None)):
        block = doc.get(sec)
        if not isinstance(block, dict):
            raise InputError(f"{where}.{sec}", block, "must be an object of numbers")
        for k in names or block:
            if k in OPTIONAL_TERMS and k not in block:
                continue
            v = block.get(k)
            if k == "open_loop_decode_factor":  # a stream's speed, bounded as the spread between streams
                lo, hi = SPEED_BOUNDS
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
                    raise InputError(f"{where}.{sec}.{k}", v,
                                     f"must be a factor from {lo:g} to {hi:g} (1: as in the closed loop)")
                continue
            signed = k in ("request_overhead_s", "decode_overhead_s_per_step")  # corrections, may be negative
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or (v < 0 and not signed):
                raise InputError(f"{where}.{sec}.{k}", v, "must be a finite number" + ("" if signed else " of 0 or more"))
    if not isinstance(doc.get("family"), str):
        raise InputError(f"{where}.family", doc.get("family"), "must be the accelerator family's name")
    q = doc.get("decode_speed_percentiles")
    if q is not None:
        lo, hi = SPEED_BOUNDS
        ok = (isinstance(q, list) and len(q) >= 2
              and all(not isinstance(v, bool) and isinstance(v, (int, float)) and lo <= v <= hi for v in q)
              and bool(np.all(np.diff(np.asarray(q, float)) >= 0)))
        if not ok:
            raise InputError(f"{where}.decode_speed_percentiles", q if not isinstance(q, list) or len(q) <= 6 else
                             f"[{q[0]!r}, ..., {q[-1]!r}] ({len(q)} values)",
                             f"must be a non-decreasing list of 2 or more factors from {lo:g} to {hi:g} (evenly spaced "
                             "percentiles of the streams' speed over the typical one)")
    c = doc.get("decode_speed_correlation")
    if c is not None:
        if not isinstance(c, dict):
            raise InputError(f"{where}.decode_speed_correlation", c, "must be a mapping with share and decay_s")
        for k, what, ok in (("share", "a number from 0 to 1 (the correlation of two streams at the same time)",
                             lambda v: 0.0 <= v <= 1.0),
                            ("decay_s", "a positive number of seconds (how fast the correlation fades)",
                             lambda v: 0.0 < v < math.inf)):
            v = c.get(k)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or not ok(v):
                raise InputError(f"{where}.decode_speed_correlation.{k}", v, f"must be {what}")
    return doc


def load_replica(path: str | os.PathLike) -> dict:
    """Read and validate a replica file (OS, encoding and JSON errors name the file)."""
    from inferonomics.io import load_json

    p = Path(path)
    return check_replica(load_json(p, f"replica file {p}"), f"replica file {p}")


def replica_step_model(doc: dict, *, isl: float = 128.0, osl: float = 64.0, catalog=None):
    """The fleet simulator's :class:`~inferonomics.fleet.replica.StepModel` of a fitted replica: the perf
    engine's step times with the fitted factors, ``max_batch`` = the replica's slots, plus its overheads
    (prefill: the request overhead and the per-token terms; decode: the per-step and per-context terms;
    ``finish_s``: the end of each request's stream, during which the replica starts nothing else).

    The request overhead is charged to a prompt prefilled on its own; one that joins a running batch pays
    only its marginal prefill (as the step model composes a mixed step), a fair model of a server that
    batches, and exact for a server with one slot."""
    from dataclasses import replace

    from inferonomics.catalog import get_catalog
    from inferonomics.fleet.replica import step_model

    doc = check_replica(doc)
    cat = _calibrated_catalog(catalog or get_catalog(), doc["family"], doc["factors"])
    dep = {**doc["deployment"], "isl": max(round(float(isl)), 1), "osl": max(round(float(osl)), 1)}
    m = step_model(dep, catalog=cat, max_batch=doc["slots"])
    o = doc["overheads"]
    g = m.prefill_grid
    pf = m.prefill_table_s + o["request_overhead_s"] + o["prefill_overhead_s_per_token"] * g \
        + o["prefill_overhead_s_per_token_sq"] * g**2
    # the arrival's share of the request overhead is charged when the request arrives (the simulator
    # stalls the replica then), not on its prefill; at most 90% of the shortest prefill moves
    arrival = min(float(o.get("arrival_overhead_s", 0.0)), 0.9 * float(pf.min()))
    pf = pf - arrival
    # open-loop traffic: decode steps that much slower than back to back (1 without an open-loop run)
    slow = float(o.get("open_loop_decode_factor", 1.0))
    dec = slow * (m.decode_table_s + m.tokens_per_step * (
        o["decode_overhead_s_per_step"] + o["decode_overhead_s_per_context_token"] * m.ctx_grid[None, :]))
    return replace(m, prefill_table_s=pf, decode_table_s=dec, max_batch=int(doc["slots"]),
                   finish_s=float(o["request_finish_s"]), arrival_s=arrival,
                   waiting_s_per_step=float(o.get("step_overhead_s_per_waiting_request", 0.0)),
                   idle_start_s=float(o.get("idle_start_s", 0.0)), idle_tau_s=float(o.get("idle_start_tau_s", 0.0)),
                   gen_s_per_token=slow * float(o.get("decode_overhead_s_per_output_token", 0.0)),
                   label=f"{m.label}, calibrated replica ({doc['slots']} slot{'s' if doc['slots'] > 1 else ''})")
