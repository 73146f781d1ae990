"""inferonomics dashboard (Streamlit).  Run with ``inferonomics app`` or ``streamlit run dashboard.py``.

Pages: Cost (perf + TCO of one deployment, the throughput-interactivity frontier), Provider scenario,
Buyer break-even and Price history (these three call ``inferonomics.market`` / ``inferonomics.decide`` /
the API price catalog when this version has them, and say so plainly when it does not).

The page holds no arithmetic: every figure is computed by the Python API and only formatted here (with
the formatters of :mod:`inferonomics.app`, which the browser tests use to predict the exact text shown).
Bad input is shown with ``st.error`` and the message of the :class:`InferonomicsError`, never a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect

import altair as alt
import pandas as pd
import streamlit as st

from inferonomics.app import (
    COST_DEFAULTS,
    L_IN_CONCURRENCY,
    L_OUT_PER_GPU,
    L_OUT_TOTAL,
    L_PER_USER,
    L_TPOT,
    L_TTFT,
    L_USD_ALL_IN,
    L_USD_HOUR,
    L_USD_IN,
    L_USD_OUT,
    PAGES,
    fmt_count,
    fmt_fraction,
    fmt_rate,
    fmt_seconds,
    fmt_tokens,
    fmt_usd,
    scenario_overrides,
    sig,
    slider_options,
)
from inferonomics.catalog import get_catalog
from inferonomics.catalog.schema import KV_DTYPES, WEIGHT_DTYPES
from inferonomics.errors import InferonomicsError
from inferonomics.market.api import DEFAULT_PATHS, DEFAULT_SEED
from inferonomics.present import frame, label, percent, probability, ratio, value, years
from inferonomics.report.charts import PALETTE

LOAD_MODES = ("Concurrency", "Max throughput", "Latency target (TPOT)")
DEFAULTS = COST_DEFAULTS
PARALLEL = (1, 2, 4, 8, 16, 32, 64)
# Widget keys of each page start with its prefix.
PAGE_KEYS = {"Cost": "cost_", "Provider scenario": "prov_", "Buyer break-even": "buy_", "Price history": "px_"}


def has(module: str) -> bool:
    """Whether an optional capability is installed in this version (checked at run time)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return False
    # A folder without __init__.py (data only, work in progress) is a namespace package: not installed.
    return spec is not None and spec.origin not in (None, "namespace")


def show_error(exc: Exception) -> None:
    st.error(str(exc), icon=":material/error:")


def formatted_slider(container, text: str, lo: float, hi: float, current: float, fmt, key: str,
                     step: float | None = None, anchors=(), help: str | None = None):
    """A slider whose positions read as people write the figure (``35.0%``, ``$2.50``, ``2.00x``), through the
    presentation layer, never as raw floats; it returns the float chosen."""
    opts = slider_options(lo, hi, fmt, (current, *anchors), step=step)
    return container.select_slider(text, options=opts, value=float(current), format_func=fmt, key=key, help=help)


def people_table(df: pd.DataFrame, by: dict | None = None, names: dict | None = None) -> None:
    """A table as people read it: headings with units, every cell formatted by the presentation layer
    (``by``: see :func:`inferonomics.present.frame`; ``names``: extra columns of figure names it reads)."""
    data = df.assign(**names) if names else df
    st.dataframe(frame(data, [c for c in df.columns], by=by), hide_index=True, width="stretch")


def csv_button(df: pd.DataFrame, name: str, key: str, label: str = "Download CSV") -> None:
    st.download_button(label, df.to_csv(index=False).encode("utf-8"), file_name=f"{name}.csv", mime="text/csv",
                       key=key)


# --------------------------------------------------------------------------------------------- Cost page
@st.cache_data(show_spinner=False, max_entries=256)
def _cost(model, gpu, deployment: tuple, load: tuple, money: tuple) -> dict:
    from inferonomics.cost import OwnershipAssumptions, cost
    from inferonomics.perf.api import operating_point

    kw = dict(deployment)
    mode, concurrency, max_tpot_s = load
    if mode == LOAD_MODES[2]:
        concurrency = operating_point(model, gpu, max_tpot_s=max_tpot_s, **kw)
    elif mode == LOAD_MODES[1]:
        concurrency = None
    region, utilization, rent, own, life_years, cost_of_capital = money
    return cost(model, gpu, region=region, utilization=utilization, rent_usd_per_gpu_hour=rent, own=own,
                assumptions=OwnershipAssumptions(life_years=life_years, cost_of_capital=cost_of_capital),
                concurrency=concurrency, **kw)


@st.cache_data(show_spinner=False, max_entries=64)
def _frontier(model, gpu, deployment: tuple) -> pd.DataFrame:
    from inferonomics.perf import frontier

    return frontier(model, gpu, **dict(deployment))


