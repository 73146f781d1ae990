"""The time-stepped engine for large fleets (days at one-second resolution, thousands of GPUs).

Demand enters as arrivals per second (sampled counts, or a trace binned with
:func:`inferonomics.fleet.demand.binned`).  Each second the fleet holds ``N`` requests in flight spread
evenly over its active replicas (batch ``B = N / replicas``); a replica at batch ``B`` completes
``B / latency(B)`` requests per second, where ``latency(B) = TTFT(B) + (output - 1) * TPOT(B)`` is the
replica's :class:`ServiceCurve`, taken from the performance engine.  Requests beyond the replicas'
sequence slots (the SLO operating point) wait in a queue.  Batch jobs fill the slots interactive
traffic leaves free (backfill).  The autoscaler is the same policy object the request-level engine uses.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from inferonomics.errors import InputError
from inferonomics.fleet.policy import Autoscaler, FleetResult, Slo
from inferonomics.fleet.replica import work_weights


@dataclass(frozen=True)
class ServiceCurve:
    """A replica's steady state against its batch ``B = 1..max_batch``: TTFT, TPOT and request latency."""

    batch: np.ndarray
    ttft_s: np.ndarray
    tpot_s: np.ndarray
    latency_s: np.ndarray
    max_batch: int
    gpus: int
    label: str = ""
    input_tokens: float = 0.0
    output_tokens: float = 0.0
    # replica-seconds per input and per output token at the operating point: demand is counted in
    # mean-request equivalents of work, so a burst of long prompts loads the fleet more than its count
    work_per_input_token_s: float = 0.0
    work_per_output_token_s: float = 0.0

    def capacity_requests_per_s(self) -> float:
        return float(self.max_batch / self.latency_s[-1])


