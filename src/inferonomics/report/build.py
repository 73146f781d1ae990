"""The self-contained HTML report: every chart embedded as a PNG data URI (and written beside it), no
script or stylesheet from the network, so it opens offline.

Each section is a function ``(ctx) -> Section | None``; sections whose capability is not installed in
this version return ``None`` and are left out.  Section data come from the Python API only: the report
holds no arithmetic of its own.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from inferonomics.io import write_text_atomic

REPORT_ISL, REPORT_OSL, REPORT_MAX_TPOT_S = 2048, 512, 0.05
DEFAULT_SCENARIOS = ["alibaba-100b"]
DEFAULT_WORKLOADS = ["bank-sovereign"]
MATRIX_MODELS = [
    "llama-3.1-8b", "qwen3-8b", "qwen3-30b-a3b", "qwen3-32b", "llama-3.1-70b", "qwen2.5-72b", "mixtral-8x22b",
    "qwen3-235b-a22b", "llama-3.1-405b", "deepseek-v3",
]
MATRIX_GPUS = ["h100-sxm", "h200", "b200", "a100-sxm-80gb", "l40s", "h20", "h800", "mi300x", "mi325x", "ascend-910b"]
FRONTIER_DEPLOYMENTS = [
    dict(model="llama-3.1-70b", gpu="h100-sxm", gpus=4, weights="fp8"),
    dict(model="llama-3.1-70b", gpu="h200", gpus=2, weights="fp8"),
    dict(model="qwen2.5-72b", gpu="h20", gpus=4, weights="fp8"),
    dict(model="qwen2.5-72b", gpu="ascend-910b", gpus=4, weights="int8"),
    dict(model="deepseek-v3", gpu="h200", gpus=8, ep=8, weights="fp8"),
]


@dataclass
class Section:
    key: str
    title: str
    intro: str
    charts: list[tuple[str, bytes, str]] = field(default_factory=list)  # (file stem, png, caption)
    tables_html: list[str] = field(default_factory=list)
    headline: dict[str, str] = field(default_factory=dict)


@dataclass
class Context:
    scenarios: list[str]
    workloads: list[str]
    region: str
    catalog: object
    used: dict[str, set] = field(default_factory=lambda: {"accelerators": set(), "models": set(), "regions": set()})


def _table(df, labels: dict[str, str] | None = None) -> str:
    """A table for people, formatted by the presentation layer (units in headings, no scientific notation)."""
    from inferonomics.present import html_table

    return f'<div class="scroll">{html_table(df, labels=labels)}</div>'


def section_cost(ctx: Context) -> Section:
    """Cost per million tokens: a model x accelerator matrix and the TCO line items of flagship deployments."""
    import numpy as np

    from inferonomics.cost.answers import cost_matrix, flagship_costs
    from inferonomics.present import money, percent, seconds
    from inferonomics.report import charts

    cat = ctx.catalog
    models = [m for m in MATRIX_MODELS if m in cat.models]
    gpus = [g for g in MATRIX_GPUS if g in cat.accelerators]
    best = cost_matrix(models, gpus, region=ctx.region, isl=REPORT_ISL, osl=REPORT_OSL,
                       max_tpot_s=REPORT_MAX_TPOT_S, catalog=cat)
    mat = np.full((len(models), len(gpus)), np.nan)
    for _, r in best.iterrows():
        mat[models.index(r["model"]), gpus.index(r["gpu"])] = r["usd_per_mtok_output_all_in"]
    demo = flagship_costs(ctx.region, cat, max_tpot_s=REPORT_MAX_TPOT_S, isl=REPORT_ISL, osl=REPORT_OSL)
    demo = demo[demo["note"] == ""]
    lines = [c for c in demo.columns if c.startswith("own_") and c.endswith("_usd_per_mtok")]
    rows = [{
        "label": f"{r['model']} / {int(r['gpus'])}x {r['gpu']} {r['weights']}",
        "breakdown": {c.removeprefix("own_").removesuffix("_usd_per_mtok"): r[c] for c in lines},
    } for _, r in demo.iterrows()]
    ctx.used["models"].update(demo["model"])
    ctx.used["accelerators"].update(demo["gpu"])
    ctx.used["models"].update(models)
    ctx.used["accelerators"].update(gpus)
    ctx.used["regions"].add(ctx.region)
    util = cat.const("utilization")
    cheapest = best.iloc[0]
    table = demo[["model", "gpu", "gpus", "weights", "output_tokens_per_s_per_gpu", "rent_usd_per_mtok_output",
                  "own_usd_per_gpu_hour", "own_usd_per_mtok_input", "own_usd_per_mtok_output",
                  "own_usd_per_mtok_output_all_in"]]
    return Section(
        "cost",
        "What a million tokens costs to make",
        f"Owned hardware in region <b>{html.escape(ctx.region)}</b> at the catalog utilization ({percent(util, 0)}), "
        f"prompts of {REPORT_ISL} and answers of {REPORT_OSL} tokens, at the highest load that keeps time per "
        f"output token within {seconds(REPORT_MAX_TPOT_S)} (20 tokens/s per user). Each cell takes the "
        "cheapest precision (fp8 or int8) and parallelism on up to 8 GPUs. <b>Two definitions</b>, each named on "
        "its figure: <i>all cost on output</i> loads every GPU-hour onto output tokens (input free), the figure "
        "to compare with an API's output price; <i>input / output</i> splits GPU time between prefill (input "
        "tokens) and decode (output tokens).",
        charts=[
            ("cost_matrix", charts.cost_matrix(models, gpus, mat),
             ("$ per million output tokens, all cost on output, model x accelerator (blank: does not fit or "
              "misses the latency target)")),
            ("cost_breakdown", charts.cost_waterfall(rows),
             "TCO line items, $ per million output tokens, all cost on output"),
        ],
        tables_html=[_table(table)],
        headline={
            "cheapest pair": f"{cheapest['model']} on {cheapest['gpu']}: "
            f"{money(cheapest['usd_per_mtok_output_all_in'])} per M output tokens (all cost on output)",
        },
    )


def section_frontier(ctx: Context) -> Section:
    from inferonomics.perf import frontier
    from inferonomics.report import charts

    curves = []
    for d in FRONTIER_DEPLOYMENTS:
        if d["model"] not in ctx.catalog.models or d["gpu"] not in ctx.catalog.accelerators:
            continue
        df = frontier(isl=REPORT_ISL, osl=REPORT_OSL, catalog=ctx.catalog, **d)
        label = f"{d['model']} / {d['gpus']}x {d['gpu']} {d['weights']}" + (f" ep{d['ep']}" if d.get("ep") else "")
        curves.append({"label": label, "per_user": df["output_tokens_per_s_per_user"].tolist(),
                       "per_gpu": df["output_tokens_per_s_per_gpu"].tolist()})
        ctx.used["models"].add(d["model"])
        ctx.used["accelerators"].add(d["gpu"])
    return Section(
        "frontier", "Throughput against interactivity",
        "Each point is one load level (requests in flight, from 1 to the most that fits in memory). Moving "
        "right buys faster answers per user with fewer tokens per GPU: the price of interactivity.",
        charts=[("frontier", charts.frontier(curves), "tokens/s per GPU against tokens/s per user")],
    )


def section_assumptions(ctx: Context) -> Section:
    """Every catalog input the report used, with its source and date (or the assumption and why)."""
    import pandas as pd

    from inferonomics.present import unit_label

    cat = ctx.catalog
    rows = []

    def add(kind, slug, name, v):
        rows.append({
            "kind": kind, "item": slug, "field": name, "value": v.value, "unit": unit_label(v.unit),
            # a constant's note says what its unit does not ("fraction" of what): shown with it
            "note": (v.note or "") if kind == "constant" else "",
            "source or assumption": v.provenance,
        })

    for name, c in sorted(cat.constants.items()):
        add("constant", name, "", c)
    for slug in sorted(ctx.used["accelerators"]):
        a = cat.accelerator(slug)
        for fname in ("memory_gib", "memory_bw_gb_s", "tdp_w", "scaleup_bw_gb_s", "purchase_price_usd",
                      "rental_usd_per_gpu_hour"):
            if getattr(a, fname) is not None:
                add("accelerator", slug, fname, getattr(a, fname))
        for dt_, v in a.peak_dense_tflops.items():
            add("accelerator", slug, f"peak_dense_tflops.{dt_}", v)
    for slug in sorted(ctx.used["regions"]):
        r = cat.region(slug)
        add("region", slug, "electricity_usd_per_kwh", r.electricity_usd_per_kwh)
        add("region", slug, "pue", r.pue)
    for cur, fx in sorted(cat.fx.items()):
        add("fx", cur, "usd_per_unit", fx.usd_per_unit)
    for fam, e in sorted(cat.efficiency.items()):
        for fname in type(e).model_fields:
            if fname != "family":
                add("efficiency", fam, fname, getattr(e, fname))
    models = pd.DataFrame([
        {"model": s, "config source": cat.model(s).source, "date": cat.model(s).date}
        for s in sorted(ctx.used["models"])
    ])
    df = pd.DataFrame(rows)
    return Section(
        "assumptions", "Assumptions and sources",
        f"{len(df)} inputs used by this report. Values marked 'assumption' were not published anywhere we "
        "could find; the reason is given. Change any of them with your own catalog file (--catalog-dir).",
        tables_html=[_table(df), _table(models)],
    )


def _have(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def section_buyer(ctx: Context) -> Section | None:
    """The buyer's decision for each workload: cumulative cost per option, break-even and recommendation."""
    if not ctx.workloads or not _have("inferonomics.decide"):
        return None
    import html as _html

    from inferonomics.decide import breakeven
    from inferonomics.present import money
    from inferonomics.report import charts

    sec = Section(
        "buyer", "The buyer's decision: API, rented GPUs or own hardware",
        "Each option is sized for the workload's peak within its latency target with the performance model "
        "and priced month by month; the recommendation is the lowest net present cost.",
    )
    for name in ctx.workloads:
        d = breakeven(name, ctx.catalog)
        w = d.workload
        slug = w.get("name", name) if isinstance(w, dict) else name
        top = d.options.sort_values("npv_usd").head(6)["option"].tolist()
        rec = d.recommendation["option"]
        if rec not in top:
            top = [rec, *top[:5]]
        m = d.monthly
        elig = dict(zip(d.options["option"], d.options["eligible"], strict=True)) if "eligible" in d.options else {}
        series = [
            {"label": o + ("" if elig.get(o, True) else " (excluded)"), "excluded": not elig.get(o, True),
             "x": m.loc[m.option == o, "month"].tolist(),
             "y": (m.loc[m.option == o, "cumulative_cash_usd"] / 1e6).tolist()}
            for o in top
        ]
        be = d.breakeven.get("own") or {}
        month = be.get("breakeven_month")
        sec.charts.append((
            f"buyer_{slug}",
            charts.lines(series, title=f"{slug}: which option costs least over time? (cumulative $m)", xlabel="month",
                         ylabel="cumulative cost, $m", marker_x=month,
                         marker_label="owning breaks even" if month else None),
            f"{slug}: cumulative cost of the cheapest options, $m (recommended: {rec}; dashed: excluded by the "
            "workload's constraints, such as sovereignty)",
        ))
        reasons = "".join(f"<li>{_html.escape(r)}</li>" for r in d.recommendation.get("reasons", []))
        sec.tables_html.append(f"<h3>{_html.escape(slug)}: {_html.escape(rec)}</h3><ul>{reasons}</ul>")
        cols = [c for c in ("option", "month1_usd", "horizon_month_usd", "usd_per_mtok", "npv_usd",
                            "breakeven_month") if c in d.options.columns]
        sec.tables_html.append(_table(d.options.sort_values("npv_usd")[cols].head(8)))
        sec.headline[f"{slug}: recommendation"] = f"{rec} (net present cost {money(d.recommendation['npv_usd'])})"
    return sec


