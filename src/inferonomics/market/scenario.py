"""Provider scenario files: schema (pydantic v2, ``extra="forbid"``), loading, ``base:`` inheritance.

A scenario is a YAML mapping.  Every numeric input is a :class:`Spec`: a bare number, a mapping with
``value`` (a fixed number), or a mapping with ``dist`` and its parameters (see
:mod:`inferonomics.market.dists`); either kind may carry ``currency`` (converted to USD at the
catalog's dated rate), ``unit``, ``source`` + ``date`` or ``assumption``, and ``note``.  Fields named
``..._per_year`` that hold rates (growth, price change, attrition) also accept a list, one entry per
projected year; the last entry repeats.

A variant names its base (``base: alibaba-100b``, a built-in name or a path relative to the variant)
and overrides a few fields: mappings merge key by key, lists, numbers and numeric inputs (a mapping with
``value`` or ``dist``) replace whole, ``null`` removes.

Errors name the file, the field path (``token_tiers.flagship.growth_per_year[2].p10``), the value and
what is allowed.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from inferonomics.catalog.schema import SLUG_RE, _check_date
from inferonomics.errors import InferonomicsError, UnknownNameError
from inferonomics.market.dists import ALL_PARAMS, DISTS, Dist, make_dist

SCENARIO_PACKAGE = "inferonomics.market"
SCENARIO_DIR = "scenarios"


class ScenarioFileError(InferonomicsError):
    """A scenario file that cannot be read or fails validation; the message names file and field path."""


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
        from inferonomics.present import compact

        return (self._dist.describe() if self._dist else compact(self.value, 4)) + cur

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


# --- scenario sections -----------------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)  # defaults get their bounds too


def _slug(v: str) -> str:
    if not SLUG_RE.match(v):
        raise ValueError(f"must be kebab-case lowercase (letters, digits, '.', '-'), got {v!r}")
    return v


class TierDeployment(_Strict):
    """The reference deployment whose throughput per GPU sizes a tier's fleet (perf engine, once)."""

    model: str
    gpu: str
    gpus: int = Field(default=1, ge=1)
    tp: int | None = Field(default=None, ge=1)
    pp: int = Field(default=1, ge=1)
    ep: int = Field(default=1, ge=1)
    weights: str = "fp8"
    kv: str | None = None
    isl: int = Field(ge=1, description="input tokens per request")
    osl: int = Field(ge=1, description="output tokens per request")
    max_tpot_s: float | None = Field(default=None, gt=0)
    max_ttft_s: float | None = Field(default=None, gt=0)
    # production serving (see `inferonomics perf --help`): disaggregated pools, wide EP, caching, MTP
    prefill_gpus: int | None = Field(default=None, ge=1, description="prefill GPUs per P+D unit")
    decode_gpus: int | None = Field(default=None, ge=1, description="decode GPUs per P+D unit")
    prefill_tp: int | None = Field(default=None, ge=1)
    prefill_ep: int = Field(default=1, ge=1)
    redundant_experts: int = Field(default=0, ge=0)
    prefix_hit_rate: float = Field(default=0.0, ge=0.0, lt=1.0, description="share of input tokens from cache")
    mtp_tokens: int = Field(default=0, ge=0, le=16)
    mtp_accept_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    engine: str = "generic"
    source: str | None = None
    date: str | None = None
    assumption: str | None = None
    note: str | None = None

    _v_date = field_validator("date", mode="before")(classmethod(lambda cls, v: _check_date(v)))


def _exactly_one(obj: BaseModel, a: str, b: str) -> BaseModel:
    """A segment's base year is given by revenue or by volume, not both."""
    if (getattr(obj, a) is None) == (getattr(obj, b) is None):
        raise ValueError(f"give exactly one of {a} and {b}")
    return obj


class PriceStep(_Strict):
    """A one-off price change from a fiscal year on (multiplies the price by 1 + change)."""

    year: int
    change: Num(-1.0, None, lo_open=True, what=" (-0.97 = a 97% cut, 0.2 = +20%)")
    note: str | None = None


