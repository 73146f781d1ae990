"""The one numeric validation layer: every number from a file or a flag is finite and within its range.

A :class:`Limit` says what a quantity allows (bounds, open or closed, whole or not) and its unit;
:func:`check_number` applies it and raises :class:`~inferonomics.errors.InputError` naming the field as
the user wrote it (``--tokens-per-month``, ``isl_tokens``), the value and the allowed range with the unit.

:data:`FLAGS` holds the range of every numeric command-line option (keyed by option name, or by
``"command option"`` where one command differs); the CLI applies it to every numeric option before a
command runs, and a test checks that no numeric option is missing from it.  File fields use the same
:func:`check_number` (workload, scenario and catalog validators).

This module imports nothing heavy: the CLI loads it for every command.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from inferonomics.errors import InputError


@dataclass(frozen=True)
class Limit:
    lo: float | None = None
    hi: float | None = None
    unit: str = ""
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False

    def describe(self) -> str:
        kind = "a whole number" if self.integer else "a finite number"
        unit = f" ({self.unit})" if self.unit else ""
        parts = []
        if self.lo is not None:
            parts.append(f"{'above' if self.lo_open else 'at least'} {_g(self.lo)}")
        if self.hi is not None:
            parts.append(f"{'below' if self.hi_open else 'at most'} {_g(self.hi)}")
        return f"must be {kind}{unit}" + (" " + " and ".join(parts) if parts else "")

    def ok(self, x: float) -> bool:
        if not math.isfinite(x):
            return False
        if self.integer and x != int(x):
            return False
        if self.lo is not None and (x <= self.lo if self.lo_open else x < self.lo):
            return False
        return not (self.hi is not None and (x >= self.hi if self.hi_open else x > self.hi))


def _g(x: float) -> str:
    if float(x).is_integer() and abs(x) < 1e7 or isinstance(x, int):
        return f"{int(x):,}"
    return f"{x:g}"


def check_number(field: str, value: object, limit: Limit):
    """``value`` if it is a number within ``limit``; else :class:`InputError` naming field, value and range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            x = float(value)  # numpy scalars, Decimal
        except (TypeError, ValueError):
            raise InputError(field, value, limit.describe()) from None
    else:
        x = value
    try:
        good = limit.ok(float(x))
    except OverflowError:  # an int too large for a float
        good = False
    if not good:
        raise InputError(field, value, limit.describe())
    return value


def value_error(limit: Limit, x: float) -> str | None:
    """The message a pydantic validator raises for ``x`` (``None`` when allowed)."""
    try:
        good = limit.ok(float(x))
    except (OverflowError, TypeError, ValueError):
        good = False
    return None if good else f"{limit.describe()}, got {x!r}"


# --- limits of quantities -------------------------------------------------------------------------------
TOKENS_PER_MONTH = Limit(0, 1e16, "tokens a month")  # ~1e15 is the largest provider's monthly volume today
TOKENS_PER_REQUEST = Limit(1, 10_000_000, "tokens", integer=True)
FRACTION = Limit(0, 1, "a fraction, 0.05 = 5%")
RATE_PER_YEAR = Limit(-0.99, 100, "a yearly rate, 0.5 = +50%")
SECONDS_POS = Limit(0, 86_400, "seconds", lo_open=True)
GPUS = Limit(1, 100_000, "GPUs", integer=True)
PARALLEL = Limit(1, 4_096, "GPUs", integer=True)
USD = Limit(0, 1e15, "USD")
USD_PER_MTOK = Limit(0, 1e6, "USD per million tokens")
USD_PER_GPU_HOUR = Limit(0, 10_000, "USD per GPU-hour")
SEED = Limit(0, 2**63 - 1, integer=True)
LIFE_YEARS = Limit(0.5, 30, "years")
COST_OF_CAPITAL = Limit(0, 1, "a yearly rate, 0.08 = 8%")
CONCURRENCY = Limit(1, 1_000_000, "requests in flight")
REQUESTS = Limit(1, 10_000_000, "requests", integer=True)

