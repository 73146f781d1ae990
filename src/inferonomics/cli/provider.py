"""``inferonomics provider ...``: provider economics (scenario → yearly P&L, Monte Carlo, tornado, targets).

Only Typer is imported at module level; NumPy, pandas and Rich load inside the commands.
"""

from __future__ import annotations

from typing import Annotated

import typer

provider_app = typer.Typer(
    help="Provider economics: a token factory's yearly P&L, fleet and cash under uncertainty (Monte Carlo), "
    "sensitivity, and what it takes to reach a revenue target.",
    no_args_is_help=True,
)

ScenarioArg = Annotated[str, typer.Argument(help="A built-in scenario (see: inferonomics provider list) or a YAML file.")]
Paths = Annotated[int, typer.Option("--paths", help="Monte Carlo paths.", min=1, max=5_000_000)]
Seed = Annotated[int, typer.Option("--seed", help="Random seed (same seed, same numbers).", min=0)]
RunPaths = Annotated[int, typer.Option("--paths", help="Monte Carlo paths (above 5,000,000 only with --scheduler).",
                                        min=1, max=100_000_000)]
Scheduler = Annotated[str | None, typer.Option(
    "--scheduler", help="Run the paths on a dask.distributed cluster: 'local' (two worker processes on this "
    "machine) or a scheduler address, tcp://HOST:PORT. Needs the dask extra: pip install 'inferonomics[dask]'.")]
Out = Annotated[str | None, typer.Option(
    "--out", help="Also write the kept paths to FILE.zarr (written chunk by chunk as they arrive; the summary "
    "then reads the store back, one metric at a time) or FILE.nc (NetCDF, written at the end).")]
KeepMetrics = Annotated[str | None, typer.Option(
    "--metrics", help="Metrics to keep, comma-separated, or 'all'. Default: all up to 200,000 paths; above, "
    "those the table, the events and the base-year check show (memory: paths x years x 8 bytes each).")]
ALL_METRICS_UP_TO_PATHS = 200_000
Years = Annotated[int | None, typer.Option("--years", help="Years to project (default: the scenario's horizon).",
                                              min=1, max=50)]
Json = Annotated[bool, typer.Option("--json", help="Print one machine-readable JSON object.")]
Csv = Annotated[str | None, typer.Option("--csv", help="Also write the table to this CSV file.")]

# (metric, header, scale, decimals): the run table prints bare numbers with the unit in the header
RUN_COLUMNS = [
    ("revenue_usd", "revenue\n$bn", 1e-9, 1),
    ("gross_margin", "gross\nmargin %", 100, 1),
    ("capex_usd", "capex\n$bn", 1e-9, 1),
    ("free_cash_flow_usd", "free cash\nflow $bn", 1e-9, 1),
    ("fleet_gpus", "fleet\nk GPUs", 1e-3, 0),
    ("rnd_to_gross_profit", "R&D / gross\nprofit x", 1, 2),
]
EVENT_LABELS = [
    ("p_revenue_at_least_target", "revenue >= target"),
    ("p_gross_margin_positive", "gross margin > 0"),
    ("p_target_and_gross_margin_positive", "revenue >= target AND gross margin > 0"),
    ("p_cumulative_free_cash_flow_positive", "cumulative free cash flow > 0 (from the first projected year)"),
    ("p_operating_profit_positive", "operating profit > 0"),
]
COMPARE_ROWS = [
    ("revenue_usd_p50", "revenue P50"),
    ("revenue_usd_p10", "revenue P10"),
    ("revenue_usd_p90", "revenue P90"),
    ("p_revenue_at_least_target", "P(rev >= target)"),
    ("p_target_and_gross_margin_positive", "P(target & GM > 0)"),
    ("p_gross_margin_positive", "P(GM > 0)"),
    ("p_cumulative_free_cash_flow_positive", "P(cum. FCF > 0)"),
    ("gross_margin_p50", "gross margin P50"),
    ("gross_margin_tokens_p50", "token GM P50"),
    ("operating_margin_p50", "op. margin P50"),
    ("rnd_to_gross_profit_p50", "R&D / GP P50"),
    ("revenue_tokens_usd_p50", "token rev. P50"),
    ("ai_share_of_revenue_p50", "AI share P50"),
    ("token_price_usd_per_mtok_p50", "$/Mtok price P50"),
    ("token_cost_usd_per_mtok_p50", "$/Mtok cost P50"),
    ("capex_usd_p50", "capex P50"),
    ("cumulative_capex_usd_p50", "cum. capex P50"),
    ("cumulative_free_cash_flow_usd_p50", "cum. FCF P50"),
    ("fleet_gpus_p50", "fleet GPUs P50"),
]


