"""Numeric inputs of a scenario: :class:`Spec` (a fixed value or a distribution with its provenance) and
the bounded field types built on it (``Num``, ``NumPath``, ``Rate``, ``Share``, ``Money``)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from inferonomics.catalog.schema import _check_date
from inferonomics.market.dists import ALL_PARAMS, DISTS, Dist, make_dist


# --- numeric inputs ------------------------------------------------------------------------------------
class Spec(BaseModel):
    """One numeric input: a fixed value or a distribution, with its provenance."""

    model_config = ConfigDict(extra="forbid")

    value: float | None = None
    dist: Literal["normal", "lognormal", "uniform", "triangular", "pert"] | None = None
    mean: float | None = None
    sd: float | None = None
    median: float | None = None
    mu: float | None = None
    sigma: float | None = None
    low: float | None = None
    mode: float | None = None
    high: float | None = None
    p10: float | None = None
    p90: float | None = None
    currency: str | None = Field(default=None, description="currency of the numbers, converted to USD")
    unit: str | None = None
    source: str | None = None
    date: str | None = None
    assumption: str | None = None
    note: str | None = None

    _dist: Dist | None = PrivateAttr(default=None)
    _factor: float = PrivateAttr(default=1.0)  # USD per unit of ``currency``
    _lo: float = PrivateAttr(default=-math.inf)
    _hi: float = PrivateAttr(default=math.inf)

    _v_date = field_validator("date", mode="before")(classmethod(lambda cls, v: _check_date(v)))

    @model_validator(mode="after")
    def _canonical(self) -> Spec:
        params = {k: getattr(self, k) for k in ALL_PARAMS}
        given = [k for k, v in params.items() if v is not None]
        if self.dist is None:
            if self.value is None:
                raise ValueError(
                    "give a fixed 'value: NUMBER' or a distribution 'dist: " + "|".join(DISTS) + "' with its parameters"
                )
            if given:
                raise ValueError(f"parameters {given} need 'dist: ...' (or drop them and keep 'value')")
            if not math.isfinite(self.value):
                raise ValueError(f"value must be a finite number, got {self.value}")
        else:
            if self.value is not None:
                raise ValueError("give either 'value' or 'dist' with parameters, not both")
            self._dist = make_dist(self.dist, params)
        if (self.source or self.date) and not self.assumption and not (self.source and self.date):
            raise ValueError("a sourced number needs both 'source' and 'date' (or an 'assumption' that says why)")
        return self

    # -- what the model reads -----------------------------------------------------------------------
    @property
    def uncertain(self) -> bool:
        return self._dist is not None and self._dist.support()[0] < self._dist.support()[1]

    def ppf(self, u):
        """Quantiles in USD (or the field's unit), clipped to the field's bounds."""
        import numpy as np

        if self._dist is None:
            return np.full(np.shape(u), self.value * self._factor)
        x = self._dist.ppf(u)
        return np.clip(x, self._lo, self._hi) * self._factor

    def fixed_value(self) -> float:
        """The value in USD (or the field's unit); the median of a distribution."""
        if self._dist is None:
            return self.value * self._factor
        return float(self.ppf(0.5))

    def describe(self) -> str:
        cur = f" {self.currency}" if self.currency else ""
        return (self._dist.describe() if self._dist else f"{self.value:.6g}") + cur

    @property
    def provenance(self) -> str:
        if self.assumption:
            return f"assumption: {self.assumption}"
        if self.source:
            return f"{self.source} ({self.date})"
        return self.note or ""


def _coerce(v: Any) -> Any:
    if isinstance(v, bool):
        raise ValueError(f"must be a number, got {v!r}")
    if isinstance(v, (int, float)):
        return {"value": v}
    if isinstance(v, str):
        try:
            return {"value": float(v)}
        except ValueError:
            raise ValueError(
                f"must be a number or a mapping such as {{value: 0.5, source: ..., date: ...}} or "
                f"{{dist: lognormal, p10: 0.4, p90: 0.9, assumption: ...}}; got {v!r}"
            ) from None
    return v


def _bounds(lo: float | None, hi: float | None, lo_open: bool = False, what: str = ""):
    def check(s: Spec) -> Spec:
        smin, smax = (s.value, s.value) if s._dist is None else s._dist.support()
        bad_lo = lo is not None and (smin < lo or (lo_open and smin <= lo))
        bad_hi = hi is not None and smax > hi
        if bad_lo or bad_hi:
            if hi is None:
                rng = f"above {lo:g}" if lo_open else f"at least {lo:g}"
            elif lo is None:
                rng = f"at most {hi:g}"
            else:
                rng = f"above {lo:g} and at most {hi:g}" if lo_open else f"from {lo:g} to {hi:g}"
            if s._dist is None:
                raise ValueError(f"must be {rng}{what}; got {s.value:g}")
            raise ValueError(
                f"must be {rng}{what}; {s._dist.describe()} reaches {smin:.4g} to {smax:.4g} "
                "(its 0.1-99.9% range or bounds): narrow it or use a bounded shape (uniform, triangular, pert)"
            )
        if lo is not None:
            s._lo = lo
        if hi is not None:
            s._hi = hi
        return s

    return check


def _as_list(v: Any) -> Any:
    if isinstance(v, list):
        if not v:
            raise ValueError("an empty list; give a number or one entry per year")
        return v
    return [v]


def Num(lo: float | None = None, hi: float | None = None, lo_open: bool = False, what: str = ""):
    """A numeric input (number or distribution) with allowed bounds."""
    return Annotated[Spec, BeforeValidator(_coerce), AfterValidator(_bounds(lo, hi, lo_open, what))]


def NumPath(lo: float | None = None, hi: float | None = None, lo_open: bool = False, what: str = ""):
    """A per-year rate: one input or a list, one per projected year (the last repeats); entries move together."""
    return Annotated[list[Num(lo, hi, lo_open, what)], BeforeValidator(_as_list)]


Rate = NumPath(-1.0, None, lo_open=True, what=" (a yearly rate: -0.3 = -30%, 1.0 = +100%)")
Share = Num(0.0, 1.0)
Money = Num(0.0, None)


def _zero() -> list[Spec]:
    return [Spec(value=0.0)]
