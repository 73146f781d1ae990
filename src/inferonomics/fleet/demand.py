"""Demand: request traces, readers for public trace formats, and generators that look like production.

A :class:`Trace` is a set of requests (arrival time, input tokens, output tokens, tenant, shared prefix),
held as NumPy arrays sorted by arrival.  Readers parse the Azure LLM inference trace CSV, BurstGPT CSV and
Mooncake JSONL.  Generators draw arrivals from a per-tenant rate that follows a diurnal and weekly shape in
the tenant's time zone, modulated by a two-state Markov process (bursts), with lognormal token lengths
fitted to published trace statistics (``data/traces.yaml``).

:func:`expected_rates` gives the same demand as expected arrivals per second (no sampling), and
:func:`binned` turns a trace into per-second counts: the inputs of the time-stepped engine.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from inferonomics.errors import InputError, UnknownNameError

DAY_S = 86400.0
WEEK_S = 7 * DAY_S
TENANT_CLASSES = ("chat", "api", "batch")


@dataclass(frozen=True)
class Trace:
    """Requests sorted by arrival.  ``prefix_id`` is -1 for a request without a shared prefix;
    ``prefix_tokens`` is how many of its input tokens that prefix covers."""

    arrival_s: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    tenant: np.ndarray
    prefix_id: np.ndarray
    prefix_tokens: np.ndarray
    tenant_names: tuple[str, ...] = ("all",)
    tenant_classes: tuple[str, ...] = ("chat",)

    def __len__(self) -> int:
        return len(self.arrival_s)

    @property
    def duration_s(self) -> float:
        return float(self.arrival_s[-1] - self.arrival_s[0]) if len(self) else 0.0

    def tokens(self) -> float:
        return float(self.input_tokens.sum() + self.output_tokens.sum())

    def select(self, mask: np.ndarray) -> Trace:
        return Trace(
            self.arrival_s[mask], self.input_tokens[mask], self.output_tokens[mask], self.tenant[mask],
            self.prefix_id[mask], self.prefix_tokens[mask], self.tenant_names, self.tenant_classes,
        )

    def is_batch(self) -> np.ndarray:
        cls = np.array([c == "batch" for c in self.tenant_classes])
        return cls[self.tenant]


def make_trace(arrival_s, input_tokens, output_tokens, tenant=None, prefix_id=None, prefix_tokens=None,
               tenant_names=("all",), tenant_classes=("chat",)) -> Trace:
    """A trace from columns; validates and sorts by arrival."""
    t = np.asarray(arrival_s, float)
    n = len(t)
    i = np.asarray(input_tokens, float)
    o = np.asarray(output_tokens, float)
    for name, col in (("input_tokens", i), ("output_tokens", o)):
        if len(col) != n:
            raise InputError(name, len(col), f"must have one value per request ({n})")
        bad = ~np.isfinite(col) | (col < 1)
        if bad.any():
            k = int(np.argmax(bad))
            raise InputError(f"{name}[{k}]", col[k].item(), "must be a whole number of tokens, at least 1")
    bad_t = ~np.isfinite(t)
    if bad_t.any():
        k = int(np.argmax(bad_t))
        raise InputError(f"arrival_s[{k}]", t[k].item(), "must be a finite time in seconds")
    ten = np.zeros(n, np.int64) if tenant is None else np.asarray(tenant, np.int64)
    pid = np.full(n, -1, np.int64) if prefix_id is None else np.asarray(prefix_id, np.int64)
    ptok = np.zeros(n) if prefix_tokens is None else np.minimum(np.asarray(prefix_tokens, float), i)
    order = np.argsort(t, kind="stable")
    return Trace(t[order] - (t[order][0] if n else 0.0), np.round(i[order]), np.round(o[order]), ten[order],
                 pid[order], ptok[order], tuple(tenant_names), tuple(tenant_classes))


# --- readers ---------------------------------------------------------------------------------------------
FORMATS = ("azure", "burstgpt", "mooncake")


def detect_format(path: str | Path) -> str:
    """The trace format of a file from its header (CSV) or first line (JSONL)."""
    p = Path(path)
    with open(p, encoding="utf-8") as f:
        first = f.readline().strip()
    if first.startswith("{"):
        return "mooncake"
    cols = [c.strip().lower() for c in first.split(",")]
    if "contexttokens" in cols and "generatedtokens" in cols:
        return "azure"
    if "request tokens" in cols and "response tokens" in cols:
        return "burstgpt"
    raise InputError(
        "trace", str(p), "is not a recognised trace format; allowed: Azure LLM CSV (TIMESTAMP, ContextTokens, "
        "GeneratedTokens), BurstGPT CSV (Timestamp, Model, Request tokens, Response tokens, ...) or Mooncake "
        "JSONL (timestamp, input_length, output_length, hash_ids)",
    )


def read_trace(path: str | Path, fmt: str | None = None) -> Trace:
    """Read a trace file (format detected from its first line unless ``fmt`` names it)."""
    p = Path(path)
    if not p.is_file():
        raise InputError("trace", str(p), "must be an existing file")
    fmt = fmt or detect_format(p)
    if fmt not in FORMATS:
        raise UnknownNameError("format", fmt, FORMATS)
    reader = {"azure": _read_azure, "burstgpt": _read_burstgpt, "mooncake": _read_mooncake}[fmt]
    return reader(p)


def _num(v: str, field: str, line: int, path: Path) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise InputError(f"{path.name}:{line} {field}", v, "must be a number") from None
    if not np.isfinite(x) or x < 0:
        raise InputError(f"{path.name}:{line} {field}", v, "must be a finite number of 0 or more")
    return x


def _read_azure(p: Path) -> Trace:
    import pandas as pd

    with open(p, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise InputError("trace", str(p), "has no requests")
    try:
        ts = pd.to_datetime([r["TIMESTAMP"] for r in rows], format="mixed")
    except (KeyError, ValueError) as exc:
        raise InputError(f"{p.name} TIMESTAMP", str(exc)[:80], "must be date-times like 2023-11-16 18:15:46.6805900") from None
    t = (ts - ts.min()).total_seconds().to_numpy()
    i = [_num(r["ContextTokens"], "ContextTokens", k + 2, p) for k, r in enumerate(rows)]
    o = [_num(r["GeneratedTokens"], "GeneratedTokens", k + 2, p) for k, r in enumerate(rows)]
    return make_trace(t, np.maximum(i, 1), np.maximum(o, 1))


def _read_burstgpt(p: Path) -> Trace:
    with open(p, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise InputError("trace", str(p), "has no requests")
    t, i, o, models = [], [], [], []
    for k, r in enumerate(rows):
        resp = _num(r["Response tokens"], "Response tokens", k + 2, p)
        if resp == 0:  # BurstGPT logs failed requests with 0 response tokens: not served load
            continue
        t.append(_num(r["Timestamp"], "Timestamp", k + 2, p))
        i.append(max(_num(r["Request tokens"], "Request tokens", k + 2, p), 1))
        o.append(resp)
        models.append(f"{r.get('Model', 'all')}/{r.get('Log Type', '')}".strip("/"))
    names = tuple(sorted(set(models)))
    ten = [names.index(m) for m in models]
    classes = tuple("api" if "api" in n.lower() else "chat" for n in names)
    return make_trace(t, i, o, ten, tenant_names=names, tenant_classes=classes)


def _read_mooncake(p: Path) -> Trace:
    t, i, o, pid, ptok = [], [], [], [], []
    with open(p, encoding="utf-8") as f:
        for k, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{p.name}:{k}", line.strip()[:60], f"must be one JSON object per line ({exc.msg})") from None
            for key in ("timestamp", "input_length", "output_length"):
                if key not in r:
                    raise InputError(f"{p.name}:{k}", key, "is missing; each line needs timestamp, input_length, output_length")
            t.append(_num(r["timestamp"], "timestamp", k, p) / 1000.0)
            i.append(max(_num(r["input_length"], "input_length", k, p), 1))
            o.append(max(_num(r["output_length"], "output_length", k, p), 1))
            h = r.get("hash_ids") or []
            # the first 512-token block identifies the shared prefix (system prompt / document)
            pid.append(int(h[0]) if h else -1)
            ptok.append(0.0)
    # a prefix is shared when its first block appears in more than one request: count the shared blocks
    pid_a = np.array(pid, np.int64)
    if len(pid_a):
        uniq, counts = np.unique(pid_a[pid_a >= 0], return_counts=True)
        shared = set(uniq[counts > 1].tolist())
        pid_a = np.array([x if x in shared else -1 for x in pid_a], np.int64)
    blocks = _mooncake_shared_blocks(p) if len(pid_a) else np.zeros(0)
    return make_trace(t, i, o, prefix_id=pid_a, prefix_tokens=np.minimum(blocks * 512.0, i))


def _mooncake_shared_blocks(p: Path) -> np.ndarray:
    """Per request, the number of leading hash blocks shared with an earlier request (a prefix-cache hit
    with an unbounded cache)."""
    seen: set[tuple[int, ...]] = set()
    out = []
    with open(p, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            h = json.loads(line).get("hash_ids") or []
            n = 0
            while n < len(h) and tuple(h[: n + 1]) in seen:
                n += 1
            for j in range(1, len(h) + 1):
                seen.add(tuple(h[:j]))
            out.append(n)
    return np.array(out, float)


# --- published profiles -------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def trace_stats() -> dict:
    """The published trace statistics and fitted profiles (``data/traces.yaml``)."""
    import yaml

    text = resources.files("inferonomics.fleet").joinpath("data/traces.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)["traces"]


def profile(name: str) -> dict:
    stats = trace_stats()
    if name not in stats:
        raise UnknownNameError("profile", name, stats)
    return stats[name]["profile"]


# --- generators ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tenant:
    """One tenant class: its share of the daily requests, its length distributions and its time shape.

    ``diurnal_amplitude``: peak/mean - 1 of a cosine day in local time peaking at ``peak_hour``;
    ``weekend_factor``: demand on Saturday and Sunday relative to weekdays; ``utc_offset_h``: time zone;
    ``burst_factor``/``mean_burst_s``/``mean_between_bursts_s``: a two-state Markov-modulated Poisson
    process; ``prefixes``/``prefix_tokens``: distinct shared prompt prefixes and their length."""

    name: str
    cls: str = "chat"
    share: float = 1.0
    input_median_tokens: float = 1000.0
    input_sigma: float = 1.0
    output_median_tokens: float = 200.0
    output_sigma: float = 1.0
    max_input_tokens: float = 32000.0
    max_output_tokens: float = 4096.0
    diurnal_amplitude: float = 0.5
    peak_hour: float = 14.0
    weekend_factor: float = 0.7
    utc_offset_h: float = 0.0
    burst_factor: float = 1.0
    mean_burst_s: float = 120.0
    mean_between_bursts_s: float = 3600.0
    prefixes: int = 0
    prefix_tokens: float = 0.0

    def mean_input_tokens(self) -> float:
        return _clipped_lognormal_mean(self.input_median_tokens, self.input_sigma, self.max_input_tokens)

    def mean_output_tokens(self) -> float:
        return _clipped_lognormal_mean(self.output_median_tokens, self.output_sigma, self.max_output_tokens)


def _clipped_lognormal_mean(median: float, sigma: float, hi: float) -> float:
    """E[min(max(round(X), 1), hi)] for a lognormal X, by quadrature on a fixed grid (deterministic)."""
    z = np.linspace(-8, 8, 4001)
    w = np.exp(-0.5 * z * z)
    w /= w.sum()
    x = np.clip(np.round(median * np.exp(sigma * z)), 1, hi)
    return float((w * x).sum())


def shape(t_s: np.ndarray, tenant: Tenant) -> np.ndarray:
    """Relative rate (mean 1 over a week) at UTC times ``t_s`` (seconds from a Monday 00:00 UTC)."""
    local = np.asarray(t_s, float) + tenant.utc_offset_h * 3600.0
    hour = np.mod(local, DAY_S) / 3600.0
    day = np.floor(np.mod(local, WEEK_S) / DAY_S)
    diurnal = 1.0 + tenant.diurnal_amplitude * np.cos(2 * np.pi * (hour - tenant.peak_hour) / 24.0)
    weekly = np.where(day >= 5, tenant.weekend_factor, 1.0)
    return diurnal * weekly / ((5 + 2 * tenant.weekend_factor) / 7.0)


def _burst_mask(n_s: int, tenant: Tenant, rng: np.random.Generator) -> np.ndarray:
    """Per second, whether the tenant is in a burst (two-state Markov chain with exponential sojourns)."""
    if tenant.burst_factor == 1.0 or n_s == 0:
        return np.zeros(n_s, bool)
    mask = np.zeros(n_s, bool)
    t = rng.exponential(tenant.mean_between_bursts_s)
    while t < n_s:
        d = rng.exponential(tenant.mean_burst_s)
        mask[int(t): int(min(t + d, n_s))] = True
        t += d + rng.exponential(tenant.mean_between_bursts_s)
    return mask


def _burst_norm(tenant: Tenant) -> float:
    """Mean rate multiplier of the burst process, so bursts move demand in time without adding to it."""
    p = tenant.mean_burst_s / (tenant.mean_burst_s + tenant.mean_between_bursts_s)
    return 1.0 + p * (tenant.burst_factor - 1.0)


def expected_rates(tenants: list[Tenant], requests_per_s: float, duration_s: float, start_s: float = 0.0,
                   seed: int = 0, bursts: bool = True) -> np.ndarray:
    """Expected arrivals per second: array (tenants, seconds).  ``requests_per_s`` is the weekly mean of
    all tenants together; bursts are drawn (seeded) unless ``bursts`` is False."""
    n_s = int(np.ceil(duration_s))
    t = start_s + np.arange(n_s) + 0.5
    shares = np.array([x.share for x in tenants], float)
    shares = shares / shares.sum()
    rng = np.random.default_rng(seed)
    out = np.empty((len(tenants), n_s))
    for k, x in enumerate(tenants):
        r = requests_per_s * shares[k] * shape(t, x)
        if bursts and x.burst_factor != 1.0:
            r = r * np.where(_burst_mask(n_s, x, rng), x.burst_factor, 1.0) / _burst_norm(x)
        out[k] = r
    return out


def generate(tenants: list[Tenant], requests_per_s: float, duration_s: float, start_s: float = 0.0,
             seed: int = 0) -> Trace:
    """A request-level trace: Poisson arrivals at the tenants' rates, lognormal lengths, shared prefixes."""
    rates = expected_rates(tenants, requests_per_s, duration_s, start_s, seed)
    rng = np.random.default_rng(seed + 1)
    cols = {k: [] for k in ("t", "i", "o", "ten", "pid", "ptok")}
    pid_base = 0
    for k, x in enumerate(tenants):
        counts = rng.poisson(rates[k])
        n = int(counts.sum())
        sec = np.repeat(np.arange(len(counts)), counts)
        t = start_s + sec + rng.random(n)
        i = np.clip(np.round(x.input_median_tokens * np.exp(x.input_sigma * rng.standard_normal(n))), 1, x.max_input_tokens)
        o = np.clip(np.round(x.output_median_tokens * np.exp(x.output_sigma * rng.standard_normal(n))), 1, x.max_output_tokens)
        if x.prefixes > 0 and x.prefix_tokens > 0:
            # prefix popularity: Zipf-like (weight 1/rank) over the tenant's distinct prefixes
            w = 1.0 / np.arange(1, x.prefixes + 1)
            pid = pid_base + rng.choice(x.prefixes, size=n, p=w / w.sum())
            ptok = np.minimum(x.prefix_tokens, i - 1)
            pid_base += x.prefixes
        else:
            pid, ptok = np.full(n, -1), np.zeros(n)
        for key, v in zip(cols, (t, i, o, np.full(n, k), pid, ptok), strict=True):
            cols[key].append(v)
    cat = {k: np.concatenate(v) if v else np.zeros(0) for k, v in cols.items()}
    tr = make_trace(cat["t"], cat["i"], cat["o"], cat["ten"], cat["pid"], cat["ptok"],
                    tuple(x.name for x in tenants), tuple(x.cls for x in tenants))
    # make_trace shifts to start at 0; keep absolute times (time of day matters)
    return Trace(tr.arrival_s + (cat["t"].min() if len(cat["t"]) else 0.0), *(
        getattr(tr, f) for f in ("input_tokens", "output_tokens", "tenant", "prefix_id", "prefix_tokens",
                                 "tenant_names", "tenant_classes")))


