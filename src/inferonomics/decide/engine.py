"""The buyer's decision: pay an API per token, rent dedicated GPUs, or own the hardware.

Monthly model, month ``m = 1..H`` (a month is 730 hours):

* **Volume**: ``tokens(m) = tokens(1) x (1 + growth_per_year)^((m-1)/12)``, input and output separately.
  Requests per second = ``max(input / ISL, output / OSL) / seconds per month``; the peak is
  ``peak_to_average`` times the average.
* **API** (each product that offers the quality needed, in an allowed market, with a complete price for
  the request length): ``input x ((1-c) p_in + c p_cache) + output x p_out`` at the latest list price,
  times ``(1 + api_price_change_per_year)^((m-1)/12)``; RMB at the catalog's dated FX rate.
* **Capacity**: one instance's best throughput within the SLO (``sizing.capacity_table``, the perf
  engine).  Instances for the peak = ``ceil(peak requests/s / requests/s per instance)``.
* **Rent**: dedicated instances resized every month to the peak, paid 24/7 at the catalog rental price
  per GPU-hour, plus the staff who run them.
* **Own**: whole servers (``scaleup_domain_gpus`` accelerators each, usually 8) for the peak plus spares,
  bought at the start of each resizing block for the block's peak and never sold; replaced at the end of
  their life.  The money runs through the ledger (:func:`inferonomics.ledger.fleet`, monthly periods):
  capex per GPU from a published system price where there is one (else the accelerator plus the catalog's
  server/network share), straight-line depreciation over the life, financing at the cost of capital on
  the opening book, power = GPUs x (idle + (busy - idle) x utilization) x TDP + host power, x PUE x
  tariff; facility per kW provisioned at the region's price; maintenance as a share of capex a year;
  staff.  At the horizon the remaining book value times ``residual_value_frac_of_book`` is credited and
  the rest written off.
* **Prefix caching**: ``cache_hit_share`` of input tokens are served from a cache, on an API at its cached
  price and, when self-hosting, without their prefill compute: an instance's request rate is divided by
  ``1 - cache_hit_share x prefill_time_share`` (the latency filter still uses the uncached prefill).
* **Cash and cost**: ``cash_usd`` (capex when paid) drives cumulative cost and the break-even month;
  ``cost_usd`` (depreciation + financing + the write-off at the horizon instead of capex) has the same
  present value as the cash, the NPV.  Every $/Mtok is levelized: ``PV(cost) / PV(tokens)``.
* **Taxes** (``tax_rate``, default 0: compare before tax): API and rental spend, staff, power and the
  other operating costs are deductible when paid, hardware through its depreciation (and the write-off at
  the horizon), so owning gets its tax shield later than the API's.
* **NPV** at the monthly rate ``(1+r)^(1/12) - 1``: capex at the start of its month, other flows at its
  end, the residual credit at the end of the horizon.

The recommendation is the eligible option with the lowest NPV of costs.  ``flips`` solves, by bisection
on a multiplier, how far each input must move for the recommendation to change kind (API / rent / own).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from inferonomics.catalog import Catalog, get_catalog
from inferonomics.catalog.schema import QUALITY_TIERS
from inferonomics.decide.workload import Workload, val
from inferonomics.errors import InputError, UnknownNameError

HOURS_PER_MONTH = 730.0
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600.0
KINDS = ("api", "rent", "own")
FLIP_RANGE = 1000.0  # levers are searched between x1/1000 and x1000


@dataclass(frozen=True)
class Levers:
    """Multipliers on the inputs (1 = as given); the flip analysis moves one at a time."""

    volume: float = 1.0
    api_price: float = 1.0
    gpu_price: float = 1.0
    gpu_rental: float = 1.0
    electricity: float = 1.0
    staff: float = 1.0


LEVER_LABELS = {
    "volume": "token volume",
    "api_price": "API prices",
    "gpu_price": "hardware purchase price",
    "gpu_rental": "GPU rental price",
    "electricity": "electricity price",
    "staff": "staff cost",
}


# ----------------------------------------------------------------------------------------- preparation
def open_model_tiers(w: Workload) -> dict[str, str]:
    """Open model slug -> quality tier (built-in table, overridden by the workload's ``quality_tiers``)."""
    from importlib import resources

    import yaml

    doc = yaml.safe_load((resources.files("inferonomics.decide") / "data" / "quality_tiers.yaml").read_text("utf-8"))
    tiers = {m: t for t, ms in doc["tiers"].items() for m in ms}
    for t, ms in (w.quality_tiers or {}).items():
        for m in ms:
            tiers[m] = t
    return tiers


def _rank(tier: str | None) -> int | None:
    return None if tier is None else QUALITY_TIERS.index(tier)


@dataclass
class Prepared:
    """Everything the monthly evaluation needs, computed once per workload (sizing, prices, constants)."""

    workload: Workload
    months: np.ndarray
    in_tok: np.ndarray
    out_tok: np.ndarray
    isl: int
    osl: int
    peak_to_average: float
    monthly_rate: float
    apis: list[dict]
    api_skipped: list[dict]
    cap: object  # DataFrame of candidates
    own_c: dict = field(default_factory=dict)  # per-candidate arrays for ownership
    consts: dict = field(default_factory=dict)
    self_host_models: list[str] = field(default_factory=list)
    required_tier: str | None = None
    notes: list[str] = field(default_factory=list)
    sized: object = None  # the capacity table before prefix caching (reused when only money inputs change)


def _api_products(w: Workload, cat: Catalog, required_tier: str | None) -> tuple[list[dict], list[dict]]:
    """Suitable API products at the latest price (as of ``prices_as_of``), and the ones skipped, with why."""
    from inferonomics.decide.prices import latest_records

    isl = int(val(w.isl_tokens))
    need = _rank(required_tier)
    out, skipped = [], []
    for (prov, model, market), recs in latest_records(cat, as_of=w.prices_as_of).items():
        name = f"api {prov}/{model} ({market})"
        tier = recs[0].quality_tier
        equiv = w.model is not None and any(w.model in r.equivalent_open_models for r in recs)
        if market not in w.api_markets or (w.api_providers is not None and prov not in w.api_providers):
            continue
        if not equiv and (need is None or tier is None or _rank(tier) < need):
            continue  # not of the quality needed: not an option at all
        fit = [r for r in recs if r.context_range_tokens[0] < isl and (r.context_range_tokens[1] is None or isl <= r.context_range_tokens[1])]
        if not fit:
            skipped.append({"option": name, "reason": f"no price tier covers {isl}-token prompts"})
            continue
        r = fit[0]
        if r.max_input_tokens is not None and isl > r.max_input_tokens:
            skipped.append({"option": name, "reason": f"accepts at most {r.max_input_tokens} input tokens"})
            continue
        if r.output_per_mtok is None:
            skipped.append({"option": name, "reason": f"its latest record ({r.effective_date}) has no output price"})
            continue
        usd = cat.usd_per(r.currency)
        cache = r.cache_hit_input_per_mtok if r.cache_hit_input_per_mtok is not None else r.input_per_mtok
        out.append({
            "option": name, "kind": "api", "provider": prov, "api_model": model, "market": market,
            "quality_tier": tier, "effective_date": r.effective_date, "context_tier": r.context_tier,
            "currency": r.currency, "input_per_mtok": r.input_per_mtok, "output_per_mtok": r.output_per_mtok,
            "input_usd_per_mtok": r.input_per_mtok * usd, "output_usd_per_mtok": r.output_per_mtok * usd,
            "cache_hit_input_usd_per_mtok": cache * usd, "source": r.source,
        })
    return out, skipped


def prepare(w: Workload, catalog: Catalog | None = None, sized=None) -> Prepared:
    """Check the workload against the catalog, size the self-hosted candidates, look the API prices up.

    ``sized``: the capacity table of an earlier ``prepare`` of a workload with the same model, request
    shape, SLO and candidates (``Prepared.sized``), to skip the performance sweep."""
    from inferonomics.decide.sizing import capacity_table

    cat = catalog or get_catalog()
    cat.region(w.region, "region")
    if w.model is not None:
        cat.model(w.model, "model")
    if w.accelerators is not None:
        gpus = list(w.accelerators)
    else:  # default: the server accelerators one can both rent and own (not desktop or edge devices)
        gpus = sorted(s for s, a in cat.accelerators.items()
                      if a.kind in ("datacenter", "rack-scale") and a.rental_usd_per_gpu_hour is not None)
    for i, g in enumerate(gpus):
        if g not in cat.accelerators:
            raise UnknownNameError(f"accelerators[{i}]", g, cat.accelerators)
    # an accelerator without a rental price (a desktop or edge device) is compared as owned only: its rent
    # option is not eligible (see eligible_mask)
    if not gpus:
        raise InputError("accelerators", [], "give at least one accelerator slug")
    tiers = open_model_tiers(w)
    required = w.quality_tier or (tiers.get(w.model) if w.model else None)
    if w.model is not None:
        models = [w.model]
    else:
        models = [m for m, t in sorted(tiers.items()) if m in cat.models and _rank(t) >= _rank(required)]
        if not models:
            raise InputError("quality_tier", required, "no catalog open model is at or above it")
    isl, osl = int(val(w.isl_tokens)), int(val(w.osl_tokens))
    H = int(val(w.horizon_months))
    months = np.arange(1, H + 1)
    growth = (1.0 + val(w.growth_per_year)) ** ((months - 1) / 12.0)
    in_tok = val(w.input_tokens_per_month) * growth
    out_tok = val(w.output_tokens_per_month) * growth
    rate = val(w.discount_rate_per_year, cat.const("cost_of_capital"))
    notes = []
    tok_ratio = (val(w.input_tokens_per_month) / isl) / max(val(w.output_tokens_per_month) / osl, 1e-30)
    if val(w.output_tokens_per_month) > 0 and not 0.8 <= tok_ratio <= 1.25:
        notes.append(
            f"The monthly input/output mix ({val(w.input_tokens_per_month):.3g} / {val(w.output_tokens_per_month):.3g}) "
            f"and the request shape (ISL {isl} / OSL {osl}) disagree by {abs(tok_ratio - 1):.0%}: hardware is sized "
            "for whichever of input and output needs more requests."
        )
    if sized is None:
        sized = capacity_table(
            models, gpus, precisions=list(w.precisions), gpus_per_instance=list(w.gpus_per_instance), isl=isl,
            osl=osl, max_ttft_s=val(w.slo.max_ttft_s), max_tpot_s=val(w.slo.max_tpot_s), catalog=cat,
        )
    cap = sized
    hit = val(w.cache_hit_share)
    if hit > 0 and "prefill_time_share" in cap:
        # cached prompt tokens skip their prefill compute on self-hosted engines too
        cap = cap.assign(requests_per_s=cap["requests_per_s"] / (1.0 - hit * cap["prefill_time_share"]))
    apis, skipped = _api_products(w, cat, required)
    reg = cat.region(w.region)
    o = w.ownership
    from inferonomics import ledger

    fac_default, fac_source = ledger.facility_usd_per_kw_month(w.region, cat)
    consts = {
        "life_months": max(1, round(val(o.life_years, cat.const("life_years")) * 12)),
        "server_network_frac": val(o.server_network_capex_frac),  # None: per accelerator, from the ledger
        "facility_usd_per_kw_month": val(o.facility_usd_per_kw_month, fac_default),
        "facility_source": "given" if o.facility_usd_per_kw_month is not None else fac_source,
        "maintenance_frac_per_year": val(o.maintenance_frac_per_year, cat.const("operations_frac_per_year")),
        "electricity_usd_per_kwh": val(o.electricity_usd_per_kwh, reg.electricity_usd_per_kwh.value),
        "pue": val(o.pue, reg.pue.value),
        "idle_power_frac": cat.const("idle_power_frac"),
        "busy_power_frac": cat.const("busy_power_frac"),
        "spare_servers": int(val(o.spare_servers)),
        "resize_every_months": int(val(o.resize_every_months)),
        "residual_value_frac_of_book": val(o.residual_value_frac_of_book),
        "own_staff_usd_per_month": val(w.staff.own_fte) * val(w.staff.usd_per_fte_year) / 12.0,
        "rent_staff_usd_per_month": val(w.staff.rented_fte) * val(w.staff.usd_per_fte_year) / 12.0,
        "discount_rate_per_year": rate,
        "cache_hit_share": val(w.cache_hit_share),
        "api_price_change_per_year": val(w.api_price_change_per_year),
        "tax_rate": val(w.tax_rate),
    }
    accs = [cat.accelerator(g) for g in cap["gpu"]]
    terms = {a.slug: ledger.capex_terms(a, cat) for a in accs}
    frac = consts["server_network_frac"]
    own_c = {
        "server_network_frac": np.array([terms[a.slug]["server_network_frac"] if frac is None else frac
                                         for a in accs], float),
        "server_gpus": np.array([a.scaleup_domain_gpus.value for a in accs], float),
        "accelerator_usd": np.array([a.purchase_price_usd.value for a in accs], float),
        "rental_usd_per_gpu_hour": np.array([
            a.rental_usd_per_gpu_hour.value if a.rental_usd_per_gpu_hour is not None else np.nan for a in accs
        ], float),
        "tdp_w": np.array([a.tdp_w.value for a in accs], float),
        "server_overhead_w": np.array([
            a.server_overhead_w.value if a.server_overhead_w else a.tdp_w.value * cat.const("server_overhead_frac_of_tdp")
            for a in accs
        ], float),
        "gpi": cap["gpus_per_instance"].to_numpy(float),
        "req_s": cap["requests_per_s"].to_numpy(float),
    }
    return Prepared(
        workload=w, months=months, in_tok=in_tok, out_tok=out_tok, isl=isl, osl=osl,
        peak_to_average=val(w.peak_to_average), monthly_rate=(1.0 + rate) ** (1.0 / 12.0) - 1.0, apis=apis,
        api_skipped=skipped, cap=cap, own_c=own_c, consts=consts, self_host_models=models,
        required_tier=required, notes=notes, sized=sized,
    )


# ------------------------------------------------------------------------------------------ evaluation
def _requests_per_s(p: Prepared, in_tok, out_tok) -> np.ndarray:
    return np.maximum(in_tok / p.isl, out_tok / p.osl) / SECONDS_PER_MONTH


def _api_lines(p: Prepared, lev: Levers, in_tok, out_tok) -> dict[str, np.ndarray]:
    if not p.apis:
        z = np.zeros((0, len(p.months)))
        return {"api_usd": z}
    c = p.consts["cache_hit_share"]
    pin = np.array([a["input_usd_per_mtok"] for a in p.apis])
    pcache = np.array([a["cache_hit_input_usd_per_mtok"] for a in p.apis])
    pout = np.array([a["output_usd_per_mtok"] for a in p.apis])
    path = (1.0 + p.consts["api_price_change_per_year"]) ** ((p.months - 1) / 12.0) * lev.api_price
    usd = ((1 - c) * pin[:, None] + c * pcache[:, None]) * in_tok[None, :] + pout[:, None] * out_tok[None, :]
    return {"api_usd": usd / 1e6 * path[None, :]}


def _instances(p: Prepared, peak_req) -> np.ndarray:
    need = np.ceil(peak_req[None, :] / p.own_c["req_s"][:, None] - 1e-9)
    return np.maximum(need, (peak_req[None, :] > 0).astype(float))


def _rent_lines(p: Prepared, lev: Levers, peak_req) -> dict[str, np.ndarray]:
    inst = _instances(p, peak_req)
    gpus = inst * p.own_c["gpi"][:, None]
    rental = gpus * p.own_c["rental_usd_per_gpu_hour"][:, None] * HOURS_PER_MONTH * lev.gpu_rental
    staff = np.full_like(rental, p.consts["rent_staff_usd_per_month"] * lev.staff)
    return {"gpus": gpus, "instances": inst, "rental_usd": rental, "staff_usd": staff}


def _own_lines(p: Prepared, lev: Levers, peak_req, avg_req) -> dict[str, np.ndarray]:
    from inferonomics import ledger

    c, k = p.own_c, p.consts
    H = len(p.months)
    sg, gpi = c["server_gpus"][:, None], c["gpi"][:, None]
    inst = _instances(p, peak_req)
    need = np.ceil(inst * gpi / sg - 1e-9) + k["spare_servers"]
    R = k["resize_every_months"]
    nb = -(-H // R)
    pad = np.concatenate([need, np.repeat(need[:, -1:], nb * R - H, axis=1)], axis=1)
    block = pad.reshape(len(need), nb, R).max(axis=2)
    installed = np.maximum.accumulate(np.repeat(block, R, axis=1)[:, :H], axis=1)
    new = np.diff(installed, axis=1, prepend=0.0)
    L = k["life_months"]
    bought = new.copy()
    for m in range(L, H):  # replace each server at the end of its life
        bought[:, m] += bought[:, m - L]
    frac = c["server_network_frac"] if "server_network_frac" in c else np.full(len(sg), k["server_network_frac"])
    per_gpu = c["accelerator_usd"] * (1.0 + frac) * lev.gpu_price
    gpus = installed * sg
    usable = np.floor(np.maximum(installed - k["spare_servers"], 0.0) * sg / gpi)
    with np.errstate(divide="ignore", invalid="ignore"):
        util = np.clip(avg_req[None, :] / (usable * c["req_s"][:, None]), 0.0, 1.0)
    util = np.nan_to_num(util, nan=1.0)
    f = ledger.fleet(
        bought=bought * sg, gpus=gpus, utilization=util, capex_per_gpu_usd=per_gpu, life_periods=L,
        tdp_w=c["tdp_w"], server_overhead_w=c["server_overhead_w"], idle_power_frac=k["idle_power_frac"],
        busy_power_frac=k["busy_power_frac"], pue=k["pue"],
        electricity_usd_per_kwh=k["electricity_usd_per_kwh"] * lev.electricity,
        facility_usd_per_kw_month=k["facility_usd_per_kw_month"],
        maintenance_frac_per_year=k["maintenance_frac_per_year"], rate_per_year=k["discount_rate_per_year"],
        period="month", other_usd=k["own_staff_usd_per_month"] * lev.staff,
        residual_frac_of_book=k["residual_value_frac_of_book"], tax_rate=k.get("tax_rate", 0.0),
    )
    return {
        "servers": installed, "gpus": gpus, "servers_bought": bought, "utilization": util,
        "capex_usd": f["capex_usd"], "depreciation_usd": f["depreciation_usd"], "financing_usd": f["financing_usd"],
        "power_usd": f["power_usd"], "facility_usd": f["facility_usd"], "maintenance_usd": f["maintenance_usd"],
        "staff_usd": f["other_usd"], "write_off_usd": f["write_off_usd"], "residual_usd": f["residual_credit_usd"][:, -1],
        "closing_book_usd": f["closing_book_usd"], "cash_usd": f["cash_usd"], "cost_usd": f["cost_usd"],
        "npv_usd": f["npv_usd"], "pv_gpu_hours": f["pv_gpu_hours"],
    }


def _tokens(p: Prepared, lev: Levers, steady_tokens_per_month: float | None):
    if steady_tokens_per_month is None:
        return p.in_tok * lev.volume, p.out_tok * lev.volume
    share = p.in_tok[0] / (p.in_tok[0] + p.out_tok[0])
    ones = np.ones(len(p.months))
    return ones * steady_tokens_per_month * share * lev.volume, ones * steady_tokens_per_month * (1 - share) * lev.volume


def evaluate(p: Prepared, lev: Levers = Levers(), steady_tokens_per_month: float | None = None) -> dict:
    """Monthly cash and cost (arrays option x month) of every option, and its NPV.

    Options are, in order: the API products, then every sized candidate rented, then owned."""
    in_tok, out_tok = _tokens(p, lev, steady_tokens_per_month)
    peak = _requests_per_s(p, in_tok, out_tok) * p.peak_to_average
    avg = peak / p.peak_to_average
    api = _api_lines(p, lev, in_tok, out_tok)
    rent = _rent_lines(p, lev, peak)
    own = _own_lines(p, lev, peak, avg)
    H = len(p.months)
    # after tax (``tax_rate``, default 0) API and rental spend are deductible when paid; the owned fleet's
    # shield (depreciation, operating costs, write-off) is in the ledger's lines
    after_tax = 1.0 - p.consts.get("tax_rate", 0.0)
    rent_cash = (rent["rental_usd"] + rent["staff_usd"]) * after_tax
    api_cash = api["api_usd"] * after_tax
    cash = np.concatenate([api_cash, rent_cash, own["cash_usd"]])
    cost = np.concatenate([api_cash, rent_cash, own["cost_usd"]])
    residual = np.concatenate([np.zeros(len(p.apis)), np.zeros(len(rent_cash)), own["residual_usd"]])
    r = p.monthly_rate
    d_end = (1.0 + r) ** -p.months.astype(float)
    npv = np.concatenate([api_cash @ d_end, rent_cash @ d_end, own["npv_usd"]])
    pv_tokens = (in_tok + out_tok) @ d_end
    kinds = np.array(["api"] * len(p.apis) + ["rent"] * len(rent_cash) + ["own"] * len(rent_cash))
    return {
        "kind": kinds, "cash": cash, "cost": cost, "npv": npv, "residual": residual, "in_tok": in_tok,
        "out_tok": out_tok, "peak_req_s": peak, "api": api, "rent": rent, "own": own, "H": H,
        "pv_tokens": pv_tokens, "monthly_rate": r, "usd_per_mtok": npv / pv_tokens * 1e6 if pv_tokens > 0 else np.full(len(npv), np.nan),
    }


NO_RENTAL_PRICE = "no rental price in the catalog for this accelerator"
SOVEREIGN = "sovereign: must run on own premises"


def exclusion_reasons(p: Prepared) -> list[str | None]:
    """Why each option is not eligible (``None`` when it is): sovereignty rules out the API and renting; an
    accelerator with no rental price cannot be rented."""
    n = len(p.cap)
    kinds = ["api"] * len(p.apis) + ["rent"] * n + ["own"] * n
    no_rent = np.isnan(p.own_c["rental_usd_per_gpu_hour"])
    out: list[str | None] = []
    for j, k in enumerate(kinds):
        if p.workload.sovereign and k != "own":
            out.append(SOVEREIGN)
        elif k == "rent" and no_rent[j - len(p.apis)]:
            out.append(NO_RENTAL_PRICE)
        else:
            out.append(None)
    return out


def eligible_mask(p: Prepared) -> np.ndarray:
    return np.array([r is None for r in exclusion_reasons(p)], bool)


def option_names(p: Prepared) -> list[str]:
    names = [a["option"] for a in p.apis]
    for kind in ("rent", "own"):
        for _, c in p.cap.iterrows():
            par = f"ep{c['ep']}" if c["ep"] > 1 else f"tp{c['tp']}"
            names.append(f"{kind} {c['gpu']} {c['weights']} {par} ({c['model']})")
    return names


# ---------------------------------------------------------------------------------------- the decision
def _winner(p: Prepared, lev: Levers, mask) -> int:
    npv = evaluate(p, lev)["npv"]
    return int(np.argmin(np.where(mask, npv, np.inf)))


def _flip_search(p: Prepared, lever: str, mask, base: int, by_kind: bool, kinds) -> list[dict]:
    names = option_names(p)

    def winner(k: float) -> int:
        return _winner(p, replace(Levers(), **{lever: k}), mask)

    def changed(i: int) -> bool:
        return (kinds[i] != kinds[base]) if by_kind else (i != base)

    rows = []
    for direction, end in (("up", FLIP_RANGE), ("down", 1.0 / FLIP_RANGE)):
        grid = np.geomspace(1.0, end, 37)[1:]
        prev, hit = 1.0, None
        for k in grid:
            i = winner(float(k))
            if changed(i):
                hit = float(k)
                break
            prev = float(k)
        if hit is None:
            rows.append({"lever": lever, "direction": direction, "multiplier": None, "new_option": None,
                         "new_kind": None, "text": f"{LEVER_LABELS[lever]}: no change within x{end:g}"})
            continue
        lo, hi = math.log(prev), math.log(hit)
        for _ in range(14):
            mid = 0.5 * (lo + hi)
            if changed(winner(math.exp(mid))):
                hi = mid
            else:
                lo = mid
        k = math.exp(hi)
        i = winner(k)
        pct = (k - 1.0) * 100.0
        rows.append({
            "lever": lever, "direction": direction, "multiplier": k, "new_option": names[i],
            "new_kind": str(kinds[i]),
            "text": f"{LEVER_LABELS[lever]} x{k:.3g} ({pct:+.0f}%) -> {names[i]}",
        })
    return rows


def flips(p: Prepared, mask=None) -> list[dict]:
    """For each lever, the multiplier (up and down) at which the recommendation changes kind (or, when
    only one kind is allowed, option); ``None`` when it does not change between x1/1000 and x1000."""
    mask = eligible_mask(p) if mask is None else mask
    ev = evaluate(p, Levers())
    kinds = ev["kind"]
    base = int(np.argmin(np.where(mask, ev["npv"], np.inf)))
    allowed_kinds = set(kinds[mask])
    by_kind = len(allowed_kinds) > 1
    levers = ["volume"]
    if "api" in allowed_kinds:
        levers.append("api_price")
    if "own" in allowed_kinds:
        levers += ["gpu_price", "electricity"]
    if "rent" in allowed_kinds:
        levers.append("gpu_rental")
    if p.consts["own_staff_usd_per_month"] + p.consts["rent_staff_usd_per_month"] > 0 and allowed_kinds - {"api"}:
        levers.append("staff")
    out = []
    for lv in levers:
        out += _flip_search(p, lv, mask, base, by_kind, kinds)
    return out


def breakeven_volume(p: Prepared, api_index: int, mask_own) -> float | None:
    """Steady tokens per month above which the best owned option's NPV is below the API's (bisection).

    ``None`` when owning does not win even at 10^15 tokens a month (its marginal cost is above the API
    price); ``0.0`` when it already wins at 10^5."""

    def own_wins(v: float) -> bool:
        ev = evaluate(p, Levers(), steady_tokens_per_month=v)
        own = np.min(np.where(mask_own, ev["npv"], np.inf))
        return bool(own < ev["npv"][api_index])

    lo, hi = math.log(1e5), math.log(1e15)
    if not own_wins(math.exp(hi)):
        return None
    if own_wins(math.exp(lo)):
        return 0.0
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if own_wins(math.exp(mid)):
            hi = mid
        else:
            lo = mid
    return math.exp(hi)


def _first_crossing(a_cum: np.ndarray, b_cum: np.ndarray) -> int | None:
    """First month (1-based) from which ``a`` has cost no more than ``b`` cumulatively, if any."""
    ok = a_cum <= b_cum + 1e-6
    if not ok.any():
        return None
    return int(np.argmax(ok)) + 1


__all__ = [
    "HOURS_PER_MONTH",
    "KINDS",
    "SECONDS_PER_MONTH",
    "Levers",
    "Prepared",
    "breakeven_volume",
    "eligible_mask",
    "evaluate",
    "flips",
    "open_model_tiers",
    "option_names",
    "prepare",
]