def section_provider(ctx: Context) -> Section | None:
    """Provider P&L: fan charts of revenue and gross margin with the target, the tornado, the strategies."""
    if not ctx.scenarios or not _have("inferonomics.market"):
        return None
    import pandas as pd

    from inferonomics.market import compare, sensitivity, simulate
    from inferonomics.market.api import DEFAULT_PATHS, DEFAULT_SEED
    from inferonomics.present import number, probability
    from inferonomics.report import charts

    paths = DEFAULT_PATHS
    sec = Section(
        "provider", "The token factory's P&L",
        f"Monte Carlo over {number(paths)} paths of the uncertain inputs (seeded; every input's source or assumption is "
        "in the scenario file, see inferonomics provider inputs). Bands are P10-P90, the line the median.",
    )
    for name in ctx.scenarios:
        res = simulate(name, paths=paths, seed=DEFAULT_SEED)
        summ = res.summary(["revenue_usd", "gross_margin", "free_cash_flow_usd"])
        years = res.fiscal_years
        t = res.scenario.spec.target
        target = t.revenue_usd_per_year.fixed_value() if t else None

        def col(metric, q, summ=summ):
            return summ.loc[summ.metric == metric, q].tolist()

        sec.charts.append((f"provider_{name}_revenue", charts.fan(
            years, col("revenue_usd", "p10"), col("revenue_usd", "p50"), col("revenue_usd", "p90"),
            title=f"{name}: can revenue reach the target? ($bn a year)", ylabel="revenue, $bn a year", target=target,
            scale=1e9, target_label="revenue target"),
            f"{name}: revenue, P10-P90 and median, with the target"))
        sec.charts.append((f"provider_{name}_gross_margin", charts.fan(
            years, col("gross_margin", "p10"), col("gross_margin", "p50"), col("gross_margin", "p90"),
            title=f"{name}: can the token business earn a gross margin? (share of revenue)",
            ylabel="gross margin, share of revenue", target=0.0, target_label="break-even (0%)"),
            f"{name}: gross margin (dashed: break-even)"))
        tor = sensitivity(name, "revenue_usd").head(10)
        rows = [{"input": r["input"], "low": r["output_at_input_p10"], "high": r["output_at_input_p90"]}
                for _, r in tor.iterrows()]
        sec.charts.append((f"provider_{name}_tornado", charts.tornado(
            rows, title=f"{name}: which inputs move target-year revenue most? ($bn)", xlabel="revenue, $bn",
            scale=1e9, base=tor.attrs.get("baseline")),
            f"{name}: tornado of target-year revenue"))
        ev = res.events()
        if ev.get("p_target_and_gross_margin_positive") is not None:
            sec.headline[f"{name}: P(revenue >= target and GM > 0) in {ev['year_label']}"] = (
                f"{probability(ev['p_target_and_gross_margin_positive'], res.paths_n)} (revenue >= target: "
                f"{probability(ev['p_revenue_at_least_target'], res.paths_n)})")
        wide = res.wide(50, ["revenue_usd", "gross_margin", "capex_usd", "free_cash_flow_usd", "fleet_gpus",
                             "rnd_to_gross_profit"]).reset_index()
        sec.tables_html.append(f"<h3>{html.escape(name)}: median path</h3>" + _table(wide))
    # the four strategy variants are built on alibaba-100b: shown beside it when it is in the report
    strategies = ["token-war", "vertical-clouds", "own-silicon", "ghost-cloud"] if "alibaba-100b" in ctx.scenarios else []
    cmp = compare([*ctx.scenarios, *[x for x in strategies if x not in ctx.scenarios]], paths=DEFAULT_PATHS, seed=DEFAULT_SEED)
    from inferonomics.present import label, value

    table = pd.DataFrame(cmp)
    shown = pd.DataFrame({"Figure": [label(m) for m in table.index],
                          **{c: [value(m, v) for m, v in table[c].items()] for c in table.columns}})
    sec.tables_html.append("<h3>Strategies side by side (target year)</h3>" + _table(shown))
    return sec


