"""The commodity market: providers with fleets and cost curves compete on price each year.

A *market file* (``market/markets/*.yaml`` or the user's YAML) lists

* ``demand``: first-year token volume at a reference price, its growth at constant price, the elasticity
  of volume to the average price (may exceed 1), the substitution between options, the value of quality
  and the nest parameters (see :mod:`inferonomics.market.equilibrium`);
* ``deployments``: named serving set-ups (model, precision, disaggregation, prefix caching, MTP, latency
  targets) passed to the perf and cost engines as they are;
* ``regimes``: which accelerators a group of providers may buy each year, how many units the regime gets
  (supply), at what price and with what lead time;
* ``providers``: their regime, region, starting fleet, what they buy, their share of the regime's supply,
  own silicon (cost, performance, ramp), and their products (quality tier, deployment, fleet share);
* ``alternatives``: what a buyer can do instead of buying tokens (self-hosting, edge devices), priced at
  their own cost from the same engines.

Each year (vectorized over Monte Carlo paths) every product's capacity (Mtok/year) and cost per Mtok come
from its fleet and the perf/cost engines; prices follow from the Bertrand-Nash equilibrium with
capacities (:func:`inferonomics.market.equilibrium.solve`; buyers a provider turns away at capacity go to
the alternatives, not to its rivals), each provider's prices floored at its cash cost (power, facility and
operations per Mtok at capacity; capital is sunk) less any explicit subsidy, to the tolerance
``EQUILIBRIUM_TOL`` (no provider could gain more than 0.1% of its profit by changing one price alone).  A
provider whose gross margin (revenue less the full cost of its fleet, capital included) falls below the
market's ``exit_gross_margin`` leaves the market (its products are withdrawn, the market clears again
without them, and it stays out).  Providers with a positive gross margin order chips for the capacity
their sales call for, limited by their regime's supply and their own silicon's ramp, delivered after the
lead time.  Fleets retire after the catalog's ``life_years``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from inferonomics import files
from inferonomics.errors import InferonomicsError, InputError
from inferonomics.quantity import Quantity, convert_all, needs_provenance, no_bare_number

HOURS_PER_YEAR = 8760.0
MARKETS_DIR = Path(__file__).parent / "markets"


class MarketFileError(InferonomicsError):
    """A market file that fails validation: the path of the field, the value and what is allowed."""


# ----------------------------------------------------------------------------------------------- inputs
#: A market file's number: the one :class:`inferonomics.quantity.Quantity` (``value`` or a distribution,
#: ``unit``, ``currency``), refusing a bare number and requiring ``source`` + ``date`` or an ``assumption``.
Q = Annotated[Quantity, BeforeValidator(no_bare_number), AfterValidator(needs_provenance)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Deployment(_Strict):
    """A serving set-up, passed to ``inferonomics.cost.cost`` (and so ``perf.predict``) as it is."""

    model: str
    weights: str = "fp8"
    kv: str | None = None
    gpus: int = 1
    tp: int | None = None
    pp: int = 1
    ep: int = 1
    prefill_gpus: int | None = None
    decode_gpus: int | None = None
    prefill_tp: int | None = None
    prefill_ep: int = 1
    redundant_experts: int = 0
    isl: int = 2048
    osl: int = 512
    prefix_hit_rate: float = 0.0
    mtp_tokens: int = 0
    engine: str = "generic"
    concurrency: float | None = None
    max_tpot_s: float | None = None
    max_ttft_s: float | None = None
    assumption: str | None = None
    source: str | None = None
    date: str | None = None

    def perf_kwargs(self) -> dict:
        kw = self.model_dump(exclude={"model", "assumption", "source", "date"}, exclude_none=True)
        if self.prefill_gpus is None and self.decode_gpus is None:
            kw.pop("prefill_ep", None)
        return kw


class Supply(_Strict):
    units_per_year: dict[int, Q] = Field(description="units the regime can buy, by calendar year")
    price_usd: Q | None = None
    lead_time_years: Q


class Regime(_Strict):
    description: str = ""
    accelerators: dict[str, Supply]


class OwnSilicon(_Strict):
    name: str
    like: str = Field(description="catalog accelerator whose performance and power it has (times perf_multiplier)")
    perf_multiplier: Q
    unit_cost_usd: Q
    units_per_year: dict[int, Q]
    lead_time_years: Q
    deployment: str | None = None


class Product(_Strict):
    tier: str
    deployment: str
    deployment_by_gpu: dict[str, str] = Field(default_factory=dict)
    quality: Q
    fleet_share: Q


class PrivateCloud(_Strict):
    """An on-premise deployment the provider installs and runs for a buyer (Apsara Stack-style): the buyer
    pays the hardware and the services per server-year; priced per Mtok here so it competes with the rest."""

    nest: str
    gpu: str
    deployment: str
    gpus_per_server: int = Field(default=8, ge=1, le=72)
    quality: Q
    utilization: Q
    services_frac: Q = Field(description="services (installation, support, model updates) as a share of the "
                             "server-year's hardware and operating cost")
    cost_change_per_year: Q


class Provider(_Strict):
    name: str
    regime: str
    region: str
    fleet: dict[str, Q]
    buy: list[str] = Field(default_factory=list)
    supply_share: Q
    own_silicon: OwnSilicon | None = None
    products: list[Product]
    subsidy_usd_per_mtok: Q | None = None
    private_cloud: PrivateCloud | None = None


class Alternative(_Strict):
    name: str
    nest: str
    gpu: str
    deployment: str
    region: str
    quality: Q
    utilization: Q
    cost_change_per_year: Q


class BuyerSegment(_Strict):
    """A class of buyers, described by a buyer-engine workload (``inferonomics.decide``): its self-hosting
    cost per Mtok is the buyer engine's levelized cost of the best owned deployment for that workload
    (sized for its peak within its latency targets, staff and facility included); a sovereign segment may
    only choose on-premise and edge options."""

    workload: str
    volume_share: Q
    sovereign: bool | None = None
    self_host_quality: Q


class DemandSpec(_Strict):
    volume_mtok: Q
    growth_per_year: Q
    reference_price_usd_per_mtok: Q
    elasticity: Q
    substitution: Q
    quality_value: Q
    nests: dict[str, Q]
    segments: dict[str, BuyerSegment] = Field(default_factory=dict)
    self_host_nest: str = "on-premise"
    sovereign_nests: list[str] = Field(default_factory=lambda: ["on-premise", "edge"])
    self_host_cost_change_per_year: Q | None = None


class MarketSpec(_Strict):
    name: str
    title: str
    description: str = ""
    first_year: int = Field(ge=2000, le=2100)
    years: int = Field(ge=1, le=15)
    utilization: Q
    throughput_gain_per_year: Q
    exit_gross_margin: Q
    price_ceiling_multiple: Q
    investment_headroom: Q
    demand: DemandSpec
    deployments: dict[str, Deployment]
    regimes: dict[str, Regime]
    providers: dict[str, Provider]
    alternatives: dict[str, Alternative] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _refs(self) -> MarketSpec:
        from inferonomics.catalog import get_catalog

        cat = get_catalog()
        nests = set(self.demand.nests)
        for d in self.deployments.values():
            cat.model(d.model)  # UnknownNameError names the model
        for r in self.regimes.values():
            for g in r.accelerators:
                cat.accelerator(g)
        for pn, p in self.providers.items():
            if p.regime not in self.regimes:
                raise ValueError(f"providers.{pn}.regime: {p.regime!r} is not a regime of this file "
                                 f"({', '.join(self.regimes)})")
            cat.region(p.region)
            for g in p.fleet:
                cat.accelerator(g)
            for g in p.buy:
                if g not in self.regimes[p.regime].accelerators:
                    raise ValueError(f"providers.{pn}.buy: {g!r} is not sold to regime {p.regime!r} "
                                     f"(it sells {', '.join(self.regimes[p.regime].accelerators)})")
            if p.own_silicon:
                cat.accelerator(p.own_silicon.like)
                if p.own_silicon.deployment and p.own_silicon.deployment not in self.deployments:
                    raise ValueError(f"providers.{pn}.own_silicon.deployment: {p.own_silicon.deployment!r} "
                                     f"is not in deployments")
            pc = p.private_cloud
            if pc is not None:
                if pc.nest not in nests:
                    raise ValueError(f"providers.{pn}.private_cloud.nest: {pc.nest!r} is not a nest of demand.nests")
                if pc.deployment not in self.deployments:
                    raise ValueError(f"providers.{pn}.private_cloud.deployment: {pc.deployment!r} is not in "
                                     f"deployments")
                cat.accelerator(pc.gpu)
            for k, pr in enumerate(p.products):
                if pr.tier not in nests:
                    raise ValueError(f"providers.{pn}.products.{k}.tier: {pr.tier!r} is not a nest of "
                                     f"demand.nests ({', '.join(sorted(nests))})")
                for d in [pr.deployment, *pr.deployment_by_gpu.values()]:
                    if d not in self.deployments:
                        raise ValueError(f"providers.{pn}.products.{k}: deployment {d!r} is not in deployments "
                                         f"({', '.join(self.deployments)})")
        if self.demand.segments:
            for n in [self.demand.self_host_nest, *self.demand.sovereign_nests]:
                if n not in nests:
                    raise ValueError(f"demand: nest {n!r} (self_host_nest / sovereign_nests) is not in demand.nests")
            if self.demand.self_host_cost_change_per_year is None:
                raise ValueError("demand.self_host_cost_change_per_year: required with demand.segments")
        for an, a in self.alternatives.items():
            if a.nest not in nests:
                raise ValueError(f"alternatives.{an}.nest: {a.nest!r} is not a nest of demand.nests")
            if a.deployment not in self.deployments:
                raise ValueError(f"alternatives.{an}.deployment: {a.deployment!r} is not in deployments")
            cat.accelerator(a.gpu)
            cat.region(a.region)
        return self


def builtin_markets() -> list[str]:
    return KIND.builtin_names()


#: Market files through the one loader (:mod:`inferonomics.files`).
KIND = files.FileKind("market", "inferonomics.market", "markets", MarketFileError,
                      top_level="(name, title, first_year, demand, ...)")


def load_market(name_or_path: str | Path | dict) -> MarketSpec:
    """A built-in market by name, a YAML file, or a dict; a file may name a ``base`` market and change only
    what differs.  Errors name the field and what is allowed."""
    data, label, _ = KIND.load(name_or_path, label="market")
    try:
        spec = MarketSpec.model_validate(data)
    except ValidationError as err:
        raise MarketFileError(files.format_validation(label, err, MarketSpec)) from None
    except InputError as err:
        raise MarketFileError(f"{label}: {err}") from None
    from inferonomics.catalog import get_catalog

    for where, msg in convert_all(spec, get_catalog()):  # money given in CNY/EUR: to USD at the dated rate
        raise MarketFileError(f"{label}: field '{where}': {msg}")
    return spec


# ---------------------------------------------------------------------------------------- cost curves
@lru_cache(maxsize=512)
def _unit(dep_json: str, gpu: str, region: str, utilization: float) -> dict:
    """Capacity and cost of one GPU serving a deployment, from the perf and cost engines (cached)."""
    import json

    from inferonomics.catalog import get_catalog
    from inferonomics.cost import cost
    from inferonomics.decide.sizing import native_precision

    d = Deployment.model_validate(json.loads(dep_json))
    kw = d.perf_kwargs()
    acc = get_catalog().accelerator(gpu)
    if not native_precision(acc, kw.get("weights", "fp8")):
        # a card without units for the deployment's 8-bit (or 4-bit) format serves the model in the 8-bit
        # format it has (Ascend: int8), else in 16 bits; never a format its catalog record lacks
        kw["weights"] = next((w for w in ("int8", "fp8", "bf16", "fp16") if native_precision(acc, w)), "bf16")
        kw.pop("kv", None)
    r = cost(d.model, gpu, own=True, region=region, utilization=utilization, **kw)
    tokens_per_s_per_gpu = r["output_tokens_per_s_per_gpu"] * (d.isl + d.osl) / d.osl
    items = r["breakdown_usd_per_gpu_hour"]
    capital = items["capital_accelerator_usd_per_gpu_hour"] + items["capital_server_network_usd_per_gpu_hour"]
    return {
        "mtok_per_gpu_year": tokens_per_s_per_gpu * 3600.0 * HOURS_PER_YEAR * utilization / 1e6,
        "usd_per_gpu_hour": r["usd_per_gpu_hour"],
        "capital_usd_per_gpu_hour": capital,
        "cash_usd_per_gpu_hour": r["usd_per_gpu_hour"] - capital,
        "accelerator_usd": r["accelerator_usd"],
        "server_network_frac": r["server_network_frac"],
        "usd_per_mtok_blended": r["usd_per_mtok_blended"],
    }


def unit_economics(dep: Deployment, gpu: str, region: str, utilization: float) -> dict:
    try:
        return _unit(dep.model_dump_json(), gpu, region, round(float(utilization), 6))
    except InputError as err:
        raise InputError(f"deployment of {dep.model} on {gpu}", err.value, err.allowed) from None


def usd_per_mtok_at(dep: Deployment, gpu: str, region: str, utilization: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Owned cost per Mtok and Mtok per GPU-year at each utilization (vectorized over paths): the cost engine's
    GPU-hour cost is affine in utilization (idle/busy power blend), so two engine calls give it exactly."""
    lo, hi = unit_economics(dep, gpu, region, 0.25), unit_economics(dep, gpu, region, 0.75)
    slope = (hi["usd_per_gpu_hour"] - lo["usd_per_gpu_hour"]) / 0.5
    hourly = lo["usd_per_gpu_hour"] + slope * (np.asarray(utilization) - 0.25)
    mtok_year = hi["mtok_per_gpu_year"] / 0.75 * np.asarray(utilization)
    return hourly * HOURS_PER_YEAR / mtok_year, mtok_year


