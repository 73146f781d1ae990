"""A buyer's workload: how many tokens a month, how they grow and peak, the latency it needs, the model or
quality it needs, where it may run, and the money assumptions of the comparison.

Workload files are YAML, read by the one loader (:mod:`inferonomics.files`: a file may name a ``base``
workload) and validated with pydantic (unknown fields are errors); an error names the file and the field
path.  Every number may be a bare number or a :class:`inferonomics.quantity.Quantity` with provenance: a
sourced value ``{value: 3.0e10, source: ..., date: ...}`` / ``{value: 2.5, assumption: "why"}`` (the
built-in workloads give every number that way) or a distribution ``{dist: ..., assumption: ...}``; money
may be given in another currency (``currency: EUR``), converted at the catalog's dated rate.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from inferonomics import files
from inferonomics.catalog.schema import API_MARKETS, QUALITY_TIERS, WEIGHT_DTYPES
from inferonomics.errors import InferonomicsError
from inferonomics.quantity import Quantity, convert_all, needs_provenance
from inferonomics.quantity import walk as walk_quantities

#: A workload number given as a mapping: the one :class:`inferonomics.quantity.Quantity` (a sourced value
#: ``{value, source, date | assumption}`` or a distribution ``{dist, ...}``), provenance required.  The
#: deterministic comparison uses its median; ``uncertainty`` samples it.  Inputs that set the hardware
#: sizing (request lengths, SLO, horizon, spares, resizing) must be fixed.
Distribution = Annotated[Quantity, AfterValidator(needs_provenance)]


def is_distribution(v) -> bool:
    """An input given as a distribution (the ones ``uncertainty`` samples)."""
    return isinstance(v, Quantity) and v.dist is not None


def _num_kind(v) -> str:
    """The union branch a value was written in (the tags are left out of error paths: they start with '(')."""
    if isinstance(v, dict):
        return "(distribution)" if "dist" in v else "(sourced)"
    if isinstance(v, Quantity):
        return "(distribution)" if v.dist is not None else "(sourced)"
    return "(number)"


# a number, a sourced number {value, source, date | assumption} or a distribution {dist, ...}: the error of a
# bad entry is the error of the form it was written in, not of all three
def _no_bool(v):
    if isinstance(v, bool):  # YAML true/false would otherwise read as 1.0/0.0
        raise ValueError(f"must be a number, got {str(v).lower()}")  # noqa: TRY004 (pydantic wants ValueError)
    return v


Num = Annotated[
    Annotated[Distribution, Tag("(sourced)")] | Annotated[Distribution, Tag("(distribution)")]
    | Annotated[float, Tag("(number)")],
    Discriminator(_num_kind),
    BeforeValidator(_no_bool),
]


class WorkloadError(InferonomicsError):
    """A workload file or workload input that fails validation (message names file and field path)."""


def val(x: Num | None, default: float | None = None) -> float | None:
    """The number of a bare or sourced value."""
    if x is None:
        return default
    if isinstance(x, Quantity):
        return float(x.fixed_value())
    return float(x)


def _check(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False, integer: bool = False,
           fixed: bool = False, unit: str = ""):
    """A field validator through the one numeric validation layer (finite, within range); a distribution
    is checked over its whole support, and refused where the input must be fixed."""
    from inferonomics.limits import Limit, value_error

    lim = Limit(lo, hi, unit, lo_open=lo_open, integer=integer)

    def f(cls, v):
        if v is None:
            return v
        if is_distribution(v):
            if fixed or integer:
                raise ValueError("must be a fixed number, not a distribution: it sets the hardware sizing or "
                                 "the time axis")
            for x in v.support():  # the whole support must be allowed
                f(cls, x)
            return v
        err = value_error(lim, val(v))
        if err:
            raise ValueError(err)
        return v

    return classmethod(f)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Slo(_Strict):
    """Latency targets per request; ``None`` means no target."""

    max_ttft_s: Num | None = Field(default=None, description="time to first token, seconds")
    max_tpot_s: Num | None = Field(default=None, description="time per output token, seconds")

    _v = field_validator("max_ttft_s", "max_tpot_s")(_check(0, 86_400, lo_open=True, fixed=True, unit="seconds"))


class Staff(_Strict):
    """People who run a self-hosted deployment (an API needs none)."""

    own_fte: Num = 0.0
    rented_fte: Num = 0.0
    usd_per_fte_year: Num = 0.0

    _v = field_validator("own_fte", "rented_fte", "usd_per_fte_year")(_check(0, 1e9))


class Ownership(_Strict):
    """Overrides of the catalog's ownership constants (``None``: catalog value)."""

    life_years: Num | None = None
    server_network_capex_frac: Num | None = None
    facility_usd_per_kw_month: Num | None = None
    maintenance_frac_per_year: Num | None = None
    electricity_usd_per_kwh: Num | None = None
    pue: Num | None = None
    spare_servers: Num = 0.0
    resize_every_months: Num = 6.0
    residual_value_frac_of_book: Num = 0.0

    _v_life = field_validator("life_years")(_check(0.5, 30))
    _v_pos = field_validator(
        "server_network_capex_frac", "facility_usd_per_kw_month", "maintenance_frac_per_year",
        "electricity_usd_per_kwh",
    )(_check(0, 1e6))
    _v_pue = field_validator("pue")(_check(1.0, 3.0))
    _v_spare = field_validator("spare_servers")(_check(0, 100_000, integer=True))
    _v_resize = field_validator("resize_every_months")(_check(1, 120, integer=True))
    _v_res = field_validator("residual_value_frac_of_book")(_check(0, 1))


