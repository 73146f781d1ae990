"""Numeric inputs of a scenario: :class:`Spec` (the one :class:`inferonomics.quantity.Quantity`: a fixed
value or a distribution with its unit, provenance and currency) and the bounded field types built on it
(``Num``, ``NumPath``, ``Rate``, ``Share``, ``Money``).  A scenario accepts a bare number (coerced to
``{value: ...}``) and leaves provenance optional."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

from inferonomics.quantity import Quantity, coerce_number

#: A scenario's numeric input: the one quantity type (the name is kept for existing imports).
Spec = Quantity
_coerce = coerce_number


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
