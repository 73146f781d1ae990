"""The one presentation layer: how every number a person reads is written, and what its column is called.

Used by the command line, the HTML report and the dashboard, so the same figure reads the same everywhere.
Rules: fixed notation with thousands separators (never ``2.95e+10``), a fixed number of significant digits,
money in ``$`` with ``bn``/``m`` above a million, shares as ``%``, token volumes with ``k``/``M``/``bn``/``T``,
latency in ms below a second, and ``-`` for a missing value (never ``None`` or ``nan``).

:func:`value` formats a figure by the unit in its name (``revenue_usd`` → money, ``gross_margin`` → %,
``tpot_s`` → seconds); :func:`label` turns the name into a column heading with its unit
(``usd_per_mtok_output`` → ``$ per M output tokens``); :func:`frame` does both to a whole DataFrame.

This module imports nothing heavy (pandas only inside :func:`frame`).
"""

from __future__ import annotations

import math
import re

MISSING = "-"


def _bad(v) -> bool:
    if v is None:
        return True
    try:
        return not math.isfinite(float(v))
    except (TypeError, ValueError):
        return True


def sig(v: float, digits: int = 4) -> str:
    """``v`` rounded to ``digits`` significant digits, fixed notation with thousands separators."""
    if _bad(v):
        return MISSING
    v = float(v)
    if v == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(v))))
    return f"{v:,.{decimals}f}"