@lru_cache(maxsize=32)
def _segment_self_host(workload: str) -> tuple[bool, float]:
    """(sovereign, levelized USD per Mtok of the best owned deployment) of a buyer-engine workload."""
    from inferonomics.decide import breakeven

    d = breakeven(workload)
    own = d.options[(d.options["kind"] == "own") & d.options["eligible"].astype(bool)]
    if own.empty:
        raise InputError("demand.segments workload", workload, "has no eligible self-hosted option in the buyer engine")
    return bool(d.workload.get("sovereign", False)), float(own["usd_per_mtok"].min())


# ------------------------------------------------------------------------------------------ simulation
@dataclass(frozen=True)
class MarketResult:
    """Per path, year and option (provider product or alternative) ``options``; per path, year and provider
    ``providers``; per year ``convergence`` (share of paths converged at the tolerance ``tol``; best-response
    rounds per path over the year's solves, the market cleared again after each exit: median and maximum
    (``iterations``); the largest profit gain left); the spec and settings; ``draws``: per-path inputs that other
    models read (``demand_growth_per_year``: the demand growth at constant price; ``exit_gross_margin``; (P,)
    each)."""

    spec: MarketSpec
    options: Any
    providers: Any
    convergence: Any
    paths: int
    seed: int
    draws: dict = field(default_factory=dict)
    converged: Any = None  # (P, years) bool: the year's equilibrium converged on the path

    @property
    def share_converged(self) -> float:
        """Share of paths whose equilibrium converged (to ``convergence.tol``) in every year."""
        return float(np.mean(np.all(self.converged, axis=1))) if self.converged is not None else float("nan")

    def summary(self, quantiles=(0.1, 0.5, 0.9)):
        """Per year and provider (and alternative): percentiles of price, share, volume, capacity, gross
        margin; P(exited by that year)."""
        import pandas as pd

        df = self.providers
        rows = []
        for (year, prov), g in df.groupby(["year", "provider"], sort=False):
            row = {"year": int(year), "provider": prov, "kind": g["kind"].iloc[0]}
            for col in ("price_usd_per_mtok", "share", "volume_mtok", "capacity_mtok", "gross_margin",
                        "revenue_usd", "private_cloud_revenue_usd", "cash_cost_usd_per_mtok",
                        "full_cost_usd_per_mtok", "gpus"):
                vals = g[col].to_numpy(dtype=float)
                vals = vals[np.isfinite(vals)]
                for q in quantiles:
                    row[f"{col}_p{round(q * 100)}"] = float(np.quantile(vals, q)) if vals.size else float("nan")
            row["p_exited"] = float(g["exited"].mean())
            rows.append(row)
        return pd.DataFrame(rows)