SCALE_TOLERANCE = 0.05  # "stops falling": within 5% of the lowest delivered $/Mtok of the sweep


def section_scale(ctx: Context) -> Section | None:
    """Scale economies per token tier: delivered $/Mtok against daily volume from the fleet simulation's
    scale table (cached), where it stops falling, and where the provider's tiers sit on it."""
    if not ctx.scenarios or not _have("inferonomics.market") or not _have("inferonomics.fleet.scale_table"):
        return None
    import pandas as pd

    from inferonomics.fleet.scale_table import daily_tokens, flattening, for_tiers
    from inferonomics.market import load_scenario, simulate
    from inferonomics.market.api import DEFAULT_PATHS, DEFAULT_SEED
    from inferonomics.present import money, percent, tokens
    from inferonomics.report import charts

    sec = Section(
        "scale", "Where does scale stop paying?",
        "Each token tier's deployment run by the fleet simulation (time-stepped engine, one-second steps over "
        "a simulated week, with the fleet scenario's tenants, autoscaler and fleet; in alibaba-tiers an owned "
        "fleet sized for the week's busiest five minutes at 80% target utilization, diurnal, weekly and bursty tenants, "
        "batch jobs backfilling) at daily volumes half a decade apart. Delivered "
        "$/Mtok = GPU-hours paid / tokens served. Its parts: the <i>floor</i> (every GPU busy at its SLO "
        "operating point), <i>caching</i> (a colder prefix cache at low volume), <i>batching</i> (capacity "
        "that even flat demand cannot fill: whole replicas, the minimum fleet, the autoscaler's headroom) "
        "and <i>multiplexing</i> (what peaks, bursts and noise cost on top). The same table sizes the "
        "provider's serving fleets: each tier's utilization at its volume, per path and year. "
        f"\"Stops falling\": within {SCALE_TOLERANCE:.0%} of the lowest $/Mtok of the sweep.",
    )
    seen = set()
    for name in ctx.scenarios:
        sc = load_scenario(name, catalog=ctx.catalog)
        serving = sc.spec.serving
        if serving.utilization_from != "fleet" or serving.fleet_scenario in seen:
            continue
        seen.add(serving.fleet_scenario)
        tiers = sc.spec.token_tiers
        table = for_tiers(serving.fleet_scenario, {n: (t.deployment.model, t.deployment.gpu) for n, t in tiers.items()})
        keys = {n: f"tokens_{n.replace('-', '_')}_mtok" for n in tiers}
        res = simulate(sc, paths=DEFAULT_PATHS, seed=DEFAULT_SEED, metrics=list(keys.values()))
        summ = res.summary(list(keys.values()))
        y1 = res.fiscal_years[0]
        y_end = sc.spec.target.year if sc.spec.target and sc.spec.target.year in res.fiscal_years else res.fiscal_years[-1]
        panels, rows = [], []
        for n, t in tiers.items():
            tr = table.rows(n)
            flat = flattening(table.daily_tokens, table.column(n, "usd_per_mtok"), SCALE_TOLERANCE)
            vol = {y: float(daily_tokens(summ.loc[(summ.metric == keys[n]) & (summ.year == y), "p50"].iloc[0]))
                   for y in (y1, y_end)}
            label = f"{n}: {t.deployment.model} on {t.deployment.gpu}"
            panels.append({"label": label, "rows": tr, "flat_at": flat["flattens_at_daily_tokens"],
                           "flat_label": f"within {SCALE_TOLERANCE:.0%} of its lowest",
                           "marks": [(vol[y], f"{sc.year_label(y)} P50") for y in (y1, y_end)]})
            rows.append({
                "tier": n, "deployment": f"{t.deployment.model} on {t.deployment.gpu}",
                "flattens_at_daily_tokens": flat["flattens_at_daily_tokens"],
                "lowest_usd_per_mtok": flat["level_usd_per_mtok"],
                "at_smallest_volume_usd_per_mtok": flat["smallest_usd_per_mtok"],
                "cost_cut_share": flat["reduction"],
                "utilization_at_largest_volume": tr[-1]["utilization"],
                "first_year_daily_tokens": vol[y1],
                "utilization_at_first_year_volume": float(table.lookup(n, "utilization", vol[y1])),
                "target_year_daily_tokens": vol[y_end],
                "utilization_at_target_year_volume": float(table.lookup(n, "utilization", vol[y_end])),
            })
            at = flat["flattens_at_daily_tokens"]
            sec.headline[f"{n} tier: where scale stops paying"] = (
                (f"$/Mtok within {SCALE_TOLERANCE:.0%} of its lowest ({money(flat['level_usd_per_mtok'])}) from "
                 f"{tokens(at)} tokens a day" if at else "$/Mtok still falling at the largest volume")
                + f"; scale cuts it {percent(flat['reduction'], 0)} from {tokens(flat['smallest_daily_tokens'])} "
                f"to {tokens(flat['largest_daily_tokens'])} tokens a day")
        fs = html.escape(serving.fleet_scenario)
        no_cache = all(abs(r["caching_usd_per_mtok"]) < 1e-12 for n in tiers for r in table.rows(n))
        sec.charts.append((f"scale_{name}", charts.scale_tiers(
            panels, title=f"{name}: at what daily volume does delivered $/Mtok stop falling? "
                          f"(fleet scenario {serving.fleet_scenario})"),
            f"{name}: delivered $ per M tokens against tokens a day per tier (top, log-log; vertical lines: where "
            f"it stops falling and the tier's median volume in {sc.year_label(y1)} and {sc.year_label(y_end)}) and "
            "its parts as a share (bottom)" + (
                "; no caching part: the fleet scenario keeps each deployment's prefix-cache hit rate at every "
                "volume" if no_cache else "")))
        labels = {
            "flattens_at_daily_tokens": f"Stops falling (within {SCALE_TOLERANCE:.0%} of lowest), tokens a day",
            "cost_cut_share": "Cut by scale, smallest to largest volume",
            "first_year_daily_tokens": f"{sc.year_label(y1)} tokens a day, median",
            "utilization_at_first_year_volume": f"Fleet utilization at the {sc.year_label(y1)} median",
            "target_year_daily_tokens": f"{sc.year_label(y_end)} tokens a day, median",
            "utilization_at_target_year_volume": f"Fleet utilization at the {sc.year_label(y_end)} median",
        }
        sec.tables_html.append(f"<h3>{html.escape(name)}: tiers on the scale curve (fleet scenario {fs})</h3>"
                               + _table(pd.DataFrame(rows), labels))
    return sec if sec.charts else None