# --- formatting ----------------------------------------------------------------------------------------
def fmt(metric: str, v) -> str:
    """A value formatted by the unit in its name (the presentation layer's :func:`~inferonomics.present.value`)."""
    from inferonomics.present import value

    return value(metric, v)


def _err_console():
    from rich.console import Console

    return Console(stderr=True)


def _progress(show: bool):
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} paths"),
                    TimeElapsedColumn(), console=_err_console(), disable=not show, transient=True)


def _show_progress(json_out: bool) -> bool:
    import sys

    return not json_out and sys.stderr.isatty()


def _retain_freed_memory() -> None:
    """Let this process reuse freed memory instead of returning it to the OS (glibc): fresh pages are slow to
    fault in on some virtual machines.  And do not ask for transparent huge pages for NumPy's arrays: where the
    kernel compacts memory to make them at fault time (``defrag`` = ``madvise``), a fresh 100,000-path run spent
    1.5-2 s of system time in page faults with them against ~0.5 s without.  CLI process only; the library
    changes neither setting."""
    import ctypes
    import ctypes.util
    import os
    import sys

    if "numpy" in sys.modules:
        try:
            from numpy._core.multiarray import _set_madvise_hugepage

            _set_madvise_hugepage(False)
        except ImportError:  # another NumPy layout: leave it
            pass
    else:
        os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: serve large arrays from the heap
        libc.mallopt(-1, (1 << 31) - 1)  # M_TRIM_THRESHOLD: keep freed heap memory for reuse
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def _simulate(scenario: str, paths: int, seed: int, years: int | None, json_out: bool, *, scheduler=None,
              metrics: str | None = None, out: str | None = None, table_metrics: bool = False):
    from inferonomics.errors import InputError
    from inferonomics.market import load_scenario, simulate

    _retain_freed_memory()
    sc = load_scenario(scenario)
    keep = _keep_metrics(sc, metrics, paths, table_metrics)
    try:
        with _progress(_show_progress(json_out)) as prog:
            task = prog.add_task(f"Monte Carlo {sc.name}", total=paths)
            res = simulate(sc, paths=paths, seed=seed, years=years, scheduler=scheduler, metrics=keep, store=out,
                           progress=lambda done, total: prog.update(task, completed=done))
    except InputError as exc:  # name the options as typed
        flag = {"scheduler": "--scheduler", "metrics": "--metrics", "out": "--out"}.get(exc.field)
        if flag is None:
            raise
        raise InputError(flag, exc.value, exc.allowed, exc.hint) from None
    return res


def _keep_metrics(sc, metrics: str | None, paths: int, table_metrics: bool) -> list[str] | None:
    """``--metrics``: a list, 'all' (None), or by default all up to 200,000 paths and, above, what the run
    shows (its table, the events and the base-year check)."""
    if metrics is not None:
        if metrics.strip() == "all":
            return None
        names = [m.strip() for m in metrics.split(",") if m.strip()]
        if not names:
            from inferonomics.errors import InputError

            raise InputError("--metrics", metrics, "must name metrics, comma-separated, or be 'all'")
        return names
    if paths <= ALL_METRICS_UP_TO_PATHS or not table_metrics:
        return None
    names = [m for m, *_ in RUN_COLUMNS]
    if sc.spec.calibration is not None:
        names += [t.metric for t in sc.spec.calibration.targets]
    names += [c.metric for c in sc.spec.checks]
    return list(dict.fromkeys(names))


def _records(df):
    return df.to_dict(orient="records")


def _write_csv(path: str | None, df) -> None:
    if path:
        from inferonomics.io import write_text_atomic

        write_text_atomic(path, df.to_csv(index=False))


