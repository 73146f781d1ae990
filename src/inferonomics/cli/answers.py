"""``inferonomics compare`` and ``inferonomics margin``: two questions users ask, one command each.

The answers come from :mod:`inferonomics.cost.answers` (DataFrames); this module only parses options and
formats with :mod:`inferonomics.present`."""

from __future__ import annotations

from typing import Annotated

import typer

from inferonomics.cli import _options as O

GpuList = Annotated[list[str], typer.Option("--gpu", "-g", help="An accelerator to compare (repeat: --gpu h20 --gpu h100-sxm).")]
GpusEach = Annotated[int, typer.Option("--gpus", help="GPUs of each configuration compared.")]
WeightsOpt = Annotated[str | None, typer.Option("--weights", "--precision", help="Only this weight precision (default: each one the accelerator runs, the cheapest kept).")]
PriceIn = Annotated[float, typer.Option("--price-in", "--price-in-usd-per-mtok", help="List price, USD per million input tokens (cache miss).")]
PriceOut = Annotated[float, typer.Option("--price-out", "--price-out-usd-per-mtok", help="List price, USD per million output tokens.")]
PriceHit = Annotated[float | None, typer.Option("--price-in-cache-hit", help="List price, USD per million input tokens served from the prefix cache (default: --price-in).")]
GpusOpt = Annotated[int | None, typer.Option("--gpus", help="All GPUs of the deployment (default: the fewest one instance fits on).")]
MaxTpot = Annotated[float | None, typer.Option("--max-tpot-s", "--slo-tpot-s", help="Latency target, seconds per output token (default 0.05: 20 tokens/s per user).")]


# Short headings (with units) so the comparison fits an 80-column terminal.
COMPARE_LABELS = {
    "gpu": "accelerator", "weights": "weights", "ep": "EP", "concurrency": "requests\nin flight",
    "output_tokens_per_s_per_gpu": "tok/s\nper GPU", "tpot_s": "time per\ntoken", "usd_per_gpu_hour": "$ per\nGPU-h",
    "usd_per_mtok_input": "$ per M\ninput", "usd_per_mtok_output": "$ per M\noutput", "usd_per_mtok_blended": "$ per M\nall tokens",
    "winner": "cheapest",
}