def curve_from_step_model(model, input_tokens: float, output_tokens: float, prefix_hit_rate: float = 0.0,
                          kv_tokens_per_sequence: float | None = None) -> ServiceCurve:
    """The service curve of a :class:`~inferonomics.fleet.replica.StepModel` at mean lengths; a share
    ``prefix_hit_rate`` of input tokens comes from the prefix cache (not prefilled).

    ``kv_tokens_per_sequence``: KV tokens a request in flight holds on average.  Long requests stay in
    flight longer, so with variable lengths this is the output-weighted mean ``E[(in+out) out] / E[out]``
    (:func:`kv_tokens_in_flight`), above ``in + out``; it caps the batch the KV cache can hold."""
    kv_seq = kv_tokens_per_sequence or (input_tokens + output_tokens)
    maxb = int(max(min(model.max_batch, model.kv_capacity_tokens // kv_seq), 1))
    from dataclasses import replace

    model = replace(model, max_batch=maxb)
    b = np.arange(1, model.max_batch + 1, dtype=float)
    new = max(input_tokens * (1.0 - prefix_hit_rate), 1.0)
    ttft, tpot, _ = model.service(b, new, output_tokens)
    lat = ttft + (output_tokens - 1.0) * tpot
    w_in, w_out = work_weights(model, new, output_tokens)
    w_in *= new / input_tokens
    return ServiceCurve(b, np.asarray(ttft), np.asarray(tpot), np.asarray(lat), model.max_batch, model.gpus,
                        model.label, input_tokens, output_tokens, w_in, w_out)


def kv_tokens_in_flight(input_tokens, output_tokens) -> float:
    """Mean KV tokens held per request in flight: requests weighted by their decode time (output)."""
    i = np.asarray(input_tokens, float)
    o = np.asarray(output_tokens, float)
    return float(np.sum((i + o) * o) / np.sum(o)) if len(o) else 0.0


def curve_from_perf(deployment: dict, catalog=None, points: int = 32) -> ServiceCurve:
    """The service curve of one deployment unit (a co-located instance or a P+D unit) from
    :func:`inferonomics.perf.api.sweep` over concurrency; the operating point of its latency targets
    (``max_tpot_s``/``max_ttft_s``) caps the batch."""
    from inferonomics.perf.api import operating_point, predict, sweep

    dep = dict(deployment)
    slo = {k: dep.pop(k) for k in ("max_tpot_s", "max_ttft_s") if k in dep}
    dep.pop("concurrency", None)
    model, gpu = dep.pop("model"), dep.pop("gpu")
    top = predict(model, gpu, catalog=catalog, concurrency=None, **dep)
    units = float(top["replicas"])
    unit_gpus = round(top.get("instance_gpus") if not (dep.get("prefill_gpus")) else
                          dep["prefill_gpus"] + dep["decode_gpus"])
    if dep.get("prefill_gpus"):
        units = float(dep.get("gpus", unit_gpus)) / unit_gpus
    cmax = float(top["max_concurrency"]) / units
    if slo and any(v is not None for v in slo.values()):
        cmax = operating_point(model, gpu, catalog=catalog, **slo, **dep) / units
    levels = np.unique(np.round(np.geomspace(1, max(cmax, 1), points)))
    df = sweep(model, gpu, catalog=catalog, concurrency=[float(c * units) for c in levels], **dep)
    df = df[df["fits"]]
    b = df["concurrency"].to_numpy() / units
    return ServiceCurve(b, df["ttft_s"].to_numpy(), df["tpot_s"].to_numpy(), df["e2e_latency_s"].to_numpy(),
                        round(b[-1]), unit_gpus, f"{model} on {unit_gpus}x {gpu}")


def simulate(demand: dict, curve: ServiceCurve, *, replicas: int = 1, slo: Slo | None = None,
             autoscaler: Autoscaler | None = None, replicas_schedule: np.ndarray | None = None) -> FleetResult:
    """Run per-second demand (``requests``, ``input_tokens``, ``output_tokens`` and optionally the
    ``batch_`` columns, as from :func:`~inferonomics.fleet.demand.binned`) through the fleet.
    ``replicas_schedule``: the replicas serving in each second, as a fleet shared with other models hands
    them out (instead of ``replicas`` and an autoscaler); at least one serves."""
    slo = slo or Slo()
    req = np.asarray(demand["requests"], float)
    n_s = len(req)
    if n_s == 0:
        raise InputError("demand", 0, "must cover at least one second")
    if replicas < 1:
        raise InputError("replicas", replicas, "must be at least 1")
    sched = None
    if replicas_schedule is not None:
        sched_a = np.asarray(replicas_schedule, float)
        if sched_a.shape != (n_s,) or not np.all(np.isfinite(sched_a)):
            raise InputError("replicas_schedule", f"{sched_a.shape} array", f"must give the replicas of each of the {n_s} seconds")
        sched = np.maximum(np.round(sched_a), 1).astype(int).tolist()
        autoscaler = None
        replicas = sched[0]
    breq = np.asarray(demand.get("batch_requests", np.zeros(n_s)), float)
    tok = np.asarray(demand["input_tokens"], float) + np.asarray(demand["output_tokens"], float)
    btok = np.asarray(demand.get("batch_input_tokens", np.zeros(n_s)), float) + np.asarray(
        demand.get("batch_output_tokens", np.zeros(n_s)), float)
    out_tok = float(np.sum(demand["output_tokens"]))
    maxb = curve.max_batch
    # latency, TTFT and TPOT on a whole-batch grid 0..max_batch (index = batch), linear in between
    grid = np.arange(0, maxb + 1, dtype=float)
    bgrid = np.maximum(grid, curve.batch[0])
    lat = np.interp(bgrid, curve.batch, curve.latency_s).tolist()
    ttft = np.interp(bgrid, curve.batch, curve.ttft_s).tolist()
    tpot = np.interp(bgrid, curve.batch, curve.tpot_s).tolist()
    cap_rps = curve.capacity_requests_per_s()
    max_ttft = math.inf if slo.max_ttft_s is None else slo.max_ttft_s
    max_tpot = math.inf if slo.max_tpot_s is None else slo.max_tpot_s

    auto = autoscaler if autoscaler is not None and autoscaler.enabled else None
    interval = round(auto.interval_s) if auto else 0
    delay = round(auto.provisioning_delay_s) if auto else 0
    active = replicas
    pending: deque = deque()  # (ready second, count)
    n_pending = 0
    window = 0.0
    N = Q = Nb = Qb = 0.0
    busy = busy_int = rep_s = 0.0
    met = 0.0
    wait_sum = 0.0
    peak = active
    req_l, breq_l = req.tolist(), breq.tolist()
    # arrivals in mean-request equivalents of work (see ServiceCurve)
    unit = curve.input_tokens * curve.work_per_input_token_s + curve.output_tokens * curve.work_per_output_token_s
    if unit > 0:
        work = (np.asarray(demand["input_tokens"], float) * curve.work_per_input_token_s
                + np.asarray(demand["output_tokens"], float) * curve.work_per_output_token_s) / unit
        bwork = (np.asarray(demand.get("batch_input_tokens", np.zeros(n_s)), float) * curve.work_per_input_token_s
                 + np.asarray(demand.get("batch_output_tokens", np.zeros(n_s)), float)
                 * curve.work_per_output_token_s) / unit
        work_l, bwork_l = work.tolist(), bwork.tolist()
    else:
        work_l, bwork_l = req_l, breq_l
    ttft_hist = np.zeros(n_s)
    reps_hist = np.zeros(n_s, np.int64)
    tpot_hist = np.zeros(n_s)
    for s in range(n_s):
        if sched is not None:
            active = sched[s]
            peak = max(peak, active)
        if pending and pending[0][0] <= s:
            while pending and pending[0][0] <= s:
                active += pending[0][1]
                n_pending -= pending[0][1]
                pending.popleft()
        a = req_l[s]
        window += work_l[s]
        Q += work_l[s]
        Qb += bwork_l[s]
        slots = active * maxb
        free = slots - N - Nb
        if free > 0 and Q > 0:
            adm = min(free, Q)
            N += adm
            Q -= adm
            free -= adm
        if free > 0 and Qb > 0:
            adm = min(free, Qb)
            Nb += adm
            Qb -= adm
        b = (N + Nb) / active
        i = int(b)
        if i >= maxb:
            L, T1, T2 = lat[maxb], ttft[maxb], tpot[maxb]
        else:
            f = b - i
            L = lat[i] + f * (lat[i + 1] - lat[i])
            T1 = ttft[i] + f * (ttft[i + 1] - ttft[i])
            T2 = tpot[i] + f * (tpot[i + 1] - tpot[i])
        rate = 1.0 / L
        done = N * rate
        done_b = Nb * rate
        # a request arriving now waits behind the queue, drained at the completion rate
        wait = Q / (done + done_b) if Q > 0 and done + done_b > 0 else 0.0
        wait_sum += a * wait
        if T1 + wait <= max_ttft and T2 <= max_tpot:
            met += a
        ttft_hist[s] = T1 + wait
        tpot_hist[s] = T2
        busy += N + Nb
        busy_int += N
        N -= done
        Nb -= done_b
        rep_s += active + n_pending
        reps_hist[s] = active + n_pending
        if auto is not None and (s + 1) % interval == 0:
            want = auto.desired(window / interval, cap_rps)
            window = 0.0
            live = active + n_pending
            if want > live:
                pending.append((s + 1 + delay, want - live))
                n_pending += want - live
            elif want < live:
                cut = live - want
                while cut and pending:
                    k = min(cut, pending[-1][1])
                    cut -= k
                    n_pending -= k
                    if k == pending[-1][1]:
                        pending.pop()
                    else:
                        pending[-1] = (pending[-1][0], pending[-1][1] - k)
                active -= cut
            peak = max(peak, active + n_pending)
    total_req = float(req.sum())
    # tokens of requests still queued or in flight at the end are not delivered
    mean_tok = float(tok.sum() / total_req) if total_req else 0.0
    mean_btok = float(btok.sum() / breq.sum()) if breq.sum() else 0.0
    served = float(tok.sum()) - (N + Q) * mean_tok
    served_b = float(btok.sum()) - (Nb + Qb) * mean_btok
    w = req / max(total_req, 1e-12)
    order_t = np.argsort(ttft_hist)
    order_p = np.argsort(tpot_hist)

    def wq(x, order, p):
        c = np.cumsum(w[order])
        return float(x[order][min(np.searchsorted(c, p / 100.0), n_s - 1)]) if total_req else float("nan")

    return FleetResult(
        engine="fluid",
        duration_s=float(n_s),
        requests=round(total_req),
        batch_requests=round(float(breq.sum())),
        served_tokens=served + served_b,
        served_output_tokens=out_tok,
        batch_tokens=served_b,
        gpu_seconds=rep_s * curve.gpus,
        served_requests=total_req - (N + Q),
        served_batch_requests=float(breq.sum()) - (Nb + Qb),
        served_work=float(np.sum(work_l)) - (N + Q),
        served_batch_work=float(np.sum(bwork_l)) - (Nb + Qb),
        capacity_requests_per_s=cap_rps,
        slot_occupancy=busy / maxb / rep_s if rep_s else 0.0,
        replica_seconds=rep_s,
        peak_replicas=int(peak),
        gpus_per_replica=curve.gpus,
        slo_attainment=met / total_req if total_req else float("nan"),
        ttft_p50_s=wq(ttft_hist, order_t, 50), ttft_p99_s=wq(ttft_hist, order_t, 99),
        tpot_p50_s=wq(tpot_hist, order_p, 50), tpot_p99_s=wq(tpot_hist, order_p, 99),
        mean_wait_s=wait_sum / total_req if total_req else float("nan"),
        prefix_hit_rate=float("nan"),
        extra={"replicas_per_s": reps_hist},
    )