def cost_inputs(cat) -> dict:
    sb = st.sidebar
    sb.subheader("Deployment")
    models = sorted(cat.models)
    gpus = sorted(cat.accelerators)
    model = sb.selectbox("Model", models, index=models.index(DEFAULTS["model"]) if DEFAULTS["model"] in models else 0,
                         key="cost_model", help="Model architecture from the catalog (its published config.json).")
    gpu = sb.selectbox("Accelerator", gpus, index=gpus.index(DEFAULTS["gpu"]) if DEFAULTS["gpu"] in gpus else 0,
                       key="cost_gpu", help="Accelerator from the catalog (see: inferonomics catalog list accelerators).")
    sb.caption(f"{cat.model(model).name} on {cat.accelerator(gpu).name}")
    c1, c2 = sb.columns(2)
    n = c1.number_input("GPUs", min_value=1, max_value=4096, value=DEFAULTS["gpus"], step=1, key="cost_gpus",
                        help="All GPUs of the deployment; those beyond one instance (tp or ep x pp) are replicas.")
    pp = c2.selectbox("pp", PARALLEL[:4], key="cost_pp", help="Pipeline-parallel stages.")
    c1, c2 = sb.columns(2)
    tp = c1.selectbox("tp", ("auto",) + PARALLEL, key="cost_tp", help="Tensor-parallel degree; auto = GPUs / pp "
                      "(or 1 with ep).")
    ep = c2.selectbox("ep", PARALLEL, key="cost_ep", help="Expert-parallel degree (mixture-of-experts models).")
    c1, c2 = sb.columns(2)
    weights = c1.selectbox("Weights", WEIGHT_DTYPES, index=WEIGHT_DTYPES.index(DEFAULTS["weights"]), key="cost_weights",
                           format_func=lambda w: w.upper() if w.startswith("q") else w)  # GGUF's Q4_K_M
    kv = c2.selectbox("KV cache", ("auto",) + KV_DTYPES, key="cost_kv",
                      help="auto: fp8 for fp8/fp4 weights, else the weight precision.")
    c1, c2 = sb.columns(2)
    isl = c1.number_input("ISL", min_value=1, max_value=1_000_000, value=DEFAULTS["isl"], step=128,
                          key="cost_isl", help="Input (prompt) tokens per request.")
    osl = c2.number_input("OSL", min_value=1, max_value=1_000_000, value=DEFAULTS["osl"], step=64,
                          key="cost_osl", help="Output (answer) tokens per request.")
    sb.subheader("Load")
    mode = sb.radio("Operating point", LOAD_MODES, key="cost_mode", horizontal=False,
                    help="A fixed number of requests in flight, as many as memory allows, or the most that meet a "
                         "time-per-output-token target.")
    concurrency, max_tpot_s = None, None
    if mode == LOAD_MODES[0]:
        concurrency = sb.number_input(L_IN_CONCURRENCY, min_value=1, max_value=1_000_000,
                                      value=DEFAULTS["concurrency"], step=1, key="cost_concurrency")
    elif mode == LOAD_MODES[2]:
        max_tpot_ms = sb.slider("Max TPOT (ms)", min_value=5, max_value=500, value=50, step=5, key="cost_tpot")
        max_tpot_s = max_tpot_ms / 1000.0
    sb.subheader("Money")
    regions = sorted(cat.regions)
    region = sb.selectbox("Region", regions, index=regions.index("us-average") if "us-average" in regions else 0,
                          key="cost_region",
                          help="Electricity price and PUE (used when owning).")
    utilization = formatted_slider(sb, "Utilization", 0.05, 1.0, float(cat.const("utilization")), percent,
                                   "cost_utilization", step=0.05, help="Share of hours the deployment serves.")
    own = sb.radio("Hardware", ("Rent", "Own"), key="cost_own", horizontal=True) == "Own"
    rent = life_years = cost_of_capital = None
    if own:
        life_years = formatted_slider(sb, "Life", 1.0, 10.0, float(cat.const("life_years")), years, "cost_life",
                                      step=0.5, help="Years over which the capex is recovered.")
        cost_of_capital = formatted_slider(sb, "Cost of capital (per year)", 0.0, 0.30,
                                           float(cat.const("cost_of_capital")), percent, "cost_wacc", step=0.01)
    else:
        listed = cat.accelerator(gpu).rental_usd_per_gpu_hour
        catalog_price = float(listed.value) if listed is not None else 0.0
        label = f"catalog: {fmt_usd(catalog_price)}/GPU-h" if listed is not None else "no catalog rental price"
        if sb.checkbox(f"Own rental price ({label})", key="cost_rent_on", value=listed is None):
            rent = sb.number_input("Rental price (USD per GPU-hour)", min_value=0.0, value=catalog_price, step=0.1,
                                   key="cost_rent", format="%.2f")
    deployment = (("gpus", int(n)), ("tp", None if tp == "auto" else int(tp)), ("ep", int(ep)), ("pp", int(pp)),
                  ("weights", weights), ("kv", None if kv == "auto" else kv), ("isl", int(isl)), ("osl", int(osl)))
    return {"model": model, "gpu": gpu, "deployment": deployment,
            "load": (mode, None if concurrency is None else float(concurrency), max_tpot_s),
            "money": (region, float(utilization), rent, own, life_years, cost_of_capital)}


