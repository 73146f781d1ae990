"""Pydantic schema of the catalog records.

One record per accelerator, model or region.  Every techno-economic number is a
:class:`Sourced` value: the value plus either (``source`` and ``date``) or ``assumption`` (why it is
assumed).  Model architectures come from one published config, so a model record carries the source
once for all its integers.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from inferonomics.catalog.records import (  # noqa: F401 (the vocabularies live with the run-time records)
    ACCELERATOR_KINDS,
    API_MARKETS,
    DTYPES,
    KV_DTYPES,
    QUALITY_TIERS,
    WEIGHT_DTYPES,
    AcceleratorMethods,
    ApiPriceMethods,
    SourcedMethods,
)
from inferonomics.catalog.records import CTX_RE as _CTX_RE
from inferonomics.catalog.records import ctx_tokens as _ctx_tokens

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")

_DATE_RE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def _check_slug(v: str) -> str:
    if not SLUG_RE.match(v):
        raise ValueError(f"slug must be kebab-case lowercase (letters, digits, '.', '-'), got {v!r}")
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _range(lo: float | None, hi: float | None, unit: str, *, lo_open: bool = False, integer: bool = False):
    """A validator of Sourced fields (or a dict of them) through the one numeric validation layer."""
    from inferonomics.limits import Limit, value_error

    lim = Limit(lo, hi, unit, lo_open=lo_open, integer=integer)

    def f(cls, v):
        if v is None:
            return v
        for k, x in (v.items() if isinstance(v, dict) else [(None, v)]):
            err = value_error(lim, x.value)
            if err:
                raise ValueError(f"{k}: {err}" if k is not None else err)
        return v

    return classmethod(f)


def _check_date(v: object) -> str | None:
    if v is None:
        return None
    if isinstance(v, (_dt.date, _dt.datetime)):
        return v.isoformat()[:10]
    s = str(v)
    if not _DATE_RE.match(s):
        raise ValueError(f"date must look like YYYY, YYYY-MM or YYYY-MM-DD, got {s!r}")
    y, m, d = (int(x) for x in (s + "-01-01")[:10].split("-"))
    try:
        _dt.date(max(y, 1), m, d)
    except ValueError:
        raise ValueError(f"date {s!r} is not a calendar date (month 1-12, a day of that month)") from None
    return s


class Sourced(SourcedMethods, _Strict):
    """A number with where it comes from.  ``unit`` is one of the units vocabulary
    (:data:`inferonomics.quantity.UNITS`: ``w``, ``gb_s``, ``usd_per_kwh``, ``fraction`` ...); what it does
    not say ("fraction of TDP drawn when idle") goes in ``note``."""

    value: float
    unit: str | None = None
    source: str | None = None
    date: str | None = None
    assumption: str | None = Field(default=None, description="why the value is assumed, if unsourced")
    note: str | None = None
    low: float | None = Field(default=None, description="low end where public figures conflict")
    high: float | None = Field(default=None, description="high end where public figures conflict")

    _v_date = field_validator("date", mode="before")(classmethod(lambda cls, v: _check_date(v)))

    @field_validator("unit")
    @classmethod
    def _unit(cls, v):
        from inferonomics.quantity import unit_error

        if v is not None and (err := unit_error(v)):
            raise ValueError(err)
        return v

    @field_validator("value", "low", "high", mode="before")
    @classmethod
    def _no_bool(cls, v):
        if isinstance(v, bool):  # YAML true/false would otherwise read as 1.0/0.0
            raise ValueError(f"must be a number, got {str(v).lower()}")  # noqa: TRY004 (pydantic wants ValueError)
        return v

    @model_validator(mode="after")
    def _provenance(self) -> Sourced:
        if self.assumption:
            return self
        if not self.source or not self.date:
            raise ValueError("needs both 'source' and 'date', or an 'assumption' that says why")
        return self


# the accelerator memory field's first name: it always held GiB; a file that still uses it loads as memory_gib
DEPRECATED_MEMORY_FIELD = "memory_gb"


def _shown_value(v: object) -> str:
    """A field's value as written, short: the number of a sourced mapping."""
    return str(v.get("value", "{...}")) if isinstance(v, dict) else str(v)


