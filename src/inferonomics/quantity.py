"""One quantity type for every number read from a file: :class:`Quantity`.

A quantity is a fixed ``value`` or a distribution (``dist`` and its parameters, see
:mod:`inferonomics.ledger.dists`), with

* ``unit``: optional, one of the controlled vocabulary :data:`UNITS` (``usd_per_mtok``, ``fraction``,
  ``gib`` ...); an unknown unit is an error that names the field, the value and the close matches;
* ``source`` + ``date`` or ``assumption``: where the number comes from (a file kind may require it);
* ``currency`` + ``currency_year``: a money number given in another currency (``CNY``, ``EUR``) is
  converted to USD with the catalog's dated exchange rate (:meth:`Quantity.convert`), and the quantity
  says which rate and date it used (:attr:`Quantity.fx_note`); ``currency_year`` is the year the money is
  of, and the note says so when the rate is of another year (a 2024 price at a 2025 rate);
* ``note``: free text.

Design notes
------------
* One type, three policies.  Provider scenarios accept a bare number (``0.3``) and make provenance
  optional (:data:`Spec`-style fields, :func:`coerce_number`); market files refuse a bare number and
  require provenance (:func:`no_bare_number`, :func:`needs_provenance`); workload files accept a bare
  number as a plain float and a mapping as a quantity with provenance.  The policies are validators put
  on the field types (``Annotated``), never subclasses, so every number of every file is a
  :class:`Quantity` with one set of methods.
* Sampling is inverse transform, ``ppf(u)``; the field's bounds (``_lo``/``_hi``, set by the scenario's
  bounded field types) clip the quantiles, then the currency factor applies.  How ``u`` is drawn stays
  with the engine that draws it (the provider model: one stream per field path; the market: one
  ``rng.random`` per quantity in a fixed order; the buyer's decision: ``u`` cut at 0.1%/99.9%), so the
  same quantity gives the same quantile through every file kind.
* The catalog's own records (:class:`inferonomics.catalog.schema.Sourced`) are fixed values with
  provenance and a unit of the same vocabulary (what the unit does not say goes in their ``note``); they
  are not distributions and stay their own type.

Units vocabulary
----------------
:data:`UNITS` maps each unit to what it means; money units start with their currency (``usd``, ``cny``:
a catalog record in yuan says ``cny_per_server`` and ``currency: CNY``).  ``gib`` (2^30 bytes) and
``gb`` (10^9 bytes) are different units: the catalog's ``memory_gib`` of an accelerator is in GiB (the
perf model multiplies it by 2^30), as vendors' "80 GB" for an H100 means 80 GiB of HBM.  Its deprecated
name ``memory_gb`` still loads (the same GiB value).
"""

from __future__ import annotations

import difflib
import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr, field_validator, model_validator

#: The controlled vocabulary of units: unit -> what it means.  Money units start with their currency
#: (``usd``, ``cny``); the catalog's own records (:class:`inferonomics.catalog.schema.Sourced`) use it too.
UNITS: dict[str, str] = {
    # money
    "usd": "US dollars",
    "usd_per_year": "US dollars a year",
    "usd_per_month": "US dollars a month",
    "usd_per_mtok": "US dollars per million tokens",
    "usd_per_gpu_hour": "US dollars per GPU-hour",
    "usd_per_gpu": "US dollars per accelerator",
    "usd_per_server": "US dollars per server (one system of several accelerators)",
    "cny_per_server": "Chinese yuan per server (one system of several accelerators)",
    "usd_per_kwh": "US dollars per kilowatt-hour",
    "usd_per_kw_month": "US dollars per kilowatt of IT capacity per month",
    "usd_per_gb_month": "US dollars per gigabyte (10^9 bytes) stored for a month",
    "usd_per_fte_year": "US dollars per full-time person per year",
    "usd_per_cny": "an exchange rate: US dollars per Chinese yuan",
    "usd_per_eur": "an exchange rate: US dollars per euro",
    # shares and rates
    "fraction": "a share from 0 to 1 (0.3 = 30%)",
    "per_year": "a yearly rate (0.08 = 8% a year; as a change, 0.5 = +50% a year, -0.3 = -30%)",
    "ratio": "one quantity over another of the same unit",
    "multiplier": "a factor applied to another quantity (1 = unchanged)",
    "rank_correlation": "a Spearman rank correlation from -1 to 1",
    # time
    "s": "seconds",
    "hours": "hours",
    "months": "months",
    "years": "years",
    # volume of work
    "tokens": "tokens",
    "tokens_per_step": "tokens per engine step (one forward pass of the batch)",
    "tokens_per_month": "tokens a month",
    "mtok": "millions of tokens",
    "mtok_per_year": "millions of tokens a year",
    "tokens_per_s": "tokens per second",
    "requests": "requests (sequences in flight)",
    # hardware
    "gpus": "accelerators (GPU-equivalents)",
    "gpu_hours": "GPU-hours",
    "gpu_hours_per_year": "GPU-hours a year",
    "units_per_year": "units delivered a year",
    "fte": "full-time people",
    "w": "watts",
    "kw": "kilowatts",
    "gib": "gibibytes (2^30 bytes): accelerator memory (the catalog's memory_gib)",
    "gb": "gigabytes (10^9 bytes)",
    "gb_s": "gigabytes (10^9 bytes) per second",
    "tflops": "10^12 floating-point operations per second",
    "tops": "10^12 integer operations per second (int8 peaks)",
    "bytes_per_weight": "bytes of storage per model weight (scales and zero points included)",
    "bytes_per_element": "bytes per activation element (one number of a hidden-state vector)",
    "layers": "transformer layers",
    "count": "a plain number of things",
}

