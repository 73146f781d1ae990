"""The interactive dashboard (Streamlit): ``inferonomics app`` or ``streamlit run <DASHBOARD_PATH>``.

This module imports neither Streamlit nor the heavy libraries: it only knows where the script is, how to
launch it, and how the dashboard formats its figures (so tests can compute the exact text a page shows
from the Python API).  The dashboard holds no arithmetic of its own: every figure comes from
``inferonomics.perf`` / ``inferonomics.cost`` (and ``market`` / ``decide`` where installed).
"""

from __future__ import annotations

import sys
from pathlib import Path

DASHBOARD_PATH = Path(__file__).with_name("dashboard.py")

PAGES = ("Cost", "Provider scenario", "Buyer break-even", "Price history")
# What the Cost page starts with (the README's 70B example).
COST_DEFAULTS = {"model": "llama-3.1-70b", "gpu": "h100-sxm", "gpus": 4, "weights": "fp8", "isl": 2048, "osl": 512,
                 "concurrency": 64}
# Labels of the key figures and inputs of the Cost page: the browser tests find them by these exact texts.
L_OUT_PER_GPU = "Output tok/s per GPU"
L_OUT_TOTAL = "Output tok/s, total"
L_PER_USER = "Output tok/s per user"
L_TTFT = "TTFT"
L_TPOT = "TPOT"
L_USD_OUT = "$ per M output tokens"
L_USD_IN = "$ per M input tokens"
L_USD_HOUR = "$ per GPU-hour"
L_USD_ALL_IN = "All-in $ per M output"
L_IN_CONCURRENCY = "Concurrency (requests in flight)"


def streamlit_command(port: int = 8501, host: str = "127.0.0.1", python: str | None = None) -> list[str]:
    """The command line that serves the dashboard (headless, no usage statistics sent anywhere)."""
    return [
        python or sys.executable, "-m", "streamlit", "run", str(DASHBOARD_PATH),
        "--server.address", host,
        "--server.port", str(int(port)),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
    ]


_SPEC_KEYS = ("dist", "currency", "mean", "sd", "median", "mu", "sigma", "low", "mode", "high", "p10", "p90")


def scenario_overrides(name: str, fixed: tuple | list) -> dict:
    """A provider-scenario mapping on ``name`` (built-in or file) with each ``(field path, value)`` fixed.

    The value is in USD (or the field's unit), as ``sensitivity`` reports it; the file's distribution
    parameters and currency of that field are removed (``None`` removes a key in a scenario merge)."""
    doc: dict = {"base": name}
    for path, value in fixed:
        node = doc
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = {**dict.fromkeys(_SPEC_KEYS), "value": float(value),
                           "assumption": "set with a slider in the dashboard"}
    return doc


def slider_options(lo: float, hi: float, fmt, anchors=(), step: float | None = None, points: int = 50) -> list[float]:
    """The positions of a slider that shows its values the way people read them (``fmt``: a formatter of
    :mod:`inferonomics.present`, e.g. ``35.0%`` for 0.35) rather than as raw floats.

    Positions are the multiples of ``step`` from ``lo`` to ``hi`` (default: a round step, 1, 2, 2.5 or 5
    times a power of ten, giving about ``points`` positions), plus each of ``anchors`` (the current value,
    P10/P50/P90) exactly.  Positions that ``fmt`` writes alike are kept once, an anchor first, so no two
    positions read the same."""
    import math

    lo, hi = float(min(lo, hi)), float(max(lo, hi))
    if step is None:
        raw = (hi - lo) / max(points, 1) or 1.0
        mag = 10 ** math.floor(math.log10(raw))
        step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * 0.999)
    grid = [round(k * step, 12) for k in range(math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9) + 1)]
    seen: dict[str, float] = {}
    for v in [float(a) for a in anchors] + grid:
        seen.setdefault(fmt(v), v)
    return sorted(seen.values())


# The dashboard writes numbers exactly as the CLI and the report do: one presentation layer.
from inferonomics.present import money as fmt_usd
from inferonomics.present import number as fmt_count
from inferonomics.present import percent as fmt_fraction
from inferonomics.present import rate as fmt_rate
from inferonomics.present import seconds as fmt_seconds
from inferonomics.present import sig
from inferonomics.present import tokens as fmt_tokens

__all__ = [
    "COST_DEFAULTS", "DASHBOARD_PATH", "PAGES", "fmt_count", "fmt_fraction", "fmt_rate", "fmt_seconds", "fmt_tokens",
    "fmt_usd", "scenario_overrides", "sig", "slider_options", "streamlit_command",
]