def page_cost() -> None:
    from inferonomics.cli._render import COST_ROWS, PERF_ROWS

    cat = get_catalog()
    st.title("What a million tokens costs to make")
    inp = cost_inputs(cat)
    try:
        r = _cost(inp["model"], inp["gpu"], inp["deployment"], inp["load"], inp["money"])
        fr = _frontier(inp["model"], inp["gpu"], inp["deployment"])
    except InferonomicsError as exc:
        show_error(exc)
        if getattr(exc, "field", None) == "tp" and dict(inp["deployment"])["tp"] is None:
            st.caption("tp = auto makes one instance span all the GPUs (divided by pp): choose tp in the sidebar, "
                       "or a number of GPUs that it divides.")
        return
    st.caption(
        f"**{r['model']}** on **{r['gpus']}x {r['gpu']}** (tp={r['tp']}, pp={r['pp']}, ep={r['ep']}, weights "
        f"{r['weights']}, KV {r['kv']}), prompts of {r['isl']} and answers of {r['osl']} tokens, "
        f"{fmt_count(r['concurrency'])} requests in flight over {fmt_count(r['replicas'])} replica(s) of "
        f"{fmt_count(r['instance_gpus'])} GPU(s); "
        f"{'owned' if r['mode'] == 'own' else 'rented'} hardware, region {r['region']} "
        f"({cat.region(r['region']).name}), utilization "
        f"{fmt_fraction(r['utilization'])}."
    )
    c = st.columns(5)
    c[0].metric(L_OUT_PER_GPU, fmt_rate(r["output_tokens_per_s_per_gpu"]), help="Decode throughput per GPU.")
    c[1].metric(L_OUT_TOTAL, fmt_rate(r["output_tokens_per_s"]), help="Over all GPUs and replicas.")
    c[2].metric(L_PER_USER, fmt_rate(r["output_tokens_per_s_per_user"]), help="Interactivity: 1 / TPOT.")
    c[3].metric(L_TTFT, fmt_seconds(r["ttft_s"]), help="Time to first token (queueing excluded).")
    c[4].metric(L_TPOT, fmt_seconds(r["tpot_s"]), help="Time per output token.")
    c = st.columns(5)
    c[0].metric(L_USD_OUT, fmt_usd(r["usd_per_mtok_output"]),
                help="GPU time spent decoding, at the utilization, per million output tokens.")
    c[1].metric(L_USD_IN, fmt_usd(r["usd_per_mtok_input"]),
                help="GPU time spent in prefill, at the utilization, per million input tokens.")
    c[2].metric(L_USD_HOUR, fmt_usd(r["usd_per_gpu_hour"]))
    c[3].metric(L_USD_ALL_IN, fmt_usd(r["usd_per_mtok_output_all_in"]),
                help="All GPU time charged to output tokens (input tokens free).")
    c[4].metric("GiB per GPU", sig(r["memory_per_gpu_gib"]),
                help=f"Memory used per GPU. Weights {sig(r['weights_per_gpu_gib'])} GiB; at most {fmt_count(r['max_concurrency'])} requests "
                     "fit in memory.")

    tab_f, tab_tco, tab_all = st.tabs(["Throughput vs interactivity", "TCO line items", "All figures"])
    with tab_f:
        cols = ["concurrency", "output_tokens_per_s_per_user", "output_tokens_per_s_per_gpu", "output_tokens_per_s",
                "ttft_s", "tpot_s", "memory_per_gpu_gib"]
        here = pd.DataFrame([{k: r[k] for k in cols}])
        tip = [alt.Tooltip(k, format=",.4~g", title=label(k)) for k in cols]
        x = alt.X("output_tokens_per_s_per_user:Q", title="output tokens/s per user (interactivity)",
                  scale=alt.Scale(zero=False))
        y = alt.Y("output_tokens_per_s_per_gpu:Q", title="output tokens/s per GPU (throughput)",
                  scale=alt.Scale(type="log"))
        chart = alt.Chart(fr[cols]).mark_line(point=True).encode(x=x, y=y, tooltip=tip) + alt.Chart(here).mark_point(
            size=220, filled=True, color="#c55a11", shape="diamond").encode(x=x, y=y, tooltip=tip)
        st.altair_chart(chart.properties(height=380), width="stretch")
        st.caption("Each point is one load level, from 1 request in flight to the most that fits in memory; the "
                   "orange diamond is the operating point above.")
        people_table(fr[cols])
        csv_button(fr[cols], "frontier", key="dl_frontier", label="Download frontier CSV")
    with tab_tco:
        items = pd.DataFrame([
            {"line item": k.removesuffix("_usd_per_gpu_hour").replace("_", " "), "usd_per_gpu_hour": v,
             "usd_per_mtok_output_all_in": r["breakdown_usd_per_mtok_output_all_in"][
                 k.replace("_usd_per_gpu_hour", "_usd_per_mtok_output_all_in")]}
            for k, v in r["breakdown_usd_per_gpu_hour"].items()
        ])
        bar = alt.Chart(items).mark_bar().encode(
            x=alt.X("usd_per_mtok_output_all_in:Q", title="USD per million output tokens (all-in)"),
            y=alt.Y("line item:N", sort=None, title=None, axis=alt.Axis(labelLimit=260)),
            color=alt.Color("line item:N", legend=None, sort=None, scale=alt.Scale(range=PALETTE)),
            tooltip=["line item", alt.Tooltip("usd_per_gpu_hour", format=",.4~g", title=label("usd_per_gpu_hour")),
                     alt.Tooltip("usd_per_mtok_output_all_in", format=",.4~g",
                                 title=label("usd_per_mtok_output_all_in"))],
        )
        st.altair_chart(bar.properties(height=max(80, 42 * len(items))), width="stretch")
        if r["mode"] == "rent":
            st.caption(f"Rented at {fmt_usd(r['usd_per_gpu_hour'])} per GPU-hour; source: "
                       f"{r.get('rental_price_source', '')}. Choose **Own** to see capex, power, facility and "
                       "operations.")
        people_table(items)
        csv_button(items, "tco_line_items", key="dl_tco", label="Download line items CSV")
    with tab_all:
        rows = [{"Figure": text[:1].upper() + text[1:], "Value": value(k, r[k])} for k, text in PERF_ROWS + COST_ROWS
                if k in r]
        table = pd.DataFrame(rows)
        st.dataframe(table, hide_index=True, width="stretch", height=36 * (len(table) + 1) + 2)
        flat = pd.DataFrame([{k: v for k, v in r.items() if not isinstance(v, dict)}])
        csv_button(flat, "cost", key="dl_cost", label="Download all figures CSV (one row)")