def _by_year(d: dict[int, Q], year: int, rng, n) -> np.ndarray:
    """The value for a calendar year: that year's entry, else the latest earlier one, else 0."""
    ys = [y for y in d if y <= year]
    if not ys:
        return np.zeros(n)
    return d[max(ys)].sample(rng, n, lo=0.0)


EQUILIBRIUM_TOL = 1e-3  # epsilon of the equilibrium: no owner gains more than 0.1% of its profit by a lone move


def run_market(spec: MarketSpec | str, *, paths: int = 200, seed: int = 0, tol: float = EQUILIBRIUM_TOL,
               max_iter: int = 300, pure_iter: int = 240) -> MarketResult:
    """Simulate the market year by year on ``paths`` Monte Carlo paths; see the module text.  ``tol``: the
    equilibrium's epsilon (relative profit gain of the best lone price change, see
    :func:`inferonomics.market.equilibrium.solve`)."""
    import pandas as pd

    from inferonomics.catalog import get_catalog
    from inferonomics.market.equilibrium import NestedLogitDemand, logit_sales, solve

    if not isinstance(spec, MarketSpec):
        spec = load_market(spec)
    if paths < 1:
        raise InputError("paths", paths, "must be 1 or more")
    cat = get_catalog()
    rng = np.random.default_rng(seed)
    P, T = paths, spec.years
    life = round(cat.const("life_years"))
    util = spec.utilization.sample(rng, P, 0.05, 1.0)
    util_fixed = spec.utilization.median_value()
    gain = spec.throughput_gain_per_year.sample(rng, P, -0.5, 10.0)
    exit_gm = spec.exit_gross_margin.sample(rng, P)
    ceiling_mult = spec.price_ceiling_multiple.sample(rng, P, 1.0)
    headroom = spec.investment_headroom.sample(rng, P, 1.0)
    dm = spec.demand
    v0 = dm.volume_mtok.sample(rng, P, 0.0)
    growth = dm.growth_per_year.sample(rng, P, -0.9)
    p_ref = dm.reference_price_usd_per_mtok.sample(rng, P, 1e-9)
    eps = dm.elasticity.sample(rng, P, 0.0)
    alpha = dm.substitution.sample(rng, P, 1e-6)
    beta = dm.quality_value.sample(rng, P)
    nest_names = list(dm.nests)
    lam = np.array([dm.nests[n].median_value() for n in nest_names])
    if np.any((lam <= 0) | (lam > 1)):
        raise InputError("demand.nests", dict(zip(nest_names, lam.tolist())), "each nest parameter must be in (0, 1]")

    # ---- options: provider products, then alternatives
    prov_names = list(spec.providers)
    opt_owner, opt_label, opt_nest, opt_quality, opt_kind = [], [], [], [], []
    prov_products: dict[str, list[int]] = {}
    fleet_share: dict[int, np.ndarray] = {}
    for pn in prov_names:
        p = spec.providers[pn]
        shares = [pr.fleet_share.sample(rng, P, 0.0) for pr in p.products]
        tot = np.sum(shares, axis=0)
        tot = np.where(tot > 0, tot, 1.0)
        prov_products[pn] = []
        for pr, sh in zip(p.products, shares):
            j = len(opt_owner)
            prov_products[pn].append(j)
            opt_owner.append(pn)
            opt_label.append(f"{pn}/{pr.tier}")
            opt_nest.append(nest_names.index(pr.tier))
            opt_quality.append(pr.quality.sample(rng, P))
            opt_kind.append("provider")
            fleet_share[j] = sh / tot
    prov_private: dict[str, list[int]] = {pn: [] for pn in prov_names}
    pc_cost: dict[int, np.ndarray] = {}
    pc_mtok_server: dict[int, np.ndarray] = {}
    for pn in prov_names:
        pc = spec.providers[pn].private_cloud
        if pc is None:
            continue
        j = len(opt_owner)
        prov_private[pn].append(j)
        opt_owner.append(pn)
        opt_label.append(f"{pn}/private-cloud")
        opt_nest.append(nest_names.index(pc.nest))
        opt_quality.append(pc.quality.sample(rng, P))
        opt_kind.append("private-cloud")
        u_pc = pc.utilization.sample(rng, P, 0.01, 1.0)
        per_mtok, mtok_year = usd_per_mtok_at(spec.deployments[pc.deployment], pc.gpu, spec.providers[pn].region, u_pc)
        services = pc.services_frac.sample(rng, P, 0.0)
        change = pc.cost_change_per_year.sample(rng, P, -0.99)
        pc_cost[j] = (per_mtok * (1 + services))[:, None] * (1 + change[:, None]) ** np.arange(spec.years)[None, :]
        pc_mtok_server[j] = mtok_year * pc.gpus_per_server
    alt_names = list(spec.alternatives)
    for an in alt_names:
        a = spec.alternatives[an]
        opt_owner.append(an)
        opt_label.append(an)
        opt_nest.append(nest_names.index(a.nest))
        opt_quality.append(a.quality.sample(rng, P))
        opt_kind.append("alternative")
    seg_names = list(dm.segments)
    seg_opt: dict[str, int] = {}
    seg_price = np.zeros((P, len(seg_names), spec.years))
    seg_share = np.zeros((P, len(seg_names)))
    seg_sovereign = []
    for k, sn in enumerate(seg_names):
        sg = dm.segments[sn]
        wl_sov, own_cost = _segment_self_host(sg.workload)
        seg_sovereign.append(wl_sov if sg.sovereign is None else sg.sovereign)
        seg_opt[sn] = len(opt_owner)
        opt_owner.append(f"self-host/{sn}")
        opt_label.append(f"self-host/{sn}")
        opt_nest.append(nest_names.index(dm.self_host_nest))
        opt_quality.append(sg.self_host_quality.sample(rng, P))
        opt_kind.append("alternative")
        ch = dm.self_host_cost_change_per_year.sample(rng, P, -0.99)
        seg_price[:, k, :] = own_cost * (1 + ch[:, None]) ** np.arange(spec.years)[None, :]
        seg_share[:, k] = sg.volume_share.sample(rng, P, 0.0)
    if seg_names:
        tot_share = seg_share.sum(axis=1, keepdims=True)
        seg_share = seg_share / np.where(tot_share > 0, tot_share, 1.0)
    J = len(opt_owner)
    n_prod = J - len(alt_names) - len(seg_names)
    quality_util = beta[:, None] * np.stack(opt_quality, axis=1)
    nest = np.array(opt_nest)

    # ---- accelerator types per provider: unit economics per product, prices, supply
    def dep_for(pr: Product, gpu: str) -> Deployment:
        return spec.deployments[pr.deployment_by_gpu.get(gpu, pr.deployment)]

    prov_gpus: dict[str, list[str]] = {}
    unit: dict[tuple[int, str], dict] = {}
    price_scale: dict[tuple[str, str], np.ndarray] = {}
    perf_mult: dict[tuple[str, str], np.ndarray] = {}
    lead: dict[tuple[str, str], np.ndarray] = {}
    for pn in prov_names:
        p = spec.providers[pn]
        regime = spec.regimes[p.regime]
        gpus = list(dict.fromkeys([*p.fleet, *p.buy]))
        own = p.own_silicon
        if own:
            gpus.append(f"own:{own.name}")
        prov_gpus[pn] = gpus
        for g in gpus:
            real = own.like if own and g == f"own:{own.name}" else g
            for j, pr in zip(prov_products[pn], p.products):
                d = spec.deployments[own.deployment] if (own and g.startswith("own:") and own.deployment) else dep_for(pr, real)
                unit[(j, g)] = unit_economics(d, real, p.region, util_fixed)
            base_price = unit[(prov_products[pn][0], g)]["accelerator_usd"]
            if own and g.startswith("own:"):
                price_scale[(pn, g)] = own.unit_cost_usd.sample(rng, P, 0.0) / base_price
                perf_mult[(pn, g)] = own.perf_multiplier.sample(rng, P, 0.0)
                lead[(pn, g)] = own.lead_time_years.sample(rng, P, 0.0)
            else:
                sup = regime.accelerators.get(g)
                price_scale[(pn, g)] = (sup.price_usd.sample(rng, P, 0.0) / base_price if sup and sup.price_usd
                                        else np.ones(P))
                perf_mult[(pn, g)] = np.ones(P)
                lead[(pn, g)] = sup.lead_time_years.sample(rng, P, 0.0) if sup else np.ones(P)
    supply_share = {pn: spec.providers[pn].supply_share.sample(rng, P, 0.0, 1.0) for pn in prov_names}
    subsidy = {pn: (spec.providers[pn].subsidy_usd_per_mtok.sample(rng, P, 0.0)
                    if spec.providers[pn].subsidy_usd_per_mtok else np.zeros(P)) for pn in prov_names}
    # regime supply and own-silicon ramp per calendar year: (P, T)
    supply = {}
    for rn, r in spec.regimes.items():
        for g, s in r.accelerators.items():
            supply[(rn, g)] = np.stack([_by_year(s.units_per_year, spec.first_year + t, rng, P) for t in range(T)], 1)
    ramp = {}
    for pn in prov_names:
        own = spec.providers[pn].own_silicon
        if own:
            ramp[pn] = np.stack([_by_year(own.units_per_year, spec.first_year + t, rng, P) for t in range(T)], 1)

    # arrivals[(pn, g)]: (P, T + life) units entering service in year index t - life + 1 .. (offset life-1)
    off = life - 1
    arrivals = {}
    for pn in prov_names:
        p = spec.providers[pn]
        for g in prov_gpus[pn]:
            a = np.zeros((P, T + life + 3))
            if g in p.fleet:
                a[:, :life] = p.fleet[g].sample(rng, P, 0.0)[:, None] / life  # even vintages: 1/life retires a year
            arrivals[(pn, g)] = a

    def units_at(pn, g, t):
        return arrivals[(pn, g)][:, t + off - life + 1: t + off + 1].sum(axis=1)

    alt_price = np.zeros((P, len(alt_names) + len(seg_names), T))
    alt_price[:, len(alt_names):, :] = seg_price
    for k, an in enumerate(alt_names):
        a = spec.alternatives[an]
        u_alt = a.utilization.sample(rng, P, 1e-3, 1.0)
        ch = a.cost_change_per_year.sample(rng, P, -0.99)
        base, _ = usd_per_mtok_at(spec.deployments[a.deployment], a.gpu, a.region, u_alt)
        alt_price[:, k, :] = base[:, None] * (1 + ch[:, None]) ** np.arange(T)[None, :]

    active = np.ones((P, J), bool)
    exited_year = {pn: np.full(P, -1) for pn in prov_names}
    opt_rows, prov_rows, conv_rows, conv_paths = [], [], [], []
    prev_price = None
    for t in range(T):
        year = spec.first_year + t
        g_t = (1 + gain) ** t
        cap = np.full((P, J), np.inf)
        fleet_cost = np.zeros((P, J))
        cash_cost = np.zeros((P, J))
        gpus_opt = np.zeros((P, J))
        for pn in prov_names:
            for j in prov_products[pn]:
                c = np.zeros(P)
                fc = np.zeros(P)
                cc = np.zeros(P)
                n_g = np.zeros(P)
                for g in prov_gpus[pn]:
                    u = unit[(j, g)]
                    n = units_at(pn, g, t) * fleet_share[j]
                    c += n * u["mtok_per_gpu_year"] * g_t * perf_mult[(pn, g)] * util / util_fixed
                    hourly = u["cash_usd_per_gpu_hour"] + u["capital_usd_per_gpu_hour"] * price_scale[(pn, g)]
                    fc += n * hourly * HOURS_PER_YEAR
                    cc += n * u["cash_usd_per_gpu_hour"] * HOURS_PER_YEAR
                    n_g += n
                cap[:, j], fleet_cost[:, j], cash_cost[:, j], gpus_opt[:, j] = c, fc, cc, n_g
        with np.errstate(divide="ignore", invalid="ignore"):
            cash_per_mtok = np.where(cap > 0, cash_cost / cap, np.inf)
            full_per_mtok = np.where(cap > 0, fleet_cost / cap, np.inf)
        cash_per_mtok[:, n_prod:] = alt_price[:, :, t]
        full_per_mtok[:, n_prod:] = alt_price[:, :, t]
        for j, c_pc in pc_cost.items():
            cash_per_mtok[:, j] = full_per_mtok[:, j] = c_pc[:, t]
        has_cap = cap > 0
        live = active & has_cap
        floor = cash_per_mtok.copy()
        for pn in prov_names:
            for j in prov_products[pn]:
                floor[:, j] = np.maximum(cash_per_mtok[:, j] - subsidy[pn], 1e-6)
        floor = np.where(np.isfinite(floor), floor, p_ref[:, None])
        ceiling = np.maximum(ceiling_mult * p_ref, 1e-6)[:, None] * np.ones((1, J))
        ceiling = np.maximum(ceiling, floor)
        start = floor * 1.5 if prev_price is None else prev_price
        start = np.clip(start, floor, ceiling)
        start[:, n_prod:] = alt_price[:, :, t]
        strategic = np.zeros(J, bool)
        strategic[:n_prod] = True
        owner_idx = np.array([prov_names.index(o) if o in prov_names else -1 for o in opt_owner])

        rounds = 0
        br_rounds = np.zeros(P, int)  # best-response rounds on each path, over the year's exit rounds
        while True:
            rounds += 1
            q_t = v0 * (1 + growth) ** t
            if seg_names:
                demand = []
                sov_ok = np.isin(nest, [nest_names.index(n) for n in dm.sovereign_nests])
                for k, sn in enumerate(seg_names):
                    mask = live.copy()
                    for other, j in seg_opt.items():
                        if other != sn:
                            mask[:, j] = False
                    if seg_sovereign[k]:
                        mask &= sov_ok[None, :]
                    demand.append(NestedLogitDemand(alpha, eps, quality_util, nest, lam, q_t * seg_share[:, k],
                                                    p_ref, mask))
            else:
                demand = NestedLogitDemand(alpha, eps, quality_util, nest, lam, q_t, p_ref, live)
            # buyers a provider turns away at capacity go to the alternatives (always available), not to
            # rival providers: see the module text
            sales_fn = logit_sales(demand, np.where(live, cap, 0.0), spill_to=~strategic)
            eq = solve(sales_fn, cash_per_mtok, floor, ceiling, strategic[None, :] & live, start, tol=tol,
                       max_iter=max_iter, pure_iter=pure_iter, grid=24, refine=4, owner=owner_idx)
            br_rounds += eq.rounds
            price, sales = eq.price, np.where(live, eq.sales, 0.0)
            revenue = price * sales
            new_exit = np.zeros((P, J), bool)
            # the provider furthest below the exit margin leaves first; the market clears again without it
            worst_gm = np.full(P, np.inf)
            worst = np.full(P, -1)
            for k, pn in enumerate(prov_names):
                js = prov_products[pn] + prov_private[pn]
                rev = revenue[:, js].sum(axis=1)
                cost_ = fleet_cost[:, js].sum(axis=1) + sum(cash_per_mtok[:, j] * sales[:, j] for j in prov_private[pn])
                with np.errstate(divide="ignore", invalid="ignore"):
                    gm = np.where(rev > 0, (rev - cost_) / rev, -np.inf)
                out = live[:, js].any(axis=1) & (gm < exit_gm) & (subsidy[pn] <= 0) & (gm < worst_gm)
                worst = np.where(out, k, worst)
                worst_gm = np.where(out, gm, worst_gm)
            for k, pn in enumerate(prov_names):
                out = worst == k
                if out.any():
                    new_exit[:, prov_products[pn] + prov_private[pn]] |= out[:, None]
                    exited_year[pn] = np.where(out & (exited_year[pn] < 0), year, exited_year[pn])
            if not new_exit.any() or rounds > len(prov_names):
                break
            active &= ~new_exit
            live = active & has_cap
            start = price
        conv_rows.append({
            "year": year, "share_converged": float(eq.converged.mean()), "tol": tol,
            "share_averaged": float(eq.averaged.mean()), "iterations": int(br_rounds.max()),
            "rounds_median": float(np.median(br_rounds)), "max_profit_gain": float(np.max(eq.profit_gain)),
            "median_profit_gain": float(np.median(eq.profit_gain)), "exit_rounds": rounds,
        })
        conv_paths.append(eq.converged)
        prev_price = price
        total = sales.sum(axis=1)
        for j in range(J):
            opt_rows.append(pd.DataFrame({
                "path": np.arange(P), "year": year, "option": opt_label[j], "owner": opt_owner[j],
                "kind": opt_kind[j], "price_usd_per_mtok": price[:, j], "volume_mtok": sales[:, j],
                "share": np.where(total > 0, sales[:, j] / total, 0.0), "capacity_mtok": np.where(
                    opt_kind[j] == "provider", cap[:, j], np.nan), "active": live[:, j],
                "cost_usd_per_mtok": full_per_mtok[:, j],
                "price_usd_per_server_year": (price[:, j] * pc_mtok_server[j] if j in pc_mtok_server
                                              else np.full(P, np.nan)),
            }))
        for pn in prov_names:
            js = prov_products[pn]
            jp = prov_private[pn]
            vol_pub = sales[:, js].sum(axis=1)
            pc_rev = revenue[:, jp].sum(axis=1) if jp else np.zeros(P)
            pc_vol = sales[:, jp].sum(axis=1) if jp else np.zeros(P)
            pc_cost_usd = sum(cash_per_mtok[:, j] * sales[:, j] for j in jp) if jp else np.zeros(P)
            vol = vol_pub + pc_vol
            rev = revenue[:, js].sum(axis=1) + pc_rev
            capp = cap[:, js].sum(axis=1)
            fc = fleet_cost[:, js].sum(axis=1) + pc_cost_usd
            cc = cash_cost[:, js].sum(axis=1)
            is_out = ~live[:, js + jp].any(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                prov_rows.append(pd.DataFrame({
                    "path": np.arange(P), "year": year, "provider": pn, "kind": "provider",
                    "price_usd_per_mtok": np.where(vol > 0, rev / vol, np.nan),
                    "share": np.where(total > 0, vol / total, 0.0), "volume_mtok": vol, "capacity_mtok": capp,
                    "utilization": np.where(capp > 0, vol_pub / capp, np.nan), "revenue_usd": rev,
                    "private_cloud_revenue_usd": pc_rev, "private_cloud_volume_mtok": pc_vol,
                    "serving_cost_usd": fc,
                    "gross_margin": np.where(is_out, np.nan, np.where(rev > 0, (rev - fc) / rev, np.nan)),
                    "cash_cost_usd_per_mtok": np.where(capp > 0, cc / capp, np.nan),
                    "full_cost_usd_per_mtok": np.where(capp > 0, fc / capp, np.nan),
                    "gpus": gpus_opt[:, js].sum(axis=1), "exited": exited_year[pn] >= 0,
                    "subsidy_usd_per_mtok": subsidy[pn],
                }))
        for k, an in enumerate([*alt_names, *[f"self-host/{sn}" for sn in seg_names]]):
            j = n_prod + k
            prov_rows.append(pd.DataFrame({
                "path": np.arange(P), "year": year, "provider": an, "kind": "alternative",
                "price_usd_per_mtok": price[:, j], "share": np.where(total > 0, sales[:, j] / total, 0.0),
                "volume_mtok": sales[:, j], "capacity_mtok": np.nan, "utilization": np.nan,
                "revenue_usd": np.nan, "private_cloud_revenue_usd": np.nan, "private_cloud_volume_mtok": np.nan,
                "serving_cost_usd": np.nan, "gross_margin": np.nan,
                "cash_cost_usd_per_mtok": price[:, j], "full_cost_usd_per_mtok": price[:, j], "gpus": np.nan,
                "exited": False, "subsidy_usd_per_mtok": 0.0,
            }))
        # ---- investment for the coming years: providers with a positive gross margin order chips
        if t + 1 < T:
            for pn in prov_names:
                p = spec.providers[pn]
                js = prov_products[pn]
                vol = sales[:, js].sum(axis=1)
                rev = revenue[:, js].sum(axis=1)
                fc = fleet_cost[:, js].sum(axis=1)
                invest = live[:, js].any(axis=1) & (rev > fc)
                if not invest.any():
                    continue
                order = ([f"own:{p.own_silicon.name}"] if p.own_silicon else []) + list(p.buy)
                for g in order:
                    lt = np.maximum(1, np.ceil(lead[(pn, g)])).astype(int)
                    t_arr = t + lt
                    desired = vol * (1 + growth) ** lt * headroom
                    # capacity already there in the arrival year (after retirements, with the pipeline)
                    have = np.zeros(P)
                    rows = np.arange(P)
                    for gg in prov_gpus[pn]:
                        mt = sum(unit[(j, gg)]["mtok_per_gpu_year"] * fleet_share[j] for j in js)
                        cs = np.concatenate([np.zeros((P, 1)), np.cumsum(arrivals[(pn, gg)], axis=1)], axis=1)
                        idx = t_arr + off
                        in_service = cs[rows, idx + 1] - cs[rows, np.maximum(idx - life + 1, 0)]
                        have += in_service * mt * perf_mult[(pn, gg)] * (1 + gain) ** t_arr * util / util_fixed
                    gap = np.maximum(desired - have, 0.0) * invest
                    mt_g = sum(unit[(j, g)]["mtok_per_gpu_year"] * fleet_share[j] for j in js) * perf_mult[(pn, g)] * \
                        (1 + gain) ** t_arr * util / util_fixed
                    need = np.where(mt_g > 0, gap / np.maximum(mt_g, 1e-30), 0.0)
                    if g.startswith("own:"):
                        avail = ramp[pn][:, t]
                    else:
                        avail = supply[(p.regime, g)][:, t] * supply_share[pn]
                    take = np.minimum(need, avail)
                    ok = t_arr < T
                    arrivals[(pn, g)][rows[ok], (t_arr + off)[ok]] += take[ok]

    options = pd.concat(opt_rows, ignore_index=True)
    providers = pd.concat(prov_rows, ignore_index=True)
    return MarketResult(spec, options, providers, pd.DataFrame(conv_rows), P, seed,
                        {"demand_growth_per_year": growth, "exit_gross_margin": exit_gm}, np.stack(conv_paths, axis=1))


def target_probability(result: MarketResult, provider: str, year: int, revenue_usd: float) -> dict:
    """P(the provider's revenue in ``year`` >= ``revenue_usd``) and P(that and a positive gross margin), over
    the paths, with the revenue percentiles: the alibaba-100b question asked of the market, where
    competitors respond."""
    df = result.providers
    if provider not in set(df["provider"]):
        raise InputError("target provider", provider, f"providers of this market: {', '.join(result.spec.providers)}")
    if year not in set(df["year"]):
        raise InputError("target year", year, f"years of this market: {int(df['year'].min())}-{int(df['year'].max())}")
    g = df[(df["provider"] == provider) & (df["year"] == year)]
    rev = g["revenue_usd"].fillna(0.0).to_numpy()
    gm = g["gross_margin"].to_numpy()
    hit = rev >= revenue_usd
    return {
        "provider": provider, "year": int(year), "revenue_target_usd": float(revenue_usd),
        "p_revenue_at_least_target": float(hit.mean()),
        "p_target_and_gross_margin_positive": float((hit & (np.nan_to_num(gm, nan=-1.0) > 0)).mean()),
        "revenue_usd_p10": float(np.quantile(rev, 0.1)), "revenue_usd_p50": float(np.quantile(rev, 0.5)),
        "revenue_usd_p90": float(np.quantile(rev, 0.9)),
    }


def check_rules(result: MarketResult) -> list[str]:
    """The market's sanity rules; returns the violations (empty when all hold):

    * no provider's price is below the lowest cash cost in the market for more than one year, unless the
      file gives that provider an explicit subsidy;
    * no active provider's gross margin is below -100% without an explicit subsidy."""
    df = result.providers
    prov = df[df["kind"] == "provider"]
    out = []
    lowest = prov.groupby(["path", "year"])["cash_cost_usd_per_mtok"].transform("min")
    below = (prov["price_usd_per_mtok"] < lowest * (1 - 1e-9)) & (prov["subsidy_usd_per_mtok"] <= 0)
    years_below = below.groupby([prov["path"], prov["provider"]]).sum()
    bad = years_below[years_below > 1]
    if len(bad):
        out.append(f"{len(bad)} path-provider pairs price below the lowest cash cost for more than one year")
    gm_bad = prov[(prov["gross_margin"] < -1.0) & (prov["subsidy_usd_per_mtok"] <= 0)]
    if len(gm_bad):
        worst = gm_bad.sort_values("gross_margin").iloc[0]
        out.append(f"{len(gm_bad)} path-years with gross margin below -100% (worst {worst['provider']} "
                   f"{int(worst['year'])}: {worst['gross_margin']:.0%})")
    return out


__all__ = [
    "MarketFileError",
    "MarketResult",
    "MarketSpec",
    "builtin_markets",
    "check_rules",
    "load_market",
    "run_market",
    "unit_economics",
]