class Accelerator(AcceleratorMethods, _Strict):
    slug: str
    name: str
    vendor: str
    family: str = Field(description="efficiency factors of the performance model are per family")
    kind: Literal["datacenter", "rack-scale", "workstation", "edge"] = Field(
        default="datacenter",
        description="datacenter (server boards), rack-scale (one GPU of a rack-wide NVLink/UB domain), "
        "workstation (desktop cards and machines), edge (embedded modules)",
    )
    peak_dense_tflops: dict[str, Sourced] = Field(description="dense peak per dtype, no sparsity")
    memory_gib: Sourced = Field(
        validation_alias=AliasChoices("memory_gib", DEPRECATED_MEMORY_FIELD),
        description="accelerator memory in GiB (2^30 bytes): the perf model multiplies it by 2^30, and HBM is "
        "sized in binary units (an H100's '80 GB' are five 16 GiB stacks); the vendor figure is stored as it "
        "is published (unit gib in the quantity vocabulary).  A file may still name it memory_gb, the "
        "deprecated name it first had (same value, in GiB); giving both is an error",
    )
    memory_bw_gb_s: Sourced
    tdp_w: Sourced
    scaleup_bw_gb_s: Sourced = Field(description="scale-up interconnect bandwidth per GPU, one direction")
    scaleup_domain_gpus: Sourced = Field(description="GPUs reachable over the scale-up fabric")
    scaleout_bw_gb_s: Sourced | None = Field(
        default=None, description="scale-out network bandwidth per GPU, one direction (default: constants)"
    )
    purchase_price_usd: Sourced
    rental_usd_per_gpu_hour: Sourced | None = Field(
        default=None, description="public per-GPU-hour rental price; None where nobody rents the device out"
    )
    server_overhead_w: Sourced | None = None
    notes: str | None = None

    _v_slug = field_validator("slug")(classmethod(lambda cls, v: _check_slug(v)))
    _v_tflops = field_validator("peak_dense_tflops")(_range(0, 1e6, "TFLOPS", lo_open=True))
    _v_mem = field_validator("memory_gib")(_range(0, 1e5, "GiB", lo_open=True))
    _v_bw = field_validator("memory_bw_gb_s")(_range(0, 1e6, "GB/s", lo_open=True))
    _v_tdp = field_validator("tdp_w")(_range(0, 1e6, "W", lo_open=True))
    _v_net = field_validator("scaleup_bw_gb_s", "scaleout_bw_gb_s")(_range(0, 1e6, "GB/s"))
    _v_dom = field_validator("scaleup_domain_gpus")(_range(1, 1e5, "GPUs", integer=True))
    _v_price = field_validator("purchase_price_usd")(_range(0, 1e9, "USD"))
    _v_rent = field_validator("rental_usd_per_gpu_hour")(_range(0, 1e4, "USD per GPU-hour"))
    _v_srv = field_validator("server_overhead_w")(_range(0, 1e6, "W"))

    @model_validator(mode="before")
    @classmethod
    def _one_memory_name(cls, data):
        if isinstance(data, dict) and "memory_gib" in data and DEPRECATED_MEMORY_FIELD in data:
            raise ValueError(
                f"{DEPRECATED_MEMORY_FIELD}: is the deprecated name of memory_gib (both in GiB); give memory_gib "
                f"only, not both memory_gib ({_shown_value(data['memory_gib'])}) and {DEPRECATED_MEMORY_FIELD} "
                f"({_shown_value(data[DEPRECATED_MEMORY_FIELD])})"
            )
        return data

    @field_validator("peak_dense_tflops")
    @classmethod
    def _dtypes(cls, v: dict[str, Sourced]) -> dict[str, Sourced]:
        bad = sorted(set(v) - set(DTYPES))
        if bad:
            raise ValueError(f"unknown dtype(s) {bad}; allowed: {', '.join(DTYPES)}")
        if "bf16" not in v and "fp16" not in v:
            raise ValueError("needs at least a bf16 or fp16 peak")
        return v


class MoE(_Strict):
    num_experts: int = Field(gt=0)
    experts_per_token: int = Field(gt=0)
    num_shared_experts: int = Field(default=0, ge=0)
    expert_intermediate_size: int = Field(gt=0)
    shared_expert_intermediate_size: int | None = Field(
        default=None, description="total FFN width of the shared expert(s); default n_shared x expert size"
    )
    first_dense_layers: int = Field(default=0, ge=0, description="leading layers with a dense FFN")

    @model_validator(mode="after")
    def _k(self) -> MoE:
        if self.experts_per_token > self.num_experts:
            raise ValueError("experts_per_token cannot exceed num_experts")
        return self