# ------------------------------------------------------------------------- pages of optional capabilities
def not_installed(what: str, module: str, cli: str) -> None:
    st.info(f"{what} is not installed in this version of inferonomics (the Python package `{module}` is "
            f"missing), so this page has nothing to show yet. The Cost page works. When it is installed, "
            f"this page and `{cli}` will show it.", icon=":material/info:")


def public_functions(module: str) -> list[str]:
    mod = importlib.import_module(module)
    names = getattr(mod, "__all__", None) or [n for n in dir(mod) if not n.startswith("_")]
    return [n for n in names if inspect.isfunction(getattr(mod, n, None))]


# ------------------------------------------------------------------------------------ Provider scenario page
MARKET_API = ("builtin_names", "builtin_table", "load_scenario", "simulate", "sensitivity")
# Metrics offered in the fan chart (those the result has), first the default.
FAN_METRICS = (
    "revenue_usd", "gross_margin", "operating_margin", "free_cash_flow_usd", "cumulative_free_cash_flow_usd",
    "capex_usd", "fleet_gpus", "tokens_mtok", "token_price_usd_per_mtok", "token_cost_usd_per_mtok",
    "gross_margin_tokens", "rnd_to_gross_profit", "revenue_tokens_usd", "operating_profit_usd",
)
EVENTS = (
    ("p_revenue_at_least_target", "P(revenue ≥ target)"),
    ("p_gross_margin_positive", "P(gross margin > 0)"),
    ("p_operating_profit_positive", "P(operating profit > 0)"),
    ("p_cumulative_free_cash_flow_positive", "P(cumulative free cash flow > 0)"),
)
KEY_ASSUMPTIONS = 6  # sliders for the inputs that move revenue the most
def _stamp(name: str) -> float:
    """Modification time of a scenario file (0 for a built-in name): part of the cache keys."""
    import os

    try:
        return os.stat(name).st_mtime if os.path.isfile(name) else 0.0
    except OSError:
        return 0.0


@st.cache_resource(show_spinner=False, max_entries=16)
def _scenario(name: str, fixed: tuple, stamp: float = 0.0):
    from inferonomics.market import load_scenario

    return load_scenario(scenario_overrides(name, fixed) if fixed else name)


@st.cache_resource(show_spinner="Running the Monte Carlo...", max_entries=16)
def _simulate(name: str, fixed: tuple, paths: int, seed: int, stamp: float = 0.0):
    from inferonomics.market import simulate

    return simulate(_scenario(name, fixed, stamp), paths=paths, seed=seed)


@st.cache_resource(show_spinner=False, max_entries=32)
def _sensitivity(name: str, fixed: tuple, output: str, stamp: float = 0.0):
    from inferonomics.market import sensitivity

    return sensitivity(_scenario(name, fixed, stamp), output=output)


def provider_inputs() -> tuple[str, tuple, int, int] | None:
    from inferonomics.market import builtin_names, builtin_table

    sb = st.sidebar
    sb.subheader("Scenario")
    try:
        names = builtin_names()
    except OSError:  # a version that ships no scenario folder
        names = []
    name = None
    if names:
        titles = dict(builtin_table()[["name", "title"]].itertuples(index=False, name=None))
        name = sb.selectbox("Built-in scenario", names, key="prov_name", format_func=lambda n: titles.get(n) or n,
                            help="Scenarios shipped with inferonomics.")
    own = sb.text_input("Or your scenario file (YAML path)", key="prov_file",
                        help="A scenario YAML on this machine (it may start from a built-in with `base:`).").strip()
    if own:
        name = own
    if name is None:
        st.info("No built-in provider scenarios are installed in this version: give a scenario file in the "
                "sidebar.", icon=":material/info:")
        return None
    paths = sb.select_slider("Monte Carlo paths", (1_000, 2_000, 5_000, 10_000, 20_000), value=DEFAULT_PATHS,
                             format_func=fmt_count, key="prov_paths", help="More paths: smoother percentiles, slower.")
    seed = sb.number_input("Seed", min_value=0, value=DEFAULT_SEED, step=1, key="prov_seed")
    sb.subheader("Key assumptions")
    sb.caption("The inputs that move revenue the most (P10 to P90 of each). Moving a slider fixes that input at "
               "the value (it is then no longer uncertain); the others keep the file's distributions.")
    base = _sensitivity(name, (), "revenue_usd", _stamp(name))
    fixed = []
    for row in base.head(KEY_ASSUMPTIONS).itertuples(index=False):
        path = row.input.removesuffix(" (all years)")
        if "[" in path or not row.input_p90 > row.input_p10 or not row.swing > 0:
            continue
        span = row.input_p90 - row.input_p10
        lo, hi = row.input_p10 - span / 2, row.input_p90 + span / 2
        if row.input_p10 >= 0:
            lo = max(lo, 0.0)
        field = path.rsplit(".", 1)[-1]  # the unit is in the field's name (growth_per_year: a share, %)

        def fmt(v, _field=field):
            return value(_field, v)

        v = formatted_slider(sb, _label(row.input), lo, hi, float(row.input_p50), fmt, key=f"prov_{name}_{path}",
                             anchors=(row.input_p10, row.input_p90),
                             help=f"P10 {fmt(row.input_p10)}, P50 {fmt(row.input_p50)}, P90 {fmt(row.input_p90)}.")
        if v != float(row.input_p50):
            fixed.append((path, v))
    return name, tuple(fixed), int(paths), int(seed)


