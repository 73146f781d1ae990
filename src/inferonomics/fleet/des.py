"""The exact request-level discrete-event simulator (small fleets).

Every request is tracked: it arrives, waits in a central FIFO queue (interactive before batch), is routed
to a replica with a free sequence slot and room in its KV cache, is prefilled in chunks inside the
replica's continuous-batching steps, then decodes in lock-step with the replica's other sequences until
its last token.  A replica's step time comes from its :class:`~inferonomics.fleet.replica.StepModel`
(the performance engine).  Between events a replica's batch is constant, so its decode steps are advanced
many at a time; an admission cuts the run at the next step boundary, exactly when a real engine would add
the new prompt.  The autoscaler (:class:`~inferonomics.fleet.policy.Autoscaler`) acts every interval.
"""

from __future__ import annotations

import heapq
import math
from collections import deque

import numpy as np

from inferonomics.errors import InputError
from inferonomics.fleet.demand import Trace
from inferonomics.fleet.policy import ROUTERS, Autoscaler, FleetResult, Slo
from inferonomics.fleet.replica import StepModel, work_weights

_SEG, _TICK, _READY = 1, 2, 3
_ACTIVE, _PROVISIONING, _DRAINING, _GONE = 0, 1, 2, 3


class _Replica:
    __slots__ = (
        "S",
        "cache",
        "idle_since",
        "idx",
        "kv",
        "n_batch",
        "n_in",
        "pf",
        "run",
        "seg_a",
        "seg_dt",
        "seg_end",
        "seg_kind",
        "seg_pf",
        "seg_start",
        "started",
        "state",
        "sum_isl",
        "sum_join",
        "sum_speed",
        "version",
    )

    def __init__(self, idx: int, state: int, now: float):
        self.idx, self.state = idx, state
        self.run: list = []  # heap of (target S, rid)
        self.pf: deque = deque()  # [rid, prompt tokens left]
        self.n_in = 0
        self.n_batch = 0
        self.kv = 0.0
        self.S = 0.0  # tokens each decoding sequence has produced since the replica started
        self.sum_isl = 0.0
        self.sum_join = 0.0
        self.sum_speed = 0.0  # the running sequences' decode speed factors, summed
        # 0 idle, 1 prefill step, 2 decode run, 3 to the step boundary, 4 finishing, 5 an arrival's front-end
        # work on an otherwise idle replica
        self.seg_kind = 0
        self.seg_start = self.seg_dt = self.seg_end = 0.0
        self.seg_a = 0.0  # growth of a decode run's step time per step (output-token costs)
        self.seg_pf: list = []
        self.version = 0
        self.cache: dict = {}
        self.started = now
        self.idle_since = -math.inf  # when it last fell idle (never busy yet: rested long)