class TokenTier(_Strict):
    """Model-API tokens of one price tier (input + output tokens, mixed as the deployment's ISL:OSL)."""

    description: str | None = None
    deployment: TierDeployment
    base_revenue_usd_per_year: Money | None = None
    base_tokens_mtok_per_year: Money | None = None
    input_price_usd_per_mtok: Money
    output_price_usd_per_mtok: Money
    realized_share_of_list_price: Num(0.0, 1.0, lo_open=True) = Field(default_factory=lambda: Spec(value=1.0))
    price_change_per_year: Rate = Field(default_factory=_zero)
    price_steps: list[PriceStep] = Field(default_factory=list)
    growth_per_year: Rate = Field(default_factory=_zero)
    attrition_per_year: NumPath(0.0, 1.0, what=" (share of the demand left that leaves each year)") = Field(
        default_factory=_zero
    )
    price_elasticity: Num(0.0, 5.0) = Field(default_factory=lambda: Spec(value=0.0))
    throughput_multiplier: Num(0.0, None, lo_open=True) = Field(default_factory=lambda: Spec(value=1.0))

    _one_base = model_validator(mode="after")(lambda self: _exactly_one(self, "base_revenue_usd_per_year",
                                                                        "base_tokens_mtok_per_year"))


class GpuRental(_Strict):
    """GPU-hours rented out (bare compute), sold by the hour."""

    accelerator: str
    base_revenue_usd_per_year: Money | None = None
    base_gpu_hours_per_year: Money | None = None
    price_usd_per_gpu_hour: Money
    price_change_per_year: Rate = Field(default_factory=_zero)
    price_steps: list[PriceStep] = Field(default_factory=list)
    growth_per_year: Rate = Field(default_factory=_zero)
    attrition_per_year: NumPath(0.0, 1.0) = Field(default_factory=_zero)
    utilization: Num(0.0, 1.0, lo_open=True, what=" (share of the rental fleet's hours sold)")

    _one_base = model_validator(mode="after")(lambda self: _exactly_one(self, "base_revenue_usd_per_year",
                                                                        "base_gpu_hours_per_year"))


class ClassicCloud(_Strict):
    """Compute, storage, network, databases: revenue with growth, cash cost and capex as shares of revenue."""

    base_revenue_usd_per_year: Money | Literal["residual"] = Field(
        description="'residual' = base_year.revenue_usd minus the token and rental revenue of the base year"
    )
    growth_per_year: Rate = Field(default_factory=_zero)
    attrition_per_year: NumPath(0.0, 1.0) = Field(default_factory=_zero)
    cash_cost_share_of_revenue: Num(0.0, 2.0) = Field(description="cost of revenue excluding depreciation")
    capex_share_of_revenue: Num(0.0, 2.0)
    life_years: Num(1.0, 30.0)

    @field_validator("base_revenue_usd_per_year", mode="before")
    @classmethod
    def _res(cls, v):
        return v if v == "residual" else _coerce(v)


class Serving(_Strict):
    """How the serving fleet is sized: by the two inputs below (fleet = average busy GPUs x peak_to_average /
    peak_utilization), or, with ``utilization_from: fleet``, by the fleet simulation's utilization at each
    tier's daily volume (``fleet_scenario``: a fleet scenario with one pool per token tier, see
    :mod:`inferonomics.fleet.scale_table`)."""

    peak_to_average: Num(1.0, 20.0, what=" (peak-hour token demand / average)") | None = None
    peak_utilization: Num(0.0, 1.0, lo_open=True,
                          what=" (share of the installed fleet busy at the peak hour)") | None = None
    software_throughput_gain_per_year: Rate = Field(default_factory=_zero)
    utilization_from: Literal["inputs", "fleet"] = "inputs"
    fleet_scenario: str | None = Field(default=None, description="a fleet scenario: built-in name or YAML path")
    exit_gross_margin: Num(-10.0, 0.0, what=" (token gross margin below which the token tiers stop selling "
                           "from that year on)") | None = None

    @model_validator(mode="after")
    def _utilization(self) -> Serving:
        peak = [k for k in ("peak_to_average", "peak_utilization") if getattr(self, k) is not None]
        if self.utilization_from == "inputs":
            if len(peak) < 2 or self.fleet_scenario is not None:
                raise ValueError("give peak_to_average and peak_utilization (utilization_from: inputs), or "
                                 "utilization_from: fleet with a fleet_scenario")
        elif self.fleet_scenario is None or peak:
            raise ValueError("utilization_from: fleet takes the utilization from the fleet simulation: give "
                             "fleet_scenario and leave out peak_to_average and peak_utilization")
        return self


class InHouse(_Strict):
    """An in-house accelerator bought from a fiscal year on (by the fleets in ``applies_to``), relative to the
    pool's catalog chip."""

    from_year: int
    share_of_purchases: Share
    capex_multiplier: Num(0.0, None, lo_open=True)
    throughput_multiplier: Num(0.0, None, lo_open=True)
    power_multiplier: Num(0.0, None, lo_open=True)
    applies_to: list[Literal["serving", "rental", "training"]] = Field(
        default_factory=lambda: ["serving"], min_length=1, description="fleets that buy the in-house chip"
    )
    note: str | None = None


