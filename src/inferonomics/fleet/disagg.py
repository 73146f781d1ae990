"""Prefill/decode-disaggregated pools in the request-level simulator.

A P+D unit (``prefill_gpus + decode_gpus`` GPUs of a disaggregated deployment) is simulated as two
stages in tandem, each the exact request-level engine (:func:`inferonomics.fleet.des.simulate`):

* **prefill**: every attention data-parallel rank of every prefill instance is a server of its own that
  prefills the prompts routed to it in steps of up to ``prefill_tokens_per_rank`` tokens (several prompts
  share a step), FIFO; a prompt's first token is computed there.  Step times come from the performance
  engine's disaggregated path (:func:`inferonomics.perf.kernel.prefill_step_s`, at the deployment's
  prefix-cache hit rate): a step of ``n`` uncached tokens from prompts of mean length ``L``;
* **KV transfer**: the prompt's KV cache then crosses the scale-out network (the engine's
  ``kv_transfer_s`` at the prompt's length, after the cached prefix's load from host memory where the
  deployment has a prefix-cache hit rate);
* **decode**: the decode instances take the request (least loaded with a free slot and room in its KV
  cache, else it waits) and decode it in continuous batches; its first token reaches the client with the
  first decode step it joins, as the engine counts half a TPOT.  Decode steps come from the engine's
  decode step at the decode instance's geometry (``tp``/``ep``/``pp``, MTP, two-batch overlap).

What the tandem leaves out: a prefill rank never waits for room in the decode pool (the request's KV waits
in the transfer queue instead), and the stages are sized apart (the autoscaler scales each on its own
work, as production planners scale prefill and decode pools independently); GPU-hours, utilization and
the peak are counted in P+D units (``gpu_seconds`` / unit GPUs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from inferonomics.catalog import get_catalog
from inferonomics.errors import InputError
from inferonomics.fleet.policy import Autoscaler, FleetResult, Slo
from inferonomics.fleet.replica import StepModel, step_model


@dataclass
class PrefillRankModel(StepModel):
    """One prefill rank: a step of ``n`` prompt tokens from prompts of mean length ``L`` takes
    ``table(n, L)`` (:func:`inferonomics.perf.kernel.prefill_step_s`, interpolated like a decode table:
    ``batch_grid`` holds the tokens, ``ctx_grid`` the prompt lengths); the simulator passes the mean length
    of the prompts in the step as the context of a step without decoding sequences."""

    def step_one(self, batch: float, ctx: float, prefill_tokens: float) -> float:
        return self.decode_one(max(prefill_tokens, 1.0), max(ctx, 1.0))

    def prefill_one(self, tokens: float) -> float:
        n = max(float(tokens), 1.0)
        if n <= self.chunk_tokens:
            return self.decode_one(n, n)
        return self.decode_one(self.chunk_tokens, n) * n / self.chunk_tokens  # a long prompt: full chunks

    def prefill_s(self, tokens):
        return np.array([self.prefill_one(float(x)) for x in np.ravel(tokens)]).reshape(np.shape(tokens))


@dataclass
class DisaggModel:
    """One P+D unit of a disaggregated deployment as the tandem simulator sees it."""

    prefill: StepModel  # one prefill rank (``gpus``: the GPUs it stands for, prefill_tp x pp)
    decode: StepModel  # one decode instance
    prefill_ranks_per_unit: int
    decode_instances_per_unit: int
    unit_gpus: int
    xfer_isl_grid: np.ndarray  # prompt lengths (tokens) ...
    xfer_s: np.ndarray  # ... and the time from prefill to decode at each (s): cached-prefix load, KV transfer
    label: str = ""

    def xfer_one(self, isl: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(isl, float), self.xfer_isl_grid, self.xfer_s)

    def prefill_capacity_requests_per_s(self, input_tokens: float, new_tokens: float | None = None) -> float:
        """Prompts per second one prefill rank completes when its steps are full, for prompts of
        ``input_tokens`` of which ``new_tokens`` (default: all) are not in the prefix cache."""
        chunk = self.prefill.chunk_tokens
        i = max(float(input_tokens), 1.0)
        new = i if new_tokens is None else max(float(new_tokens), 1.0)
        return chunk / self.prefill.step_one(0.0, i, chunk) / new

    def decode_capacity_requests_per_s(self, input_tokens: float, output_tokens: float) -> float:
        """Requests per second one decode instance completes at its largest batch."""
        m = self.decode
        b = m.max_batch
        step = m.decode_one(b, input_tokens + 0.5 * output_tokens)
        return b / max(output_tokens / m.tokens_per_step * step, 1e-12)


def disagg_model(deployment: dict, catalog=None, max_decode_batch: int | None = None) -> DisaggModel:
    """The prefill rank, the decode instance and the KV transfer of one P+D unit of ``deployment`` (perf
    keyword arguments with ``prefill_gpus`` and ``decode_gpus``).  The decode instances' batch is the
    deployment's SLO operating point (``max_tpot_s``/``max_ttft_s``) shared over its decode instances when it
    carries one, else the most sequences that fit; ``max_decode_batch`` overrides it."""
    from inferonomics.perf.api import Deployment, kernel_inputs, operating_point, predict
    from inferonomics.perf.kernel import evaluate, prefill_cache_load_s, prefill_step_s

    cat = catalog or get_catalog()
    dep = dict(deployment)
    slo = {k: dep.pop(k) for k in ("max_tpot_s", "max_ttft_s") if k in dep}
    dep.pop("concurrency", None)
    if dep.get("prefill_gpus") is None or dep.get("decode_gpus") is None:
        raise InputError("deployment.prefill_gpus" if dep.get("prefill_gpus") is None else "deployment.decode_gpus",
                         None, "a disaggregated deployment needs both prefill_gpus and decode_gpus")
    model, gpu = dep.pop("model"), dep.pop("gpu")
    top = predict(model, gpu, catalog=cat, concurrency=None, **dep)  # validates with clear errors
    units = float(top["replicas"])
    d = Deployment(model=model, gpu=gpu, **dep).resolved()
    pg, dg = int(d.prefill_gpus), int(d.decode_gpus)
    pre_inst = (d.prefill_ep if d.prefill_ep > 1 else int(d.prefill_tp))
    pre_dp = d.prefill_ep // int(d.prefill_tp) if d.prefill_ep > 1 else 1
    dec_inst = (d.ep if d.ep > 1 else int(d.tp)) * d.pp
    ranks = (pg // pre_inst) * pre_dp
    dec_n = dg // dec_inst

    # the prefill rank: a step of n prompt tokens per rank, from prompts of length L (several share a step)
    a, hw, s = kernel_inputs(cat, [d])
    tpr = float(cat.const("prefill_tokens_per_rank"))
    max_ctx = float(cat.model(model).max_context)
    tok = np.unique(np.round(np.geomspace(1.0, tpr, 24)))
    length = np.unique(np.round(np.geomspace(1.0, max_ctx - 1.0, 20)))
    # at the deployment's own prefix-cache hit rate (a prompt of L tokens reads h L of them from the cache)
    hit = float(dep.get("prefix_hit_rate", 0.0) or 0.0)
    ptab = prefill_step_s(a, hw, {**s, "prefix_hit": np.array([hit])}, tok[:, None], length[None, :])
    s_x = {**s, "isl": np.unique(np.round(np.geomspace(1.0, max_ctx - 2.0, 16))), "osl": np.array([2.0]),
           "concurrency": np.array([1.0]), "prefix_hit": np.array([0.0])}
    xgrid = s_x["isl"]
    # before the decode pool can take a request: its KV crosses the network, after the prefill instance
    # loaded its cached prefix (host memory or storage), as the engine adds both to the TTFT
    xfer = np.asarray(evaluate(a, hw, s_x)["kv_transfer_s"], float) + prefill_cache_load_s(
        a, hw, {**s, "prefix_hit": np.array([hit])}, xgrid)
    if not (np.all(np.isfinite(ptab)) and np.all(np.isfinite(xfer))):
        raise InputError("deployment", f"{model} on {gpu}", "the performance model gave no prefill or KV transfer "
                         "time for part of the prompt lengths")
    pf = np.array([1.0, 1000.0])
    prefill = PrefillRankModel(tok, length, ptab, pf, np.array([ptab[0, 0], ptab[0, 0]]), 1.0, 1_000_000, math.inf,
                               tpr, max(pre_inst // pre_dp, 1), f"{model} prefill rank on {gpu}")

    # the decode instance: the engine's decode step at the decode geometry (a co-located instance of that
    # shape running pure decode steps), KV capacity from its memory
    dec_dep = {k: v for k, v in dep.items() if k not in ("gpus", "prefill_gpus", "decode_gpus", "prefill_tp",
                                                         "prefill_ep", "prefix_hit_rate")}
    dec_dep.update(gpus=dec_inst, tp=int(d.tp), ep=int(d.ep), pp=int(d.pp), tbo=bool(d.tbo), kv=d.kv)
    decode = step_model({"model": model, "gpu": gpu, **dec_dep}, catalog=cat)
    if max_decode_batch is None and slo and any(v is not None for v in slo.values()):
        op = float(operating_point(model, gpu, catalog=cat, **slo, **dep))
        max_decode_batch = max(int(op / max(units * dec_n, 1.0)), 1)
    if max_decode_batch is not None:
        decode = replace(decode, max_batch=max(min(int(max_decode_batch), decode.max_batch), 1))
    decode = replace(decode, label=f"{model} decode instance on {dec_inst}x {gpu}")
    return DisaggModel(prefill, decode, ranks, dec_n, pg + dg, xgrid, xfer,
                       f"{model} on {pg}+{dg} {gpu} (P+D)")


def _stage_auto(auto: Autoscaler | None, per_unit: int) -> Autoscaler | None:
    if auto is None or not auto.enabled:
        return None
    return replace(auto, min_replicas=auto.min_replicas * per_unit, max_replicas=auto.max_replicas * per_unit)


def simulate(trace, dm: DisaggModel, *, units: int = 1, slo: Slo | None = None, autoscaler: Autoscaler | None = None,
             router: str = "least-loaded", cache_ttl_s: float = 300.0, duration_s: float | None = None,
             capacity_requests_per_s: float | None = None, prefix_hit_rate: float = 0.0,
             decode_speed: np.ndarray | None = None) -> FleetResult:
    """Run ``trace`` through ``units`` P+D units (the autoscaler's starting size when given; each stage is
    then scaled on its own, in whole prefill ranks and decode instances).  ``capacity_requests_per_s``: one
    unit's capacity at its operating point (default: the slower stage's); utilization counts requests, as
    the time-stepped engine does for a disaggregated pool.  The decode stage's clock starts when the first
    KV cache lands (its instances are not paid for the first request's TTFT before it)."""
    from inferonomics.fleet import des
    from inferonomics.fleet.demand import Trace

    if units < 1:
        raise InputError("units", units, "must be at least 1")
    slo = slo or Slo()
    n = len(trace)
    isl = np.asarray(trace.input_tokens, float)
    osl = np.asarray(trace.output_tokens, float)
    m_isl = float(isl.mean()) if n else 1.0
    m_osl = float(osl.mean()) if n else 1.0
    new_isl = max(m_isl * (1.0 - prefix_hit_rate), 1.0)
    cap_p = dm.prefill_capacity_requests_per_s(m_isl, new_isl)
    cap_d = dm.decode_capacity_requests_per_s(m_isl, m_osl)
    if capacity_requests_per_s is None:
        capacity_requests_per_s = min(cap_p * dm.prefill_ranks_per_unit, cap_d * dm.decode_instances_per_unit)

    # prefill: the prompts alone (one output token: the first, computed there)
    pre_trace = replace(trace, output_tokens=np.ones(n))
    p = des.simulate(pre_trace, dm.prefill, replicas=units * dm.prefill_ranks_per_unit, slo=Slo(None, None),
                     autoscaler=_stage_auto(autoscaler, dm.prefill_ranks_per_unit), router=router,
                     cache_ttl_s=cache_ttl_s, duration_s=duration_s, capacity_requests_per_s=cap_p,
                     work=(1.0 / m_isl, 0.0, 1.0), prefix_hit_rate=prefix_hit_rate)
    p_ttft = np.asarray(p.extra["ttft_s"], float)
    ok_p = np.isfinite(p_ttft)
    # the KV transfer, then the decode pool: requests arrive prefilled, in the order their KV lands
    ready = np.asarray(trace.arrival_s, float) + p_ttft + dm.xfer_one(isl)
    idx = np.flatnonzero(ok_p)
    order = idx[np.argsort(ready[idx], kind="stable")]
    dec_trace = Trace(ready[order], isl[order], osl[order], np.asarray(trace.tenant)[order],
                      np.full(len(order), -1, np.int64), np.zeros(len(order)), trace.tenant_names,
                      trace.tenant_classes)
    speed = None if decode_speed is None else np.asarray(decode_speed, float)[order]
    arr = np.asarray(trace.arrival_s, float)
    lead_s = float(ready[order[0]] - arr[0]) if len(order) else 0.0  # the decode stage's clock starts this late
    end = None if duration_s is None else float(duration_s) - lead_s
    d = des.simulate(dec_trace, dm.decode, replicas=units * dm.decode_instances_per_unit, slo=Slo(None, None),
                     autoscaler=_stage_auto(autoscaler, dm.decode_instances_per_unit),
                     duration_s=None if end is None else max(end, 1e-9), capacity_requests_per_s=cap_d,
                     work=(0.0, 1.0 / m_osl, 1.0), prefilled=True, decode_speed=speed)
    first_d = np.full(n, np.nan)
    tpot = np.full(n, np.nan)
    first_d[order] = np.asarray(d.extra["ttft_s"], float) + ready[order]
    tpot[order] = np.asarray(d.extra["tpot_s"], float)
    ttft = first_d - arr
    inter = ~np.asarray(trace.is_batch(), bool)
    served = np.isfinite(ttft) & np.isfinite(tpot)
    ok = served.copy()
    if slo.max_ttft_s is not None:
        ok &= ttft <= slo.max_ttft_s + 1e-12
    if slo.max_tpot_s is not None:
        ok &= tpot <= slo.max_tpot_s + 1e-12
    gpu_s = p.gpu_seconds + d.gpu_seconds
    unit_s = gpu_s / dm.unit_gpus
    dur = max(p.duration_s, d.duration_s + lead_s)
    # units held in each second: the prefill ranks' and decode instances' GPUs over a unit's
    rp, rd = np.asarray(p.extra["replicas_per_s"], float), np.asarray(d.extra["replicas_per_s"], float)
    shift = int(lead_s)
    n_sec = max(len(rp), len(rd) + shift)
    per_s = np.zeros(n_sec)
    per_s[: len(rp)] += rp * dm.prefill.gpus
    per_s[shift: shift + len(rd)] += rd * dm.decode.gpus
    per_s /= dm.unit_gpus
    peak = max(math.ceil(p.peak_replicas / dm.prefill_ranks_per_unit - 1e-9),
               math.ceil(d.peak_replicas / dm.decode_instances_per_unit - 1e-9), 1)
    ti, pi = ttft[inter & served], tpot[inter & served]
    q = (lambda x, pc: float(np.percentile(x, pc)) if len(x) else float("nan"))
    tokens = float((isl + osl)[served].sum())
    return FleetResult(
        engine="des",
        duration_s=dur,
        requests=int(inter.sum()),
        batch_requests=int((~inter).sum()),
        served_tokens=tokens,
        served_output_tokens=float(osl[served].sum()),
        batch_tokens=float((isl + osl)[served & ~inter].sum()),
        gpu_seconds=gpu_s,
        served_requests=float((served & inter).sum()),
        served_batch_requests=float((served & ~inter).sum()),
        served_work=float((served & inter).sum()),
        served_batch_work=float((served & ~inter).sum()),
        capacity_requests_per_s=float(capacity_requests_per_s),
        slot_occupancy=d.slot_occupancy,
        replica_seconds=unit_s,
        peak_replicas=peak,
        gpus_per_replica=dm.unit_gpus,
        slo_attainment=float(ok[inter].mean()) if inter.any() else float("nan"),
        ttft_p50_s=q(ti, 50), ttft_p99_s=q(ti, 99), tpot_p50_s=q(pi, 50), tpot_p99_s=q(pi, 99),
        mean_wait_s=float(np.nanmean((np.asarray(p.extra["wait_s"]) + np.nan_to_num(_scatter(
            n, order, d.extra["wait_s"])))[inter])) if inter.any() else float("nan"),
        prefix_hit_rate=p.prefix_hit_rate,
        extra={"rejected": p.extra["rejected"] + d.extra["rejected"], "replicas_per_s": per_s, "ttft_s": ttft,
               "tpot_s": tpot, "served_share": float(served.mean()) if n else 1.0,
               "prefill_gpu_seconds": p.gpu_seconds, "decode_gpu_seconds": d.gpu_seconds,
               "prefill_peak_ranks": p.peak_replicas, "decode_peak_instances": d.peak_replicas,
               "kv_transfer_s_mean": float(dm.xfer_one(isl).mean()) if n else 0.0},
    )


def _scatter(n: int, order: np.ndarray, values) -> np.ndarray:
    out = np.full(n, np.nan)
    out[order] = np.asarray(values, float)
    return out

