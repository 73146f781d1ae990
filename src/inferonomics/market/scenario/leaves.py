"""The loaded scenario: :class:`Scenario`, its numeric inputs as :class:`Leaf` objects (``_walk``), and
``_finish`` (catalog checks, currency conversion, catalog defaults, tier throughput)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from inferonomics.errors import InferonomicsError, UnknownNameError
from inferonomics.market.scenario.errors import _fail
from inferonomics.market.scenario.inputs import Spec
from inferonomics.market.scenario.models import Pool, ScenarioSpec
from inferonomics.market.scenario.throughput import _production, tier_throughput


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


def _finish(spec: ScenarioSpec, label: str, chain: list[str], cat) -> Scenario:
    """Catalog checks, currency conversion, catalog defaults, and the perf engine's throughput per tier."""
    from inferonomics.errors import InputError

    # currencies: every money input given in CNY/EUR/... converted at the catalog's dated rate
    from inferonomics.quantity import convert_all

    for where, msg in convert_all(spec, cat):
        raise _fail(label, where, msg)
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