class Pool(_Strict):
    """Purchase terms of one accelerator (defaults: its catalog record and the catalog constants)."""

    accelerator_usd: Money | None = None
    server_network_frac: Num(0.0, 5.0) | None = None
    life_years: Num(1.0, 30.0) | None = None
    price_change_per_year: Rate = Field(default_factory=_zero)
    throughput_gain_per_year: Rate = Field(default_factory=_zero)
    initial_fleet_purchase_years: int = Field(default=3, ge=1, le=30)
    initial_fleet_purchases_growth_per_year: Num(-1.0, None, lo_open=True) = Field(
        default_factory=lambda: Spec(value=0.0)
    )
    in_house: InHouse | None = None


class Training(_Strict):
    accelerator: str
    base_gpus: Money = Field(description="training fleet in the base year, GPU-equivalents of the accelerator")
    growth_per_year: Rate = Field(default_factory=_zero)
    utilization: Share


class Rnd(_Strict):
    """R&D: the model-training fleet (capex, depreciation, power) plus other R&D spending."""

    training: Training | None = None
    other_usd_per_year: Money = Field(default_factory=lambda: Spec(value=0.0))
    other_growth_per_year: Rate = Field(default_factory=_zero)


class Costs(_Strict):
    region: str
    electricity_usd_per_kwh: Num(0.0, 2.0) | None = None
    electricity_change_per_year: Rate = Field(default_factory=_zero)
    pue: Num(1.0, 3.0) | None = None
    facility_usd_per_kw_month: Money | None = None
    operations_share_of_capex_per_year: Num(0.0, 1.0) | None = None
    cost_of_capital: Num(0.0, 1.0) | None = None
    sga_share_of_revenue: Share = Field(default_factory=lambda: Spec(value=0.0))
    buildings_share_of_it_capex: Num(0.0, 5.0) = Field(
        default_factory=lambda: Spec(value=0.0),
        description="data-centre buildings (land, shells, power and cooling plant) bought per USD of IT capex",
    )


class BaseYear(_Strict):
    year: int = Field(ge=1900, le=2200, description="the fiscal year the inputs describe; projections start after it")
    label_prefix: str = ""
    revenue_usd: Money | None = None
    note: str | None = None


class Target(_Strict):
    revenue_usd_per_year: Num(0.0, None, lo_open=True)
    year: int
    note: str | None = None

    @field_validator("revenue_usd_per_year")
    @classmethod
    def _fixed(cls, v: Spec) -> Spec:
        if v._dist is not None:
            raise ValueError("a target is a fixed number ('value'), not a distribution")
        return v


METRIC_CHECKS = ("revenue_usd", "capex_usd", "operating_profit_usd", "gross_profit_usd", "rnd_usd")


class Correlation(_Strict):
    """A rank (Spearman) correlation between two uncertain inputs, by field path; drawn with a Gaussian
    copula (:class:`inferonomics.ledger.dists.Copula`).  A per-year list is one input."""

    inputs: list[str] = Field(min_length=2, max_length=2)
    rank_correlation: float = Field(ge=-1.0, le=1.0)
    source: str | None = None
    date: str | None = None
    assumption: str | None = None

    _v_date = field_validator("date", mode="before")(classmethod(lambda cls, v: _check_date(v)))

    @model_validator(mode="after")
    def _why(self) -> Correlation:
        if not self.assumption and not (self.source and self.date):
            raise ValueError("needs both 'source' and 'date', or an 'assumption' that says why")
        return self


class Check(_Strict):
    """A reported figure to compare the modelled base years with (calibration, no effect on the model)."""

    metric: Literal["revenue_usd", "capex_usd", "operating_profit_usd", "gross_profit_usd", "rnd_usd"]
    years: list[int] = Field(min_length=1)
    value: Num()
    label: str
    note: str | None = None


class MarketLink(_Strict):
    """Token tiers whose prices and volumes come from an equilibrium run of a market file
    (:mod:`inferonomics.market.link`): the tier's price index, and its volume against the market's
    constant-price demand growth, are those of ``provider``'s products in the mapped market tier."""

    file: str = Field(description="a built-in market (inferonomics market list) or a market YAML file")
    provider: str = Field(description="the provider of the market file that this scenario is")
    tiers: dict[str, str] = Field(min_length=1, description="scenario token tier -> market tier (demand nest)")
    paths: int = Field(default=100, ge=1, le=100_000, description="paths of the market run; scenario path k "
                       "takes market path k mod paths (same seed)")
    note: str | None = None