class Correlation(_Strict):
    """A rank (Spearman) correlation between two uncertain inputs, by field path (``growth_per_year``,
    ``ownership.electricity_usd_per_kwh``); sampled with a Gaussian copula."""

    inputs: list[str] = Field(min_length=2, max_length=2)
    rank_correlation: float = Field(ge=-1.0, le=1.0)
    source: str | None = None
    date: str | None = None
    assumption: str | None = None

    @model_validator(mode="after")
    def _why(self) -> Correlation:
        if not self.assumption and not (self.source and self.date):
            raise ValueError("needs both 'source' and 'date', or an 'assumption' that says why")
        return self


class Workload(_Strict):
    name: str = "custom"
    description: str | None = None
    input_tokens_per_month: Num = Field(description="input (prompt) tokens in the first month")
    output_tokens_per_month: Num = Field(description="output tokens in the first month")
    growth_per_year: Num = Field(default=0.0, description="yearly growth of volume (0.5 = +50% a year)")
    peak_to_average: Num = Field(default=2.0, description="peak request rate / average request rate")
    isl_tokens: Num = Field(default=2048, description="input tokens per request")
    osl_tokens: Num = Field(default=512, description="output tokens per request")
    slo: Slo = Field(default_factory=Slo)
    model: str | None = Field(default=None, description="open model to self-host (catalog slug)")
    quality_tier: Literal["small", "medium", "large", "frontier"] | None = None
    sovereign: bool = Field(default=False, description="must run on own premises: no API, no rented cloud")
    horizon_months: Num = 36.0
    discount_rate_per_year: Num | None = Field(default=None, description="default: catalog cost_of_capital")
    region: str = "us-average"
    accelerators: list[str] | None = Field(default=None, description="candidate accelerators (default: all)")
    precisions: list[str] = Field(default_factory=lambda: ["bf16", "fp8", "int8"])
    gpus_per_instance: list[Annotated[int, BeforeValidator(_no_bool)]] = Field(default_factory=lambda: [1, 2, 4, 8, 16])
    api_markets: list[Literal["china", "international"]] = Field(default_factory=lambda: list(API_MARKETS))
    api_providers: list[str] | None = None
    api_price_change_per_year: Num = Field(default=0.0, description="expected yearly change of API prices")
    prices_as_of: str | None = Field(default=None, description="date of the API prices used (default: latest)")
    cache_hit_share: Num = Field(default=0.0, description="share of input tokens served from an API's cache")
    tax_rate: Num = Field(default=0.0, description="income tax rate at which costs are deductible (0: before tax)")
    staff: Staff = Field(default_factory=Staff)
    ownership: Ownership = Field(default_factory=Ownership)
    quality_tiers: dict[str, list[str]] | None = Field(default=None, description="override of open models' tiers")
    correlations: list[Correlation] = Field(default_factory=list, description="rank correlations of uncertain inputs")

    _v_tok = field_validator("input_tokens_per_month", "output_tokens_per_month")(_check(0, 1e16, unit="tokens a month"))
    _v_growth = field_validator("growth_per_year")(_check(-0.99, 100, unit="a yearly rate, 0.5 = +50%"))
    _v_peak = field_validator("peak_to_average")(_check(1, 100))
    _v_len = field_validator("isl_tokens", "osl_tokens")(_check(1, 10_000_000, integer=True, unit="tokens"))
    _v_h = field_validator("horizon_months")(_check(1, 240, integer=True, unit="months"))
    _v_rate = field_validator("discount_rate_per_year")(_check(0, 1, unit="a yearly rate, 0.08 = 8%"))
    _v_chg = field_validator("api_price_change_per_year")(_check(-0.99, 10, unit="a yearly rate"))
    _v_cache = field_validator("cache_hit_share", "tax_rate")(_check(0, 1, unit="a fraction"))

    @field_validator("precisions")
    @classmethod
    def _prec(cls, v: list[str]) -> list[str]:
        bad = [p for p in v if p not in WEIGHT_DTYPES]
        if bad or not v:
            raise ValueError(f"allowed precisions are {', '.join(WEIGHT_DTYPES)}, got {v}")
        return v

    @field_validator("gpus_per_instance")
    @classmethod
    def _gpi(cls, v: list[int]) -> list[int]:
        if not v or any(not 1 <= g <= 4096 for g in v):
            raise ValueError(f"must be whole numbers of GPUs from 1 to 4,096, got {v}")
        return v

    @field_validator("quality_tiers")
    @classmethod
    def _tiers(cls, v):
        if v is None:
            return v
        bad = sorted(set(v) - set(QUALITY_TIERS))
        if bad:
            raise ValueError(f"tiers must be among {', '.join(QUALITY_TIERS)}, got {bad}")
        return v

    @field_validator("prices_as_of", mode="before")
    @classmethod
    def _asof(cls, v):
        from inferonomics.catalog.schema import _check_date

        return _check_date(v)

    @model_validator(mode="after")
    def _need(self) -> Workload:
        if self.model is None and self.quality_tier is None:
            raise ValueError("give the open model to self-host ('model') or the quality needed ('quality_tier')")
        if val(self.input_tokens_per_month) + val(self.output_tokens_per_month) < 1:
            raise ValueError("input_tokens_per_month + output_tokens_per_month must be at least 1 token a month")
        if self.correlations:
            self.copula()  # names and consistency checked here
        return self

    def uncertain_inputs(self) -> dict[str, Quantity]:
        """Dotted field path -> distribution, for every input given as a distribution."""
        out = {}
        for name in type(self).model_fields:
            v = getattr(self, name)
            if is_distribution(v):
                out[name] = v
            elif isinstance(v, Staff | Ownership):
                for sub in type(v).model_fields:
                    x = getattr(v, sub)
                    if is_distribution(x):
                        out[f"{name}.{sub}"] = x
        return out

    def copula(self):
        """The Gaussian copula of ``correlations`` (:class:`inferonomics.ledger.dists.Copula`)."""
        from inferonomics.ledger.dists import Copula

        known = self.uncertain_inputs()
        for i, c in enumerate(self.correlations):
            for n in c.inputs:
                if n not in known:
                    raise ValueError(
                        f"correlations[{i}].inputs: {n!r} is not an uncertain input of this workload; uncertain "
                        f"inputs: {', '.join(known) or 'none (give a distribution first)'}")
        try:
            return Copula([(c.inputs[0], c.inputs[1], c.rank_correlation) for c in self.correlations])
        except ValueError as exc:
            raise ValueError(f"correlations: {exc}") from None

    # convenience --------------------------------------------------------------------------------------
    def number(self, path: str) -> float | None:
        obj = self
        for part in path.split("."):
            obj = getattr(obj, part)
        return val(obj)