#: The currencies a money unit may start with (``cny_per_server``): the unit says what the number is in.
UNIT_CURRENCIES = ("usd", "cny", "eur")

#: Common spellings (lower case, ``/`` and spaces read as ``_per_`` and ``_``) -> the vocabulary's unit; only
#: used to suggest the right unit in an error, never accepted as a unit.
_ALIASES: dict[str, str] = {
    "watt": "w", "watts": "w", "kilowatt": "kw", "kilowatts": "kw", "gb_per_s": "gb_s",
    "gbytes_per_s": "gb_s",
    "second": "s", "seconds": "s", "sec": "s", "hour": "hours", "month": "months", "year": "years",
    "gpu": "gpus", "accelerators": "gpus", "dollars": "usd", "usd_per_gpu_hr": "usd_per_gpu_hour",
    "percent": "fraction", "share": "fraction", "gigabytes": "gb", "gibibytes": "gib", "token": "tokens",
    "usd_per_kw_per_month": "usd_per_kw_month", "usd_per_gb_per_month": "usd_per_gb_month",
}

DISTS = ("normal", "lognormal", "uniform", "triangular", "pert")
ALL_PARAMS = ("mean", "sd", "median", "mu", "sigma", "low", "mode", "high", "p10", "p90")


def unit_currency(unit: str | None) -> str | None:
    """The currency a money unit is in (``cny_per_server`` -> ``CNY``); ``None`` for a unit that is not
    money."""
    head = unit.split("_", 1)[0] if isinstance(unit, str) else None
    return head.upper() if head in UNIT_CURRENCIES else None


def is_money(unit: str | None) -> bool:
    return unit_currency(unit) is not None


def currency_error(unit: str | None, currency: str | None) -> str | None:
    """Why a unit and a currency disagree, or ``None``: a currency applies to money only, and a unit in
    another currency than USD (``cny_per_server``) needs that currency named (``currency: CNY``), so that
    the number is converted.  A USD unit with another currency is a number given in that currency for a
    USD field (the scenario form: ``revenue_usd: {value: ..., currency: CNY}``)."""
    if not unit:
        return None
    cur = unit_currency(unit)
    if currency and cur is None:
        return (f"currency {currency} applies to money; unit {unit!r} is not money (money units start with "
                f"a currency: {', '.join(UNIT_CURRENCIES)})")
    if cur not in (None, "USD") and (currency or "").upper() != cur:
        return (f"unit {unit!r} is an amount in {cur}: give 'currency: {cur}'"
                + (f", not {currency}" if currency else ""))
    return None


def _known(s: str) -> str | None:
    return s if s in UNITS else _ALIASES.get(s) or _ALIASES.get(s.rstrip("s"))


def _close_units(s: str) -> list[str]:
    """The vocabulary's units closest to ``s``: a known spelling first (``Watts`` -> ``w``, ``GB/s`` ->
    ``gb_s``), then a near-miss spelling (``fractoin``), then the unit a description starts with
    (``fraction of TDP drawn when idle`` -> ``fraction``), then the closest by spelling."""
    norm = s.strip().lower().replace("/", "_per_").replace(" per ", "_per_")
    norm = re.sub(r"[\s\-_,;:()]+", "_", norm).strip("_")
    parts = norm.split("_")
    lead = next((u for i in range(len(parts) - 1, 0, -1) if (u := _known("_".join(parts[:i])))), None)
    close = difflib.get_close_matches(norm, list(UNITS), n=3, cutoff=0.6)
    first = difflib.get_close_matches(norm, list(UNITS), n=1, cutoff=0.8)  # a near-miss spelling
    return list(dict.fromkeys(u for u in (_known(norm), *first, lead, *close) if u))[:3]