class CalibrationTarget(_Strict):
    """A reported base-year figure the calibration solves the model to (see :mod:`inferonomics.market.calibrate`)."""

    metric: str = Field(description="a metric of the projection, e.g. operating_profit_usd")
    label: str
    value: Num()
    tolerance: float = Field(gt=0.0, le=1.0, description="allowed |model / value - 1|")
    solve_for: list[str] = Field(default_factory=list, description="input paths set to one solved value; "
                                 "empty: the target is only checked")
    note: str | None = None

    @field_validator("value")
    @classmethod
    def _fixed(cls, v: Spec) -> Spec:
        if v._dist is not None:
            raise ValueError("a calibration target is a fixed number ('value'), not a distribution")
        return v


class Calibration(_Strict):
    """Base-year calibration: each target with ``solve_for`` moves those inputs until the model meets it."""

    targets: list[CalibrationTarget] = Field(min_length=1)
    note: str | None = None


class ScenarioSpec(_Strict):
    name: str
    title: str
    description: str = ""
    horizon_years: int = Field(default=5, ge=1, le=50)
    base_year: BaseYear
    target: Target | None = None
    token_tiers: dict[str, TokenTier] = Field(default_factory=dict)
    gpu_rental: GpuRental | None = None
    classic_cloud: ClassicCloud | None = None
    serving: Serving
    pools: dict[str, Pool] = Field(default_factory=dict)
    rnd: Rnd = Field(default_factory=Rnd)
    costs: Costs
    checks: list[Check] = Field(default_factory=list)
    calibration: Calibration | None = None
    correlations: list[Correlation] = Field(default_factory=list, description="rank correlations of inputs")
    sources: list[str] = Field(default_factory=list, description="documents the file draws on")
    notes: str | None = None
    market: MarketLink | None = None

    _v_name = field_validator("name")(classmethod(lambda cls, v: _slug(v)))

    @field_validator("token_tiers")
    @classmethod
    def _tier_names(cls, v: dict) -> dict:
        for k in v:
            _slug(k)
        return v

    @model_validator(mode="after")
    def _years(self) -> ScenarioSpec:
        y0 = self.base_year.year
        later = []
        for name, t in self.token_tiers.items():
            later += [(f"token_tiers.{name}.price_steps[{i}].year", s.year) for i, s in enumerate(t.price_steps)]
        if self.gpu_rental:
            later += [(f"gpu_rental.price_steps[{i}].year", s.year) for i, s in enumerate(self.gpu_rental.price_steps)]
        for name, p in self.pools.items():
            if p.in_house:
                later.append((f"pools.{name}.in_house.from_year", p.in_house.from_year))
        if self.target:
            later.append(("target.year", self.target.year))
        for where, y in later:
            if not y0 < y <= y0 + 100:
                raise ValueError(f"{where}: {y} must be a fiscal year after base_year.year ({y0})")
        for i, c in enumerate(self.checks):
            for y in c.years:
                if not y0 - 50 < y <= y0 + 100:
                    raise ValueError(f"checks[{i}].years: {y} is not a fiscal year near base_year.year ({y0})")
        for t in (self.market.tiers if self.market else {}):
            if t not in self.token_tiers:
                raise ValueError(f"market.tiers: {t!r} is not a token tier of the scenario "
                                 f"({', '.join(self.token_tiers) or 'none'})")
        if not self.token_tiers and self.gpu_rental is None and self.classic_cloud is None:
            raise ValueError("needs at least one segment: token_tiers, gpu_rental or classic_cloud")
        if isinstance(getattr(self.classic_cloud, "base_revenue_usd_per_year", None), str) and (
            self.base_year.revenue_usd is None
        ):
            raise ValueError("classic_cloud.base_revenue_usd_per_year 'residual' needs base_year.revenue_usd")
        return self


# --- loading -----------------------------------------------------------------------------------------
def builtin_names() -> list[str]:
    d = resources.files(SCENARIO_PACKAGE) / SCENARIO_DIR
    return sorted(p.name[:-5] for p in d.iterdir() if p.name.endswith(".yaml"))


def _builtin_text(name: str) -> str:
    return (resources.files(SCENARIO_PACKAGE) / SCENARIO_DIR / f"{name}.yaml").read_text(encoding="utf-8")