def _label(path: str) -> str:
    """A scenario field path for people: ``token_tiers.flagship.growth_per_year`` → ``flagship: growth per year``."""
    return path.removeprefix("token_tiers.").replace("_", " ").replace(".", ": ")


def _axis(metric: str) -> tuple[float, str, str]:
    """Scale, axis title and d3 format of a metric as the presentation layer writes it ($bn, %, counts)."""
    from inferonomics.present import kind, label

    k = kind(metric)
    if k == "money":
        return 1e9, f"{label(metric).replace(' ($)', '')}, $bn", ",.1f"
    if k == "share":
        return 1.0, label(metric), ".0%"
    return 1.0, label(metric), ",.3~f"


def _fan(summary: pd.DataFrame, metric: str, target: float | None):
    scale, title, fmt = _axis(metric)
    summary = summary.assign(**{q: summary[q] / scale for q in ("p10", "p50", "p90")})
    target = None if target is None else target / scale
    band = alt.Chart(summary).mark_area(opacity=0.25, color=PALETTE[0]).encode(
        x=alt.X("year_label:O", title="fiscal year", sort=None, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("p10:Q", title=title + " (band P10-P90, line median)", axis=alt.Axis(format=fmt)), y2="p90:Q",
        tooltip=[alt.Tooltip("year_label", title="Fiscal year"), alt.Tooltip("p10:Q", format=",.4~g", title="P10"),
                 alt.Tooltip("p50:Q", format=",.4~g", title="Median"), alt.Tooltip("p90:Q", format=",.4~g", title="P90")],
    )
    line = alt.Chart(summary).mark_line(point=True, color=PALETTE[0]).encode(
        x=alt.X("year_label:O", sort=None), y="p50:Q")
    chart = band + line
    if target is not None:
        rule = alt.Chart(pd.DataFrame([{"target": target}])).mark_rule(color=PALETTE[1], strokeDash=[6, 4]).encode(
            y="target:Q", tooltip=[alt.Tooltip("target:Q", format=",.4~g", title="Target")])
        chart = chart + rule
    return chart.properties(height=380)


def page_provider() -> None:
    st.title("Provider scenario")
    st.caption("An inference provider's P&L over time: demand, prices, fleet, capex, margins and cash, with "
               "Monte Carlo over the uncertain inputs (P10-P90 band, median line).")
    if not capability("inferonomics.market", "Provider economics", "inferonomics provider", "inferonomics.market", MARKET_API):
        return
    try:
        got = provider_inputs()
        if got is None:
            return
        name, fixed, paths, seed = got
        res = _simulate(name, fixed, paths, seed, _stamp(name))
    except InferonomicsError as exc:
        show_error(exc)
        return
    spec = res.scenario.spec
    st.subheader(spec.title)
    if spec.description:
        st.caption(spec.description)
    ev = res.events()
    st.markdown(f"**Events in {ev['year_label'] or ev['year']}** (share of {fmt_count(paths)} paths)"
                + (f", target revenue {fmt_usd(ev['target_revenue_usd'])}" if ev.get("target_revenue_usd") else ""))
    cols = [c for _ in range(0, len(EVENTS), 2) for c in st.columns(2)]  # two a row: "14.7% ± 0.4 pp" stays whole
    for col, (key, text) in zip(cols, EVENTS, strict=True):
        col.metric(text, "-" if ev.get(key) is None else probability(ev[key], res.paths_n),
                   help="± one Monte Carlo standard error, in percentage points")
    names = [m for m in FAN_METRICS if m in res.metric_names()]
    tab_fan, tab_tornado, tab_pl, tab_in, tab_cal = st.tabs(
        ["Fan chart", "Sensitivity", "P&L by year (P50)", "Inputs", "Calibration"])
    with tab_fan:
        metric = st.selectbox("Metric", names + [m for m in res.metric_names() if m not in names], key="prov_metric",
                              format_func=label)
        summ = res.summary([metric])
        target = ev.get("target_revenue_usd") if metric == "revenue_usd" else None
        st.altair_chart(_fan(summ, metric, target), width="stretch")
        st.caption("Band: P10 to P90 over the paths; line: median (P50)"
                   + ("; dashed: the target revenue." if target is not None else "."))
        people_table(summ.drop(columns=["year"]), by={q: "metric" for q in ("p10", "p50", "p90", "mean")})
        csv_button(res.summary(), f"{res.scenario.name}_summary", key="dl_prov_summary", label="Download all metrics CSV (P10/P50/P90)")
    with tab_tornado:
        out = st.selectbox("Output", names, key="prov_tornado_output", format_func=label)
        try:
            tor = _sensitivity(name, fixed, out, _stamp(name))
        except InferonomicsError as exc:
            show_error(exc)
        else:
            if tor.empty:
                st.info("This scenario has no uncertain inputs.", icon=":material/info:")
            else:
                sc_, ttl, fmt_ = _axis(out)
                top = tor.head(12).assign(
                    input=lambda d: d["input"].map(_label),
                    output_at_input_p10=lambda d: d["output_at_input_p10"] / sc_,
                    output_at_input_p90=lambda d: d["output_at_input_p90"] / sc_)
                bars = alt.Chart(top).mark_bar(color=PALETTE[0]).encode(
                    y=alt.Y("input:N", sort=None, title=None, axis=alt.Axis(labelLimit=360, labelOverlap=False)),
                    x=alt.X("output_at_input_p10:Q", title=f"{ttl} in {tor.attrs.get('year', '')} (input P10 to P90)",
                            scale=alt.Scale(zero=False), axis=alt.Axis(format=fmt_)),
                    x2="output_at_input_p90:Q",
                    tooltip=[alt.Tooltip("input", title="Input"),
                             alt.Tooltip("output_at_input_p10:Q", format=",.4~g", title=f"{ttl} at input P10"),
                             alt.Tooltip("output_at_input_p90:Q", format=",.4~g", title=f"{ttl} at input P90")],
                )
                rule = alt.Chart(pd.DataFrame([{"base": tor.attrs.get("baseline") / sc_}])).mark_rule(color="black").encode(
                    x="base:Q")
                st.altair_chart((bars + rule).properties(height=40 * len(top) + 40), width="stretch")
                shown = tor.assign(input=tor["input"].map(_label))
                people_table(shown, by={"input_p10": "input_name", "input_p50": "input_name",
                                        "input_p90": "input_name", "output_at_input_p10": out,
                                        "output_at_input_p90": out, "swing": out},
                             names={"input_name": tor["input"].str.removesuffix(" (all years)")})
                csv_button(tor, f"{res.scenario.name}_sensitivity_{out}", key="dl_prov_tornado", label="Download sensitivity CSV")
    with tab_pl:
        wide = res.wide(50, [m for m in names if m in res.metric_names()]).reset_index()
        people_table(wide)
        csv_button(wide, f"{res.scenario.name}_p50", key="dl_prov_p50", label="Download P50 table CSV")
    with tab_in:
        inputs = res.scenario.inputs_table()
        people_table(inputs.assign(input=inputs["input"].map(_label)), by={q: "input_name" for q in ("p10", "p50", "p90")},
                     names={"input_name": inputs["input"]})
        csv_button(inputs, f"{res.scenario.name}_inputs", key="dl_prov_inputs", label="Download inputs CSV")
        if fixed:
            st.caption("Fixed with sliders: " + ", ".join(f"{_label(p)} = {value(p.rsplit('.', 1)[-1], v)}"
                                                          for p, v in fixed))
    with tab_cal:
        cal = res.calibration()
        if cal.empty:
            st.info("This scenario lists no reported figures to compare with.", icon=":material/info:")
        else:
            if "solved_by" in cal:  # input paths for people, as in the inputs tab
                cal = cal.assign(solved_by=cal["solved_by"].map(
                    lambda v: v if not isinstance(v, str) or v.startswith("(")
                    else ", ".join(_label(p.strip()) for p in v.split(","))))
            people_table(cal, by={q: "metric" for q in ("modelled_p10", "modelled_p50", "modelled_p90")})


def _api_missing(module: str, names: tuple[str, ...]) -> list[str]:
    """The functions a page needs that this version of ``module`` lacks (its API may be newer or older)."""
    mod = importlib.import_module(module)
    return [n for n in names if not callable(getattr(mod, n, None))]


def capability(module: str, what: str, cli: str, api_module: str, api: tuple[str, ...]) -> bool:
    """Whether this version has the capability a page shows; if not, the page says so plainly."""
    if not has(module):
        not_installed(what, module, cli)
        return False
    missing = _api_missing(api_module, api)
    if missing:
        api_mismatch(api_module, missing)
        return False
    return True


def api_mismatch(module: str, missing: list[str]) -> None:
    st.warning(f"`{module}` is installed but lacks {', '.join(missing)}, which this page uses. Its functions: "
               f"{', '.join(public_functions(module))}.", icon=":material/warning:")


# ------------------------------------------------------------------------------------ Buyer break-even page
BUYER_API = ("breakeven", "load_workload", "with_overrides", "builtin_names")


@st.cache_data(show_spinner="Sizing deployments and pricing every option...", max_entries=32)
def _decision(name: str, overrides: tuple):
    from inferonomics.decide import breakeven, load_workload, with_overrides

    w = with_overrides(load_workload(name), where="the dashboard's inputs", **dict(overrides))
    d = breakeven(w)
    return {"options": d.options, "monthly": d.monthly, "recommendation": d.recommendation,
            "breakeven": d.breakeven, "flips": d.flips, "excluded": d.excluded, "notes": d.notes,
            "api_skipped": d.api_skipped, "workload": d.workload}


def buyer_inputs(cat) -> tuple[str, tuple]:
    """The workload chosen and the fields the person changed (unchanged inputs keep the file's exact values)."""
    from inferonomics.decide import builtin_names, load_workload

    sb = st.sidebar
    sb.subheader("Workload")
    names = builtin_names()
    name = sb.selectbox("Built-in workload", names, key="buy_workload",
                        help="Workloads shipped with inferonomics (decide/workloads/*.yaml); every number has its "
                             "reason in the file. `inferonomics decide --workload FILE` takes your own.")
    w = load_workload(name)
    if w.description:
        sb.caption(w.description)
    k = f"buy_{name}_"  # inputs start from the chosen workload's values
    changed: dict = {}

    def keep(field: str, value, default, scale: float = 1.0):
        if value != default:
            changed[field] = value * scale if scale != 1.0 else value

    d = w.number("input_tokens_per_month") / 1e6
    keep("input_tokens_per_month", sb.number_input("Input tokens per month (millions)", min_value=0.0, value=d,
                                                   step=10.0, format="%.2f", key=k + "in"), d, 1e6)
    d = w.number("output_tokens_per_month") / 1e6
    keep("output_tokens_per_month", sb.number_input("Output tokens per month (millions)", min_value=0.0, value=d,
                                                    step=10.0, format="%.2f", key=k + "out"), d, 1e6)
    sb.caption(f"{fmt_tokens(changed.get('input_tokens_per_month', w.number('input_tokens_per_month')))} input and "
               f"{fmt_tokens(changed.get('output_tokens_per_month', w.number('output_tokens_per_month')))} output "
               "tokens in month 1.")
    d = float(w.number("growth_per_year"))
    keep("growth_per_year", formatted_slider(sb, "Volume growth per year", -0.5, max(5.0, d), d, percent, k + "g",
                                             step=0.05), d)
    d = float(w.number("peak_to_average"))
    keep("peak_to_average", formatted_slider(sb, "Peak / average request rate", 1.0, max(10.0, d), d, ratio,
                                             k + "pk", step=0.5, help="Self-hosted fleets are sized for the peak."), d)
    d = int(w.number("horizon_months"))
    keep("horizon_months", sb.slider("Horizon (months)", 6, max(120, d), d, 6, key=k + "h"), d)
    sb.subheader("Money")
    d = float(w.number("api_price_change_per_year"))
    keep("api_price_change_per_year", formatted_slider(sb, "API price change per year", -0.9, max(0.5, d), d, percent,
                                                       k + "pc", step=0.05,
                                                       help="-30.0% = API list prices fall 30% a year."), d)
    rate = w.number("discount_rate_per_year")
    d = float(cat.const("cost_of_capital") if rate is None else rate)
    keep("discount_rate_per_year", formatted_slider(sb, "Discount rate per year", 0.0, max(0.4, d), d, percent,
                                                    k + "dr", step=0.01), d)
    regions = sorted(cat.regions)
    keep("region", sb.selectbox("Region", regions, index=regions.index(w.region) if w.region in regions else 0,
                                key=k + "reg", help="Electricity price and PUE of owned hardware."), w.region)
    keep("sovereign", sb.checkbox("Sovereign: must run on own premises", value=bool(w.sovereign), key=k + "sov",
                                  help="Rules out the APIs and rented cloud GPUs."), bool(w.sovereign))
    return name, tuple(sorted(changed.items()))


def _when(month) -> str:
    import math

    return "never" if month is None or math.isnan(month) else f"month {int(month)}"


def page_buyer() -> None:
    st.title("Buyer break-even")
    st.caption("A buyer's choice for one workload: pay an API per token, rent dedicated GPUs or own them. "
               "Self-hosted options are sized with the performance model for the peak within the latency target, "
               "then every option is priced month by month.")
    if not capability("inferonomics.decide", "The buyer's decision model", "inferonomics decide", "inferonomics.decide", BUYER_API):
        return
    cat = get_catalog()
    try:
        name, overrides = buyer_inputs(cat)
        d = _decision(name, overrides)
    except InferonomicsError as exc:
        show_error(exc)
        return
    rec, be, options, monthly = d["recommendation"], d["breakeven"], d["options"], d["monthly"]
    st.success(f"**Recommended: {rec['option']}** ({rec['kind']})", icon=":material/check_circle:")
    c = st.columns(4)
    c[0].metric("Net present cost", fmt_usd(rec["npv_usd"]), help="Over the horizon, at the discount rate.")
    c[1].metric("$ per M tokens over the horizon", fmt_usd(rec["usd_per_mtok"]))
    for col, kind, word in ((c[2], "own", "Owning"), (c[3], "rent", "Renting")):
        if be.get(kind):
            b = be[kind]
            col.metric(f"{word}: break-even month", _when(b["breakeven_month"]),
                       help=f"First month the cumulative cash of {b['option']} drops below that of {be['against']}.")
            col.caption(f"{word} breaks even above {fmt_tokens(b['breakeven_tokens_per_month'])} tokens a month"
                        if b.get("breakeven_tokens_per_month") else f"{word} never beats the API at any volume")
    st.markdown("\n".join(f"- {r}" for r in rec["reasons"]))
    tab_c, tab_o, tab_f, tab_m = st.tabs(["Cumulative cost", "Options", "What would flip it", "Monthly"])
    with tab_c:
        kinds = options.drop_duplicates("kind")["option"].tolist()  # the cheapest option of each kind
        chosen = st.multiselect("Options shown", options["option"].tolist(), default=kinds, key="buy_shown")
        data = monthly[monthly["option"].isin(chosen)]
        chart = alt.Chart(data).mark_line().encode(
            x=alt.X("month:Q", title="month"),
            y=alt.Y("cumulative_cost_usd:Q", title="cumulative cost (USD)"),
            color=alt.Color("option:N", scale=alt.Scale(range=PALETTE),
                            legend=alt.Legend(orient="bottom", columns=2, labelLimit=400)),
            strokeDash=alt.StrokeDash("kind:N", legend=alt.Legend(orient="bottom")),
            tooltip=[alt.Tooltip("option", title="Option"), alt.Tooltip("month", title="Month"),
                     alt.Tooltip("cumulative_cost_usd", format="$,.0f", title="Cumulative cost"),
                     alt.Tooltip("cost_usd", format="$,.0f", title="Cost this month"),
                     alt.Tooltip("usd_per_mtok", format="$,.4~g", title=label("usd_per_mtok"))],
        )
        st.altair_chart(chart.properties(height=420), width="stretch")
        st.caption("Cumulative cost (capex depreciated, not paid up front); the cash view is in the Monthly table.")
    with tab_o:
        people_table(options)
        csv_button(options, "buyer_options", key="dl_buy_options", label="Download options CSV")
        for x in d["excluded"]:
            st.caption(f"Excluded: {x['count']} {x['kind']} option(s), {x['reason']}; the cheapest was "
                       f"{x['cheapest_option']} at {fmt_usd(x['cheapest_npv_usd'])}.")
    with tab_f:
        st.markdown("\n".join(f"- {f['text']}" for f in d["flips"]) or "No lever flips the recommendation.")
    with tab_m:
        people_table(monthly)
        csv_button(monthly, "buyer_monthly", key="dl_buy_monthly", label="Download monthly CSV")
    for note in d["notes"]:
        st.caption(note)


# ---------------------------------------------------------------------------------------- Price history page
PRICES_API = ("price_records", "price_history", "latest_prices")
# List prices in their own currency (the currency column says which): plain numbers, not USD.
LIST_PRICE = {"input_per_mtok": "list_price", "output_per_mtok": "list_price"}


@st.cache_data(show_spinner=False, max_entries=64)
def _prices(fn: str, **kw) -> pd.DataFrame:
    from inferonomics import decide

    return getattr(decide, fn)(**kw)


def page_prices() -> None:
    st.title("Price history")
    st.caption("API list prices per million tokens over time, from the catalog (every record has its source). "
               "Prices in RMB are converted at the catalog's dated FX rate.")
    if not capability("inferonomics.decide.prices", "The API price catalog", "inferonomics prices", "inferonomics.decide", PRICES_API):
        return
    sb = st.sidebar
    sb.subheader("Prices")
    market = sb.radio("Market", ("all", "china", "international"), key="px_market", horizontal=True)
    mkt = None if market == "all" else market
    try:
        records = _prices("price_records", market=mkt)
        models = sorted(records["model"].unique())
        model = sb.selectbox("API model", models, key="px_model",
                             index=models.index("deepseek-chat") if "deepseek-chat" in models else 0)
        hist = _prices("price_history", model=model, market=mkt)
        latest = _prices("latest_prices", market=mkt)
    except InferonomicsError as exc:
        show_error(exc)
        return
    cols = ["provider", "model", "version", "market", "effective_date", "context_tier", "currency", "input_per_mtok",
            "output_per_mtok", "input_usd_per_mtok", "output_usd_per_mtok", "source"]
    st.subheader(f"{model}: price history")
    data = hist.assign(product=hist["provider"] + " / " + hist["market"] + hist["context_tier"].fillna("").map(
        lambda t: f" / {t}" if t else ""))
    data = data.rename(columns={"input_usd_per_mtok": "input", "output_usd_per_mtok": "output"})
    chart = alt.Chart(data).transform_fold(
        ["input", "output"], as_=["price", "usd_per_mtok"]
    ).mark_line(interpolate="step-after", point=True).encode(
        x=alt.X("effective_date:T", title="effective date"),
        y=alt.Y("usd_per_mtok:Q", title="USD per million tokens"),
        color=alt.Color("product:N", scale=alt.Scale(range=PALETTE),
                        legend=alt.Legend(orient="bottom", columns=3, labelLimit=400)),
        strokeDash=alt.StrokeDash("price:N", legend=None, sort=["input", "output"]),
        tooltip=[alt.Tooltip("provider:N", title="Provider"), alt.Tooltip("market:N", title="Market"),
                 alt.Tooltip("version:N", title="Version"), alt.Tooltip("effective_date:T", title="Effective date"),
                 alt.Tooltip("context_tier:N", title="Context tier"), alt.Tooltip("price:N", title="Tokens"),
                 alt.Tooltip("usd_per_mtok:Q", format="$,.4~g", title="$ per M tokens"),
                 alt.Tooltip("currency:N", title="Listed in")],
    )
    st.altair_chart(chart.properties(height=360), width="stretch")
    st.caption("Solid: input tokens; dashed: output tokens (USD per million). A price holds until the next record.")
    people_table(hist[cols], by=LIST_PRICE)
    csv_button(hist, f"prices_{model}", key="dl_px_hist", label="Download this history CSV")
    st.subheader("Latest list price of every API")
    show = ["provider", "model", "market", "effective_date", "context_tier", "input_usd_per_mtok",
            "output_usd_per_mtok", "quality_tier"]
    people_table(latest[show], by=LIST_PRICE)
    csv_button(latest, "latest_prices", key="dl_px_latest", label="Download latest prices CSV")


def main() -> None:
    # No page_icon: Streamlit fetches icons other than its own favicon from the network, and the dashboard
    # runs offline.
    st.set_page_config(page_title="inferonomics", layout="wide")
    st.sidebar.title("inferonomics")
    st.sidebar.caption("The unit economics of AI inference")
    page = st.sidebar.radio("Page", PAGES, key="page")
    # Streamlit forgets the values of widgets that a run does not draw; keep each page's inputs while the person
    # looks at another page (re-set on those runs only, so the widgets' defaults never clash with them).
    mine = PAGE_KEYS[page]
    for k in [k for k in st.session_state if str(k).startswith(tuple(PAGE_KEYS.values()))]:
        if not str(k).startswith(mine):
            st.session_state[k] = st.session_state[k]
    try:
        {"Cost": page_cost, "Provider scenario": page_provider, "Buyer break-even": page_buyer,
         "Price history": page_prices}[page]()
    except InferonomicsError as exc:  # any purposeful error a page did not catch itself
        show_error(exc)


main()
