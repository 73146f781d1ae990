"""Replay a request trace against a real endpoint, and set the measured run beside the fleet simulator's
run of the same trace.

The trace is read by the fleet's readers (:func:`inferonomics.fleet.demand.read_trace`: Azure LLM
inference CSV, BurstGPT CSV, Mooncake JSONL; the format is detected from the first line unless given).
From ``trace_start_s`` on, each request is sent at its timestamp, the gaps multiplied by ``time_scale``
(0.1 replays ten times faster), with a synthetic prompt of the trace's input length (exact with the
endpoint's tokenizer, as :meth:`~inferonomics.bench.runner.Session.synthetic` builds them) and
``max_tokens`` = its output length (``ignore_eos`` makes the server produce all of them).  Every request is
recorded and stored like any other run (mode ``trace``).

The simulated side runs the *same* requests (same arrival times after the window and the scaling, same
lengths) through the exact request-level simulator (:func:`inferonomics.fleet.des.simulate`) with one
replica: a replica fitted on the server (:func:`inferonomics.bench.calibration.fit_replica`).  The two are
compared on the requests that succeeded, percentile by percentile.  Where the replica draws each request's
decode speed from a measured spread, the trace is simulated several times (different draws, up to
:data:`MAX_REPLICATIONS`) and the simulated percentiles are those of all replications together: the
percentile the replica predicts, not that of one draw (which moves by up to 5% at P90 on a 300-request trace).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inferonomics.bench.prompts import Prompt
from inferonomics.bench.runner import BenchConfig, Session
from inferonomics.errors import InputError

METRICS = ("ttft_s", "tpot_s", "e2e_latency_s")
PCTS = (50, 90, 99)
# replications of the simulated side where request speeds are drawn: at most this many, and at most
# REPLICATED_REQUESTS simulated requests in all (a long trace needs fewer: its percentiles move less)
MAX_REPLICATIONS, REPLICATED_REQUESTS = 32, 200_000


def load_trace(path: str | Path, fmt: str | None = None):
    """The trace of ``path`` (a :class:`~inferonomics.fleet.demand.Trace`); a missing, unreadable or
    garbled file is an :class:`InputError` naming the file (and the line and field where the reader can)."""
    from inferonomics.fleet.demand import FORMATS, read_trace

    p = Path(path)
    if fmt is not None and fmt not in FORMATS:
        raise InputError("trace-format", fmt, f"allowed formats are {', '.join(FORMATS)}")
    if not p.is_file():
        raise InputError("trace", str(p), "must be an existing trace file (Azure LLM CSV, BurstGPT CSV or "
                         "Mooncake JSONL)")
    try:
        tr = read_trace(p, fmt)
    except UnicodeDecodeError as exc:
        raise InputError("trace", str(p), f"is not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except OSError as exc:
        raise InputError("trace", str(p), f"cannot be read ({exc.strerror or exc})") from None
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise InputError("trace", str(p), f"has a malformed record ({type(exc).__name__}: {str(exc)[:120]})",
                         "Each request needs a timestamp, an input and an output token count.") from None
    if not len(tr):
        raise InputError("trace", str(p), "has no requests")
    return tr


def trace_window(trace, start_s: float = 0.0, time_scale: float = 1.0, max_requests: int | None = None):
    """The requests arriving at ``start_s`` or later (seconds from the trace's first request), at most
    ``max_requests`` of them, with arrival times from the first of them multiplied by ``time_scale``."""
    from inferonomics.fleet.demand import make_trace

    if not (np.isfinite(time_scale) and time_scale > 0):
        raise InputError("time-scale", time_scale, "must be a positive factor on the trace's time gaps")
    t = trace.arrival_s - trace.arrival_s[0]
    sel = np.flatnonzero(t >= start_s)
    if max_requests is not None:
        sel = sel[: int(max_requests)]
    if not len(sel):
        raise InputError("trace-start-s", start_s, f"is after the trace's last request (at {t[-1]:g} s)")
    arr = (t[sel] - t[sel[0]]) * time_scale
    return make_trace(arr, trace.input_tokens[sel], trace.output_tokens[sel], trace.tenant[sel],
                      trace.prefix_id[sel], trace.prefix_tokens[sel], trace.tenant_names, trace.tenant_classes)


class TraceSession(Session):
    """A session that sends a trace's requests at their times, each with its own input and output length."""

    def __init__(self, cfg: BenchConfig, trace, api_key: str | None = None, max_connections: int | None = None):
        super().__init__(cfg, api_key, max_connections)
        self.trace = trace

    async def prompts(self, n: int, seed: int) -> list[Prompt]:
        from inferonomics.bench.runner import _gather_limited

        isl = self.trace.input_tokens.astype(int)
        osl = self.trace.output_tokens.astype(int)
        m = self.cfg.num_requests
        # measured requests: the trace's; warm-up requests (after them): the first lengths again, new texts
        idx = [i if i < m else (i - m) % len(isl) for i in range(n)]
        seeds = np.random.default_rng([seed, 104729]).integers(0, 2**63 - 1, size=n)
        return await _gather_limited([self.synthetic(int(isl[k]), int(osl[k]), int(s))
                                      for k, s in zip(idx, seeds, strict=True)], 8)

    def arrivals(self, cfg: BenchConfig) -> np.ndarray:
        return np.asarray(self.trace.arrival_s[: cfg.num_requests], float)


async def replay_async(cfg: BenchConfig, trace, store=None, *, api_key: str | None = None, run_id: str | None = None,
                       progress=None):
    """Send the requests of ``trace`` (already windowed and scaled, :func:`trace_window`) and store the run."""
    from dataclasses import replace

    from inferonomics.bench.store import Store

    store = store or Store()
    cfg = replace(cfg, mode="trace", num_requests=len(trace))
    async with TraceSession(cfg, trace, api_key, max_connections=cfg.max_concurrency) as s:
        return await s.run(store, run_id=run_id, progress=progress)


# --- the simulated side and the comparison ------------------------------------------------------------------
def replications_for(replica: dict, n_requests: int) -> int:
    """How many times :func:`simulate_trace` simulates a trace of ``n_requests``: once for a replica whose
    streams all run at the typical speed, otherwise :data:`MAX_REPLICATIONS`, fewer for a long trace."""
    if replica.get("decode_speed_percentiles") is None:
        return 1
    return int(np.clip(REPLICATED_REQUESTS // max(int(n_requests), 1), 1, MAX_REPLICATIONS))


def simulate_trace(trace, replica: dict, catalog=None, seed: int = 0, replications: int | None = None
                   ) -> dict[str, np.ndarray]:
    """Per request of ``trace``: TTFT, TPOT and E2E latency (s) in the exact request-level simulator with one
    fitted replica.  TPOT is NaN for a request with fewer than 2 output tokens (as bench records it).  Each
    request's decode speed is drawn (``seed``) from the replica's measured spread between streams, where
    the replica has one (in spells, by arrival time, where it measured how speeds correlate); the trace is then simulated ``replications`` times (default
    :func:`replications_for`), replication ``k`` with seed ``seed + k``.  The per-request arrays are those
    of the first replication; ``"replications"`` holds every replication's, shape (replications,
    requests), which :func:`compare` pools."""
    from inferonomics.bench.calibration import decode_speed_draws, replica_step_model
    from inferonomics.fleet import des
    from inferonomics.fleet.policy import Slo

    k_reps = replications_for(replica, len(trace)) if replications is None else int(replications)
    if k_reps < 1:
        raise InputError("replications", replications, "must be at least 1")
    m = replica_step_model(replica, isl=float(np.mean(trace.input_tokens)), osl=float(np.mean(trace.output_tokens)),
                           catalog=catalog)
    out = np.asarray(trace.output_tokens, float)
    runs = []
    for k in range(k_reps):
        r = des.simulate(trace, m, replicas=1, slo=Slo(None, None),
                         decode_speed=decode_speed_draws(replica, len(trace), seed + k, times_s=trace.arrival_s))
        ttft = np.asarray(r.extra["ttft_s"], float)
        tpot = np.where(out >= 2, np.asarray(r.extra["tpot_s"], float), np.nan)
        e2e = ttft + np.where(out >= 2, tpot * (out - 1), 0.0)
        runs.append({"ttft_s": ttft, "tpot_s": tpot, "e2e_latency_s": e2e, "served": np.isfinite(e2e)})
    first = runs[0]
    return {**first, "replications": {k: np.stack([r[k] for r in runs]) for k in first},
            "step_model": m.label, "max_batch": m.max_batch}


def measured_arrays(records, n: int) -> dict[str, np.ndarray]:
    """Per trace request (by index): the measured TTFT, TPOT, E2E (NaN where it failed or was not sent)
    and how late the client sent it (``start_s - scheduled_s``)."""
    out = {k: np.full(n, np.nan) for k in (*METRICS, "send_lag_s")}
    ok = np.zeros(n, bool)
    for r in records:
        if r.phase != "measure" or not 0 <= r.idx < n:
            continue
        if r.scheduled_s is not None:
            out["send_lag_s"][r.idx] = r.start_s - r.scheduled_s
        if not r.ok:
            continue
        ok[r.idx] = True
        out["ttft_s"][r.idx] = np.nan if r.ttft_s is None else r.ttft_s
        out["tpot_s"][r.idx] = np.nan if r.tpot_s is None else r.tpot_s
        out["e2e_latency_s"][r.idx] = r.e2e_s
    out["ok"] = ok
    return out


def _pct(x: np.ndarray, p: float) -> float | None:
    x = x[np.isfinite(x)]
    return float(np.percentile(x, p)) if len(x) else None


def compare(measured: dict[str, np.ndarray], simulated: dict[str, np.ndarray]) -> dict:
    """Percentiles of TTFT, TPOT and E2E, measured and simulated, on the requests that succeeded in the
    measured run and were served in every simulated replication (the same requests on both sides); the
    simulated percentiles pool the replications where ``simulated`` has them; ``diff`` = simulated /
    measured - 1."""
    reps = simulated.get("replications")
    served = simulated["served"] if reps is None else np.all(reps["served"], axis=0)
    both = measured["ok"] & served
    rows = []
    for k in METRICS:
        sim = simulated[k][both] if reps is None else reps[k][:, both]
        for p in PCTS:
            a, b = _pct(measured[k][both], p), _pct(sim, p)
            rows.append({"metric": k, "percentile": p, "measured": a, "simulated": b,
                         "diff": (b / a - 1.0) if a and b is not None else None})
    lag = measured["send_lag_s"]
    return {
        "requests_compared": int(both.sum()),
        "replications": 1 if reps is None else int(reps["served"].shape[0]),
        "rows": rows,
        "max_abs_diff_p50_p90": max((abs(r["diff"]) for r in rows
                                     if r["percentile"] in (50, 90) and r["metric"] != "e2e_latency_s"
                                     and r["diff"] is not None), default=None),
        "client_send_lag_s": {"p50": _pct(lag, 50), "p99": _pct(lag, 99),
                              "max": float(np.nanmax(lag)) if np.isfinite(lag).any() else None},
    }


def comparison_table(cmp: dict, title: str):
    """A Rich table of :func:`compare`'s rows (built lazily: Rich loads only here)."""
    from rich.table import Table

    from inferonomics.present import number

    t = Table(title=title, header_style="bold")
    for c in ("metric", "percentile", "measured (s)", "simulated (s)", "sim - measured"):
        t.add_column(c, justify="left" if c == "metric" else "right")
    names = {"ttft_s": "TTFT", "tpot_s": "TPOT", "e2e_latency_s": "E2E latency"}
    for r in cmp["rows"]:
        t.add_row(names[r["metric"]], f"p{r['percentile']}", "-" if r["measured"] is None else number(r["measured"]),
                  "-" if r["simulated"] is None else number(r["simulated"]),
                  "-" if r["diff"] is None else f"{r['diff']:+.1%}")
    return t