def _looks_like_path(s: str) -> bool:
    return s.endswith((".yaml", ".yml")) or os.sep in s or "/" in s


def _read(name_or_path: str, rel_to: Path | None = None) -> tuple[str, str, Path | None]:
    """(label, text, directory) of a built-in scenario or a file."""
    s = str(name_or_path)
    if not _looks_like_path(s) and s in builtin_names():
        return f"built-in scenario {s} ({s}.yaml)", _builtin_text(s), None
    p = Path(s)
    if rel_to is not None and not p.is_absolute():
        p = rel_to / p
    if p.is_dir():
        raise ScenarioFileError(f"{p}: is a directory; give a scenario file or a built-in name")
    if p.exists() or p.is_symlink():
        from inferonomics.io import InputFileError, read_text

        try:
            return str(p), read_text(p, str(p)), p.parent
        except InputFileError as exc:
            raise ScenarioFileError(str(exc)) from None
    if _looks_like_path(s) or p.exists():
        raise ScenarioFileError(
            f"scenario file {str(p)!r} does not exist (or is not a file); built-in scenarios are: "
            f"{', '.join(builtin_names())}"
        )
    raise UnknownNameError("scenario", s, builtin_names())


def _parse_yaml(label: str, text: str) -> dict:
    from inferonomics.io import InputFileError, parse_yaml

    try:
        doc = parse_yaml(text, label)
    except InputFileError as exc:
        raise ScenarioFileError(str(exc)) from None
    if not isinstance(doc, dict):
        raise ScenarioFileError(f"{label}: the top level must be a mapping (name, title, base_year, ...)")
    return doc


def _is_number_spec(v: Any) -> bool:
    return isinstance(v, dict) and ("value" in v or "dist" in v)


def merge(base: Any, over: Any) -> Any:
    """Deep merge of YAML documents: mappings merge, ``None`` removes a key, anything else replaces.  A numeric
    input given as a mapping (``value`` or ``dist``) replaces the base's input whole, never key by key."""
    if isinstance(base, dict) and isinstance(over, dict) and not _is_number_spec(over):
        out = dict(base)
        for k, v in over.items():
            if v is None:
                out.pop(k, None)
            elif k in out:
                out[k] = merge(out[k], v)
            else:
                out[k] = v
        return out
    return over


def _resolve(name_or_path: str, rel_to: Path | None, seen: tuple[str, ...]) -> tuple[dict, list[str]]:
    label, text, folder = _read(name_or_path, rel_to)
    if label in seen:
        raise ScenarioFileError(f"{label}: 'base' chain loops back to itself ({' -> '.join(seen + (label,))})")
    doc = _parse_yaml(label, text)
    base = doc.pop("base", None)
    if base is None:
        return doc, [label]
    if not isinstance(base, str):
        raise ScenarioFileError(f"{label}: field 'base': must be a scenario name or file path, got {base!r}")
    try:
        base_doc, chain = _resolve(base, folder, seen + (label,))
    except UnknownNameError as exc:
        raise ScenarioFileError(f"{label}: field 'base': {exc}") from None
    return merge(base_doc, doc), chain + [label]


def loc_path(loc: tuple) -> str:
    out = ""
    for p in loc:
        if isinstance(p, int):
            out += f"[{p}]"
        elif str(p).startswith(("function-", "union[", "list[", "literal[")) or p in ("float", "str", "Spec"):
            continue
        else:
            out += ("." if out else "") + str(p)
    return out or "(top level)"


