"""Replica step times from the performance engine.

A fleet replica is one model instance of a deployment (``tp x pp`` or ``ep x pp`` GPUs).  Its engine step
time as a function of the decode batch and context, and its prefill time as a function of the prompt
tokens, come from :func:`inferonomics.perf.kernel.evaluate` on the deployment's own kernel columns
(:func:`inferonomics.perf.api.kernel_inputs`), evaluated once on a grid and interpolated:

* decode step (s) at batch ``B`` and context ``L``: the static-batching decode step of ``B`` sequences at
  mean context ``L`` (``decode_step_s``), yielding ``tokens_per_step`` tokens per sequence (MTP);
* prefill (s) of ``n`` uncached prompt tokens: the static-batching TTFT of one ``n``-token prompt.

A continuous-batching step that carries ``n`` prefill tokens next to ``B`` decoding sequences takes the
decode step plus the prefill's marginal time over a one-token prefill (the weights are read once).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, replace

import numpy as np

from inferonomics.catalog import get_catalog
from inferonomics.errors import InputError


@dataclass
class StepModel:
    """Interpolated step times of one replica.  ``batch_grid`` × ``ctx_grid`` → ``decode_s``;
    ``prefill_grid`` → ``prefill_s``."""

    batch_grid: np.ndarray
    ctx_grid: np.ndarray
    decode_table_s: np.ndarray
    prefill_grid: np.ndarray
    prefill_table_s: np.ndarray
    tokens_per_step: float
    max_batch: int
    kv_capacity_tokens: float
    chunk_tokens: float
    gpus: int
    label: str = ""
    # seconds a request still holds the replica after its last token (the end of its stream: final chunk,
    # clean-up), measured on a real server by ``bench fit-replica``; 0 for the analytic model
    finish_s: float = 0.0
    # seconds of the replica's time each arriving request's front-end work (HTTP, validation,
    # tokenization) takes at its arrival, stalling whatever runs then: a server whose front end shares the
    # CPU or the interpreter with the engine (llama-cpp-python's); fitted by ``bench fit-replica`` on runs
    # with requests in flight together; 0 for the analytic model
    arrival_s: float = 0.0
    # seconds each request waiting in the queue adds to every step (a scheduler that walks its queue each
    # step, a front end that serves its open connections); fitted by ``bench fit-replica`` on open-loop
    # runs; 0 for the analytic model
    waiting_s_per_step: float = 0.0
    # seconds a request that finds the replica idle waits for it to wake (threads parked, caches cold), on
    # top of its arrival work: fitted by ``bench fit-replica`` on open-loop runs against the closed loop,
    # where the server never rests; 0 for the analytic model
    idle_start_s: float = 0.0
    # how fast that wake-up grows with the time the replica rested: ``idle_start_s * (1 - exp(-rest /
    # idle_tau_s))``; 0: the same after any rest
    idle_tau_s: float = 0.0
    # seconds each decode step costs per token a running sequence has generated so far (a server that
    # detokenizes or scans a request's whole output at every token, as llama-cpp-python's streaming does):
    # fitted by ``bench fit-replica``; 0 for the analytic model
    gen_s_per_token: float = 0.0

    def decode_s(self, batch, ctx):
        """Decode step seconds for ``batch`` running sequences at mean context ``ctx`` (bilinear in logs)."""
        b = np.clip(np.asarray(batch, float), self.batch_grid[0], self.batch_grid[-1])
        c = np.clip(np.asarray(ctx, float), self.ctx_grid[0], self.ctx_grid[-1])
        lb, lc = np.log(self.batch_grid), np.log(self.ctx_grid)
        xb, xc = np.log(b), np.log(c)
        ib = np.clip(np.searchsorted(lb, xb) - 1, 0, len(lb) - 2)
        ic = np.clip(np.searchsorted(lc, xc) - 1, 0, len(lc) - 2)
        fb = (xb - lb[ib]) / (lb[ib + 1] - lb[ib])
        fc = (xc - lc[ic]) / (lc[ic + 1] - lc[ic])
        t = self.decode_table_s
        return ((1 - fb) * (1 - fc) * t[ib, ic] + fb * (1 - fc) * t[ib + 1, ic]
                + (1 - fb) * fc * t[ib, ic + 1] + fb * fc * t[ib + 1, ic + 1])

    def __post_init__(self):
        # plain-Python copies for the request-level simulator's scalar calls (NumPy on scalars is slow)
        self._lb = [math.log(x) for x in self.batch_grid]
        self._lc = [math.log(x) for x in self.ctx_grid]
        self._lp = [math.log(x) for x in self.prefill_grid]
        self._lpt = [math.log(x) for x in self.prefill_table_s]
        self._tab = [list(map(float, row)) for row in self.decode_table_s]
        self._p1 = self.prefill_one(1.0)

    def decode_one(self, batch: float, ctx: float) -> float:
        """:meth:`decode_s` for one scalar point."""
        lb, lc = self._lb, self._lc
        xb = math.log(min(max(batch, self.batch_grid[0]), self.batch_grid[-1]))
        xc = math.log(min(max(ctx, self.ctx_grid[0]), self.ctx_grid[-1]))
        ib = min(max(bisect.bisect_left(lb, xb) - 1, 0), len(lb) - 2)
        ic = min(max(bisect.bisect_left(lc, xc) - 1, 0), len(lc) - 2)
        fb = (xb - lb[ib]) / (lb[ib + 1] - lb[ib])
        fc = (xc - lc[ic]) / (lc[ic + 1] - lc[ic])
        t0, t1 = self._tab[ib], self._tab[ib + 1]
        return ((1 - fb) * (1 - fc) * t0[ic] + fb * (1 - fc) * t1[ic] + (1 - fb) * fc * t0[ic + 1]
                + fb * fc * t1[ic + 1])

    def prefill_one(self, tokens: float) -> float:
        lp = self._lp
        x = math.log(min(max(tokens, self.prefill_grid[0]), self.prefill_grid[-1]))
        i = min(max(bisect.bisect_left(lp, x) - 1, 0), len(lp) - 2)
        f = (x - lp[i]) / (lp[i + 1] - lp[i])
        return math.exp(self._lpt[i] + f * (self._lpt[i + 1] - self._lpt[i]))

    def step_one(self, batch: float, ctx: float, prefill_tokens: float) -> float:
        if batch <= 0:
            return self.prefill_one(max(prefill_tokens, 1.0))
        t = self.decode_one(batch, ctx)
        return t + (self.prefill_one(prefill_tokens) - self._p1 if prefill_tokens > 0 else 0.0)

    def prefill_s(self, tokens):
        n = np.clip(np.asarray(tokens, float), self.prefill_grid[0], self.prefill_grid[-1])
        return np.exp(np.interp(np.log(n), np.log(self.prefill_grid), np.log(self.prefill_table_s)))

    def step_s(self, batch, ctx, prefill_tokens):
        """One continuous-batching step: ``batch`` decoding sequences plus ``prefill_tokens`` prompt tokens."""
        batch = np.asarray(batch, float)
        pf = np.asarray(prefill_tokens, float)
        dec = self.decode_s(np.maximum(batch, 1), ctx)
        marg = self.prefill_s(np.maximum(pf, 1)) - self.prefill_s(1)
        return np.where(batch > 0, dec + np.where(pf > 0, marg, 0.0), self.prefill_s(np.maximum(pf, 1)))

    def service(self, batch, input_tokens, output_tokens):
        """Steady state at ``batch`` sequences in flight per replica with mean lengths: (TTFT, TPOT,
        requests/s).  While one sequence decodes, the others' prompts are prefilled in its steps."""
        b = np.maximum(np.asarray(batch, float), 1.0)
        ctx = input_tokens + 0.5 * output_tokens
        g = self.tokens_per_step
        t_dec = self.decode_s(b, ctx)
        steps = output_tokens / g
        # prefill work of the other b-1 sequences, spread over this sequence's decode steps
        pf_marg = (self.prefill_s(input_tokens) - self.prefill_s(1)) * (b - 1) / np.maximum(steps, 1.0)
        # the output-token cost at its mean over the decode steps ((output - 2) / 2 tokens from earlier steps,
        # as the simulator and the fit count it)
        step = t_dec + pf_marg + self.gen_s_per_token * b * 0.5 * np.maximum(output_tokens - 2.0, 0.0)
        ttft = self.step_s(b - 1, ctx, np.minimum(input_tokens, self.chunk_tokens)) * np.ceil(
            input_tokens / self.chunk_tokens)
        tpot = step / g
        ttft = ttft + self.arrival_s  # its own front-end work (in steady state it lands on other streams)
        latency = ttft + (output_tokens - 1) * tpot + self.finish_s
        return ttft, tpot, b / latency


