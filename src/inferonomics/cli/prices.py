"""``inferonomics prices``: the API price catalog (list, history, import from litellm's bundled map)."""

from __future__ import annotations

from typing import Annotated

import typer

Json = Annotated[bool, typer.Option("--json", help="Print one machine-readable JSON object.")]
Provider = Annotated[str | None, typer.Option("--provider", help="Only this provider (alibaba, deepseek, openai, ...).")]
Market = Annotated[str | None, typer.Option("--market", help="Only this market: china (RMB list) or international (USD).")]


def _num(v, digits: int = 4) -> str:
    from inferonomics.present import number

    return number(v, digits)


def _records(df) -> list[dict]:
    import math

    out = []
    for rec in df.to_dict(orient="records"):
        out.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rec.items()})
    return out


def _console():
    """A console at least 130 columns wide: price tables have many narrow columns (a narrow terminal wraps)."""
    from rich.console import Console

    c = Console()
    return Console(width=max(c.width, 130))


def register(app: typer.Typer) -> None:
    prices_app = typer.Typer(
        help="API list prices with their history (per million tokens; RMB converted at the catalog FX rate).",
        no_args_is_help=True,
    )
    app.add_typer(prices_app, name="prices")

    @prices_app.command("list")
    def prices_list(
        provider: Provider = None,
        market: Market = None,
        all_records: Annotated[bool, typer.Option("--all", help="Every record (the full history), not only the latest price of each product.")] = False,
        json_out: Json = False,
    ) -> None:
        """The latest list price of every API product (provider x model x market), or every record with --all."""
        from rich.table import Table

        from inferonomics.catalog import get_catalog
        from inferonomics.cli._render import print_json
        from inferonomics.decide.prices import latest_prices, price_records

        cat = get_catalog()
        df = (price_records if all_records else latest_prices)(cat, provider=provider, market=market)
        fx = cat.fx.get("CNY")
        if json_out:
            print_json({"provider": provider, "market": market, "latest_only": not all_records,
                        "fx_usd_per_cny": cat.usd_per("CNY"), "fx_date": fx.usd_per_unit.date if fx else None,
                        "prices": _records(df)})
            return
        from rich import box

        t = Table(title=f"API prices per million tokens ({'all records' if all_records else 'latest'}; "
                        f"RMB at {cat.usd_per('CNY'):.4f} USD, {fx.usd_per_unit.date if fx else '?'})",
                  box=box.SIMPLE_HEAD, padding=(0, 1))
        for c, j in (("provider", "left"), ("model", "left"), ("mkt", "left"), ("since", "left"), ("ctx", "left"),
                     ("cur", "left"), ("in", "right"), ("out", "right"), ("cache", "right"),
                     ("in $", "right"), ("out $", "right"), ("tier", "left")):
            t.add_column(c, justify=j, no_wrap=True)
        for r in _records(df):
            t.add_row(r["provider"], r["model"], {"china": "CN", "international": "intl"}.get(r["market"], r["market"]),
                      r["effective_date"], r["context_tier"] or "",
                      r["currency"], _num(r["input_per_mtok"]), _num(r["output_per_mtok"]),
                      _num(r["cache_hit_input_per_mtok"]), _num(r["input_usd_per_mtok"], 3), _num(r["output_usd_per_mtok"], 3),
                      r["quality_tier"] or "-")
        _console().print(t)

    @prices_app.command("history")
    def prices_history(
        model: Annotated[str, typer.Argument(help="API model name, e.g. qwen-long, qwen-max, deepseek-chat, gpt-4o.")],
        provider: Provider = None,
        market: Market = None,
        plot: Annotated[str | None, typer.Option("--plot", help="Also draw the history as a PNG chart to this file.")] = None,
        json_out: Json = False,
    ) -> None:
        """The price history of one API model: every record in date order, with the change at each step."""
        from rich.table import Table

        from inferonomics.cli._render import print_json
        from inferonomics.decide.prices import plot_history, price_history

        df = price_history(model, provider=provider, market=market)
        recs = _records(df)
        prev: dict = {}
        for r in recs:
            k = (r["provider"], r["market"], r["context_tier"])
            p = prev.get(k)
            r["input_change"] = (r["input_per_mtok"] / p["input_per_mtok"] - 1.0) if p and p["input_per_mtok"] else None
            prev[k] = r
        written = plot_history(df, plot) if plot else None
        if json_out:
            print_json({"model": model, "records": recs, "plot": written})
            return
        from rich import box

        t = Table(title=f"Price history of {model} (per million tokens)", box=box.SIMPLE_HEAD, padding=(0, 1))
        has = {c: any(r[c] is not None for r in recs) for c in ("version", "context_tier", "cache_hit_input_per_mtok")}
        cols = [("effective", "left"), ("provider / market", "left")]
        cols += [("version", "left")] if has["version"] else []
        cols += [("context", "left")] if has["context_tier"] else []
        cols += [("input", "right"), ("output", "right")]
        cols += [("cache hit", "right")] if has["cache_hit_input_per_mtok"] else []
        cols += [("in $", "right"), ("out $", "right"), ("input change", "right")]
        for c, j in cols:
            t.add_column(c, justify=j, no_wrap=c in ("effective", "input", "output"))
        for r in recs:
            ch = r["input_change"]
            cur = r["currency"]
            cells = [r["effective_date"], f"{r['provider']} / {r['market']}"]
            cells += [r["version"] or ""] if has["version"] else []
            cells += [r["context_tier"] or ""] if has["context_tier"] else []
            cells += [f"{_num(r['input_per_mtok'])} {cur}", f"{_num(r['output_per_mtok'])} {cur}" if r["output_per_mtok"] is not None else "-"]
            cells += [_num(r["cache_hit_input_per_mtok"])] if has["cache_hit_input_per_mtok"] else []
            cells += [_num(r["input_usd_per_mtok"], 3), _num(r["output_usd_per_mtok"], 3), "-" if ch is None else f"{ch:+.1%}"]
            t.add_row(*cells)
        con = _console()
        con.print(t)
        for i, r in enumerate(recs, 1):
            con.print(f"[dim][{i}] {r['effective_date']} {r['provider']} {r['market']}: {r['source']} ({r['date']})"
                      + (f" - {r['note']}" if r.get("note") else "") + "[/]")
        if written:
            con.print(f"wrote {written}")

    @prices_app.command("import-litellm")
    def prices_import_litellm(
        out: Annotated[str | None, typer.Option("--out", help="User catalog file to write (default: litellm-prices.yaml in --catalog-dir / $INFERONOMICS_CATALOG_DIR, else here).")] = None,
        provider: Annotated[list[str] | None, typer.Option("--provider", help="Only these litellm providers (repeat), e.g. dashscope, openai, deepseek.")] = None,
        from_json: Annotated[str | None, typer.Option("--from-json", help="Read this JSON file (litellm's schema) instead of the installed package's.")] = None,
        effective_date: Annotated[str | None, typer.Option("--effective-date", help="Date the imported prices are taken to apply from (default: today).")] = None,
        json_out: Json = False,
    ) -> None:
        """Add current prices for breadth from the price map bundled in the litellm package (no network)."""
        from rich.console import Console

        from inferonomics.cli._render import print_json
        from inferonomics.decide.prices import import_litellm

        r = import_litellm(out, from_json=from_json, providers=provider or None, effective_date=effective_date)
        if json_out:
            print_json(r)
            return
        import os

        Console().print(
            f"wrote {r['records']} price records from {r['source_file']} (litellm {r['litellm_version']}) to {r['out']}; "
            f"{len(r['providers'])} providers. Load them with: inferonomics --catalog-dir "
            f"{os.path.dirname(os.path.abspath(r['out']))} prices list"
        )
