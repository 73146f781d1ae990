"""Fleet scenario files: pools of replicas of one deployment each, their tenants, policies and money.

A scenario is YAML (a built-in name from ``fleet/scenarios/`` or a path).  Every field is validated; an
error names the file, the field path, the value and what is allowed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from inferonomics import files
from inferonomics.errors import InferonomicsError
from inferonomics.fleet.demand import TENANT_CLASSES, Tenant, trace_stats
from inferonomics.fleet.policy import ROUTERS, Autoscaler, Slo


class FleetScenarioError(InferonomicsError):
    """A fleet scenario that cannot be read or fails validation."""


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantSpec(_M):
    name: str
    cls: Literal["chat", "api", "batch"] = Field("chat", alias="class")
    token_share: float = Field(gt=0, le=1, description="share of the pool's daily tokens")
    profile: str | None = None
    input_median_tokens: float | None = Field(None, gt=0)
    input_sigma: float | None = Field(None, ge=0, le=3)
    output_median_tokens: float | None = Field(None, gt=0)
    output_sigma: float | None = Field(None, ge=0, le=3)
    max_input_tokens: float | None = Field(None, ge=1)
    max_output_tokens: float | None = Field(None, ge=1)
    diurnal_amplitude: float = Field(0.5, ge=0, le=1)
    peak_hour: float = Field(14.0, ge=0, lt=24)
    weekend_factor: float = Field(0.7, gt=0, le=3)
    utc_offset_h: float = Field(0.0, ge=-12, le=14)
    burst_factor: float | None = Field(None, ge=1, le=50)
    mean_burst_s: float | None = Field(None, gt=0)
    mean_between_bursts_s: float | None = Field(None, gt=0)
    prefixes: int = Field(0, ge=0, le=1_000_000)
    prefix_tokens: float = Field(0.0, ge=0)
    note: str | None = None
    assumption: str | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _profile_known(self):
        if self.profile is not None and self.profile not in trace_stats():
            raise ValueError(f"profile: {self.profile!r} is unknown; known profiles: {', '.join(trace_stats())}")
        if self.profile is None and (self.input_median_tokens is None or self.output_median_tokens is None):
            raise ValueError("profile: give a published trace profile or input_median_tokens and output_median_tokens")
        return self

    def tenant(self) -> Tenant:
        p = dict(trace_stats()[self.profile]["profile"]) if self.profile else {}
        pin, pout = p.get("input_tokens", {}), p.get("output_tokens", {})

        def pick(v, d):
            return d if v is None else v

        return Tenant(
            name=self.name, cls=self.cls, share=self.token_share,
            input_median_tokens=pick(self.input_median_tokens, pin.get("median")),
            input_sigma=pick(self.input_sigma, pin.get("sigma", 1.0)),
            output_median_tokens=pick(self.output_median_tokens, pout.get("median")),
            output_sigma=pick(self.output_sigma, pout.get("sigma", 1.0)),
            max_input_tokens=pick(self.max_input_tokens, pin.get("max", 32000.0)),
            max_output_tokens=pick(self.max_output_tokens, pout.get("max", 4096.0)),
            diurnal_amplitude=0.0 if self.cls == "batch" else self.diurnal_amplitude,
            peak_hour=self.peak_hour, weekend_factor=1.0 if self.cls == "batch" else self.weekend_factor,
            utc_offset_h=self.utc_offset_h,
            burst_factor=pick(self.burst_factor, p.get("burst_factor", 1.0)),
            mean_burst_s=pick(self.mean_burst_s, p.get("mean_burst_s", 120.0)),
            mean_between_bursts_s=pick(self.mean_between_bursts_s, p.get("mean_between_bursts_s", 3600.0)),
            prefixes=self.prefixes, prefix_tokens=self.prefix_tokens,
        )


class AutoscalerSpec(_M):
    interval_s: float = Field(60.0, gt=0, le=86400)
    target_utilization: float = Field(0.8, gt=0, le=1)
    provisioning_delay_s: float = Field(300.0, ge=0, le=86400)
    min_replicas: int = Field(1, ge=1)
    max_replicas: int = Field(1_000_000, ge=1)

    def policy(self) -> Autoscaler:
        return Autoscaler(True, self.interval_s, self.target_utilization, self.provisioning_delay_s,
                          self.min_replicas, self.max_replicas)


class PoolSpec(_M):
    name: str
    token_share: float = Field(gt=0, le=1, description="share of the scenario's daily tokens")
    deployment: dict
    router: Literal["least-loaded", "prefix-affinity"] = "least-loaded"
    cache_ttl_s: float = Field(300.0, ge=0)
    autoscaler: AutoscalerSpec = AutoscalerSpec()
    tenants: list[TenantSpec] = Field(min_length=1)
    note: str | None = None
    assumption: str | None = None

    @model_validator(mode="after")
    def _shares(self):
        tot = sum(t.token_share for t in self.tenants)
        if abs(tot - 1.0) > 1e-6:
            raise ValueError(f"tenants: token shares must add up to 1 (they add up to {tot:.4g})")
        for k in ("model", "gpu"):
            if k not in self.deployment:
                raise ValueError(f"deployment.{k}: missing (required)")
        from inferonomics.perf.api import Deployment

        allowed = set(Deployment.__dataclass_fields__) | {"max_tpot_s", "max_ttft_s"}
        for k in self.deployment:
            if k not in allowed:
                raise ValueError(f"deployment.{k}: unknown deployment field; allowed: {', '.join(sorted(allowed))}")
        if not any(t.cls != "batch" for t in self.tenants):
            raise ValueError("tenants: a pool needs at least one chat or api tenant (batch jobs only backfill)")
        return self

    def slo(self) -> Slo:
        return Slo(self.deployment.get("max_ttft_s"), self.deployment.get("max_tpot_s"))


class FleetScenario(_M):
    name: str
    title: str = ""
    description: str = ""
    sources: list[str] = []
    daily_tokens: float = Field(gt=0, le=1e16, description="input + output tokens a day, all pools")
    duration_s: float = Field(86400.0, ge=60, le=31 * 86400)
    fleet: Literal["owned", "autoscaled"] = "owned"
    # owned fleets: replicas interactive traffic does not need are lent to training (as DeepSeek moves
    # idle inference nodes to research at night); serving pays only for the replicas it holds
    idle_to_training: bool = False
    # owned fleets: pools on the same accelerator share one fleet sized for the peak of their summed needs
    # (a model's replicas can be reloaded with another model), not the sum of each pool's own peak
    shared_fleet: bool = False
    region: str = "us-average"
    rent_usd_per_gpu_hour: float | None = Field(None, ge=0)
    own: bool = False
    seed: int = 0
    pools: list[PoolSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _pool_shares(self):
        tot = sum(p.token_share for p in self.pools)
        if abs(tot - 1.0) > 1e-6:
            raise ValueError(f"pools: token shares must add up to 1 (they add up to {tot:.4g})")
        names = [p.name for p in self.pools]
        if len(set(names)) != len(names):
            raise ValueError(f"pools: names must be unique (got {names})")
        return self


def format_validation(label: str, err: ValidationError) -> str:
    """One part per problem: the field path, what is wrong, and the value given (:mod:`inferonomics.files`)."""
    return files.format_validation(label, err, FleetScenario)


#: Fleet scenario files through the one loader (:mod:`inferonomics.files`); a file may name a ``base``.
KIND = files.FileKind("fleet scenario", "inferonomics.fleet", "scenarios", FleetScenarioError,
                      builtin_label="built-in fleet scenario {name}",
                      top_level="of fields (name, daily_tokens, pools, ...)")


def builtin_names() -> list[str]:
    return KIND.builtin_names()


def load_scenario(name_or_path: str) -> FleetScenario:
    """A built-in scenario by name, or a YAML file."""
    raw, label, _ = KIND.load(str(name_or_path))
    try:
        return FleetScenario.model_validate(raw)
    except ValidationError as exc:
        raise FleetScenarioError(format_validation(label, exc)) from None


__all__ = ["ROUTERS", "TENANT_CLASSES", "FleetScenario", "PoolSpec", "TenantSpec", "builtin_names", "load_scenario"]