def register(app: typer.Typer) -> None:
    @app.command()
    def compare(
        model: O.Model,
        gpu: GpuList,
        gpus: GpusEach = 8,
        weights: WeightsOpt = None,
        isl: O.Isl = 1024,
        osl: O.Osl = 256,
        region: O.Region = "us-average",
        own: O.Own = False,
        max_tpot_s: MaxTpot = None,
        max_ttft_s: O.MaxTtft = None,
        json_out: O.Json = False,
    ) -> None:
        """Which accelerator serves a model cheapest at equal latency: the cheapest configuration on each,
        $ per million input and output tokens, and the winner."""
        from inferonomics.cli._render import console, frame_table, print_json
        from inferonomics.cost.answers import compare as _compare
        from inferonomics.present import money, seconds

        df = _compare(model, list(gpu), gpus=gpus, max_tpot_s=max_tpot_s, max_ttft_s=max_ttft_s, isl=isl, osl=osl,
                      region=region, own=own, weights=[weights] if weights else None)
        if json_out:
            from inferonomics.cli._render import _jsonable

            rows = [{k: _jsonable(v) for k, v in r.items()} for r in df.to_dict(orient="records")]
            win = df[df["winner"]]
            print_json({"model": model, "gpus": gpus, "isl": isl, "osl": osl, "region": region,
                        "mode": "own" if own else "rent", "max_tpot_s": df["max_tpot_s"].iloc[0],
                        "max_ttft_s": df["max_ttft_s"].iloc[0],
                        "winner": win["gpu"].iloc[0] if len(win) else None, "rows": rows})
            return
        tgt = df["max_tpot_s"].iloc[0]
        import math

        target = f"time per output token <= {seconds(tgt)}" if tgt is not None and not math.isnan(tgt) else \
            f"time to first token <= {seconds(df['max_ttft_s'].iloc[0])}"
        cfg = [f"{w} EP{int(e)}" if not math.isnan(e) and e > 1 else (w if isinstance(w, str) else "")
               for w, e in zip(df["weights"], df["ep"], strict=True)]
        frame_table(
            df.assign(winner=df["winner"].map({True: "yes", False: ""}), weights=cfg),
            f"{model} on {gpus} GPUs of each accelerator, {target}, ISL {isl} / OSL {osl}, "
            f"{'owned' if own else 'rented'}, region {region}",
            ["gpu", "weights", "output_tokens_per_s_per_gpu", "usd_per_gpu_hour",
             "usd_per_mtok_input", "usd_per_mtok_output", "usd_per_mtok_blended", "winner"],
            labels=COMPARE_LABELS,
        )
        for _, r in df[df["note"].fillna("") != ""].iterrows():
            console.print(f"[yellow]{r['gpu']}:[/] {r['note']}")
        win = df[df["winner"]]
        if len(win):
            w = win.iloc[0]
            console.print(f"Cheapest: [bold]{w['gpu']}[/] ({w['weights']}), {money(w['usd_per_mtok_input'])} per M "
                          f"input and {money(w['usd_per_mtok_output'])} per M output tokens. Ranked by the cost of "
                          "the whole request mix (GPU-hours over input + output tokens).")

    @app.command()
    def margin(
        model: O.Model,
        gpu: O.Gpu,
        price_in: PriceIn,
        price_out: PriceOut,
        price_in_cache_hit: PriceHit = None,
        gpus: GpusOpt = None,
        tp: O.Tp = None,
        ep: O.Ep = 1,
        pp: O.Pp = 1,
        weights: O.Weights = "fp8",
        kv: O.Kv = None,
        isl: O.Isl = 1024,
        osl: O.Osl = 256,
        region: O.Region = "us-average",
        utilization: O.Utilization = None,
        rent: O.Rent = None,
        own: O.Own = False,
        prefill_gpus: O.PrefillGpus = None,
        decode_gpus: O.DecodeGpus = None,
        prefill_tp: O.PrefillTp = None,
        prefill_ep: O.PrefillEp = 1,
        decode_tp: O.DecodeTp = None,
        decode_ep: O.DecodeEp = None,
        prefix_hit_rate: O.PrefixHitRate = 0.0,
        mtp_tokens: O.MtpTokens = 0,
        mtp_accept_rate: O.MtpAcceptRate = None,
        redundant_experts: O.RedundantExperts = 0,
        tbo: O.Tbo = None,
        engine: O.Engine = "generic",
        max_tpot_s: MaxTpot = None,
        max_ttft_s: O.MaxTtft = None,
        json_out: O.Json = False,
    ) -> None:
        """A provider's gross margin per million tokens selling at a list price: revenue, every cost line, the
        margin and the utilization at which it breaks even."""
        from inferonomics.cli import _dep_kwargs, _prod

        prod = _prod(locals())
        prod.pop("prefix_hit_rate")  # passed to margin() apart: it prices cache hits too

        from inferonomics.cli._render import console, frame_table, print_json
        from inferonomics.cost.answers import margin as _margin
        from inferonomics.present import money, percent, seconds
        kw = _dep_kwargs(model, gpu, gpus if gpus is not None else 0, tp, pp, ep, weights, kv, isl, osl, None,
                         "continuous", **prod)
        if gpus is None:
            kw["gpus"] = None
        for k in ("model", "gpu", "concurrency"):
            kw.pop(k)
        res = _margin(model, gpu, price_in_usd_per_mtok=price_in, price_out_usd_per_mtok=price_out,
                      price_in_cache_hit_usd_per_mtok=price_in_cache_hit, prefix_hit_rate=prefix_hit_rate or None,
                      region=region, utilization=utilization, own=own, rent_usd_per_gpu_hour=rent,
                      max_tpot_s=max_tpot_s, max_ttft_s=max_ttft_s, **kw)
        s, lines = res["summary"], res["lines"]
        if json_out:
            print_json({**s, "lines": lines.to_dict(orient="records")})
            return
        target = (f"time per output token <= {seconds(s['max_tpot_s'])}" if s["max_tpot_s"] is not None
                  else f"time to first token <= {seconds(s['max_ttft_s'])}")
        hit = f", prefix-cache hit rate {percent(s['prefix_hit_rate'])}" if s["prefix_hit_rate"] else ""
        frame_table(
            lines, f"{model} on {s['gpus']}x {gpu} ({s['mode']}ed, {percent(s['utilization'])} utilization), "
            f"selling at {money(price_in)} in / {money(price_out)} out per M tokens; ISL {s['isl']} / OSL {s['osl']}, "
            f"{target}{hit}", labels={"line": "Per million tokens of the request mix",
                                      "usd_per_mtok": "$ per M tokens"},
        )
        gm = s["gross_margin"]
        console.print(f"Gross margin: [bold]{money(s['gross_margin_usd_per_mtok'])}[/] per M tokens "
                      f"({percent(gm)} of revenue). Cost: {money(s['cost_usd_per_mtok_input'])} per M input, "
                      f"{money(s['cost_usd_per_mtok_output'])} per M output tokens.")
        be = s["breakeven_utilization"]
        console.print("Break-even utilization: " + (percent(be) if be is not None else
                      "none: the price does not cover the cost even at 100% utilization"))
