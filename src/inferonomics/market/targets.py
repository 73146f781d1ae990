"""Target solving by hand-checkable formulas: required growth, token volume at a price path, price for a margin.

* required CAGR to go from ``base`` to ``target`` in ``n`` years: ``(target / base) ** (1 / n) - 1``;
* the revenue path at that rate: ``base * (1 + cagr) ** t`` for t = 1..n;
* token volume needed in a year: ``token revenue / price per Mtok`` (Mtok = 10^6 tokens);
* price for a gross margin ``m`` on a cost per Mtok ``c``: ``c / (1 - m)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from inferonomics.errors import InputError

DAYS_PER_YEAR = 365.0


def _pos(name: str, v: float) -> float:
    v = float(v)
    if not math.isfinite(v) or v <= 0:
        raise InputError(name, v, "must be a positive number")
    return v


def _years(v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= 100:
        raise InputError("years", v, "must be a whole number of years from 1 to 100")
    return int(v)


def required_cagr(target_usd, base_usd, years):
    """Compound annual growth rate that turns ``base_usd`` into ``target_usd`` in ``years`` (vectorized)."""
    if np.ndim(target_usd) == 0 and np.ndim(base_usd) == 0:
        _pos("target", target_usd)
        _pos("base", base_usd)
        return (float(target_usd) / float(base_usd)) ** (1.0 / _years(years)) - 1.0
    return (np.asarray(target_usd, float) / np.asarray(base_usd, float)) ** (1.0 / years) - 1.0


def revenue_path(base_usd: float, cagr: float, years: int) -> np.ndarray:
    """Revenue in years 1..n growing at ``cagr`` from ``base_usd``."""
    return _pos("base", base_usd) * (1.0 + cagr) ** np.arange(1, _years(years) + 1)


def price_path(price_usd_per_mtok: float | Sequence[float], years: int, change_per_year: float = 0.0) -> np.ndarray:
    """A price per Mtok for years 1..n: a list (one per year; the last repeats) or a base-year price moved by
    ``change_per_year`` each year (-0.3 = -30% a year)."""
    n = _years(years)
    if isinstance(price_usd_per_mtok, (list, tuple, np.ndarray)):
        p = [_pos("price path", v) for v in price_usd_per_mtok]
        if not p:
            raise InputError("price path", price_usd_per_mtok, "needs at least one price")
        return np.array([p[min(i, len(p) - 1)] for i in range(n)])
    if not change_per_year > -1:
        raise InputError("price change per year", change_per_year, "must be above -1 (-100%)")
    return _pos("price", price_usd_per_mtok) * (1.0 + change_per_year) ** np.arange(1, n + 1)


def required_tokens_mtok(revenue_usd, price_usd_per_mtok):
    """Mtok a year needed to earn ``revenue_usd`` at ``price_usd_per_mtok``."""
    return np.asarray(revenue_usd, float) / np.asarray(price_usd_per_mtok, float)


def price_for_gross_margin(cost_usd_per_mtok, gross_margin: float):
    """Price per Mtok that leaves ``gross_margin`` (0.4 = 40%) over a cost per Mtok."""
    if not -10 < gross_margin < 1:
        raise InputError("gross margin", gross_margin, "must be below 1 (e.g. 0.4 for 40%)")
    return np.asarray(cost_usd_per_mtok, float) / (1.0 - gross_margin)


def required_token_path(target_usd: float, base_usd: float, years: int, prices_usd_per_mtok: Sequence[float],
                        token_share: float = 1.0):
    """Year by year on the CAGR path to the target: revenue, the token share of it, the price and the token
    volume that earns it (Mtok a year and tokens a day)."""
    import pandas as pd

    n = _years(years)
    if not 0 < token_share <= 1:
        raise InputError("token share", token_share, "must be above 0 and at most 1")
    cagr = required_cagr(target_usd, base_usd, n)
    rev = revenue_path(base_usd, cagr, n)
    prices = np.asarray(prices_usd_per_mtok, float)
    if prices.shape != (n,):
        raise InputError("price path", list(prices), f"needs one price per year ({n})")
    tok = required_tokens_mtok(rev * token_share, prices)
    return pd.DataFrame({
        "year": np.arange(1, n + 1),
        "revenue_usd": rev,
        "token_revenue_usd": rev * token_share,
        "price_usd_per_mtok": prices,
        "tokens_mtok": tok,
        "tokens_per_day": tok * 1e6 / DAYS_PER_YEAR,
    })