PRICE_WAR_MODELS = [
    ("alibaba", "qwen-max", "china"), ("alibaba", "qwen-plus", "china"), ("alibaba", "qwen-turbo", "china"),
    ("alibaba", "qwen-long", "china"), ("deepseek", "deepseek-chat", None), ("openai", "gpt-4o", None),
    ("openai", "gpt-4o-mini", None),
]


def section_prices(ctx: Context) -> Section | None:
    """The 2024 price war on a timeline: input price per million tokens, in USD at the catalog FX rate."""
    if not _have("inferonomics.decide") or not getattr(ctx.catalog, "api_prices", None):
        return None
    import pandas as pd

    from inferonomics.decide import price_records
    from inferonomics.report import charts

    df = price_records(ctx.catalog)
    df = df[df["context_tier"].isna() | (df["context_tier"].astype(str).str.startswith("0"))]
    series, rows = [], []
    for provider, model, market in PRICE_WAR_MODELS:
        sel = df[(df.provider == provider) & (df.model == model)]
        if market:
            sel = sel[sel.market == market]
        else:
            sel = sel[sel.market == sel.market.iloc[0]] if len(sel) else sel
        sel = sel.dropna(subset=["input_usd_per_mtok"]).sort_values("effective_date")
        if len(sel) == 0:
            continue
        x = pd.to_datetime(sel["effective_date"].astype(str), format="mixed").tolist()
        series.append({"label": f"{model} ({sel.market.iloc[0]})", "x": x, "y": sel["input_usd_per_mtok"].tolist()})
        first, last = sel.iloc[0], sel.iloc[-1]
        rows.append({"model": model, "market": first["market"], "first": str(first["effective_date"]),
                     "first input $/M": first["input_usd_per_mtok"], "latest": str(last["effective_date"]),
                     "latest input $/M": last["input_usd_per_mtok"],
                     "change": f"{last['input_usd_per_mtok'] / first['input_usd_per_mtok'] - 1:+.0%}"})
    if not series:
        return None
    table = pd.DataFrame(rows)
    sec = Section(
        "prices", "The price war on a timeline",
        "List prices per million input tokens, converted to USD at the catalog's dated exchange rate "
        "(China list prices are in RMB). Each step is a dated price record with its source in the catalog.",
        charts=[("price_history", charts.lines(series, title="What did the price war do? API input price, $ per M tokens",
                                               xlabel="effective date", ylabel="$ per M input tokens (log scale)",
                                               logy=True, step=True), "API list prices over time")],
        tables_html=[_table(table)],
    )
    long = table[table.model == "qwen-long"]
    if len(long):
        sec.headline["qwen-long input price"] = f"{long.iloc[0]['change']} ({long.iloc[0]['first']} to {long.iloc[0]['latest']})"
    return sec