def _format_error(exc) -> str:
    return files.format_errors(exc.errors(), Workload)


#: Workload files through the one loader (:mod:`inferonomics.files`); a file may name a ``base`` workload.
KIND = files.FileKind("workload", "inferonomics.decide", "workloads", WorkloadError,
                      builtin_label="built-in workload {name}", top_level="of workload fields")


def builtin_names() -> list[str]:
    return KIND.builtin_names()


def parse_workload(doc: object, where: str) -> Workload:
    """Validate a parsed YAML document; errors name ``where`` (a file) and the field path.  Money given in
    another currency is converted to USD at the catalog's dated rate."""
    from pydantic import ValidationError

    if not isinstance(doc, dict):
        raise WorkloadError(f"{where}: the top level must be a mapping of workload fields")
    try:
        w = Workload(**doc)
    except ValidationError as exc:
        raise WorkloadError(f"{where}: {_format_error(exc)}") from None
    quantities = [q for _, q in walk_quantities(w)]
    if any(q.currency or q.unit for q in quantities):
        from inferonomics.catalog import get_catalog

        cat = get_catalog() if any(q.currency for q in quantities) else None
        for path, msg in convert_all(w, cat):
            raise WorkloadError(f"{where}: field '{path}': {msg}")
    return w


def load_workload(name_or_path: str) -> Workload:
    """A built-in workload by name (``bank-sovereign``) or a YAML file (which may name a ``base`` workload)."""
    doc, where, _ = KIND.load(str(name_or_path))
    return parse_workload(doc, where)


