"""``inferonomics market ...``: the commodity market (providers compete on price under chip constraints).

Only Typer is imported at module level; NumPy, pandas and Rich load inside the commands.
"""

from __future__ import annotations

from typing import Annotated

import typer

market_app = typer.Typer(
    help="The token market: providers with fleets and cost curves compete on price each year (capacity-"
    "constrained Bertrand-Nash), chips limited by export regime, buyers free to self-host or go to the edge.",
    no_args_is_help=True,
)

MarketArg = Annotated[str, typer.Argument(help="A built-in market (see: inferonomics market list) or a YAML file.")]
Paths = Annotated[int, typer.Option("--paths", help="Monte Carlo paths.", min=1, max=100_000)]
Seed = Annotated[int, typer.Option("--seed", help="Random seed (same seed, same numbers).", min=0)]
Json = Annotated[bool, typer.Option("--json", help="Print one machine-readable JSON object.")]
Target = Annotated[str | None, typer.Option(
    "--target", help="PROVIDER:YEAR:REVENUE_USD, e.g. alibaba:2031:100e9: P(revenue >= target) and P(that and gross "
    "margin > 0) with competitors responding.")]

# (column of the summary, header); cells are formatted by the unit in the column's name (inferonomics.present)
COLUMNS = [
    ("price_usd_per_mtok", "price\nper Mtok"),
    ("share", "share"),
    ("volume_mtok", "volume\nMtok"),
    ("capacity_mtok", "capacity\nMtok"),
    ("gross_margin", "gross\nmargin"),
]


@market_app.command("list")
def list_cmd(json_out: Json = False) -> None:
    """The built-in market files."""
    import json

    from inferonomics.market.competition import builtin_markets, load_market

    rows = [{"name": n, "title": load_market(n).title} for n in builtin_markets()]
    if json_out:
        print(json.dumps({"markets": rows}))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table("name", "title")
    for r in rows:
        t.add_row(r["name"], r["title"])
    Console().print(t)


@market_app.command("run")
def run_cmd(market: MarketArg, paths: Paths = 50, seed: Seed = 0, target: Target = None,
            json_out: Json = False) -> None:
    """Per provider and year: price, share, volume, capacity, gross margin (P50 [P10-P90]) and exits;
    the self-hosting and edge options' shares; the equilibrium's convergence per year."""
    import json
    import math

    from inferonomics.errors import InputError
    from inferonomics.market.competition import check_rules, run_market, target_probability

    goal = None
    if target is not None:
        parts = target.split(":")
        try:
            goal = (parts[0], int(parts[1]), float(parts[2]))
        except (IndexError, ValueError):
            raise InputError("target", target, "write PROVIDER:YEAR:REVENUE_USD, e.g. alibaba:2031:100e9") from None
    res = run_market(market, paths=paths, seed=seed)
    tgt = target_probability(res, *goal) if goal else None
    summ = res.summary()
    conv = res.convergence
    rules = check_rules(res)
    if json_out:
        def clean(rows):
            return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in rows]

        print(json.dumps({
            "market": res.spec.name, "title": res.spec.title, "paths": paths, "seed": seed,
            "providers": clean(summ.to_dict(orient="records")),
            "convergence": clean(conv.to_dict(orient="records")),
            "share_converged": res.share_converged, "tolerance": float(conv["tol"].iloc[0]),
            "rule_violations": rules, "target": tgt,
        }))
        return
    from rich.console import Console
    from rich.table import Table

    from inferonomics.present import MISSING, money, number, percent, probability, value

    con = Console()
    con.print(f"[bold]{res.spec.title}[/bold]  ({number(paths)} paths, seed {seed}; P50 with P10-P90 below)")
    for year, g in summ.groupby("year", sort=True):
        t = Table(title=f"{year}", title_justify="left")
        t.add_column("provider")
        for _, head in COLUMNS:
            t.add_column(head, justify="right")
        t.add_column("P(exited)", justify="right")
        for _, r in g.iterrows():
            cells = []
            for col, _ in COLUMNS:
                mid = value(col, r[f"{col}_p50"])
                lo, hi = value(col, r[f"{col}_p10"]), value(col, r[f"{col}_p90"])
                cells.append(mid if mid == MISSING else f"{mid}\n[dim]{lo} to {hi}[/dim]")
            name = r["provider"] + (" (alt.)" if r["kind"] == "alternative" else "")
            ex = MISSING if r["kind"] == "alternative" else percent(r["p_exited"], 0)
            t.add_row(name, *cells, ex)
        con.print(t)
    ct = Table(title="equilibrium convergence", title_justify="left")
    for h in ("year", "conv-\nerged", "rounds\nmedian", "rounds\nmax", "aver-\naged", "gain\nmedian", "gain\nmax",
              "exit\nrounds"):
        ct.add_column(h, justify="right")
    for _, r in conv.iterrows():
        ct.add_row(value("year", r["year"]), percent(r["share_converged"], 0), number(r["rounds_median"], 3),
                   number(r["iterations"]), percent(r["share_averaged"], 0), percent(r["median_profit_gain"], 3),
                   percent(r["max_profit_gain"], 2), number(r["exit_rounds"]))
    con.print(ct)
    tol = conv["tol"].iloc[0]
    con.print(f"converged on [bold]{percent(res.share_converged, 0)}[/bold] of paths in every year at tolerance "
              f"{number(tol)}: no provider could raise its profit by more than {percent(tol)} (of its profit, or of "
              f"a tenth of its revenue if larger) by changing one of its prices alone.  [dim]gain: the most a "
              f"provider could still add that way; averaged: paths whose best responses cycled and were "
              f"averaged.[/dim]")
    if tgt:
        con.print(f"[bold]{tgt['provider']} {tgt['year']}[/bold]: P(revenue >= {money(tgt['revenue_target_usd'])}) = "
                  f"{probability(tgt['p_revenue_at_least_target'], paths)}; P(that and gross margin > 0) = "
                  f"{probability(tgt['p_target_and_gross_margin_positive'], paths)}; revenue P10/P50/P90 "
                  f"{money(tgt['revenue_usd_p10'])} / {money(tgt['revenue_usd_p50'])} / {money(tgt['revenue_usd_p90'])}")
    if rules:
        con.print("[red]rule violations:[/red] " + "; ".join(rules))


def register(app: typer.Typer) -> None:
    app.add_typer(market_app, name="market")