def unit_error(unit: object) -> str | None:
    """Why ``unit`` is not in the vocabulary (with close matches), or ``None`` when it is."""
    if isinstance(unit, str) and unit in UNITS:
        return None
    s = str(unit)
    close = _close_units(s)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return f"unit {s!r} is not in the units vocabulary; {hint}allowed: {', '.join(UNITS)}"


class Quantity(BaseModel):
    """One number from a file: a fixed value or a distribution, its unit, provenance and currency."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
    unit: str | None = None
    currency: str | None = None
    currency_year: int | None = None
    source: str | None = None
    date: str | None = None
    assumption: str | None = None
    note: str | None = None

    _dist: Any = PrivateAttr(default=None)  # the canonical ledger.dists.Dist, or None for a fixed value
    _factor: float = PrivateAttr(default=1.0)  # USD per unit of ``currency``
    _lo: float = PrivateAttr(default=-math.inf)  # the field's bounds: quantiles are clipped to them
    _hi: float = PrivateAttr(default=math.inf)
    _fx: str = PrivateAttr(default="")  # which exchange rate converted the number, and its date

    @field_validator("date", mode="before")
    @classmethod
    def _v_date(cls, v):
        from inferonomics.catalog.schema import _check_date

        return _check_date(v)

    @field_validator("value", *ALL_PARAMS, mode="before")
    @classmethod
    def _v_no_bool(cls, v):
        if isinstance(v, bool):  # YAML true/false would otherwise read as 1.0/0.0
            raise ValueError(f"must be a number, got {str(v).lower()}")  # noqa: TRY004 (pydantic wants ValueError)
        return v

    @field_validator("unit")
    @classmethod
    def _v_unit(cls, v):
        if v is not None and (err := unit_error(v)):
            raise ValueError(err)
        return v

    @field_validator("currency")
    @classmethod
    def _v_currency(cls, v):
        if v is not None and not (isinstance(v, str) and len(v) == 3 and v.isalpha()):
            raise ValueError(f"currency must be an ISO code like USD, CNY or EUR, got {v!r}")
        return v

    @field_validator("currency_year")
    @classmethod
    def _v_year(cls, v):
        if v is not None and not 1900 <= v <= 2200:
            raise ValueError(f"currency_year must be a year from 1900 to 2200, got {v}")
        return v

    @model_validator(mode="after")
    def _canonical(self) -> Quantity:
        from inferonomics.ledger.dists import make_dist

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
        if err := currency_error(self.unit, self.currency):
            raise ValueError(err)
        if (self.source or self.date) and not self.assumption and not (self.source and self.date):
            raise ValueError("a sourced number needs both 'source' and 'date' (or an 'assumption' that says why)")
        return self

    # -- what the models read -----------------------------------------------------------------------
    @property
    def uncertain(self) -> bool:
        """A distribution with some spread (a degenerate one counts as fixed)."""
        return self._dist is not None and self._dist.support()[0] < self._dist.support()[1]

    def to_dist(self):
        """The canonical :class:`inferonomics.ledger.dists.Dist` (``None`` for a fixed value)."""
        return self._dist

    def support(self) -> tuple[float, float]:
        """(low, high) of the value: the distribution's bounds or 0.1%/99.9% quantiles, in the given unit."""
        if self._dist is None:
            return (self.value, self.value)
        return self._dist.support()

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

    def median_value(self) -> float:
        return self.fixed_value()

    def sample(self, rng, n: int, lo: float = -math.inf, hi: float = math.inf):
        """``n`` draws by inverse transform of ``rng.random(n)`` (drawn for fixed values too, so the stream
        does not depend on which inputs are uncertain), clipped to [lo, hi]."""
        import numpy as np

        u = rng.random(n)
        return np.clip(self.ppf(u), lo, hi)

    def describe(self) -> str:
        cur = f" {self.currency}" if self.currency else ""
        yr = f" of {self.currency_year}" if self.currency_year else ""
        from inferonomics.present import compact

        return (self._dist.describe() if self._dist else compact(self.value, 4)) + cur + yr

    @property
    def fx_note(self) -> str:
        """Which exchange rate converted the number to USD, and its date ('' when none did)."""
        return self._fx

    @property
    def provenance(self) -> str:
        if self.assumption:
            out = f"assumption: {self.assumption}"
        elif self.source:
            out = f"{self.source} ({self.date})"
        else:
            out = self.note or ""
        out = out.rstrip()
        return f"{out}; {self._fx}" if self._fx and out else (self._fx or out)

    # -- currency ---------------------------------------------------------------------------------------
    def convert(self, catalog) -> None:
        """Convert a number given in ``currency`` to USD with the catalog's dated rate (a ``ValueError`` that
        names the currency and the known ones when the catalog has no rate for it)."""
        if not self.currency:
            return
        cur = self.currency.upper()
        if cur == "USD":
            self._factor = 1.0
            self._fx = f"USD{' of ' + str(self.currency_year) if self.currency_year else ''}, not converted"
            return
        rec = catalog.fx.get(cur)
        if rec is None:
            raise ValueError(f"{self.currency!r} has no exchange rate in the catalog; known: USD, "
                             f"{', '.join(sorted(catalog.fx))}")
        rate = rec.usd_per_unit
        self._factor = rate.value
        when = rate.date or "undated"
        note = f"converted from {cur} at {rate.value:g} USD/{cur} (catalog fx {cur}, {when})"
        year = str(when)[:4]
        if self.currency_year and year.isdigit() and int(year) != self.currency_year:
            note += f"; money of {self.currency_year} at a rate of {year}"
        self._fx = note