def work_weights(model: StepModel, input_tokens: float, output_tokens: float) -> tuple[float, float]:
    """Replica-seconds per input token (prefill beyond the weight read) and per output token (a share of
    a full-batch decode step) at the operating point: demand in equivalents of work, so a long prompt
    loads the fleet more than a short one."""
    w_in = float(model.prefill_s(max(input_tokens, 1.0)) - model.prefill_s(1)) / max(input_tokens, 1.0)
    ctx = input_tokens + 0.5 * output_tokens
    w_out = float(model.decode_s(model.max_batch, ctx)) / model.max_batch / model.tokens_per_step
    return w_in, w_out


def constant_step(step_s: float, max_batch: int = 1, gpus: int = 1) -> StepModel:
    """A replica whose every step takes ``step_s`` and yields one token (queueing-theory checks)."""
    g = np.array([1.0, 2.0])
    return StepModel(g, g, np.full((2, 2), step_s), g, np.full(2, step_s), 1.0, max_batch, np.inf, 1e12, gpus,
                     f"constant {step_s} s")


def step_model(deployment: dict, catalog=None, max_batch: int | None = None, batch_points: int = 24,
               ctx_points: int = 14) -> StepModel:
    """The step model of one replica of ``deployment`` (perf keyword arguments: ``model``, ``gpu``,
    ``tp``, ``weights``, ...).  ``max_batch`` defaults to the SLO operating point when the deployment
    carries ``max_tpot_s``/``max_ttft_s``, else to the most sequences that fit at its ``isl``/``osl``."""
    from inferonomics.perf.api import Deployment, kernel_inputs, operating_point, predict
    from inferonomics.perf.kernel import evaluate

    cat = catalog or get_catalog()
    dep = dict(deployment)
    slo = {k: dep.pop(k) for k in ("max_tpot_s", "max_ttft_s") if k in dep}
    dep.pop("concurrency", None)
    if dep.get("prefill_gpus") is not None or dep.get("decode_gpus") is not None:
        raise InputError(
            "deployment.prefill_gpus", dep.get("prefill_gpus"),
            "a step model is one co-located replica; a prefill/decode-disaggregated deployment is a P+D unit "
            "(inferonomics.fleet.disagg.disagg_model, or a fleet scenario's pool with engine des or fluid)",
        )
    model, gpu = dep.pop("model"), dep.pop("gpu")
    top = predict(model, gpu, catalog=cat, concurrency=None, **dep)  # validates with clear errors
    inst = int(top["instance_gpus"])
    dep["gpus"] = inst
    top = predict(model, gpu, catalog=cat, concurrency=None, **dep)
    if max_batch is None:
        if slo and any(v is not None for v in slo.values()):
            max_batch = round(operating_point(model, gpu, catalog=cat, **slo, **dep))
        else:
            max_batch = int(top["max_concurrency"])
    max_batch = max(int(max_batch), 1)
    d = Deployment(model=model, gpu=gpu, **dep).resolved()
    a, hw, s = kernel_inputs(cat, [d])
    max_ctx = float(cat.model(model).max_context)
    # KV capacity in tokens: the sequences that fit at a long context, times that context
    long_ctx = min(max_ctx, 32768.0)
    s_cap = {**s, "isl": np.array([long_ctx - 1.0]), "osl": np.array([1.0]), "concurrency": np.array([np.nan])}
    cap = evaluate(a, hw, s_cap)
    kv_tokens = float(cap["max_concurrency"][0]) * long_ctx if cap["fits"][0] else float(
        top["max_concurrency"]) * (d.isl + d.osl)
    # the batch also stays within the KV cache at the deployment's mean lengths
    max_batch = max(min(max_batch, int(kv_tokens // (d.isl + d.osl))), 1)
    bgrid = np.unique(np.round(np.geomspace(1, max(max_batch, 2), batch_points)))
    cgrid = np.geomspace(16.0, max_ctx, ctx_points)
    s_dec = {**s, "static": np.array([1.0]), "prefix_hit": np.array([0.0]),
             "concurrency": bgrid[:, None] * np.ones((1, len(cgrid))),
             "isl": np.ones((len(bgrid), 1)) * (cgrid[None, :] - 1.0), "osl": np.array([2.0])}
    # the KV limit must not cap the batch on the grid (the simulator enforces KV capacity itself)
    s_dec["max_batch_per_rank"] = np.array([1e9])
    s_dec["gpu_memory_utilization"] = np.array([1e6])
    r = evaluate(a, hw, s_dec)
    table = np.asarray(r["decode_step_s"], float)
    gain = float(np.nanmean(r["tokens_per_step"]))
    pgrid = np.unique(np.round(np.geomspace(1, max_ctx - 1, 28)))
    s_pf = {**s, "static": np.array([1.0]), "prefix_hit": np.array([0.0]), "concurrency": np.array([1.0]),
            "isl": pgrid, "osl": np.array([1.0]), "gpu_memory_utilization": np.array([1e6])}
    rp = evaluate(a, hw, s_pf)
    ptab = np.asarray(rp["ttft_s"], float)
    if not (np.all(np.isfinite(table)) and np.all(np.isfinite(ptab))):
        raise InputError("deployment", f"{model} on {gpu}", "the performance model gave no step time on part of the grid")
    m = StepModel(bgrid, cgrid, table, pgrid, ptab, gain, max_batch, kv_tokens,
                  float(cat.const("max_batched_tokens")), inst, f"{model} on {inst}x {gpu}")
    if slo and any(v is not None for v in slo.values()):
        # keep the batch within the latency targets as this step model sees them (it interpolates the
        # perf engine, so its steady state can sit a few percent off perf's own operating point)
        b = np.arange(1, max_batch + 1, dtype=float)
        ttft, tpot, _ = m.service(b, float(d.isl), float(d.osl))
        ok = np.ones(len(b), bool)
        if slo.get("max_tpot_s") is not None:
            ok &= tpot <= slo["max_tpot_s"]
        if slo.get("max_ttft_s") is not None:
            ok &= ttft <= slo["max_ttft_s"]
        m = replace(m, max_batch=int(b[ok].max()) if ok.any() else 1)
    return m


def with_max_batch(m: StepModel, max_batch: int) -> StepModel:
    return replace(m, max_batch=int(max_batch))