#: Share of a stated monthly volume that is input, when neither the workload nor the user gives one: chat and
#: RAG traffic is prompt-heavy (OpenRouter's published token mix is about 4:1 input:output); an assumption.
DEFAULT_INPUT_SHARE = 0.8
#: Output tokens per request when a volume is stated without a request shape (a typical chat answer); assumption.
DEFAULT_OSL_TOKENS = 512


def split_volume(tokens_per_month: float, input_share: float | None, base: Workload | None,
                 isl: int | None, osl: int | None) -> tuple[float, float, int | None]:
    """Input and output tokens a month from a total, and the prompt length when none is known.

    The input share is ``input_share``, else ``base``'s, else :data:`DEFAULT_INPUT_SHARE`; a workload stated
    only by volume gets prompts of ``osl`` (or :data:`DEFAULT_OSL_TOKENS`) x input/output tokens."""
    if input_share is None:
        if base is not None:
            i, o = val(base.input_tokens_per_month), val(base.output_tokens_per_month)
            input_share = i / (i + o)
        else:
            input_share = DEFAULT_INPUT_SHARE
    if base is None and isl is None and input_share > 0:
        o = osl or DEFAULT_OSL_TOKENS
        isl = max(1, round(o * input_share / (1.0 - input_share)))
    return tokens_per_month * input_share, tokens_per_month * (1.0 - input_share), isl


def with_overrides(w: Workload | None, where: str = "command-line options", **updates) -> Workload:
    """A copy of ``w`` (or a new workload) with the given fields replaced, validated again."""
    base = w.model_dump(exclude_none=True) if w is not None else {}
    for k, v in updates.items():
        if v is None:
            continue
        if "." in k:
            head, tail = k.split(".", 1)
            base.setdefault(head, {})
            base[head] = {**base[head], tail: v}
        else:
            base[k] = v
    return parse_workload(base, where)


__all__ = [
    "Correlation",
    "Distribution",
    "Ownership",
    "Slo",
    "Staff",
    "Workload",
    "WorkloadError",
    "builtin_names",
    "load_workload",
    "parse_workload",
    "val",
    "with_overrides",
]