MARKET_REPORT = ("china-2026", 12)  # market file and Monte Carlo paths shown in the report


def section_market(ctx: Context) -> Section | None:
    """The token market: equilibrium price and share per provider by year (P50), with exits and convergence."""
    if not _have("inferonomics.market.competition"):
        return None
    from inferonomics.market.competition import run_market
    from inferonomics.report import charts

    name, paths = MARKET_REPORT
    res = run_market(name, paths=paths, seed=0)
    summ = res.summary()
    sec = Section(
        "market", "The token market: prices from competition",
        f"{html.escape(res.spec.title)}. Capacity-constrained Bertrand-Nash prices each year on {paths} Monte Carlo "
        "paths (inferonomics market run); costs and capacities from the perf and cost engines; lines are medians.",
    )
    years = sorted(summ["year"].unique())
    series_p, series_s = [], []
    for prov, g in summ.groupby("provider", sort=False):
        g = g.set_index("year").reindex(years)
        series_p.append({"x": years, "y": g["price_usd_per_mtok_p50"].tolist(), "label": prov})
        series_s.append({"x": years, "y": (g["share_p50"] * 100).tolist(), "label": prov})
    sec.charts.append((f"market_{name}_price", charts.lines(
        series_p, title=f"{name}: equilibrium price per provider (P50)", xlabel="year",
        ylabel="USD per Mtok (blended)", logy=True), f"{name}: price per Mtok by provider and year (median)"))
    sec.charts.append((f"market_{name}_share", charts.lines(
        series_s, title=f"{name}: share of tokens (P50)", xlabel="year", ylabel="% of tokens"),
        f"{name}: share of tokens by provider, self-hosting and edge (median)"))
    last = summ[summ["year"] == years[-1]][["provider", "price_usd_per_mtok_p50", "share_p50", "gross_margin_p50",
                                            "p_exited"]]
    sec.tables_html.append(f"<h3>{years[-1]}</h3>" + _table(last))
    sec.tables_html.append("<h3>Equilibrium convergence</h3>" + _table(res.convergence))
    return sec