# --- policies (validators put on the field types) -----------------------------------------------------
def coerce_number(v: Any) -> Any:
    """A bare number (or a numeric string) becomes ``{value: v}``; YAML true/false is refused."""
    if isinstance(v, bool):
        raise ValueError(f"must be a number, got {v!r}")  # noqa: TRY004 (pydantic reports ValueError)
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


def no_bare_number(v: Any) -> Any:
    """A bare number is not accepted: every number carries its provenance."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        raise ValueError(  # noqa: TRY004 (pydantic reports ValueError as a validation error)
            f"{v} needs its provenance: write {{value: {v}, source: ..., date: ...}} or {{value: {v}, assumption: ...}}"
        )
    return v


def needs_provenance(q: Quantity) -> Quantity:
    if not q.assumption and not (q.source and q.date):
        raise ValueError("needs both 'source' and 'date', or an 'assumption' that says why")
    return q


def walk(obj: Any, path: str = ""):
    """Every :class:`Quantity` in a validated model tree, with its field path (``a.b[2].c``)."""
    if isinstance(obj, Quantity):
        yield path, obj
    elif isinstance(obj, (list, tuple)):
        for i, x in enumerate(obj):
            yield from walk(x, f"{path}[{i}]")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, BaseModel):
        for k in type(obj).model_fields:
            v = getattr(obj, k)
            if v is not None:
                yield from walk(v, f"{path}.{k}" if path else k)


def unit_of_name(name: str) -> str | None:
    """The unit a field name ends with (``price_usd_per_mtok`` -> ``usd_per_mtok``), the longest that fits."""
    fits = [u for u in UNITS if name == u or name.endswith("_" + u)]
    return max(fits, key=len) if fits else None


def convert_all(obj: Any, catalog) -> list[tuple[str, str]]:
    """Check every quantity's unit against its field name (``price_usd_per_mtok`` given ``unit: fraction``
    is an error) and convert every quantity given in a currency; (field path, error) for the ones that fail."""
    bad = []
    for path, q in walk(obj):
        name = path.rsplit(".", 1)[-1].split("[", 1)[0]  # a per-year list entry: the list's name
        named = unit_of_name(name) if name.isidentifier() else None
        if q.unit and named and q.unit != named:
            bad.append((f"{path}.unit", f"{q.unit!r} does not match the field's name, which says {named}"))
        if q.currency:
            try:
                q.convert(catalog)
            except ValueError as exc:
                bad.append((f"{path}.currency", str(exc)))
    return bad


__all__ = [
    "ALL_PARAMS",
    "DISTS",
    "UNITS",
    "Quantity",
    "coerce_number",
    "convert_all",
    "currency_error",
    "is_money",
    "needs_provenance",
    "no_bare_number",
    "unit_currency",
    "unit_error",
    "walk",
]