# --- commands ------------------------------------------------------------------------------------------
@provider_app.command("list")
def list_scenarios(json_out: Json = False) -> None:
    """Built-in scenarios (a variant names the scenario it overrides)."""
    from rich.console import Console
    from rich.table import Table

    from inferonomics.cli._render import print_json
    from inferonomics.market import builtin_table

    df = builtin_table()
    if json_out:
        print_json({"scenarios": _records(df)})
        return
    t = Table(title=f"Built-in provider scenarios ({len(df)})", show_lines=True)
    t.add_column("name", no_wrap=True)
    t.add_column("base", no_wrap=True)
    t.add_column("title / description")
    for _, r in df.iterrows():
        t.add_row(r["name"], r["base"] or "-", f"[bold]{r['title']}[/]\n{r['description']}")
    Console().print(t)
    Console().print("Run one: inferonomics provider run NAME; a YAML file path works wherever a name does.")


@provider_app.command()
def run(
    scenario: ScenarioArg,
    paths: RunPaths = 10_000,
    seed: Seed = 0,
    years: Years = None,
    json_out: Json = False,
    csv: Csv = None,
    scheduler: Scheduler = None,
    out: Out = None,
    metrics: KeepMetrics = None,
) -> None:
    """Year-by-year P10/P50/P90 of revenue, margins, capex, cash, fleet and R&D/gross profit; event probabilities.

    A scenario with a calibration section runs with its solved base year (see `provider calibrate`)."""
    from rich.console import Console
    from rich.table import Table

    from inferonomics.cli._render import print_json
    from inferonomics.errors import InputError
    from inferonomics.present import probability

    if scheduler is None and paths > 5_000_000:
        raise InputError("--paths", paths, "must be at most 5,000,000 without --scheduler (in this process); "
                         "give --scheduler local or tcp://HOST:PORT for more")
    res = _simulate(scenario, paths, seed, years, json_out, scheduler=scheduler, metrics=metrics, out=out,
                    table_metrics=True)
    sc = res.scenario
    ev = res.events()
    if json_out and not csv:  # columns straight to JSON: no pandas to import
        columns = res.summary_columns()
        keys = list(columns)
        rows = zip(*(columns[k].tolist() for k in keys), strict=True)
        print_json({
            "scenario": sc.name, "title": sc.spec.title, "origin": sc.origin, "paths": res.paths_n, "seed": res.seed,
            "years": res.years, "base_year": res.base_year, "fiscal_years": res.fiscal_years,
            "events": ev, "calibration": res.calibration_rows(), "tiers": sc.tier_perf,
            "summary": [dict(zip(keys, r, strict=True)) for r in rows], "csv": csv, "out": out,
            "scheduler": scheduler,
        })
        return
    summary = res.summary()
    _write_csv(csv, summary)
    cal = res.calibration()
    if json_out:
        print_json({
            "scenario": sc.name, "title": sc.spec.title, "origin": sc.origin, "paths": res.paths_n, "seed": res.seed,
            "years": res.years, "base_year": res.base_year, "fiscal_years": res.fiscal_years,
            "events": ev, "calibration": _records(cal), "tiers": sc.tier_perf,
            "summary": _records(summary), "csv": csv, "out": out, "scheduler": scheduler,
        })
        return
    con = Console()
    from rich import box

    t = Table(title=f"{sc.spec.title}\n[dim]{sc.name}: {res.paths_n:,} paths, seed {res.seed}; P50 with P10 and "
              "P90 below it[/]", header_style="bold", box=box.SIMPLE_HEAD, padding=(0, 1))
    t.add_column("year", no_wrap=True)
    for _, label, _, _ in RUN_COLUMNS:
        t.add_column(label, justify="right", no_wrap=True)
    q = {m: summary[summary["metric"] == m].set_index("year") for m, *_ in RUN_COLUMNS}

    def num(v, scale, dec):
        import math

        return "GP<=0" if math.isinf(v) else f"{v * scale:,.{dec}f}"

    for y in res.fiscal_years:
        for p, label, style in (("p50", sc.year_label(y), "bold"), ("p10", "  P10", "dim"), ("p90", "  P90", "dim")):
            t.add_row(label, *(num(q[m].loc[y][p], scale, dec) for m, _, scale, dec in RUN_COLUMNS), style=style,
                      end_section=p == "p90")
    con.print(t)
    target = sc.spec.target
    head = f"[bold]{ev['year_label']}[/]"
    if target is not None:
        head += f" (target year; target revenue {fmt('target_revenue_usd', ev['target_revenue_usd'])} a year)"
    con.print(head + ":")
    for key, label in EVENT_LABELS:
        if ev[key] is not None:
            con.print(f"  P({label}) = [bold]{probability(ev[key], res.paths_n)}[/]")
    con.print("  [dim]± one Monte Carlo standard error, sqrt(p(1-p)/paths), in percentage points[/]")
    if len(cal):
        ct = Table(title=f"Base-year check: modelled {sc.year_label(res.base_year)} against reported figures",
                   caption="calibrated: solved on the central point (inferonomics provider calibrate); "
                   "check: compared only", header_style="bold")
        for c in ("check", "reported", "modelled P50 [P10 - P90]", "modelled / reported"):
            ct.add_column(c, justify="left" if c == "check" else "right")
        for _, r in cal.iterrows():
            kind = "check" if r["calibrated_ok"] is None else "calibrated"
            ct.add_row(f"{r['check']} [dim]({kind})[/]", fmt(r["metric"], r["reported"]),
                       f"{fmt(r['metric'], r['modelled_p50'])} [{fmt(r['metric'], r['modelled_p10'])} - "
                       f"{fmt(r['metric'], r['modelled_p90'])}]",
                       fmt("times", r["modelled_p50_over_reported"]))
        con.print(ct)
    if csv:
        con.print(f"wrote {csv} ({len(summary)} rows: year x metric with p10, p50, p90, mean)")
    if out:
        con.print(f"wrote {out} ({len(res.metrics)} metrics x {res.paths_n:,} paths x years)")