SECTIONS: list[Callable[[Context], Section | None]] = [
    section_cost, section_frontier, section_provider, section_scale, section_market, section_buyer, section_prices,
]
CLOSING: list[Callable[[Context], Section | None]] = [section_assumptions]


CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{background:#1f4e79;color:#fff;padding:24px 40px}header h1{margin:0 0 6px 0;font-size:26px}
main{max-width:1100px;margin:0 auto;padding:10px 40px 60px}section{background:#fff;border-radius:8px;
padding:18px 24px;margin:22px 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}h2{margin-top:0;color:#1f4e79}
figure{margin:14px 0}figure img{max-width:100%}figcaption{font-size:12px;color:#555}
table.t{border-collapse:collapse;font-size:12px;margin:10px 0;width:100%}table.t th{background:#eef3f8;
text-align:left}table.t td,table.t th{padding:4px 6px;border-bottom:1px solid #e5e5e5;vertical-align:top}
.headline{display:flex;flex-wrap:wrap;gap:12px}.card{background:#eef3f8;border-radius:6px;padding:10px 14px;
min-width:220px}.card b{display:block;font-size:12px;color:#555;font-weight:normal}nav a{color:#fff;margin-right:14px}
.scroll{overflow-x:auto;max-width:100%}table.t td{text-align:right;white-space:nowrap}
table.t td:first-child,table.t th:first-child{text-align:left;white-space:normal}
table.t th{white-space:normal;min-width:60px}p,li,figcaption{overflow-wrap:anywhere}
@media (max-width:700px){header{padding:16px}main{padding:4px 8px 30px}section{padding:12px;margin:12px 0}
header h1{font-size:20px}.card{min-width:0;flex:1 1 100%}nav a{display:inline-block;margin:4px 10px 0 0}}
@media print{body{background:#fff}header{background:#fff;color:#000;padding:0}nav{display:none}
section{box-shadow:none;break-inside:avoid-page;page-break-inside:avoid;padding:0}figure{break-inside:avoid}
.scroll{overflow:visible}table.t{font-size:8px;table-layout:fixed;width:100%}
table.t td,table.t th{white-space:normal;overflow-wrap:anywhere;padding:2px}main{max-width:none;padding:0}}
"""


@dataclass
class ReportResult:
    html_path: Path
    png_paths: list[Path]
    headlines: dict[str, str]
    sections: list[str]


def build_report(
    out_dir: str | Path,
    scenarios: list[str] | None = None,
    workloads: list[str] | None = None,
    region: str = "us-average",
    catalog=None,
    progress: Callable[[str], None] | None = None,
) -> ReportResult:
    """Write ``index.html`` (self-contained) and one PNG per chart into ``out_dir``."""
    from inferonomics.catalog import get_catalog
    from inferonomics.errors import InputError

    cat = catalog or get_catalog()
    cat.region(region)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("out", str(out), "must be a directory (it is a file)")
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(list(DEFAULT_SCENARIOS if scenarios is None else scenarios), list(DEFAULT_WORKLOADS if workloads is None else workloads), region, cat)
    sections: list[Section] = []
    for fn in SECTIONS + CLOSING:
        if progress:
            progress(fn.__name__.removeprefix("section_"))
        s = fn(ctx)
        if s is not None:
            sections.append(s)
    pngs: list[Path] = []
    body = []
    headlines: dict[str, str] = {}
    for s in sections:
        headlines.update(s.headline)
        parts = [f'<section id="{s.key}"><h2>{html.escape(s.title)}</h2><p>{s.intro}</p>']
        for stem, png, caption in s.charts:
            p = out / f"{stem}.png"
            p.write_bytes(png)
            pngs.append(p)
            b64 = base64.b64encode(png).decode("ascii")
            parts.append(f'<figure><img alt="{html.escape(caption)}" data-chart="{stem}" '
                         f'src="data:image/png;base64,{b64}"><figcaption>{html.escape(caption)}</figcaption></figure>')
        parts.extend(s.tables_html)
        parts.append("</section>")
        body.append("\n".join(parts))
    cards = "".join(f'<div class="card"><b>{html.escape(k)}</b>{html.escape(v)}</div>' for k, v in headlines.items())
    nav = "".join(f'<a href="#{s.key}">{html.escape(s.title)}</a>' for s in sections)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    doc = (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>inferonomics report</title><style>{CSS}</style></head><body>"
        "<header><h1>inferonomics: the unit economics of AI inference</h1>"
        f"<div>Generated {stamp}. Every input has a source or a stated assumption (see the last section).</div>"
        f"<nav>{nav}</nav></header><main><section id=\"headline\"><h2>The answers first</h2>"
        f"<div class=\"headline\">{cards}</div></section>{''.join(body)}</main></body></html>"
    )
    html_path = write_text_atomic(out / "index.html", doc)
    return ReportResult(html_path, pngs, headlines, [s.key for s in sections])
