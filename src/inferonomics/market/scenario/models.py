"""The scenario file's pydantic models, one per section (``extra="forbid"``), and :class:`ScenarioSpec`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from inferonomics.catalog.schema import SLUG_RE, _check_date
from inferonomics.market.scenario.inputs import Money, Num, NumPath, Rate, Share, Spec, _coerce, _zero


# --- scenario sections -----------------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)  # defaults get their bounds too


def _fixed_number(v: Spec, what: str) -> Spec:
    """``v`` unchanged if it is a fixed number; a distribution is refused (``what`` names the field's role)."""
    if v._dist is not None:
        raise ValueError(f"{what} is a fixed number ('value'), not a distribution")
    return v


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
    idle_to_training: bool = Field(default=False, description=(
        "lend the serving replicas the fleet simulation finds idle to the training fleet on the same "
        "accelerator (utilization_from: fleet, an owned fleet scenario)"))
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
        if self.idle_to_training and self.utilization_from != "fleet":
            raise ValueError("idle_to_training needs utilization_from: fleet (the fleet simulation says which "
                             "replicas are idle when)")
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

    _v_fixed = field_validator("revenue_usd_per_year")(classmethod(lambda cls, v: _fixed_number(v, "a target")))


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

    _v_fixed = field_validator("value")(classmethod(lambda cls, v: _fixed_number(v, "a calibration target")))


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