@provider_app.command()
def calibrate(scenario: ScenarioArg, json_out: Json = False, csv: Csv = None) -> None:
    """Solve the scenario's base year to its reported figures (revenue, EBITA, capex by kind, AI share): each
    target, the filed value, the model, their ratio, the tolerance, and the inputs solved for it.

    The solve sets every other input at its median; `provider run`, `compare` and `sensitivity` use the solved
    values on every Monte Carlo path.  Exit code 1 when a target is outside its tolerance."""
    from rich.console import Console
    from rich.table import Table

    from inferonomics.cli._render import print_json
    from inferonomics.market import load_scenario
    from inferonomics.market.calibrate import solve

    sc = load_scenario(scenario)
    cal = solve(sc)
    _write_csv(csv, cal.table())
    if json_out:
        print_json({**cal.to_dict(), "origin": sc.origin, "csv": csv})
    else:
        from rich import box

        con = Console()
        t = Table(title=f"{sc.name}: {cal.year_label} solved to the reported figures", header_style="bold",
                  box=box.SIMPLE_HEAD, padding=(0, 1))
        for c in ("target", "reported", "model", "model /\nreported", "tolerance", "ok"):
            t.add_column(c, justify="left" if c == "target" else "right", no_wrap=c != "target")
        for r in cal.targets:
            t.add_row(r["target"], fmt(r["metric"], r["reported"]), fmt(r["metric"], r["model"]),
                      f"{r['model_over_reported']:.4f}", f"± {r['tolerance']:.1%}",
                      "[green]OK[/]" if r["ok"] else "[red]NOT OK[/]")
        con.print(t)
        p = Table(title="Inputs solved (they replace the input on every Monte Carlo path)", header_style="bold",
                  box=box.SIMPLE_HEAD, padding=(0, 1))
        for c in ("input", "solved", "prior P50"):
            p.add_column(c, justify="left" if c == "input" else "right", overflow="fold", no_wrap=c != "input")
        for r in cal.parameters:
            p.add_row(r["input"], fmt(r["input"], r["solved"]), fmt(r["input"], r["prior_p50"]))
        con.print(p)
        con.print("[dim]Sources: inferonomics provider calibrate ... --json (provenance of each target).[/]")
        if csv:
            con.print(f"wrote {csv}")
    if not cal.ok:
        raise typer.Exit(1)


