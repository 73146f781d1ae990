"""The load generator: fixed concurrency, Poisson arrivals at a rate, and concurrency sweeps.

A run: connect, find the model and the tokenizer, probe the endpoint once (a short non-streamed request:
it checks the request is accepted and measures the tokens the server adds to every prompt), build the
prompts, then send them.  Every request's record is stored the moment it completes.  A run ends
``complete``; or ``incomplete`` when interrupted (Ctrl-C, SIGTERM, a cancelled task) or when the
server stops answering (``max_consecutive_connect_errors`` connection failures in a row), keeping what
it measured.  HTTP errors, timeouts, malformed streams and errors inside the stream are recorded and the
run goes on.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Self

import aiohttp
import numpy as np

from inferonomics.bench.client import (
    APIS,
    TRANSPORT_ERRORS,
    Endpoint,
    MalformedChunk,
    RouteTokenizer,
    post_json,
    send,
    usage_counts,
)
from inferonomics.bench.metrics import summarize
from inferonomics.bench.prompts import Prompt, exact_text, load_jsonl, pseudo_words
from inferonomics.bench.records import OUTPUT_TOKEN_SOURCES, RequestRecord, count_output_tokens
from inferonomics.bench.store import Run, Store, new_run_id
from inferonomics.errors import InputError

MODES = ("concurrency", "rate", "trace")
# connection failures (nothing answers): enough of them in a row and the run stops, incomplete
CONNECT_ERRORS = ("ClientConnectorError", "ClientConnectionError", "ConnectionRefusedError", "ServerDisconnectedError")


@dataclass(frozen=True)
class BenchConfig:
    """What to measure.  ``mode``: ``concurrency`` (``concurrency`` requests always in flight),
    ``rate`` (Poisson arrivals at ``rate_per_s``, at most ``max_concurrency`` in flight if given) or
    ``trace`` (the requests of ``trace_file`` at their timestamps, see :mod:`inferonomics.bench.replay`:
    from ``trace_start_s`` on, gaps multiplied by ``time_scale``).

    ``num_requests``: requests to send (the most, with ``duration_s``: no new request after it).
    ``isl``/``osl``: input tokens (as the server counts them) and ``max_tokens`` of synthetic prompts;
    ``prompts_file``: JSONL prompts instead.  ``slo_ttft_s``/``slo_tpot_s``: for goodput."""

    url: str
    api: str = "completions"
    model: str | None = None
    mode: str = "concurrency"
    concurrency: int = 1
    rate_per_s: float | None = None
    max_concurrency: int | None = None
    num_requests: int = 32
    duration_s: float | None = None
    isl: int = 128
    osl: int = 64
    prompts_file: str | None = None
    warmup: int = 0
    seed: int = 0
    ignore_eos: bool = True
    stream_usage: bool = True
    temperature: float | None = None
    timeout_s: float = 300.0
    extra_body: dict = field(default_factory=dict)
    output_tokens_from: tuple[str, ...] = OUTPUT_TOKEN_SOURCES
    keep_text: bool = True
    slo_ttft_s: float | None = None
    slo_tpot_s: float | None = None
    max_consecutive_connect_errors: int = 10
    label: str | None = None
    trace_file: str | None = None
    trace_format: str | None = None
    time_scale: float = 1.0
    trace_start_s: float = 0.0

    def check(self) -> None:
        if self.api not in APIS:
            raise InputError("api", self.api, f"allowed values are {', '.join(APIS)}")
        if self.mode not in MODES:
            raise InputError("mode", self.mode, f"allowed modes are {', '.join(MODES)}")
        if not self.url.startswith(("http://", "https://")):
            raise InputError("url", self.url, "must be an http:// or https:// URL of an OpenAI-compatible server")
        if self.mode == "concurrency" and self.concurrency < 1:
            raise InputError("concurrency", self.concurrency, "must be at least 1")
        if not (math.isfinite(self.time_scale) and self.time_scale > 0):
            raise InputError("time-scale", self.time_scale, "must be a positive factor on the trace's time gaps")
        if not (math.isfinite(self.trace_start_s) and self.trace_start_s >= 0):
            raise InputError("trace-start-s", self.trace_start_s, "must be 0 or more seconds into the trace")
        if self.mode == "rate" and not (self.rate_per_s and self.rate_per_s > 0):
            raise InputError("rate", self.rate_per_s, "must be a positive number of requests per second")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise InputError("max-concurrency", self.max_concurrency, "must be at least 1")
        for name in ("num_requests", "isl", "osl"):
            if getattr(self, name) < 1:
                raise InputError(name.replace("_", "-"), getattr(self, name), "must be at least 1")
        if self.warmup < 0:
            raise InputError("warmup", self.warmup, "must be 0 or more requests")
        if self.timeout_s <= 0:
            raise InputError("timeout", self.timeout_s, "must be a positive number of seconds")
        if self.duration_s is not None and self.duration_s <= 0:
            raise InputError("duration", self.duration_s, "must be a positive number of seconds")
        bad = [s for s in self.output_tokens_from if s not in OUTPUT_TOKEN_SOURCES]
        if bad or not self.output_tokens_from:
            raise InputError("output-tokens-from", ",".join(self.output_tokens_from),
                             f"a comma-separated list of {', '.join(OUTPUT_TOKEN_SOURCES)}")
        for name in ("slo_ttft_s", "slo_tpot_s"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise InputError(name.replace("_", "-"), v, "must be a positive number of seconds")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["output_tokens_from"] = list(self.output_tokens_from)
        return d

    def endpoint(self, model: str | None = None, api_key: str | None = None) -> Endpoint:
        return Endpoint(
            url=self.url, api=self.api, model=model or self.model, api_key=api_key, timeout_s=self.timeout_s,
            ignore_eos=self.ignore_eos, stream_usage=self.stream_usage, temperature=self.temperature,
            extra_body=dict(self.extra_body), output_tokens_from=tuple(self.output_tokens_from),
            keep_text=self.keep_text,
        )


Progress = Callable[[int, int, RequestRecord], None]


class Session:
    """A connected endpoint, ready to run: model name, tokenizer, the server's per-prompt token offset."""

    def __init__(self, cfg: BenchConfig, api_key: str | None = None, max_connections: int | None = None):
        cfg.check()
        self.cfg = cfg
        self.api_key = api_key
        self.ep = cfg.endpoint(api_key=api_key)
        self.client = self.ep.client(max_connections)
        self.tokenizer: RouteTokenizer | None = None
        self.offset_tokens: int | None = None  # tokens the server adds to every prompt (BOS, template)
        self.words_per_token: float = 0.5
        self.tokens_per_word: float | None = None  # without a tokenizer: fitted from two probes
        self.info: dict = {}

    async def close(self) -> None:
        await self.client.close()

    async def __aenter__(self) -> Self:
        try:
            await self.setup()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def _probe(self, text: str) -> int | None:
        """Send one short non-streamed request; the prompt tokens the server reports (None if it doesn't)."""
        body = self.ep.body(text, None, 1, stream=False)
        try:
            status, obj, text_ = await post_json(self.client, self.ep.url_of(self.ep.path), body, self.cfg.timeout_s)
        except TimeoutError:
            raise InputError("url", self.cfg.url, f"did not answer a probe request within --timeout "
                             f"{self.cfg.timeout_s:g} s", "Is the server running and not overloaded?") from None
        except TRANSPORT_ERRORS as exc:
            raise InputError("url", self.cfg.url, f"did not answer a probe request ({type(exc).__name__}: {exc})",
                             "Is the server running, and is this its base URL?") from None
        if status >= 500:  # a server-side failure: the run will record such errors; go on without usage
            self.info["probe_error"] = f"HTTP {status}: {text_[:200]}"
            return None
        if status >= 400:
            hint = ("If the server rejects 'ignore_eos' or 'stream_options', rerun with --no-ignore-eos or "
                    "--no-stream-usage." if status in (400, 422) else None)
            raise InputError("url", self.cfg.url, f"answered the probe request with HTTP {status}: {text_[:300]}", hint)
        u = (obj.get("usage") if isinstance(obj, dict) else None) or {}
        try:
            _, prompt_tokens = usage_counts(u)
        except MalformedChunk as exc:  # a malformed usage block: go on as a server without usage
            self.info["probe_error"] = f"malformed probe reply: {exc}"
            return None
        return prompt_tokens

    async def setup(self) -> None:
        ep = self.ep
        timeout_s = self.cfg.timeout_s  # every setup request honours --timeout
        late = InputError("url", self.cfg.url, f"did not answer within --timeout {timeout_s:g} s",
                          "Is the server running and not overloaded? Raise --timeout for a slow one.")
        if ep.model is None:
            try:
                async with asyncio.timeout(timeout_s):
                    async with self.client.get(ep.url_of("/v1/models")) as r:
                        obj = await r.json(content_type=None) if r.status == 200 else {}
                data = (obj or {}).get("data") or []
                model = data[0]["id"] if data else None
                ep.model = model if isinstance(model, str) and 0 < len(model) <= 512 else None
            except aiohttp.ClientConnectorError as exc:
                raise InputError("url", self.cfg.url, f"cannot connect ({exc})",
                                 "Is the server running, and is this its base URL?") from None
            except TimeoutError:
                raise late from None
            except (*TRANSPORT_ERRORS, ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError):
                ep.model = None
        try:
            self.tokenizer = await RouteTokenizer.detect(self.client, ep.root, ep.model, timeout_s)
        except TimeoutError:
            raise late from None
        rng = np.random.default_rng([self.cfg.seed, 7919])
        probe = " ".join(pseudo_words(rng, 40))
        server_count = await self._probe(probe)
        if self.tokenizer is not None:
            try:
                own = await self.tokenizer.count(probe)
            except TimeoutError:
                raise late from None
            except (*TRANSPORT_ERRORS, ValueError, KeyError, TypeError) as exc:
                raise InputError("url", self.cfg.url, f"its tokenize route ({self.tokenizer.name}) answered the "
                                 f"first request and then failed ({type(exc).__name__}: {str(exc)[:200]})") from None
            self.words_per_token = 40 / max(own, 1)
            self.offset_tokens = server_count - own if server_count is not None else len(self.tokenizer.prefix)
        elif server_count is not None:
            probe2 = " ".join(pseudo_words(rng, 160))
            c2 = await self._probe(probe2)
            if c2 is not None and c2 > server_count:
                self.tokens_per_word = (c2 - server_count) / 120.0
                self.offset_tokens = round(server_count - 40 * self.tokens_per_word)
                self.words_per_token = 1.0 / self.tokens_per_word
        self.info = {
            **self.info,
            "model": ep.model,
            "tokenizer": self.tokenizer.name if self.tokenizer else None,
            "tokenizer_can_decode": bool(self.tokenizer and self.tokenizer.can_decode),
            "server_prompt_offset_tokens": self.offset_tokens,
            "tokens_per_word": self.tokens_per_word,
        }

    # --- prompts ------------------------------------------------------------------------------------
    async def prompts(self, n: int, seed: int) -> list[Prompt]:
        cfg = self.cfg
        if cfg.prompts_file:
            base = load_jsonl(cfg.prompts_file, cfg.osl)
            out = [replace(base[i % len(base)]) for i in range(n)]
            if self.tokenizer is not None:
                counts = await _gather_limited([self.tokenizer.count(p.content()) for p in base[:n]], 8)
                for i, p in enumerate(out):
                    p.input_tokens = counts[i % len(base)] + (self.offset_tokens or 0)
                    p.input_tokens_source = "tokenizer"
            return out
        rng = np.random.default_rng([seed, 104729])
        seeds = rng.integers(0, 2**63 - 1, size=n)
        return await _gather_limited([self.synthetic(cfg.isl, cfg.osl, int(s)) for s in seeds], 8)

    async def synthetic(self, isl: int, osl: int, seed: int) -> Prompt:
        """One synthetic prompt of ``isl`` input tokens (as the server counts them) and ``max_tokens=osl``:
        exact with the endpoint's tokenizer, else sized by the calibrated (or estimated) tokens per word."""
        r = np.random.default_rng(seed)
        if self.tokenizer is not None:
            want = max(isl - (self.offset_tokens or 0), 1)
            text, c = await exact_text(self.tokenizer, r, want, self.words_per_token)
            return Prompt(prompt=text, max_tokens=osl, input_tokens=c + (self.offset_tokens or 0),
                          input_tokens_source="tokenizer", target_input_tokens=isl)
        if self.tokens_per_word:
            words = max(round((isl - (self.offset_tokens or 0)) / self.tokens_per_word), 1)
            src, est = "calibrated", (self.offset_tokens or 0) + words * self.tokens_per_word
        else:  # neither a tokenizer nor usage: about 2 tokens per pseudo-word
            words, src = max(isl // 2, 1), "estimate"
            est = 2 * words
        return Prompt(prompt=" ".join(pseudo_words(r, words)), max_tokens=osl, input_tokens=round(est),
                      input_tokens_source=src, target_input_tokens=isl)

    # --- running ------------------------------------------------------------------------------------
    def _record(self, idx: int, p: Prompt, phase: str, scheduled: float | None) -> RequestRecord:
        return RequestRecord(idx=idx, phase=phase, scheduled_s=scheduled, max_tokens=p.max_tokens,
                             target_input_tokens=p.target_input_tokens)

    async def _one(self, idx: int, p: Prompt, phase: str, t0: float, scheduled: float | None = None) -> RequestRecord:
        body = self.ep.body(p.prompt, p.messages, p.max_tokens)
        rec = await send(self.client, self.ep, body, self._record(idx, p, phase, scheduled), t0)
        if rec.input_tokens is None and p.input_tokens is not None:
            rec.input_tokens, rec.input_tokens_source = p.input_tokens, p.input_tokens_source
        if rec.scheduled_s is None:
            rec.scheduled_s = rec.start_s
        return rec

    async def run(
        self,
        store: Store,
        *,
        run_id: str | None = None,
        sweep_id: str | None = None,
        cfg: BenchConfig | None = None,
        progress: Progress | None = None,
    ) -> Run:
        """Measure one run and store it; returns the stored :class:`Run` (records included)."""
        cfg = cfg or self.cfg
        cfg.check()
        try:
            prompts = await self.prompts(cfg.num_requests + cfg.warmup, cfg.seed)
        except (*TRANSPORT_ERRORS, ValueError, KeyError, TypeError, AttributeError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError("url", cfg.url, f"failed while the prompts were sized with its tokenizer "
                             f"({type(exc).__name__}: {str(exc)[:200]})", "Rerun; or give --timeout a larger "
                             "value for a slow server.") from None
        config = {**cfg.to_dict(), "endpoint": self.info}
        rid = store.create_run(config, run_id=run_id, sweep_id=sweep_id, label=cfg.label)
        records: list[RequestRecord] = []
        state = {"consecutive_connect": 0, "stop": None}
        t0 = time.perf_counter()

        def done(rec: RequestRecord) -> None:
            store.add(rid, rec)
            if rec.phase == "measure":
                records.append(rec)
                if progress is not None:
                    progress(len(records), cfg.num_requests, rec)
            if rec.error_type in CONNECT_ERRORS:
                state["consecutive_connect"] += 1
                if state["consecutive_connect"] >= cfg.max_consecutive_connect_errors and state["stop"] is None:
                    state["stop"] = (f"the server stopped answering: {state['consecutive_connect']} connection "
                                     f"errors in a row ({rec.error_type})")
            else:
                state["consecutive_connect"] = 0

        try:
            if cfg.warmup:
                warm = prompts[cfg.num_requests:]
                it = iter(range(len(warm)))

                async def wworker():
                    for i in it:
                        done(await self._one(i, warm[i], "warmup", t0))

                await asyncio.gather(*(wworker() for _ in range(min(cfg.concurrency if cfg.mode == "concurrency"
                                                                     else (cfg.max_concurrency or 4), len(warm)))))
                t0 = time.perf_counter()
            if cfg.mode == "concurrency":
                await self._closed_loop(cfg, prompts, t0, done, state)
            else:
                await self._poisson(cfg, prompts, t0, done, state)
        except (asyncio.CancelledError, KeyboardInterrupt):
            self._close_run(store, rid, records, "incomplete", "interrupted before the last request completed", cfg)
            raise
        except BaseException as exc:
            self._close_run(store, rid, records, "incomplete", f"the client failed: {type(exc).__name__}: {exc}", cfg)
            raise
        try:
            await self._tokenize_outputs(store, rid, records, cfg)
        except (*TRANSPORT_ERRORS, ValueError, KeyError):
            pass  # counts stay from the chunks; the records say so
        status, reason = ("incomplete", state["stop"]) if state["stop"] else ("complete", None)
        return self._close_run(store, rid, records, status, reason, cfg)

    def _close_run(self, store: Store, rid: str, records, status: str, reason, cfg: BenchConfig) -> Run:
        summary = summarize(records, cfg.slo_ttft_s, cfg.slo_tpot_s)
        store.finish_run(rid, status, reason, summary)
        run = store.load(rid, with_records=False)
        run.records = list(records)
        run.summary = summary
        return run

    async def _closed_loop(self, cfg, prompts, t0, done, state) -> None:
        it = iter(range(cfg.num_requests))

        async def worker():
            for i in it:
                if state["stop"] or (cfg.duration_s is not None and time.perf_counter() - t0 >= cfg.duration_s):
                    return
                done(await self._one(i, prompts[i], "measure", t0))

        await asyncio.gather(*(worker() for _ in range(min(cfg.concurrency, cfg.num_requests))))

    def arrivals(self, cfg: BenchConfig) -> np.ndarray:
        """Send times (seconds from the run's start) of an open-loop run: Poisson at ``rate_per_s``."""
        rng = np.random.default_rng([cfg.seed, 15485863])
        gaps = rng.exponential(1.0 / cfg.rate_per_s, size=cfg.num_requests)
        return np.concatenate([[0.0], np.cumsum(gaps[1:])])

    async def _poisson(self, cfg, prompts, t0, done, state) -> None:
        arrivals = self.arrivals(cfg)
        sem = asyncio.Semaphore(cfg.max_concurrency) if cfg.max_concurrency else None
        tasks: set[asyncio.Task] = set()

        async def fire(i: int, at: float):
            if sem is None:
                done(await self._one(i, prompts[i], "measure", t0, at))
                return
            async with sem:
                done(await self._one(i, prompts[i], "measure", t0, at))

        try:
            for i, at in enumerate(arrivals):
                delay = t0 + at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                if state["stop"] or (cfg.duration_s is not None and at >= cfg.duration_s):
                    break
                t = asyncio.create_task(fire(i, float(at)))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()

    async def _tokenize_outputs(self, store: Store, rid: str, records: list[RequestRecord], cfg: BenchConfig) -> None:
        """After the run: count output tokens with the endpoint's tokenizer where that is the best source."""
        order = tuple(cfg.output_tokens_from)
        if self.tokenizer is None or "tokenizer" not in order:
            return
        rank = {s: k for k, s in enumerate(order)}
        todo = [r for r in records if r.ok and r.output_text is not None
                and rank.get(r.output_tokens_source, 99) > rank["tokenizer"]]
        if not todo:
            return
        try:
            counts = await _gather_limited([self.tokenizer.count(r.output_text) for r in todo], 8)
        except (*TRANSPORT_ERRORS, ValueError, KeyError, TypeError):
            return  # the records keep their next-best count (usage, length or chunks)
        for r, c in zip(todo, counts, strict=True):
            r.output_tokens, r.output_tokens_source = count_output_tokens(("tokenizer",), None, None, None, c, 0)
            r.finalize()
        store.update_output_tokens(rid, todo)


async def _gather_limited(coros, limit: int) -> list:
    sem = asyncio.Semaphore(limit)

    async def one(c):
        async with sem:
            return await c

    return list(await asyncio.gather(*(one(c) for c in coros)))


# --- entry points -----------------------------------------------------------------------------------
async def run_async(cfg: BenchConfig, store: Store | None = None, *, api_key: str | None = None,
                    run_id: str | None = None, progress: Progress | None = None) -> Run:
    """Measure one run (fixed concurrency or Poisson arrivals) and store it."""
    store = store or Store()
    cap = cfg.concurrency if cfg.mode == "concurrency" else cfg.max_concurrency
    async with Session(cfg, api_key, max_connections=cap) as s:
        return await s.run(store, run_id=run_id, progress=progress)


def sweep_levels(start: int = 1, max_concurrency: int = 256) -> list[int]:
    """Concurrency steps: 1, 2, 4, ... up to ``max_concurrency`` (included)."""
    out, c = [], max(start, 1)
    while c < max_concurrency:
        out.append(c)
        c *= 2
    out.append(max_concurrency)
    return sorted(set(out))


async def sweep_async(
    cfg: BenchConfig,
    store: Store | None = None,
    *,
    levels: list[int] | None = None,
    min_gain: float = 0.05,
    api_key: str | None = None,
    sweep_id: str | None = None,
    progress: Progress | None = None,
    on_level: Callable[[Run], None] | None = None,
) -> tuple[str, list[Run]]:
    """Fixed-concurrency runs at rising levels until output throughput stops rising.

    A level stops the sweep when its output tokens/s is below ``(1 + min_gain)`` times the best so far,
    or when more than half its requests fail.  Each level is a stored run with the sweep's id; every
    level runs at least ``4 x concurrency`` requests (``num_requests`` if more)."""
    store = store or Store()
    levels = levels or sweep_levels(1, cfg.max_concurrency or 256)
    if any(c < 1 for c in levels):
        raise InputError("levels", levels, "concurrency levels must be at least 1")
    sid = sweep_id or "sweep-" + new_run_id()
    runs: list[Run] = []
    best = 0.0
    base = replace(cfg, mode="concurrency")
    async with Session(base, api_key, max_connections=max(levels)) as s:
        for k, c in enumerate(levels):
            lcfg = replace(base, concurrency=c, num_requests=max(cfg.num_requests, 4 * c), seed=cfg.seed + k,
                           label=(cfg.label or "sweep") + f" c={c}")
            run = await s.run(store, sweep_id=sid, cfg=lcfg, progress=progress)
            runs.append(run)
            if on_level is not None:
                on_level(run)
            sm = run.summary or {}
            tps = sm.get("output_tokens_per_s") or 0.0
            if run.status != "complete" or (sm.get("error_rate") or 0) > 0.5:
                break
            if k > 0 and tps < best * (1.0 + min_gain):
                break
            best = max(best, tps)
    return sid, runs