def number(v, digits: int = 4) -> str:
    """A plain number: whole numbers without decimals (``8`` GPUs, never ``8.000``), else ``digits``
    significant digits; booleans as yes/no; text unchanged."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, str):
        return v
    if _bad(v):
        return MISSING
    v = float(v)
    if v.is_integer() and abs(v) < 1e15:
        return f"{v:,.0f}"
    return sig(v, digits)


count = number


def compact(v, digits: int = 6) -> str:
    """A number as short as it reads exactly to ``digits`` significant digits, trailing zeros dropped:
    ``0.3``, ``158,132,000,000``, ``2.5`` (the fixed-notation answer to ``f"{v:.6g}"``)."""
    if isinstance(v, bool) or _bad(v):
        return number(v)
    s = sig(v, digits)
    return s.rstrip("0").rstrip(".") if "." in s else s


def years(v) -> str:
    """A duration in years: ``5 years``, ``5.5 years``, ``1 year``."""
    if _bad(v):
        return MISSING
    return f"{compact(v, 3)} year{'' if float(v) == 1 else 's'}"


def date(v) -> str:
    """A date (``datetime``, ``date`` or ``pandas.Timestamp``) as ``2025-03-01``; text unchanged."""
    if isinstance(v, str):
        return v
    if v is None or (isinstance(v, float) and math.isnan(v)) or str(v) in ("NaT", "nan"):
        return MISSING
    return v.strftime("%Y-%m-%d") if hasattr(v, "strftime") else str(v)


def _scaled(v: float, steps, digits: int, sep: str = "") -> str | None:
    a = abs(v)
    for div, unit in steps:
        if a >= div:
            return f"{sig(v / div, digits)}{sep}{unit}"
    return None


def money(v, digits: int = 4) -> str:
    """US dollars: ``$0.09820``, ``$2.500``, ``$1,234``, ``$140m``, ``-$7.60bn``, ``$100bn``."""
    if _bad(v):
        return MISSING
    v = float(v)
    s = _scaled(abs(v), ((1e9, "bn"), (1e6, "m")), 3) or sig(abs(v), digits)
    return ("-$" if v < 0 else "$") + s


def signed_money(v, digits: int = 4) -> str:
    """A change in US dollars, always with its sign: ``+$0.01230``, ``-$1.500``, ``$0`` for no change."""
    if _bad(v):
        return MISSING
    return money(v, digits) if float(v) <= 0 else "+" + money(v, digits)


def percent(v, decimals: int = 1) -> str:
    """A fraction as a percentage: ``0.6`` → ``60.0%``; large ratios without decimals (``1,250%``)."""
    if _bad(v):
        return MISSING
    v = float(v) * 100
    return f"{v:,.{decimals}f}%" if abs(v) < 1000 else f"{v:,.0f}%"


def tokens(v) -> str:
    """A volume of tokens (or any large count): ``1.20T``, ``100bn``, ``250M``, ``12.5k``, ``512``."""
    if _bad(v):
        return MISSING
    v = float(v)
    return _scaled(v, ((1e12, "T"), (1e9, "bn"), (1e6, "M"), (1e3, "k")), 3) or number(v, 3)


def seconds(v) -> str:
    """A duration: milliseconds below one second (``27.57 ms``), else seconds (``2.677 s``)."""
    if _bad(v):
        return MISSING
    v = float(v)
    return f"{sig(v * 1000)} ms" if abs(v) < 1 else f"{sig(v)} s"


def ratio(v) -> str:
    """A multiple: ``0.18x``."""
    return MISSING if _bad(v) else f"{float(v):,.2f}x"


def rate(v) -> str:
    """A throughput (tokens/s): 4 significant digits."""
    return sig(v)


def probability(p, paths: int) -> str:
    """A Monte Carlo probability over ``paths`` paths with its standard error sqrt(p(1-p)/n):
    ``14.7% ± 0.4 pp``."""
    if _bad(p):
        return MISSING
    p = float(p)
    return mean_pm(p, math.sqrt(max(p * (1 - p), 0.0) / max(int(paths), 1)))


def mean_pm(p: float, se: float) -> str:
    """A Monte Carlo probability with its standard error: ``14.7% ± 0.4 pp``."""
    if _bad(p):
        return MISSING
    return f"{percent(p)} ± {float(se) * 100:.1f} pp" if not _bad(se) else percent(p)


# --- by the unit in a name --------------------------------------------------------------------------
_SHARE_WORDS = ("margin", "share", "utilization", "_ratio", "growth", "change", "attrition", "gain", "frac",
                "hit_rate", "_rate_per_year", "discount_rate", "cost_of_capital")
_COUNT_WORDS = ("gpus", "replicas", "concurrency", "requests", "instances", "tp", "ep", "pp", "experts")


def kind(name: str) -> str:
    """The kind of figure a name holds: money, money_rate (USD per unit), share, seconds, ratio, tokens,
    count, rate or number."""
    n = re.sub(r"_p\d+$", "", name)
    if n in ("year", "fiscal_year", "month", "base_year") or n.endswith("_year_label"):
        return "year"
    if n.startswith("p_") or any(w in n for w in _SHARE_WORDS):
        return "share"
    if "_usd_per_" in n or n.startswith("usd_per_") or n.endswith("_usd_per_mtok"):
        return "money_rate"
    if n.endswith(("_usd", "_usd_per_year")) or n == "usd":
        return "money"
    if n.endswith("to_gross_profit") or n == "times":
        return "ratio"
    if n.endswith(("_gb_s", "_gbps", "_tflops")):
        return "number"
    if n.endswith("_s") and "per_s" not in n:
        return "seconds"
    if "per_s" in n:
        return "rate"
    if "tokens_per_month" in n or "tokens_per_year" in n or n.endswith("_tokens") or "mtok" in n:
        return "tokens"
    if any(n == w or n.endswith("_" + w) or n.startswith(w + "_") for w in _COUNT_WORDS):
        return "count"
    return "number"


def value(name: str, v) -> str:
    """``v`` formatted by the unit in ``name`` (``revenue_usd_p50`` → ``$62.9bn``, ``gross_margin`` →
    ``34.1%``, ``tpot_s`` → ``50.00 ms``, ``fleet_gpus_p50`` → ``2.58M``)."""
    if isinstance(v, (bool, str)):
        return number(v)
    if hasattr(v, "strftime"):  # dates and timestamps
        return date(v)
    k = kind(name)
    if _bad(v):
        try:
            inf = v is not None and math.isinf(float(v))
        except (TypeError, ValueError):
            inf = False
        return "GP <= 0" if inf and "to_gross_profit" in name else MISSING
    v = float(v)
    if k == "year":
        return str(int(v)) if v.is_integer() else number(v)
    if k == "share":
        return percent(v)
    if k in ("money", "money_rate"):
        return money(v)
    if k == "ratio":
        return ratio(v)
    if k == "seconds":
        return seconds(v)
    if k == "rate":
        return rate(v)
    if k in ("tokens",) or (k == "count" and abs(v) >= 1e5):
        return tokens(v)
    return number(v)


# --- column labels --------------------------------------------------------------------------------------
LABELS: dict[str, str] = {
    "model": "Model", "gpu": "Accelerator", "gpus": "GPUs", "weights": "Weights", "kv": "KV cache",
    "tp": "Tensor parallel", "ep": "Expert parallel", "pp": "Pipeline parallel", "region": "Region",
    "concurrency": "Requests in flight", "note": "Note", "option": "Option", "kind": "Kind",
    "output_tokens_per_s": "Output tokens/s (deployment)",
    "output_tokens_per_s_per_gpu": "Output tokens/s per GPU",
    "output_tokens_per_s_per_user": "Output tokens/s per user",
    "input_tokens_per_s": "Input tokens/s (deployment)",
    "ttft_s": "Time to first token", "tpot_s": "Time per output token", "e2e_latency_s": "End-to-end latency",
    "memory_per_gpu_gib": "Memory per GPU (GiB)", "weights_per_gpu_gib": "Weights per GPU (GiB)",
    "memory_per_gpu_gb": "Memory per GPU (GiB)", "weights_per_gpu_gb": "Weights per GPU (GiB)",  # deprecated names
    "usd_per_gpu_hour": "$ per GPU-hour",
    "rent_usd_per_gpu_hour": "Rent, $ per GPU-hour", "own_usd_per_gpu_hour": "Own, $ per GPU-hour",
    "usd_per_mtok_output": "$ per M output tokens", "usd_per_mtok_input": "$ per M input tokens",
    "usd_per_mtok_output_all_in": "$ per M output tokens, all cost on output",
    "usd_per_mtok_blended": "$ per M tokens, blended",
    "usd_per_mtok_input_cache_hit": "$ per M input tokens, cache hit",
    "usd_per_mtok_input_cache_miss": "$ per M input tokens, cache miss",
    "rent_usd_per_mtok_output": "Rent, $ per M output tokens",
    "rent_usd_per_mtok_input": "Rent, $ per M input tokens",
    "own_usd_per_mtok_output": "Own, $ per M output tokens", "own_usd_per_mtok_input": "Own, $ per M input tokens",
    "utilization": "Utilization", "max_tpot_s": "Time-per-token target", "max_ttft_s": "First-token target",
    "price_usd_per_mtok_input": "Price, $ per M input tokens",
    "price_usd_per_mtok_output": "Price, $ per M output tokens",
    "revenue_usd_per_mtok": "Revenue, $ per M tokens", "cost_usd_per_mtok": "Cost, $ per M tokens",
    "gross_margin_usd_per_mtok": "Gross margin, $ per M tokens", "gross_margin": "Gross margin",
    "breakeven_utilization": "Break-even utilization",
}

_UNIT_SUFFIXES = [
    ("_usd_per_mtok_output", "$ per M output tokens"), ("_usd_per_mtok_input", "$ per M input tokens"),
    ("_usd_per_mtok", "$ per M tokens"), ("_usd_per_gpu_hour", "$ per GPU-hour"),
    ("_usd_per_year", "$ a year"), ("_usd", "$"), ("_per_s_per_gpu", "per s per GPU"), ("_per_s", "per s"),
    ("_gb_s", "GB/s"), ("_gb", "GiB"), ("_w", "W"), ("_s", "s"), ("_tokens_per_month", "tokens a month"),
]


def label(name: str) -> str:
    """A column heading with its unit: ``usd_per_mtok_output`` → ``$ per M output tokens``,
    ``revenue_usd_p50`` → ``Revenue ($), median``, ``e2e_latency_s`` → ``End-to-end latency``."""
    if name in LABELS:
        return LABELS[name]
    m = re.search(r"_p(\d+)$", name)
    pct = m and m.group(1)
    base = name[: m.start()] if m else name
    if base in LABELS:
        head = LABELS[base]
    else:
        unit = ""
        for suf, u in _UNIT_SUFFIXES:
            if base.endswith(suf) and len(base) > len(suf):
                base, unit = base[: -len(suf)], u
                break
        words = base.replace("_", " ").replace("mtok", "M tokens").strip()
        words = re.sub(r"\bgpus\b", "GPUs", re.sub(r"\brnd\b", "R&D", words))
        if words.startswith("p "):
            head = f"P({words[2:]})"
        else:
            head = (words[:1].upper() + words[1:]) + (f" ({unit})" if unit else "")
    if pct:
        head += ", median" if pct == "50" else f", P{pct}"
    return head


# --- units of the vocabulary (inferonomics.quantity.UNITS) ----------------------------------------------
#: How a unit of the vocabulary reads after a number (``700 W``, ``0.08 USD per kWh``); a test checks every
#: unit of :data:`inferonomics.quantity.UNITS` has one (this module does not import it: pydantic is heavy).
UNIT_LABELS: dict[str, str] = {
    "usd": "USD", "usd_per_year": "USD a year", "usd_per_month": "USD a month",
    "usd_per_mtok": "USD per M tokens", "usd_per_gpu_hour": "USD per GPU-hour", "usd_per_gpu": "USD per GPU",
    "usd_per_server": "USD per server", "cny_per_server": "CNY per server", "usd_per_kwh": "USD per kWh",
    "usd_per_kw_month": "USD per kW-month", "usd_per_gb_month": "USD per GB-month",
    "usd_per_fte_year": "USD per FTE-year", "usd_per_cny": "USD per CNY", "usd_per_eur": "USD per EUR",
    "fraction": "fraction", "per_year": "per year", "ratio": "ratio", "multiplier": "x",
    "rank_correlation": "rank correlation", "s": "s", "hours": "hours", "months": "months", "years": "years",
    "tokens": "tokens", "tokens_per_step": "tokens per step", "tokens_per_month": "tokens a month",
    "mtok": "M tokens", "mtok_per_year": "M tokens a year", "tokens_per_s": "tokens/s", "requests": "requests",
    "gpus": "GPUs", "gpu_hours": "GPU-hours", "gpu_hours_per_year": "GPU-hours a year",
    "units_per_year": "units a year", "fte": "FTE", "w": "W", "kw": "kW", "gib": "GiB", "gb": "GB",
    "gb_s": "GB/s", "tflops": "TFLOPS", "tops": "TOPS", "bytes_per_weight": "bytes per weight",
    "bytes_per_element": "bytes per element", "layers": "layers", "count": "",
}


def unit_label(unit: str | None) -> str:
    """A unit of the vocabulary as people read it after a number: ``w`` → ``W``, ``gb_s`` → ``GB/s``,
    ``usd_per_kwh`` → ``USD per kWh``; ``""`` for none (or ``count``); an unknown unit unchanged."""
    if not unit:
        return ""
    return UNIT_LABELS.get(unit, unit)


def frame(df, columns: list[str] | None = None, labels: dict[str, str] | None = None,
          by: dict[str, str] | None = None):
    """A copy of ``df`` for people: every cell formatted by its column's unit, headings from :func:`label`
    (or ``labels``), empty columns dropped.

    ``by`` formats a column by another name than its own: ``{"p50": "metric"}`` formats each cell of ``p50``
    by the figure named in the same row's ``metric`` column (a long table: ``revenue_usd`` → $bn,
    ``gross_margin`` → %); ``{"swing": "revenue_usd"}`` (not a column) formats the whole column as that
    figure.  Columns named in ``by``'s values that hold figure names are shown through :func:`label`."""
    import pandas as pd

    by = by or {}
    name_cols = {n for n in by.values() if n in df.columns}
    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    out = {}
    for c in cols:
        s = df[c]
        if s.isna().all() or (s.astype(str) == "").all():
            continue
        head = (labels or {}).get(c, label(c))
        if c in name_cols:
            out[head] = [label(v) if isinstance(v, str) and v else value(c, v) for v in s]
            continue
        names = df[by[c]] if by.get(c) in df.columns else [by.get(c, c)] * len(s)
        out[head] = [value(n, v) if not isinstance(v, str) else (v or MISSING) for n, v in zip(names, s, strict=True)]
    return pd.DataFrame(out)


def html_table(df, columns: list[str] | None = None, labels: dict[str, str] | None = None) -> str:
    """:func:`frame` as an HTML table (class ``t``, numbers right-aligned by the stylesheet)."""
    return frame(df, columns, labels).to_html(index=False, border=0, classes="t", escape=True)


__all__ = [
    "LABELS", "MISSING", "UNIT_LABELS", "compact", "count", "date", "frame", "html_table", "kind", "label",
    "mean_pm", "money", "number", "percent", "probability", "rate", "ratio", "seconds", "sig", "signed_money",
    "tokens", "unit_label", "value", "years",
]
