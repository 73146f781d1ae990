"""``inferonomics breakeven``: the buyer's decision (API vs rented GPUs vs owned hardware) for a workload."""

from __future__ import annotations

from typing import Annotated

import typer


def _workload(
    workload, tokens_per_month, input_share, input_tokens_per_month, output_tokens_per_month, growth_per_year,
    peak_to_average, isl, osl, max_ttft_s, max_tpot_s, model, quality_tier, sovereign, horizon_months,
    discount_rate, region, gpu, precision, api_market, api_price_change_per_year, prices_as_of,
):
    """The workload: a built-in name or YAML file, with the command-line options replacing its fields."""
    from inferonomics.decide.workload import (
        WorkloadError,
        builtin_names,
        load_workload,
        split_volume,
        val,
        with_overrides,
    )
    from inferonomics.errors import InputError

    base = load_workload(workload) if workload else None
    if base is None and tokens_per_month is None and input_tokens_per_month is None and output_tokens_per_month is None:
        raise InputError(
            "workload", None,
            f"give a built-in workload ({', '.join(builtin_names())}) or a YAML file, or state one with "
            "--tokens-per-month (or --input-tokens-per-month/--output-tokens-per-month) and --model or --quality-tier",
        )
    if tokens_per_month is not None and (input_tokens_per_month is not None or output_tokens_per_month is not None):
        raise InputError("tokens-per-month", tokens_per_month,
                         "give --tokens-per-month (with --input-share) or --input/--output-tokens-per-month, not both")
    if input_share is not None and not 0.0 <= input_share < 1.0:
        raise InputError("input-share", input_share, "must be a fraction from 0 up to (not including) 1")
    if input_share is not None and tokens_per_month is None:
        if base is None:
            raise InputError("input-share", input_share, "needs --tokens-per-month")
        tokens_per_month = val(base.input_tokens_per_month) + val(base.output_tokens_per_month)
    if tokens_per_month is not None:
        input_tokens_per_month, output_tokens_per_month, isl = split_volume(tokens_per_month, input_share, base, isl, osl)
    try:
        return with_overrides(
            base,
            input_tokens_per_month=input_tokens_per_month, output_tokens_per_month=output_tokens_per_month,
            growth_per_year=growth_per_year, peak_to_average=peak_to_average, isl_tokens=isl, osl_tokens=osl,
            **{"slo.max_ttft_s": max_ttft_s, "slo.max_tpot_s": max_tpot_s},
            model=model, quality_tier=quality_tier, sovereign=sovereign, horizon_months=horizon_months,
            discount_rate_per_year=discount_rate, region=region, accelerators=gpu or None,
            precisions=precision or None, api_markets=api_market or None,
            api_price_change_per_year=api_price_change_per_year, prices_as_of=prices_as_of,
            name=None if base is not None else "custom",
        )
    except WorkloadError as exc:  # name the option the user typed, not the workload field it sets
        msg = str(exc)
        for field, flag in _FLAG_OF_FIELD.items():
            msg = msg.replace(f"field '{field}'", flag)
        raise WorkloadError(msg) from None


_FLAG_OF_FIELD = {
    "input_tokens_per_month": "--input-tokens-per-month (or --tokens-per-month)",
    "output_tokens_per_month": "--output-tokens-per-month (or --tokens-per-month)",
    "growth_per_year": "--growth-per-year", "peak_to_average": "--peak-to-average", "isl_tokens": "--isl",
    "osl_tokens": "--osl", "slo.max_ttft_s": "--max-ttft-s", "slo.max_tpot_s": "--max-tpot-s",
    "horizon_months": "--horizon-months", "discount_rate_per_year": "--cost-of-capital",
    "api_price_change_per_year": "--api-price-change-per-year", "prices_as_of": "--prices-as-of",
    "accelerators": "--gpu", "precisions": "--weights", "api_markets": "--api-market",
}


def _usd(x) -> str:
    from inferonomics.present import money

    return money(x)


def _num(x) -> str:
    from inferonomics.present import number

    return number(x, 3)


def _pct(x) -> str:
    from inferonomics.present import percent

    return percent(x, 0)