class MLA(_Strict):
    q_lora_rank: int | None = Field(default=None, ge=0)
    kv_lora_rank: int = Field(gt=0)
    qk_nope_head_dim: int = Field(gt=0)
    qk_rope_head_dim: int = Field(gt=0)
    v_head_dim: int = Field(gt=0)


class Model(_Strict):
    slug: str
    name: str
    family: str
    source: str
    date: str
    num_layers: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    num_attention_heads: int = Field(gt=0)
    num_kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    intermediate_size: int = Field(gt=0, description="dense FFN width (gated: 3 matrices)")
    vocab_size: int = Field(gt=0)
    tie_word_embeddings: bool = False
    max_context: int = Field(gt=0)
    moe: MoE | None = None
    mla: MLA | None = None
    sliding_window: int | None = Field(
        default=None, gt=0, description="tokens a sliding-window attention layer attends to (and caches)"
    )
    sliding_window_layers: int = Field(
        default=0, ge=0, description="how many of the layers use sliding-window attention (the rest: full)"
    )
    attention_sinks: bool = Field(
        default=False, description="learned per-head sink logits in the softmax (gpt-oss); a few parameters only"
    )
    checkpoint_expert_dtype: Literal["bf16", "fp16", "fp8", "int8", "int4", "fp4"] | None = Field(
        default=None, description="format the routed experts ship in (gpt-oss: fp4 = MXFP4), where it differs"
    )
    published_params_b: Sourced | None = Field(default=None, description="total parameters as published")
    notes: str | None = None

    _v_date = field_validator("date", mode="before")(classmethod(lambda cls, v: _check_date(v)))

    _v_slug = field_validator("slug")(classmethod(lambda cls, v: _check_slug(v)))

    @model_validator(mode="after")
    def _heads(self) -> Model:
        if self.num_attention_heads % self.num_kv_heads:
            raise ValueError("num_attention_heads must be a multiple of num_kv_heads")
        if (self.sliding_window is None) != (self.sliding_window_layers == 0):
            raise ValueError("sliding_window (tokens) and sliding_window_layers (> 0) go together")
        if self.sliding_window_layers > self.num_layers:
            raise ValueError(
                f"sliding_window_layers ({self.sliding_window_layers}) cannot exceed num_layers ({self.num_layers})"
            )
        if self.checkpoint_expert_dtype is not None and self.moe is None:
            raise ValueError("checkpoint_expert_dtype applies to mixture-of-experts models only")
        return self


class Region(_Strict):
    slug: str
    name: str
    currency: str
    electricity_usd_per_kwh: Sourced
    pue: Sourced
    notes: str | None = None

    _v_slug = field_validator("slug")(classmethod(lambda cls, v: _check_slug(v)))
    _v_elec = field_validator("electricity_usd_per_kwh")(_range(0, 10, "USD per kWh"))
    _v_pue = field_validator("pue")(_range(1, 3, "facility power / IT power"))


class FxRate(_Strict):
    currency: str
    usd_per_unit: Sourced

    _v_fx = field_validator("usd_per_unit")(_range(0, 1e6, "USD per unit", lo_open=True))

    @field_validator("usd_per_unit")
    @classmethod
    def _fx_unit(cls, v: Sourced, info) -> Sourced:
        cur = str(info.data.get("currency", "")).lower()
        if v.unit is not None and cur and v.unit != f"usd_per_{cur}":
            raise ValueError(f"unit {v.unit!r} is not the unit of a {cur.upper()} rate: write "
                             f"'unit: usd_per_{cur}' (where the vocabulary has it) or leave the unit out")
        return v


class Constant(Sourced):
    """One named techno-economic assumption (a PyPSA-style row: name, value, unit, source, note)."""

    name: str