def poisson_trace(rate_per_s: float, n: int, output_mean_tokens: float, input_tokens: float = 1.0,
                  seed: int = 0) -> Trace:
    """``n`` Poisson arrivals with geometric output lengths (mean ``output_mean_tokens``): with a constant
    step time the service time is (nearly) exponential, an M/M/c queue."""
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1.0 / rate_per_s, n))
    o = rng.geometric(1.0 / output_mean_tokens, n).astype(float)
    return make_trace(t, np.full(n, input_tokens), o)


def binned(trace: Trace, duration_s: float | None = None, start_s: float = 0.0) -> dict[str, np.ndarray]:
    """Per-second sums of a trace: arrivals, input, output and prefix tokens, split interactive/batch."""
    n_s = int(np.ceil(duration_s if duration_s is not None else (trace.arrival_s.max() + 1 - start_s)))
    sec = np.clip(np.floor(trace.arrival_s - start_s).astype(np.int64), 0, n_s - 1)
    b = trace.is_batch()
    out = {}
    for tag, m in (("", ~b), ("batch_", b)):
        out[f"{tag}requests"] = np.bincount(sec[m], minlength=n_s).astype(float)
        out[f"{tag}input_tokens"] = np.bincount(sec[m], trace.input_tokens[m], minlength=n_s)
        out[f"{tag}output_tokens"] = np.bincount(sec[m], trace.output_tokens[m], minlength=n_s)
    return out