def _sec(x) -> str:
    from inferonomics.present import seconds

    return seconds(x)


def _tok(x) -> str:
    from inferonomics.present import tokens

    return tokens(x)


def _render(d, show_all: bool, top: int) -> None:
    import math

    from rich.console import Console
    from rich.table import Table

    con = Console(width=max(Console().width, 120))  # wide tables; a narrow terminal wraps them
    w = d.workload
    res = w["resolved"]
    H = int(w["horizon_months"]["value"] if isinstance(w["horizon_months"], dict) else w["horizon_months"])

    def num(x):
        return x["value"] if isinstance(x, dict) else x

    slo = w.get("slo", {})
    targets = [f"{what} <= {_sec(num(slo[k]))}" for k, what in (("max_ttft_s", "time to first token"),
                                                                ("max_tpot_s", "time per output token")) if k in slo]
    desc = w.get("description")
    con.print(f"[bold]{w.get('name', 'custom')}[/]" + (f": {desc}" if desc else ""))
    con.print(
        f"  {_tok(res['tokens_month1'])} tokens in month 1 -> {_tok(res['tokens_horizon_month'])} in month {H}; "
        f"ISL {int(num(w['isl_tokens']))} / OSL {int(num(w['osl_tokens']))}; peak {_num(res['peak_requests_per_s_month1'])} requests/s; "
        f"latency target: {', '.join(targets) or 'none'}; "
        f"self-host {', '.join(res['self_host_models'])} (quality {res['required_quality_tier'] or '-'}); "
        f"region {res['region']}; {'[red]sovereign[/]; ' if w.get('sovereign') else ''}"
        f"discount {_pct(res['discount_rate_per_year'])}/yr"
    )
    opts = d.options
    rows = opts.to_dict(orient="records")
    elig = [r for r in rows if r["eligible"]]
    excl = [r for r in rows if not r["eligible"]]
    if not show_all:
        keep = []
        for kind in ("api", "rent", "own"):
            keep += [r for r in elig if r["kind"] == kind][: max(1, top // 3)]
        elig = sorted(keep, key=lambda r: r["npv_usd"])
        excl = excl[: max(2, top // 3)]
    from rich import box

    t = Table(title=f"Options over {H} months (USD; monthly cost counts depreciation, NPV counts capex when paid)",
              show_lines=False, box=box.SIMPLE_HEAD, padding=(0, 1))
    t.add_column("option", min_width=24)
    for c in ("month 1", f"month {H}", "$/Mtok", "NPV", "break-even"):
        t.add_column(c, justify="right")

    def be_text(r):
        if r["kind"] == "api":
            v = r.get("own_breakeven_tokens_per_month")
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return "own never"
            return f"own >{_tok(v)}/mo"
        m = r.get("breakeven_month")
        return "-" if m is None or (isinstance(m, float) and math.isnan(m)) else f"month {int(m)}"

    def add(r, style=None):
        g = "" if r["gpus_month1"] is None or (isinstance(r["gpus_month1"], float) and math.isnan(r["gpus_month1"])) else \
            f" [dim]{_num(r['gpus_month1'])}->{_num(r['gpus_horizon'])} GPUs[/]"
        t.add_row(r["option"] + g + (" [excluded]" if not r["eligible"] else ""), _usd(r["month1_usd"]),
                  _usd(r["horizon_month_usd"]), _usd(r["usd_per_mtok"]), _usd(r["npv_usd"]), be_text(r),
                  style=style)

    for r in elig:
        add(r, "bold green" if r["option"] == d.recommendation["option"] else None)
    if excl:
        t.add_section()
        for r in excl:
            add(r, "dim")
    con.print(t)
    if not show_all and len(rows) > len(elig) + len(excl):
        con.print(f"[dim]({len(rows) - len(elig) - len(excl)} more options: --all shows them)[/]")

    rec = d.recommendation
    con.print(f"\n[bold]Recommendation: {rec['option']}[/] ({rec['kind']}), NPV {_usd(rec['npv_usd'])}, "
              f"{_usd(rec['usd_per_mtok'])} per M tokens")
    for reason in rec["reasons"]:
        con.print(f"  - {reason}")
    be = d.breakeven
    if be.get("against"):
        con.print(f"\n[bold]Break-even against {be['against']}[/] ({_usd(be['api_usd_per_mtok'])} per M tokens, blended)")
        for k in ("own", "rent"):
            if k in be:
                b = be[k]
                vol = b["breakeven_tokens_per_month"]
                vol_s = "never (cost at scale above the API)" if vol is None else f"{_tok(vol)} tokens/month"
                m = b["breakeven_month"]
                con.print(f"  {k}: {b['option']}: break-even month {m if m else f'none within {H}'}; break-even volume "
                          f"{vol_s}; {_usd(b['usd_per_mtok'])} per M tokens here, {_usd(b['usd_per_mtok_at_scale'])} at scale")

    def flip_table(fl, title):
        from rich import box

        ft = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1))
        ft.add_column("input")
        ft.add_column("up: multiplier -> new choice")
        ft.add_column("down: multiplier -> new choice")
        by: dict = {}
        for f in fl:
            by.setdefault(f["lever"], {})[f["direction"]] = f
        for lever, dd in by.items():
            def cell(f):
                if f is None:
                    return ""
                if f["lever"] == "sovereign":
                    return f"-> {f['new_option']}"
                if f["multiplier"] is None:
                    return "[dim]no flip within x1000[/]" if f["direction"] == "up" else "[dim]no flip within x1/1000[/]"
                k = f["multiplier"]
                return f"x{_num(k)} ({'+' if k > 1 else ''}{_pct(k - 1)}) -> {f['new_option']}"
            label = {"volume": "token volume", "api_price": "API prices", "gpu_price": "hardware purchase price",
                     "gpu_rental": "GPU rental price", "electricity": "electricity price", "staff": "staff cost",
                     "sovereign": "sovereignty dropped"}.get(lever, lever)
            ft.add_row(label, cell(dd.get("up") or dd.get("drop")), cell(dd.get("down")))
        con.print(ft)

    if d.flips:
        flip_table(d.flips, "What would flip the recommendation (one input at a time)")
    cf = d.counterfactual
    if cf:
        con.print(f"\nWithout the sovereignty constraint: {cf['option']} (NPV {_usd(cf['npv_usd'])}); price of "
                  f"sovereignty {_usd(cf['price_of_sovereignty_usd'])} over {H} months.")
        if cf["flips"]:
            flip_table(cf["flips"], "Without sovereignty: what would flip that choice")
    for s in d.api_skipped:
        con.print(f"[dim]not compared: {s['option']}: {s['reason']}[/]")
    for n in d.notes:
        con.print(f"[yellow]note:[/] {n}")


def register(app: typer.Typer) -> None:
    @app.command("breakeven")
    def breakeven(
        workload: Annotated[str | None, typer.Argument(help="Built-in workload (bank-sovereign, startup-api, enterprise-copilot) or a YAML file; optional when the flags state one.")] = None,
        tokens_per_month: Annotated[float | None, typer.Option("--tokens-per-month", help="Input + output tokens in month 1.")] = None,
        input_share: Annotated[float | None, typer.Option("--input-share", help="Share of --tokens-per-month that is input (default: the workload's, else 0.8, an assumption).")] = None,
        input_tokens_per_month: Annotated[float | None, typer.Option("--input-tokens-per-month", help="Input tokens in month 1 (with --output-tokens-per-month, instead of --tokens-per-month).")] = None,
        output_tokens_per_month: Annotated[float | None, typer.Option("--output-tokens-per-month", help="Output tokens in month 1 (with --input-tokens-per-month).")] = None,
        growth_per_year: Annotated[float | None, typer.Option("--growth-per-year", help="Yearly volume growth (0.5 = +50%).")] = None,
        peak_to_average: Annotated[float | None, typer.Option("--peak-to-average", help="Peak / average request rate.")] = None,
        isl: Annotated[int | None, typer.Option("--isl", help="Input tokens per request.")] = None,
        osl: Annotated[int | None, typer.Option("--osl", help="Output tokens per request.")] = None,
        max_ttft_s: Annotated[float | None, typer.Option("--max-ttft-s", "--slo-ttft-s", help="Latency target: time to first token, seconds.")] = None,
        max_tpot_s: Annotated[float | None, typer.Option("--max-tpot-s", "--slo-tpot-s", help="Latency target: time per output token, seconds (default: 0.05 when no target is given).")] = None,
        model: Annotated[str | None, typer.Option("--model", "-m", help="Open model to self-host (catalog slug).")] = None,
        quality_tier: Annotated[str | None, typer.Option("--quality-tier", help="Quality needed: small, medium, large, frontier.")] = None,
        sovereign: Annotated[bool | None, typer.Option("--sovereign/--no-sovereign", help="Must run on own premises (no API, no rented cloud).")] = None,
        horizon_months: Annotated[int | None, typer.Option("--horizon-months", help="Months the options are compared over (the NPV horizon).")] = None,
        discount_rate: Annotated[float | None, typer.Option("--cost-of-capital", "--discount-rate", help="Yearly discount rate for the NPV, the cost of capital (0.08 = 8%).")] = None,
        region: Annotated[str | None, typer.Option("--region", help="Region slug (electricity price, PUE) of owned hardware.")] = None,
        gpu: Annotated[list[str] | None, typer.Option("--gpu", "-g", help="Candidate accelerator (repeat; default: the workload's, else all).")] = None,
        precision: Annotated[list[str] | None, typer.Option("--weights", "--precision", help="Candidate weight precision (repeat).")] = None,
        api_market: Annotated[list[str] | None, typer.Option("--api-market", help="API market allowed (repeat): china, international.")] = None,
        api_price_change_per_year: Annotated[float | None, typer.Option("--api-price-change-per-year", help="Expected yearly change of API prices (-0.3 = -30%/yr).")] = None,
        prices_as_of: Annotated[str | None, typer.Option("--prices-as-of", help="Use the API prices in force on this date (YYYY-MM-DD).")] = None,
        list_workloads: Annotated[bool, typer.Option("--list", help="List the built-in workloads and exit.")] = False,
        show_all: Annotated[bool, typer.Option("--all", help="Show every option, not only the best few of each kind.")] = False,
        no_flips: Annotated[bool, typer.Option("--no-flips", help="Skip the flip analysis (faster).")] = False,
        csv: Annotated[str | None, typer.Option("--csv", help="Write the monthly costs (option x month, tidy) to this CSV file.")] = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print one machine-readable JSON object.")] = False,
    ) -> None:
        """Self-host vs API vs rented GPUs: monthly and cumulative cost, $/Mtok, NPV, break-even, recommendation."""
        from inferonomics.cli._render import print_json

        if list_workloads:
            from inferonomics.decide.workload import builtin_names, load_workload

            items = [{"name": n, "description": load_workload(n).description} for n in builtin_names()]
            if json_out:
                print_json({"workloads": items})
            else:
                for it in items:
                    typer.echo(f"{it['name']:<20} {it['description']}")
            return
        from inferonomics.decide import breakeven as _breakeven

        w = _workload(
            workload, tokens_per_month, input_share, input_tokens_per_month, output_tokens_per_month,
            growth_per_year, peak_to_average, isl, osl, max_ttft_s, max_tpot_s, model, quality_tier, sovereign,
            horizon_months, discount_rate, region, gpu, precision, api_market, api_price_change_per_year, prices_as_of,
        )
        from rich.console import Console

        # progress on stderr (the flip analysis takes several seconds); stdout stays the answer
        with Console(stderr=True).status("Sizing and pricing every option" + ("" if no_flips else
                                          ", then what would flip the choice") + "..."):
            d = _breakeven(w, with_flips=not no_flips)
        if csv:
            from inferonomics.io import write_text_atomic

            write_text_atomic(csv, d.monthly.to_csv(index=False))
        if json_out:
            out = d.to_dict()
            out["csv"] = csv
            print_json(out)
            return
        _render(d, show_all, top=12)
        if csv:
            typer.echo(f"wrote {csv}")