class EfficiencyFamily(_Strict):
    """Fitted efficiency factors of the performance model for one accelerator family."""

    family: str
    prefill_compute_eff: Sourced
    decode_compute_eff: Sourced
    memory_bw_eff: Sourced
    step_overhead_s: Sourced
    layer_overhead_s: Sourced
    prefill_layer_overhead_s: Sourced
    comm_latency_s: Sourced
    moe_expert_eff: Sourced
    expert_load_cv: Sourced | None = Field(
        default=None, description="coefficient of variation of routed-expert load (popularity skew)"
    )

    _v_eff = field_validator("prefill_compute_eff", "decode_compute_eff", "memory_bw_eff", "moe_expert_eff")(
        _range(0, 2, "fraction of peak", lo_open=True)
    )
    _v_s = field_validator("step_overhead_s", "layer_overhead_s", "prefill_layer_overhead_s", "comm_latency_s")(
        _range(0, 10, "seconds")
    )
    _v_cv = field_validator("expert_load_cv")(_range(0, 10, "coefficient of variation"))


class EngineProfile(_Strict):
    """Efficiency profile of one serving engine, fitted on that engine's published points: the engine-level
    factors (overheads, grouped-GEMM efficiency, expert skew) and a scale on the family compute efficiencies."""

    engine: str
    compute_eff_scale: Sourced
    step_overhead_s: Sourced | None = None
    layer_overhead_s: Sourced | None = None
    prefill_layer_overhead_s: Sourced | None = None
    moe_expert_eff: Sourced | None = None
    expert_load_cv: Sourced | None = None
    memory_bw_eff: Sourced | None = None
    note: str | None = None

    _v_scale = field_validator("compute_eff_scale")(_range(0, 4, "multiplier of the family compute efficiencies",
                                                          lo_open=True))
    _v_eff = field_validator("moe_expert_eff")(_range(0, 2, "fraction of peak", lo_open=True))
    _v_s = field_validator("step_overhead_s", "layer_overhead_s", "prefill_layer_overhead_s")(
        _range(0, 10, "seconds")
    )
    _v_cv = field_validator("expert_load_cv")(_range(0, 10, "coefficient of variation"))


# --- API prices (buyer's decision) ------------------------------------------------------------------
_API_MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+\-]*$")


class ApiPrice(ApiPriceMethods, _Strict):
    """One list price of one API model on one date (a history is several records of one product).

    Prices are per million tokens in ``currency``.  ``effective_date`` is the date from which the price
    applies (or, when the source gives no start date, the date it was observed in force; ``note`` says
    which).  ``context_tier`` ("0-32k", "32k-128k") is the range of input tokens per request a tiered
    price applies to.  ``quality_tier`` / ``equivalent_open_models`` say what the model is comparable to.
    """

    provider: str
    model: str
    version: str | None = Field(default=None, description="release behind the API name (e.g. v3.2)")
    effective_date: str
    market: Literal["china", "international"]
    currency: str
    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float | None = Field(default=None, ge=0, description="None where no source was found")
    cache_hit_input_per_mtok: float | None = Field(default=None, ge=0)
    context_tier: str | None = None
    max_input_tokens: int | None = Field(default=None, gt=0)
    quality_tier: Literal["small", "medium", "large", "frontier"] | None = None
    equivalent_open_models: list[str] = Field(default_factory=list)
    source: str
    date: str
    note: str | None = None

    _v_dates = field_validator("effective_date", "date", mode="before")(
        classmethod(lambda cls, v: _check_date(v))
    )
    _v_provider = field_validator("provider")(classmethod(lambda cls, v: _check_slug(v)))

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        if not _API_MODEL_RE.match(v):
            raise ValueError(f"model must be an API model name (letters, digits, . _ : / @ + -), got {v!r}")
        return v

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        if not re.match(r"^[A-Z]{3}$", v):
            raise ValueError(f"currency must be an ISO code like USD or CNY, got {v!r}")
        return v

    @field_validator("context_tier")
    @classmethod
    def _tier(cls, v: str | None) -> str | None:
        if v is None:
            return v
        m = _CTX_RE.match(v.lower())
        if not m or _ctx_tokens(m[1], m[2]) >= _ctx_tokens(m[3], m[4]):
            raise ValueError(f"context_tier must look like '0-32k' or '32k-128k' (from < to), got {v!r}")
        return v.lower()

    @field_validator("equivalent_open_models")
    @classmethod
    def _slugs(cls, v: list[str]) -> list[str]:
        return [_check_slug(s) for s in v]


CatalogKind = Literal["accelerators", "models", "regions"]