@provider_app.command()
def compare(
    scenarios: Annotated[list[str], typer.Argument(help="Scenarios (built-in names or YAML files) to set side by side.")],
    paths: Paths = 10_000,
    seed: Seed = 0,
    years: Years = None,
    year: Annotated[int | None, typer.Option("--year", help="Year of the figures: fiscal year (e.g. 2031) or "
                                                "projection year (1 = first); default: the target year.")] = None,
    json_out: Json = False,
    csv: Csv = None,
) -> None:
    """Key figures of several scenarios side by side (same seed: shared inputs draw the same numbers)."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from inferonomics.cli._render import print_json
    from inferonomics.market import compare as _compare

    _retain_freed_memory()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=_err_console(),
                  disable=not _show_progress(json_out), transient=True) as prog:
        task = prog.add_task("Monte Carlo", total=None)
        df = _compare(scenarios, paths=paths, seed=seed, years=years, year=year,
                      progress=lambda name: prog.update(task, description=f"Monte Carlo {name} ({paths:,} paths)"))
    _write_csv(csv, df.rename_axis("figure").reset_index())
    cols = df.to_dict()  # scenario -> {figure: value}
    if json_out:
        print_json({"paths": paths, "seed": seed, "scenarios": list(cols.values()), "csv": csv})
        return
    from rich import box

    t = Table(title=f"Scenarios compared ({paths:,} paths, seed {seed})", header_style="bold",
              box=box.SIMPLE_HEAD, padding=(0, 1))
    t.add_column("figure", no_wrap=True)
    for name in cols:
        t.add_column(name.replace("-", "-\n") if len(name) > 9 else name, justify="right", no_wrap=True)
    t.add_row("year", *(str(kf["year"]) for kf in cols.values()))
    for key, label in COMPARE_ROWS:
        t.add_row(label, *(fmt(key, kf.get(key)) for kf in cols.values()))
    Console().print(t)
    Console().print("[dim]Figures in the target year (or --year); cum. = from the first projected year to it; "
                    "GM = gross margin, GP = gross profit.[/]")


@provider_app.command()
def sensitivity(
    scenario: ScenarioArg,
    output: Annotated[str, typer.Option("--metric", "--output", "-o", help="Output metric, e.g. revenue_usd, gross_margin, "
                                        "free_cash_flow_usd, cumulative_free_cash_flow_usd, rnd_to_gross_profit.")],
    year: Annotated[int | None, typer.Option("--year", help="Fiscal year (e.g. 2031) or projection year (1 = first); "
                                                "default: the target year.")] = None,
    top: Annotated[int, typer.Option("--top", help="Inputs to show (largest swing first).", min=1)] = 15,
    json_out: Json = False,
    csv: Csv = None,
) -> None:
    """Tornado: the output's swing as each uncertain input moves from its P10 to its P90, others at P50."""
    from rich.console import Console
    from rich.table import Table

    from inferonomics.cli._render import print_json
    from inferonomics.market import sensitivity as _sens

    df = _sens(scenario, output, year)
    _write_csv(csv, df)
    a = df.attrs
    if json_out:
        print_json({"scenario": a["scenario"], "output": output, "year": a["year"], "baseline": a["baseline"],
                    "inputs": _records(df), "csv": csv})
        return
    from rich import box

    t = Table(title=f"{a['scenario']}: {output} in {a['year']} = {fmt(output, a['baseline'])} with every input at "
              "its P50", header_style="bold", box=box.SIMPLE_HEAD, padding=(0, 1))
    t.add_column("swing", justify="right", no_wrap=True)
    t.add_column("at input P10", justify="right", no_wrap=True)
    t.add_column("at input P90", justify="right", no_wrap=True)
    t.add_column("input: P10 .. P90", overflow="fold")
    for _, r in df.head(top).iterrows():
        what = f"{r['input']}: {fmt(r['input'], r['input_p10'])} .. {fmt(r['input'], r['input_p90'])}"
        if r["entry"]:
            what += f" [dim]({r['entry']})[/]"
        t.add_row(fmt(output, r["swing"]).lstrip("-"), fmt(output, r["output_at_input_p10"]),
                  fmt(output, r["output_at_input_p90"]), what)
    Console().print(t)
    if len(df) > top:
        Console().print(f"[dim]{len(df) - top} more inputs with smaller swings (--top, --json or --csv for all)[/]")