FLAGS: dict[str, Limit] = {
    # deployment (perf, cost, frontier, calibrate)
    "--gpus": GPUS,
    "--tp": PARALLEL,
    "--ep": PARALLEL,
    "--pp": PARALLEL,
    "--isl": TOKENS_PER_REQUEST,
    "--osl": TOKENS_PER_REQUEST,
    "--concurrency": CONCURRENCY,
    "--points": Limit(2, 10_000, "concurrency levels", integer=True),
    "--utilization": Limit(0, 1, "a fraction of hours, 0.7 = 70%", lo_open=True),
    "--rent-usd-per-gpu-hour": USD_PER_GPU_HOUR,
    "--life-years": LIFE_YEARS,
    "--cost-of-capital": COST_OF_CAPITAL,
    # production serving (perf, cost, frontier)
    "--prefill-gpus": GPUS,
    "--decode-gpus": GPUS,
    "--prefill-tp": PARALLEL,
    "--prefill-ep": PARALLEL,
    "--decode-tp": PARALLEL,
    "--decode-ep": PARALLEL,
    "--prefix-hit-rate": Limit(0, 1, "a share of input tokens, 0.5 = 50%", hi_open=True),
    "--mtp-tokens": Limit(0, 16, "draft tokens per decode step", integer=True),
    "--mtp-accept-rate": Limit(0, 1, "accepted / drafted tokens"),
    "--redundant-experts": Limit(0, 4_096, "expert copies", integer=True),
    # market competition (each path solves a price equilibrium per year: far fewer paths than provider run)
    "market run --paths": Limit(1, 100_000, "Monte Carlo paths", integer=True),
    # fleet simulation
    "--daily-tokens": Limit(1, 1e16, "tokens a day"),
    "--duration-s": Limit(1, 31 * 86_400, "seconds of simulated time"),
    "--replicas": Limit(1, 1_000_000, "replicas", integer=True),
    # breakeven
    "--tokens-per-month": Limit(1, 1e16, "tokens a month"),
    "--input-share": Limit(0, 1, "a fraction, 0.8 = 80% input", hi_open=True),
    "--input-tokens-per-month": TOKENS_PER_MONTH,
    "--output-tokens-per-month": TOKENS_PER_MONTH,
    "--growth-per-year": RATE_PER_YEAR,
    "--peak-to-average": Limit(1, 100, "peak request rate / average"),
    "--max-ttft-s": SECONDS_POS,
    "--max-tpot-s": SECONDS_POS,
    "--horizon-months": Limit(1, 240, "months", integer=True),
    "--discount-rate": COST_OF_CAPITAL,
    "--api-price-change-per-year": Limit(-0.99, 10, "a yearly rate, -0.3 = -30%"),
    # calibrate
    "--prior-sigma": Limit(0, 10, "log-scale standard deviation", lo_open=True),
    # app
    "--port": Limit(1, 65_535, "a TCP port", integer=True),
    # provider
    "--paths": Limit(1, 5_000_000, "Monte Carlo paths", integer=True),
    # provider run: above 5,000,000 paths only with --scheduler (checked by the command)
    "provider run --paths": Limit(1, 100_000_000, "Monte Carlo paths", integer=True),
    "--seed": SEED,
    "--years": Limit(1, 100, "years", integer=True),
    "provider run --years": Limit(1, 50, "years", integer=True),
    "provider compare --years": Limit(1, 50, "years", integer=True),
    "--year": Limit(1, 2200, "a fiscal year (2031) or a projection year (1 = first)", integer=True),
    "--top": Limit(1, 1_000, "inputs", integer=True),
    "--revenue-usd": Limit(0, 1e15, "USD a year", lo_open=True),
    "--base-usd": Limit(0, 1e15, "USD a year", lo_open=True),
    "--price-usd-per-mtok": Limit(0, 1e6, "USD per million tokens", lo_open=True),
    # margin: list prices per million tokens (0 allowed: a free tier)
    "--price-in-usd-per-mtok": Limit(0, 1e6, "USD per million input tokens"),
    "--price-out-usd-per-mtok": Limit(0, 1e6, "USD per million output tokens"),
    "--price-in-cache-hit": Limit(0, 1e6, "USD per million cached input tokens"),
    "--price-change-per-year": Limit(-0.99, 10, "a yearly rate, -0.3 = -30%"),
    "--token-share": Limit(0, 1, "a fraction", lo_open=True),
    "--cost-usd-per-mtok": USD_PER_MTOK,
    "--gross-margin": Limit(-10, 1, "a fraction of revenue", hi_open=True),
    # bench
    "bench run --concurrency": Limit(1, 100_000, "requests in flight", integer=True),
    "--rate": Limit(0, 1_000_000, "requests per second", lo_open=True),
    "--max-concurrency": Limit(1, 100_000, "requests in flight", integer=True),
    "--min-gain": Limit(0, 10, "a fraction of output tokens/s, 0.05 = 5%"),
    "--requests": REQUESTS,
    "--max-requests": REQUESTS,
    "--time-scale": Limit(0, 1_000, "a factor on the trace's time gaps, 0.1 = ten times faster", lo_open=True),
    "--trace-start-s": Limit(0, 366 * 86_400, "seconds into the trace"),
    "--slots": Limit(1, 1_000_000, "sequences in flight", integer=True),
    "--duration": Limit(0, 30 * 86_400, "seconds", lo_open=True),
    "bench run --isl": Limit(1, 1_000_000, "tokens", integer=True),
    "bench run --osl": Limit(1, 1_000_000, "tokens", integer=True),
    "--warmup": Limit(0, 1_000_000, "requests", integer=True),
    "--temperature": Limit(0, 10, "a sampling temperature"),
    "--timeout": Limit(0, 86_400, "seconds", lo_open=True),
    "--slo-ttft-s": SECONDS_POS,
    "--slo-tpot-s": SECONDS_POS,
    "--max-connect-errors": Limit(1, 1_000_000, "connection failures in a row", integer=True),
    "--usd-per-gpu-hour": USD_PER_GPU_HOUR,
    "--prefill-time-share": Limit(0, 1, "a fraction of GPU time", hi_open=True),
}


def flag_limit(command: str, option: str) -> Limit | None:
    """The limit of ``option`` of ``command`` (``"bench run"``): a command-specific entry first."""
    return FLAGS.get(f"{command} {option}") or FLAGS.get(option)


__all__ = ["FLAGS", "Limit", "check_number", "flag_limit", "value_error"]