def simulate(trace: Trace, model: StepModel, *, replicas: int = 1, slo: Slo | None = None,
             autoscaler: Autoscaler | None = None, router: str = "least-loaded", cache_ttl_s: float = 300.0,
             duration_s: float | None = None, capacity_requests_per_s: float | None = None,
             work: tuple[float, float, float] | None = None, prefix_hit_rate: float = 0.0,
             decode_speed: np.ndarray | None = None, prefilled: bool = False) -> FleetResult:
    """Run ``trace`` through a fleet of ``replicas`` (the autoscaler's starting size when given).

    ``capacity_requests_per_s``: one replica's capacity at its operating point (default: the step model's
    steady state at ``max_batch`` and the trace's mean lengths); ``work``: (replica-seconds per input
    token, per output token, per mean request) to count utilization in work, as the time-stepped engine
    does (default: :func:`~inferonomics.fleet.replica.work_weights` at the trace's mean lengths);
    ``prefix_hit_rate``: a fixed share of every prompt served from a prefix cache, on top of the
    replicas' own cache of shared prefixes (``prefix_id``); ``decode_speed``: per request, how much slower
    (> 1) or faster its decode steps run than the step model says (a fitted replica's measured spread from
    stream to stream); a step of several sequences takes the mean factor of those running.  ``prefilled``:
    the requests arrive with their prompts' KV caches already computed (a disaggregated decode pool,
    :mod:`inferonomics.fleet.disagg`): they hold their KV and join the next decode step, whose end gives
    them their first token here; TTFT is then the time from arrival to that step's end."""
    if not 0.0 <= prefix_hit_rate < 1.0:
        raise InputError("prefix_hit_rate", prefix_hit_rate, "must be a share from 0 up to (not including) 1")
    if router not in ROUTERS:
        raise InputError("router", router, f"allowed routers are {', '.join(ROUTERS)}")
    if replicas < 1:
        raise InputError("replicas", replicas, "must be at least 1")
    slo = slo or Slo()
    n = len(trace)
    if decode_speed is None:
        speed = None
    else:
        sp = np.asarray(decode_speed, float)
        if sp.shape != (n,) or not np.all(np.isfinite(sp) & (sp > 0)):
            raise InputError("decode_speed", f"{sp.shape} array", f"must hold one positive factor per request ({n})")
        speed = sp.tolist()
    arr = trace.arrival_s.tolist()
    isl = trace.input_tokens.tolist()
    osl = trace.output_tokens.tolist()
    pid = trace.prefix_id.tolist()
    ptok = trace.prefix_tokens.tolist()
    is_batch = trace.is_batch().tolist()
    start_time = arr[0] if n else 0.0
    end_time = start_time + float(duration_s) if duration_s is not None else (arr[-1] if n else 0.0)
    dispatch = [math.nan] * n
    first = [math.nan] * n
    finish = [math.nan] * n
    hit_tokens = [0.0] * n

    g = model.tokens_per_step
    maxb = model.max_batch
    kvcap = model.kv_capacity_tokens
    chunk = model.chunk_tokens
    decode_s, step_s = model.decode_one, model.step_one
    fin_s = float(getattr(model, "finish_s", 0.0) or 0.0)  # the replica's pause after a request's last token
    arr_s = float(getattr(model, "arrival_s", 0.0) or 0.0)  # engine time an arrival's front-end work takes
    kw = float(getattr(model, "waiting_s_per_step", 0.0) or 0.0)  # per step and waiting request
    wake_s = float(getattr(model, "idle_start_s", 0.0) or 0.0)  # an idle replica's wake-up ...
    wake_tau = float(getattr(model, "idle_tau_s", 0.0) or 0.0)  # ... growing with its rest on this scale
    kg = float(getattr(model, "gen_s_per_token", 0.0) or 0.0)  # per step and token a sequence has generated

    def run_time(r, i):
        """Seconds of the first ``i`` steps of the decode run in progress (step ``j`` takes dt + a*j)."""
        return i * r.seg_dt + 0.5 * r.seg_a * i * (i - 1)

    def steps_done(r, e):
        """Whole steps of the decode run done ``e`` seconds after it started."""
        if e <= 0:
            return 0
        if not r.seg_a:
            return math.floor(e / r.seg_dt + 1e-9)
        b_ = r.seg_dt - 0.5 * r.seg_a
        i = math.floor((-b_ + math.sqrt(b_ * b_ + 2.0 * r.seg_a * e)) / r.seg_a + 1e-9)
        while i > 0 and run_time(r, i) > e + 1e-12:  # rounding
            i -= 1
        while run_time(r, i + 1) <= e + 1e-12:
            i += 1
        return i

    if work is None:
        m_isl = float(np.mean(trace.input_tokens)) if n else 1.0
        m_osl = float(np.mean(trace.output_tokens)) if n else 1.0
        w_in, w_out = work_weights(model, m_isl, m_osl)
        work = (w_in, w_out, m_isl * w_in + m_osl * w_out)
    # each request in mean-request equivalents of replica work: utilization and the autoscaler count these
    req_work = (trace.input_tokens * work[0] + trace.output_tokens * work[1]) / work[2]
    req_work_l = req_work.tolist()

    reps: list[_Replica] = []
    heap: list = []
    seq = 0
    now = arr[0] if n else 0.0
    qi: deque = deque()  # interactive queue
    qb: deque = deque()  # batch queue

    def push(t, kind, a, b=0):
        nonlocal seq
        seq += 1
        heapq.heappush(heap, (t, seq, kind, a, b))

    # --- accounting (time-weighted) --------------------------------------------------------------------
    acc = {"t": start_time, "in_flight": 0, "in_int": 0, "reps": 0, "area": 0.0, "area_int": 0.0, "rep_s": 0.0,
           "finished": 0}
    peak = [0]

    def advance(t):
        dt = t - acc["t"]
        if dt > 0:
            acc["area"] += acc["in_flight"] * dt
            acc["area_int"] += acc["in_int"] * dt
            acc["rep_s"] += acc["reps"] * dt
            acc["t"] = t

    def add_replica(state, t):
        r = _Replica(len(reps), state, t)
        reps.append(r)
        acc["reps"] += 1
        peak[0] = max(peak[0], sum(1 for x in reps if x.state != _GONE))
        return r

    def remove_replica(r):
        r.state = _GONE
        acc["reps"] -= 1

    # --- replica mechanics -------------------------------------------------------------------------------
    def plan(r, t):
        r.version += 1
        b = len(r.run)
        # what every step of this segment costs beyond the step model: the requests waiting, and the
        # running sequences' output so far
        extra = kw * (len(qi) + len(qb)) / max(len(active), 1) if kw else 0.0
        f = r.sum_speed / b if speed is not None and b else 1.0  # the running sequences' mean speed factor
        if kg:
            extra += f * kg * (b * r.S - r.sum_join)
        if r.pf:
            budget = chunk
            take = []
            for item in r.pf:
                if budget <= 0:
                    break
                k = min(item[1], budget)
                take.append((item, k))
                budget -= k
            ntok = chunk - budget
            # a step with no sequence decoding passes its prompts' mean length (a prefill rank's step time
            # depends on it; a co-located replica's prefill does not read it)
            take_isl = sum(isl[item[0]] for item, _ in take)
            ctx = (r.sum_isl - r.sum_join) / b + r.S if b else take_isl / len(take)
            if ntok <= 0:  # prefilled requests joining: a plain decode step, theirs included
                ctx = (r.sum_isl - r.sum_join + r.S * b + take_isl) / (b + len(take))
                dt = decode_s(b + len(take), ctx) + extra
            else:
                dt = step_s(b, ctx, ntok) + extra
            if f != 1.0:  # the decode part of the mixed step
                dt += (f - 1.0) * decode_s(b, ctx)
            r.seg_kind, r.seg_start, r.seg_dt, r.seg_pf, r.seg_end = 1, t, dt, take, t + dt
            push(t + dt, _SEG, r.idx, r.version)
        elif b:
            k = max(math.ceil((r.run[0][0] - r.S) / g - 1e-9), 1)
            ctx = (r.sum_isl - r.sum_join) / b + r.S + 0.5 * g * k
            dt = f * decode_s(b, ctx) + extra
            r.seg_a = f * kg * b * g  # each step costs more as the running sequences' output grows (g tokens each)
            r.seg_kind, r.seg_start, r.seg_dt = 2, t, dt
            r.seg_end = t + run_time(r, k)
            push(r.seg_end, _SEG, r.idx, r.version)
        else:
            r.seg_kind = 0
            r.idle_since = t
            if r.state == _DRAINING:
                remove_replica(r)

    def cut(r, t):
        """An admission during a decode run: finish the step in progress, then re-plan."""
        if r.seg_kind != 2:
            return
        # (at least the step in progress: after a stall its start lies ahead of ``t``)
        done = steps_done(r, t - r.seg_start) + 1
        r.S += done * g
        r.version += 1
        r.seg_kind = 3  # waiting for the step boundary
        r.seg_end = r.seg_start + run_time(r, done)
        push(r.seg_end, _SEG, r.idx, r.version)

    def stall(r, t):
        """An arrival's front-end work (HTTP, validation, tokenization on a server whose engine shares the
        CPU or the interpreter with it) takes ``arr_s`` of the replica's time now: the work in progress
        ends that much later; an idle replica wakes (``wake_s``) and does it before anything else."""
        if r.seg_kind == 0:
            wake = wake_s * (1.0 - math.exp(-(t - r.idle_since) / wake_tau)) if wake_tau > 0 else wake_s
            r.seg_kind, r.seg_start, r.seg_end = 5, t, t + arr_s + wake
        else:
            if r.seg_kind == 2:  # the decode steps already done stay; the one in progress is longer
                done = steps_done(r, t - r.seg_start)
                r.S += done * g
                r.seg_start += run_time(r, done) + arr_s
                r.seg_dt += r.seg_a * done  # the run goes on from the step in progress
            r.seg_end += arr_s
        r.version += 1
        push(r.seg_end, _SEG, r.idx, r.version)

    def room(r, rid):
        return r.state == _ACTIVE and r.n_in < maxb and r.kv + isl[rid] + osl[rid] <= kvcap

    def admit(r, rid, t):
        dispatch[rid] = t
        r.n_in += 1
        r.kv += isl[rid] + osl[rid]
        acc["in_flight"] += 1
        if not is_batch[rid]:
            acc["in_int"] += 1
        tokens = 0.0 if prefilled else isl[rid]
        p = -1 if prefilled else pid[rid]
        if p >= 0:
            last = r.cache.get(p)
            if last is not None and t - last <= cache_ttl_s:
                hit_tokens[rid] = ptok[rid]
                tokens = max(tokens - ptok[rid], 1.0)
            r.cache[p] = t
        if prefix_hit_rate and not prefilled:
            cached = min(isl[rid] * prefix_hit_rate, tokens - 1.0)
            if cached > 0:
                hit_tokens[rid] += cached
                tokens -= cached
        r.pf.append([rid, tokens])
        if r.seg_kind == 0:
            plan(r, t)
        elif r.seg_kind == 2:
            cut(r, t)

    active: list[_Replica] = []

    def refresh_active():
        active[:] = [x for x in reps if x.state == _ACTIVE]

    def route(rid):
        if not active:
            return None
        if router == "prefix-affinity" and pid[rid] >= 0:
            r = active[pid[rid] % len(active)]
            if room(r, rid):
                return r
        best, best_n = None, maxb + 1
        for r in active:
            if r.n_in < best_n and room(r, rid):
                best, best_n = r, r.n_in
        return best

    def drain_queues(t):
        while qi:
            r = route(qi[0])
            if r is None:
                return
            admit(r, qi.popleft(), t)
        while qb:
            r = route(qb[0])
            if r is None:
                return
            admit(r, qb.popleft(), t)

    def seg_end(r, t):
        if r.seg_kind in (4, 5):  # the end of finished requests' streams, or of front-end work: go on
            plan(r, t)
            return
        finished = acc["finished"]
        if r.seg_kind == 1:
            r.S += g if r.run else 0.0
            for item, k in r.seg_pf:
                item[1] -= k
            if prefilled:
                # the requests that joined this step: their first token reached the client as it began (the
                # prompt's token, computed by the prefill pool), the step gave each g more; they count as
                # having joined one step earlier, so a target of join + osl - 1 holds
                for _ in range(len(r.seg_pf)):
                    rid = r.pf.popleft()[0]
                    first[rid] = r.seg_start
                    heapq.heappush(r.run, (r.S - g + osl[rid] - 1, rid))
                    r.sum_isl += isl[rid]
                    r.sum_join += r.S - g
                    if speed is not None:
                        r.sum_speed += speed[rid]
            while r.pf and r.pf[0][1] <= 1e-9 and not prefilled:
                rid = r.pf.popleft()[0]
                first[rid] = t
                if osl[rid] <= 1:
                    done(r, rid, t)
                else:
                    heapq.heappush(r.run, (r.S + osl[rid] - 1, rid))
                    r.sum_isl += isl[rid]
                    r.sum_join += r.S
                    if speed is not None:
                        r.sum_speed += speed[rid]
        elif r.seg_kind == 2:
            k = max(math.ceil((r.run[0][0] - r.S) / g - 1e-9), 1)
            r.S += k * g
        while r.run and r.run[0][0] <= r.S + 1e-9:
            tgt, rid = heapq.heappop(r.run)
            r.sum_isl -= isl[rid]
            r.sum_join -= tgt - (osl[rid] - 1)  # joined at S = target - (osl - 1)
            if speed is not None:
                r.sum_speed -= speed[rid]
            done(r, rid, t)
        if not r.run:
            r.sum_isl = r.sum_join = r.sum_speed = 0.0
        if fin_s and acc["finished"] > finished:
            r.version += 1
            r.seg_kind, r.seg_end = 4, t + fin_s
            push(r.seg_end, _SEG, r.idx, r.version)
            return
        plan(r, t)

    def done(r, rid, t):
        finish[rid] = t + fin_s
        acc["finished"] += 1
        r.n_in -= 1
        r.kv -= isl[rid] + osl[rid]
        acc["in_flight"] -= 1
        if not is_batch[rid]:
            acc["in_int"] -= 1

    # --- autoscaler ------------------------------------------------------------------------------------
    auto = autoscaler if autoscaler is not None and autoscaler.enabled else None
    cap_rps = capacity_requests_per_s
    if cap_rps is None:
        m_isl = float(np.mean(trace.input_tokens)) if n else 1.0
        m_osl = float(np.mean(trace.output_tokens)) if n else 1.0
        cap_rps = float(model.service(maxb, m_isl, m_osl)[2])
    for _ in range(replicas):
        add_replica(_ACTIVE, start_time)
    refresh_active()
    tick_count = [0]
    if auto is not None:
        push(start_time + auto.interval_s, _TICK, 0)

    timeline: list = []

    def tick(t):
        timeline.append((t, sum(1 for x in reps if x.state == _ACTIVE), sum(1 for x in reps if x.state == _PROVISIONING),
                         sum(1 for x in reps if x.state == _DRAINING), tick_count[0]))
        lam = tick_count[0] / auto.interval_s
        tick_count[0] = 0
        want = auto.desired(lam, cap_rps)
        live = [x for x in reps if x.state in (_ACTIVE, _PROVISIONING)]
        if want > len(live):
            # draining replicas come back first (they are still running), then new ones are provisioned
            for r in reps:
                if want == len(live):
                    break
                if r.state == _DRAINING:
                    r.state = _ACTIVE
                    live.append(r)
            refresh_active()
            for _ in range(want - len(live)):
                r = add_replica(_PROVISIONING, t)
                push(t + auto.provisioning_delay_s, _READY, r.idx)
        elif want < len(live):
            # cancel provisioning first, then drain the least-loaded active replicas
            extra = len(live) - want
            for r in sorted(live, key=lambda x: (x.state != _PROVISIONING, x.n_in)):
                if extra == 0:
                    break
                if r.state == _PROVISIONING:
                    remove_replica(r)
                else:
                    r.state = _DRAINING
                    if r.n_in == 0 and r.seg_kind == 0:
                        remove_replica(r)
                extra -= 1
            refresh_active()
        if t + auto.interval_s <= end_time + 1e-9:
            push(t + auto.interval_s, _TICK, 0)

    # --- main loop ---------------------------------------------------------------------------------------
    ai = 0
    rejected: list[int] = []
    while ai < n or heap:
        if heap and (ai >= n or heap[0][0] <= arr[ai]):
            t, _, kind, a, b = heapq.heappop(heap)
            advance(t)
            now = t
            if kind == _SEG:
                r = reps[a]
                if b != r.version or r.state == _GONE:
                    continue
                seg_end(r, t)
                drain_queues(t)
            elif kind == _TICK:
                if ai >= n and not any(x.n_in for x in reps):
                    continue
                tick(t)
                drain_queues(t)
            else:  # replica ready
                r = reps[a]
                if r.state == _PROVISIONING:
                    r.state = _ACTIVE
                    r.started = t
                    refresh_active()
                    drain_queues(t)
        else:
            t = arr[ai]
            advance(t)
            now = t
            rid = ai
            ai += 1
            if isl[rid] + osl[rid] > kvcap:
                # can never fit one replica's KV cache: refused at admission (an error to the client)
                rejected.append(rid)
                continue
            if arr_s or wake_s:
                # the replica the request is headed for (or, all full, the least-loaded one) does its
                # front-end work now
                fe = route(rid) or min(active, key=lambda x: x.n_in, default=None)
                if fe is not None:
                    stall(fe, t)
            if is_batch[rid]:
                qb.append(rid)
            else:
                tick_count[0] += req_work_l[rid]
                qi.append(rid)
            if len(qi) + len(qb) == 1:
                drain_queues(t)
            if kw and (qi or qb):  # a longer queue: the replicas' next steps take longer
                for x in active:
                    if x.seg_kind == 2:
                        cut(x, t)
    # provisioned time runs to the end of the horizon when that is later than the last completion
    advance(max(now, end_time))

    # replicas held (active, provisioning or draining) in each second of the horizon, from the ticks
    n_sec = max(math.ceil(acc["t"] - start_time), 1)
    reps_per_s = np.full(n_sec, replicas, np.int64)
    for k, row in enumerate(timeline):
        a = int(row[0] - start_time)
        b = int(timeline[k + 1][0] - start_time) if k + 1 < len(timeline) else n_sec
        reps_per_s[a:b] = row[1] + row[2] + row[3]

    first_a = np.array(first)
    fin = np.array(finish)
    disp = np.array(dispatch)
    arr_a = np.asarray(trace.arrival_s)
    out_a = np.asarray(trace.output_tokens)
    inter = ~np.asarray(is_batch, bool)
    ttft = first_a - arr_a
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(out_a > 1, (fin - first_a) / np.maximum(out_a - 1, 1), 0.0)
    ok = np.ones(n, bool)
    if slo.max_ttft_s is not None:
        ok &= ttft <= slo.max_ttft_s + 1e-12
    if slo.max_tpot_s is not None:
        ok &= tpot <= slo.max_tpot_s + 1e-12
    served = np.isfinite(fin)
    ti, pi = ttft[inter & served], tpot[inter & served]
    tokens = float((trace.input_tokens + trace.output_tokens)[served].sum())
    batch_tok = float((trace.input_tokens + trace.output_tokens)[served & ~inter].sum())
    in_tok = float(trace.input_tokens[inter].sum()) or 1.0

    q = (lambda x, p: float(np.percentile(x, p)) if len(x) else float("nan"))
    return FleetResult(
        engine="des",
        duration_s=acc["t"] - start_time,
        requests=int(inter.sum()),
        batch_requests=int((~inter).sum()),
        served_tokens=tokens,
        served_output_tokens=float(out_a[served].sum()),
        batch_tokens=batch_tok,
        gpu_seconds=acc["rep_s"] * model.gpus,
        served_requests=float((served & inter).sum()),
        served_batch_requests=float((served & ~inter).sum()),
        served_work=float(req_work[served & inter].sum()),
        served_batch_work=float(req_work[served & ~inter].sum()),
        capacity_requests_per_s=cap_rps,
        slot_occupancy=acc["area"] / maxb / acc["rep_s"] if acc["rep_s"] else 0.0,
        replica_seconds=acc["rep_s"],
        peak_replicas=peak[0],
        gpus_per_replica=model.gpus,
        slo_attainment=float(ok[inter].mean()) if inter.any() else float("nan"),
        ttft_p50_s=q(ti, 50), ttft_p99_s=q(ti, 99), tpot_p50_s=q(pi, 50), tpot_p99_s=q(pi, 99),
        mean_wait_s=float(np.nanmean((disp - arr_a)[inter])) if inter.any() else float("nan"),
        prefix_hit_rate=float(np.asarray(hit_tokens)[inter].sum()) / in_tok,
        extra={"rejected": len(rejected), "timeline": timeline, "replicas_per_s": reps_per_s, "ttft_s": ttft, "tpot_s": tpot, "wait_s": disp - arr_a, "served_share": float(served.mean()) if n else 1.0},
    )