@provider_app.command()
def target(
    revenue_usd: Annotated[float | None, typer.Option("--revenue-usd", help="Revenue target a year, USD "
                                                         "(e.g. 100e9). Default with --scenario: its target.")] = None,
    years: Annotated[int | None, typer.Option("--years", help="Years to reach it. Default with --scenario: its "
                                                 "target year.", min=1, max=100)] = None,
    base_usd: Annotated[float | None, typer.Option("--base-usd", help="Revenue in the base year, USD. Default with "
                                                      "--scenario: its base-year revenue.")] = None,
    price_path: Annotated[str | None, typer.Option("--price-path", help="Token price per Mtok (USD) for years "
                                                      "1..N, comma-separated (the last repeats).")] = None,
    price_usd_per_mtok: Annotated[float | None, typer.Option("--price-usd-per-mtok", help="Base-year token price "
                                                                "per Mtok, moved by --price-change-per-year.")] = None,
    price_change_per_year: Annotated[float, typer.Option("--price-change-per-year", help="Yearly token price "
                                                         "change with --price-usd-per-mtok (-0.3 = -30%).")] = 0.0,
    token_share: Annotated[float, typer.Option("--token-share", help="Share of the revenue that tokens earn.")] = 1.0,
    cost_usd_per_mtok: Annotated[float | None, typer.Option("--cost-usd-per-mtok", help="Cost to make a Mtok, "
                                                               "for the price a margin needs.")] = None,
    gross_margin: Annotated[float | None, typer.Option("--gross-margin", help="Target gross margin (0.4 = 40%) "
                                                          "for the price needed.")] = None,
    scenario: Annotated[str | None, typer.Option("--scenario", help="Take base, target and token cost from a "
                                                    "scenario (built-in name or YAML file).")] = None,
    paths: Paths = 10_000,
    seed: Seed = 0,
    json_out: Json = False,
) -> None:
    """What a revenue target takes: the required CAGR, the token volume at a price path, the price for a margin."""
    from rich.console import Console
    from rich.table import Table

    from inferonomics.cli._render import print_json
    from inferonomics.errors import InputError
    from inferonomics.market import price_path as _price_path
    from inferonomics.market import required_cagr, required_token_path, revenue_path

    res = None
    if scenario is not None:
        from inferonomics.market import load_scenario

        sc = load_scenario(scenario)
        y0 = sc.spec.base_year.year
        if base_usd is None and sc.spec.base_year.revenue_usd is not None:
            base_usd = sc.spec.base_year.revenue_usd.fixed_value()
        if sc.spec.target is not None:
            revenue_usd = sc.spec.target.revenue_usd_per_year.fixed_value() if revenue_usd is None else revenue_usd
            years = sc.spec.target.year - y0 if years is None else years
        if gross_margin is not None and cost_usd_per_mtok is None and sc.spec.token_tiers:
            res = _simulate(scenario, paths, seed, years, json_out)
    for name, v in (("revenue-usd", revenue_usd), ("years", years), ("base-usd", base_usd)):
        if v is None:
            raise InputError(name, None, "is required (or give --scenario with a base-year revenue and a target)")
    cagr = required_cagr(revenue_usd, base_usd, years)
    out: dict = {"revenue_usd": revenue_usd, "base_usd": base_usd, "years": years, "required_cagr": cagr,
                 "revenue_path_usd": list(revenue_path(base_usd, cagr, years))}
    prices = None
    if price_path is not None and price_usd_per_mtok is not None:
        raise InputError("price-path", price_path, "give --price-path or --price-usd-per-mtok, not both")
    if price_path is not None:
        try:
            vals = [float(p) for p in price_path.replace(";", ",").split(",") if p.strip()]
        except ValueError:
            raise InputError("price-path", price_path, "must be numbers separated by commas, e.g. 0.5,0.4,0.3") from None
        prices = _price_path(vals, years)
    elif price_usd_per_mtok is not None:
        prices = _price_path(price_usd_per_mtok, years, price_change_per_year)
    if prices is not None:
        df = required_token_path(revenue_usd, base_usd, years, prices, token_share)
        out["token_path"] = _records(df)
        first, last = df["tokens_mtok"].iloc[0], df["tokens_mtok"].iloc[-1]
        out["token_volume_cagr_from_year_1"] = (last / first) ** (1 / (years - 1)) - 1 if years > 1 else None
    if gross_margin is not None:
        from inferonomics.market import price_for_gross_margin

        if cost_usd_per_mtok is not None:
            out["price_for_gross_margin_usd_per_mtok"] = float(price_for_gross_margin(cost_usd_per_mtok, gross_margin))
        elif res is not None:
            out["price_for_gross_margin"] = res.price_for_gross_margin(gross_margin)
        else:
            raise InputError("gross-margin", gross_margin, "needs --cost-usd-per-mtok or a --scenario with token tiers")
    if json_out:
        print_json(out)
        return
    from inferonomics.present import money, percent, ratio

    con = Console()
    con.print(f"Required growth: [bold]{percent(cagr)} a year[/] for {years} years, from {money(base_usd)} "
              f"to {money(revenue_usd)} a year ({ratio(revenue_usd / base_usd)}).")
    t = Table(header_style="bold")
    t.add_column("year", justify="right")
    t.add_column("revenue on the path", justify="right")
    cols = []
    if prices is not None:
        cols = [("token_revenue_usd", "token revenue"), ("price_usd_per_mtok", "price $/Mtok"),
                ("tokens_mtok", "Mtok a year needed"), ("tokens_per_day", "tokens a day")]
        for _, label in cols:
            t.add_column(label, justify="right")
    for i, rev in enumerate(out["revenue_path_usd"]):
        row = [str(i + 1), fmt("x_usd", rev)]
        if prices is not None:
            rec = out["token_path"][i]
            row += [fmt("x_usd", rec["token_revenue_usd"]), money(rec["price_usd_per_mtok"]),
                    fmt("tokens_mtok", rec["tokens_mtok"]), fmt("tokens_mtok", rec["tokens_per_day"])]
        t.add_row(*row)
    con.print(t)
    if out.get("token_volume_cagr_from_year_1") is not None:
        con.print(f"Token volume must grow {percent(out['token_volume_cagr_from_year_1'])} a year from year 1 to "
                  f"year {years}.")
    if "price_for_gross_margin_usd_per_mtok" in out:
        con.print(f"Price for a {percent(gross_margin, 0)} gross margin on {money(cost_usd_per_mtok)}/Mtok: "
                  f"[bold]{money(out['price_for_gross_margin_usd_per_mtok'])} per Mtok[/].")
    if "price_for_gross_margin" in out:
        p = out["price_for_gross_margin"]
        con.print(f"Average token price for a {percent(gross_margin, 0)} token gross margin in {p['year']} ({scenario}): "
                  f"P50 [bold]{money(p['price_usd_per_mtok_p50'])}[/] per Mtok (P10 {money(p['price_usd_per_mtok_p10'])}, "
                  f"P90 {money(p['price_usd_per_mtok_p90'])}).")