def format_validation(label: str, err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        path = loc_path(e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        m = re.match(r"^([A-Za-z_][\w.\[\]]*): (.*)$", msg, re.DOTALL)
        if path == "(top level)" and m:  # a check across fields names the field in its message
            path, msg = m.group(1), m.group(2)
        if e.get("type") == "extra_forbidden":
            parent = e["loc"][:-1]
            msg = "unknown field" + _field_hint(parent, e["loc"][-1])
        elif e.get("type") == "missing":
            msg = "missing (required)"
        got = e.get("input")
        show = ("input" in e and e.get("type") not in ("missing",) and not isinstance(got, (dict, list))
                and "got " not in msg)
        parts.append(f"field '{path}': {msg}" + (f" (got {got!r})" if show else ""))
    return f"{label}: " + "; ".join(parts[:6]) + (f"; and {len(parts) - 6} more" if len(parts) > 6 else "")


def _field_hint(parent: tuple, name: Any) -> str:
    """Known field names of the mapping that holds an unknown one."""
    model: Any = ScenarioSpec
    for p in parent:
        if isinstance(p, int) or model is None:
            continue
        fld = getattr(model, "model_fields", {}).get(p)
        if fld is None:  # a key of a mapping field (a tier or pool name): the value model stays
            continue
        model = _inner_model(fld.annotation)
    if model is None or not hasattr(model, "model_fields"):
        return ""
    known = list(model.model_fields)
    close = difflib.get_close_matches(str(name), known, n=2, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"{hint} allowed fields: {', '.join(known)}"


def _inner_model(ann: Any) -> Any:
    import typing

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for a in typing.get_args(ann):
        m = _inner_model(a)
        if m is not None:
            return m
    return None


# --- the loaded scenario ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Leaf:
    """One numeric input: its field path, the spec(s) and whether it is a per-year list."""

    path: str
    specs: tuple[Spec, ...]
    per_year: bool

    @property
    def uncertain(self) -> bool:
        return any(s.uncertain for s in self.specs)


@dataclass(frozen=True)
class Scenario:
    """A validated scenario plus what the model needs from the catalog and the perf engine."""

    spec: ScenarioSpec
    origin: str
    chain: tuple[str, ...]
    tiers_tokens_per_s_per_gpu: dict[str, float] = field(default_factory=dict)
    tier_perf: dict[str, dict] = field(default_factory=dict)
    catalog: Any = None

    @property
    def name(self) -> str:
        return self.spec.name

    def leaves(self) -> list[Leaf]:
        out: list[Leaf] = []
        _walk(self.spec, "", out)
        return out

    def copula(self):
        """The Gaussian copula of ``correlations`` (no inputs when there are none)."""
        from inferonomics.ledger.dists import Copula

        return Copula([(c.inputs[0], c.inputs[1], c.rank_correlation) for c in self.spec.correlations])

    def uncertain_inputs(self) -> list[Leaf]:
        skip = ("target.", "checks", "calibration.")
        return [x for x in self.leaves() if x.uncertain and not x.path.startswith(skip)]

    def year_label(self, year: int) -> str:
        return f"{self.spec.base_year.label_prefix}{year}"

    def inputs_table(self):
        """Every numeric input with its value or distribution, P10/P50/P90 (in USD) and provenance."""
        import pandas as pd

        rows = []
        for leaf in self.leaves():
            for i, s in enumerate(leaf.specs):
                name = leaf.path + (f"[{i}]" if leaf.per_year and len(leaf.specs) > 1 else "")
                q = [float(s.ppf(p)) for p in (0.1, 0.5, 0.9)] if s.uncertain else [s.fixed_value()] * 3
                rows.append({
                    "input": name, "given": s.describe(), "p10": q[0], "p50": q[1], "p90": q[2],
                    "uncertain": s.uncertain, "provenance": s.provenance,
                })
        return pd.DataFrame(rows)


def _walk(obj: Any, path: str, out: list[Leaf]) -> None:
    if isinstance(obj, Spec):
        out.append(Leaf(path, (obj,), False))
    elif isinstance(obj, list):
        if obj and all(isinstance(x, Spec) for x in obj):
            out.append(Leaf(path, tuple(obj), True))
        else:
            for i, x in enumerate(obj):
                _walk(x, f"{path}[{i}]", out)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _walk(v, f"{path}.{k}" if path else str(k), out)
    elif isinstance(obj, BaseModel):
        for k in type(obj).model_fields:
            v = getattr(obj, k)
            if v is not None:
                _walk(v, f"{path}.{k}" if path else k, out)


def _fail(label: str, where: str, msg: str | Exception) -> ScenarioFileError:
    """The error for a field; an :class:`InputError` from the catalog or perf engine keeps its message without
    its own field prefix (the scenario's field path replaces it)."""
    if isinstance(msg, UnknownNameError):
        msg = str(msg).split(": ", 1)[1]
    return ScenarioFileError(f"{label}: field '{where}': {msg}")


def _finish(spec: ScenarioSpec, label: str, chain: list[str], cat) -> Scenario:
    """Catalog checks, currency conversion, catalog defaults, and the perf engine's throughput per tier."""
    from inferonomics.errors import InputError

    # currencies
    leaves: list[Leaf] = []
    _walk(spec, "", leaves)
    for leaf in leaves:
        for i, s in enumerate(leaf.specs):
            if s.currency:
                try:
                    s._factor = cat.usd_per(s.currency)
                except UnknownNameError as exc:
                    where = leaf.path + (f"[{i}]" if leaf.per_year else "")
                    raise _fail(label, f"{where}.currency", f"{s.currency!r} has no exchange rate in the catalog; "
                                f"known: USD, {', '.join(sorted(cat.fx))}") from exc
    try:
        cat.region(spec.costs.region)
    except UnknownNameError as exc:
        raise _fail(label, "costs.region", exc) from None
    used: dict[str, str] = {}
    for name, t in spec.token_tiers.items():
        used.setdefault(t.deployment.gpu, f"token_tiers.{name}.deployment.gpu")
    if spec.gpu_rental:
        used.setdefault(spec.gpu_rental.accelerator, "gpu_rental.accelerator")
    if spec.rnd.training:
        used.setdefault(spec.rnd.training.accelerator, "rnd.training.accelerator")
    for slug, where in list(used.items()) + [(k, f"pools.{k}") for k in spec.pools]:
        try:
            cat.accelerator(slug)
        except UnknownNameError as exc:
            raise _fail(label, where, exc) from None
    # catalog defaults for every pool in use, so the model and the inputs table see them
    from inferonomics import ledger

    for slug in used:
        pool = spec.pools.get(slug) or Pool()
        acc = cat.accelerator(slug)
        terms = ledger.capex_terms(acc, cat)
        if pool.accelerator_usd is None:
            pool.accelerator_usd = Spec(value=acc.purchase_price_usd.value,
                                        note=f"catalog {slug}: {acc.purchase_price_usd.provenance}")
        if pool.server_network_frac is None:
            pool.server_network_frac = Spec(value=terms["server_network_frac"], note=terms["capex_source"])
        if pool.life_years is None:
            pool.life_years = Spec(value=cat.const("life_years"), note="catalog constant life_years")
        lf = pool.life_years
        lo_life = float(lf._dist.support()[0]) if lf._dist is not None else lf.value
        if pool.initial_fleet_purchase_years > math.floor(max(lo_life, 1.0)):
            raise _fail(label, f"pools.{slug}.initial_fleet_purchase_years",
                        f"{pool.initial_fleet_purchase_years} must not exceed the shortest life_years "
                        f"({lo_life:g}): the base-year fleet is still in service")
        spec.pools[slug] = pool
    reg = cat.region(spec.costs.region)
    c = spec.costs
    if c.electricity_usd_per_kwh is None:
        c.electricity_usd_per_kwh = Spec(value=reg.electricity_usd_per_kwh.value,
                                         note=f"catalog region {reg.slug}: {reg.electricity_usd_per_kwh.provenance}")
    if c.pue is None:
        c.pue = Spec(value=reg.pue.value, note=f"catalog region {reg.slug}: {reg.pue.provenance}")
    if c.facility_usd_per_kw_month is None:
        fac, fac_note = ledger.facility_usd_per_kw_month(reg.slug, cat)
        c.facility_usd_per_kw_month = Spec(value=fac, note=fac_note)
    if c.cost_of_capital is None:
        c.cost_of_capital = Spec(value=cat.const("cost_of_capital"), note="catalog constant cost_of_capital")
    if c.operations_share_of_capex_per_year is None:
        c.operations_share_of_capex_per_year = Spec(value=cat.const("operations_frac_per_year"),
                                                    note="catalog constant operations_frac_per_year")
    # perf engine: once per tier (cached across scenarios)
    tps: dict[str, float] = {}
    perf: dict[str, dict] = {}
    for name, t in spec.token_tiers.items():
        d = t.deployment
        where = f"token_tiers.{name}.deployment"
        try:
            cat.model(d.model)
        except UnknownNameError as exc:
            raise _fail(label, f"{where}.model", exc) from None
        try:
            r = tier_throughput(cat, d.model, d.gpu, d.gpus, d.tp, d.pp, d.ep, d.weights, d.kv, d.isl, d.osl,
                                d.max_tpot_s, d.max_ttft_s, production=_production(d))
        except InputError as exc:
            raise _fail(label, where, exc) from None
        tps[name] = r["tokens_per_s_per_gpu"]
        perf[name] = r
    if spec.market is not None:
        from inferonomics.market.link import check_link

        try:
            check_link(spec.market)
        except InferonomicsError as exc:
            raise _fail(label, "market", exc) from None
    sc = Scenario(spec, label, tuple(chain), tps, perf, cat)
    if spec.correlations:
        known = [lf.path for lf in sc.uncertain_inputs()]
        for i, c in enumerate(spec.correlations):
            for n in c.inputs:
                if n not in known:
                    raise _fail(label, f"correlations[{i}].inputs", f"{n!r} is not an uncertain input of the scenario; "
                                f"uncertain inputs: {', '.join(known) or 'none'}")
        try:
            sc.copula()
        except ValueError as exc:
            raise _fail(label, "correlations", exc) from None
    return sc


_PERF_CACHE: dict[tuple, tuple] = {}  # key -> (catalog, result); the catalog is kept to check identity


_PRODUCTION_FIELDS = (
    "prefill_gpus", "decode_gpus", "prefill_tp", "prefill_ep", "redundant_experts", "prefix_hit_rate",
    "mtp_tokens", "mtp_accept_rate", "engine",
)


def _production(d: TierDeployment) -> tuple:
    """The tier's production-serving settings as a hashable tuple of (name, value), defaults left out."""
    defaults = TierDeployment.model_fields
    return tuple(
        (k, getattr(d, k)) for k in _PRODUCTION_FIELDS if getattr(d, k) != defaults[k].get_default()
    )


def tier_throughput(cat, model, gpu, gpus, tp, pp, ep, weights, kv, isl, osl, max_tpot_s, max_ttft_s,
                    production: tuple = ()) -> dict:
    """Tokens/s per GPU (input + output) of a deployment at its SLO operating point; cached.

    ``production``: (name, value) pairs of production-serving settings (disaggregated pools, redundant
    experts, prefix-cache hit rate, MTP, engine), passed to the perf engine as they are.  Per GPU counts
    every GPU of the deployment (prefill and decode pools together)."""
    from inferonomics.perf import predict

    key = (id(cat), model, gpu, gpus, tp, pp, ep, weights, kv, isl, osl, max_tpot_s, max_ttft_s, production)
    if key not in _PERF_CACHE or _PERF_CACHE[key][0] is not cat:
        kw = {"gpus": gpus, "tp": tp, "pp": pp, "ep": ep, "weights": weights, "kv": kv, "isl": isl, "osl": osl,
              "catalog": cat, **dict(production)}
        r = predict(model, gpu, max_tpot_s=max_tpot_s, max_ttft_s=max_ttft_s, **kw)
        out = r["output_tokens_per_s_per_gpu"]
        _PERF_CACHE[key] = (cat, {
            "concurrency": r["concurrency"],
            "output_tokens_per_s_per_gpu": out,
            "tokens_per_s_per_gpu": out * (isl + osl) / osl,
            "tpot_s": r["tpot_s"],
            "ttft_s": r["ttft_s"],
            "output_tokens_per_s_per_user": r["output_tokens_per_s_per_user"],
            "gpus": r["gpus"],
            "prefill_gpus": r.get("prefill_gpus"),
            "decode_gpus": r.get("decode_gpus"),
        })
    return _PERF_CACHE[key][1]


def load_scenario(name_or_path: str | os.PathLike | ScenarioSpec | dict, *, catalog=None) -> Scenario:
    """Load a built-in scenario by name, a YAML file by path, or a mapping; validate; size tiers once."""
    from inferonomics.catalog import get_catalog

    cat = catalog or get_catalog()
    if isinstance(name_or_path, ScenarioSpec):
        return _finish(name_or_path.model_copy(deep=True), f"scenario {name_or_path.name}", [], cat)
    if isinstance(name_or_path, dict):
        doc, chain, label = dict(name_or_path), ["(mapping)"], "scenario mapping"
        if "base" in doc:
            base_doc, chain = _resolve(doc.pop("base"), None, ())
            doc = merge(base_doc, doc)
            chain = chain + ["(mapping)"]
    else:
        doc, chain = _resolve(str(name_or_path), None, ())
        label = chain[-1]
    if len(chain) > 1:
        label = f"{label} (with base {chain[-2].split(' (')[0]})"
    try:
        spec = ScenarioSpec.model_validate(doc)
    except ValidationError as exc:
        raise ScenarioFileError(format_validation(label, exc)) from None
    return _finish(spec, label, chain, cat)


def builtin_table():
    """Built-in scenarios: name, title, base, description."""
    import pandas as pd

    rows = []
    for n in builtin_names():
        doc = _parse_yaml(n, _builtin_text(n))
        rows.append({"name": n, "base": doc.get("base") or "", "title": doc.get("title", ""),
                     "description": re.sub(r"\s+", " ", str(doc.get("description", ""))).strip()})
    return pd.DataFrame(rows)