@provider_app.command()
def inputs(scenario: ScenarioArg, json_out: Json = False, csv: Csv = None) -> None:
    """Every numeric input of a scenario: value or distribution, P10/P50/P90 in USD, source or assumption."""
    from rich.console import Console
    from rich.table import Table

    from inferonomics.cli._render import print_json
    from inferonomics.market import load_scenario
    from inferonomics.present import value

    sc = load_scenario(scenario)
    df = sc.inputs_table()
    _write_csv(csv, df)
    if json_out:
        print_json({"scenario": sc.name, "origin": sc.origin, "chain": list(sc.chain), "inputs": _records(df),
                    "tiers": sc.tier_perf, "csv": csv})
        return
    t = Table(title=f"{sc.name}: {len(df)} inputs ({int(df['uncertain'].sum())} uncertain)", show_lines=True)
    for c in ("input", "given", "P10", "P50", "P90", "source / assumption"):
        t.add_column(c, justify="right" if c.startswith("P") else "left")
    for _, r in df.iterrows():
        name = str(r["input"]).split(".")[-1]  # formatted by the unit in the input's name
        q = [value(name, r[k]) for k in ("p10", "p50", "p90")] if r["uncertain"] else ["", value(name, r["p50"]), ""]
        t.add_row(r["input"], r["given"], *q, r["provenance"])
    Console().print(t)


def register(app: typer.Typer) -> None:
    app.add_typer(provider_app, name="provider")
