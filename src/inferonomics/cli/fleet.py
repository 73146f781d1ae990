"""``inferonomics fleet``: simulate a serving fleet over time, and the scale curve of $/Mtok against volume."""

from __future__ import annotations

from typing import Annotated

import typer

EngineOpt = Annotated[str, typer.Option("--engine", help="auto (request-level when small enough), des (request-level; a prefill/decode-disaggregated "
                                                     "pool runs as a tandem of prefill ranks and decode instances) or "
                                                     "fluid (time-stepped).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one machine-readable JSON object.")]


def register(app: typer.Typer) -> None:
    fleet_app = typer.Typer(help="Fleet simulation: utilization, SLOs, autoscaling, backfill and scale economies.",
                            no_args_is_help=True)
    app.add_typer(fleet_app, name="fleet")

    @fleet_app.command("run")
    def run_cmd(
        file: Annotated[str, typer.Argument(help="A fleet scenario (built-in name or YAML path), or a trace file "
                                            "(Azure LLM CSV, BurstGPT CSV, Mooncake JSONL) with --model/--gpu.")],
        engine: EngineOpt = "auto",
        daily_tokens: Annotated[float | None, typer.Option("--daily-tokens", help="Override the scenario's daily token volume.")] = None,
        duration_s: Annotated[float | None, typer.Option("--duration-s", help="Override the simulated duration (seconds).")] = None,
        model: Annotated[str | None, typer.Option("--model", "-m", help="Trace files: model slug.")] = None,
        gpu: Annotated[str | None, typer.Option("--gpu", "-g", help="Trace files: accelerator slug.")] = None,
        gpus: Annotated[int | None, typer.Option("--gpus", help="Trace files: GPUs per replica.")] = None,
        weights: Annotated[str, typer.Option("--weights", help="Trace files: weight precision.")] = "bf16",
        replicas: Annotated[int, typer.Option("--replicas", help="Trace files: replicas (fixed fleet).")] = 1,
        max_tpot_s: Annotated[float, typer.Option("--max-tpot-s", help="Trace files: TPOT target (s).")] = 0.05,
        max_ttft_s: Annotated[float, typer.Option("--max-ttft-s", help="Trace files: TTFT target (s).")] = 2.0,
        idle_to_training: Annotated[bool, typer.Option("--idle-to-training", help="Owned fleets: lend the replicas serving does not need to training; serving pays only for what it holds.")] = False,
        shared_fleet: Annotated[bool, typer.Option("--shared-fleet", help="Owned fleets: pools on the same accelerator share one fleet sized for their summed peak.")] = False,
        json_out: JsonOpt = False,
    ) -> None:
        """Simulate one scenario (or replay one trace file) and report GPUs, utilization, SLOs and $/Mtok."""
        from inferonomics.cli._render import print_json
        from inferonomics.errors import InputError

        if daily_tokens is not None and not (1e6 <= daily_tokens <= 1e16):
            raise InputError("daily-tokens", daily_tokens, "must be between 1e6 and 1e16 tokens a day")
        if duration_s is not None and not (60 <= duration_s <= 31 * 86400):
            raise InputError("duration-s", duration_s, "must be between 60 s and 31 days")
        if file.endswith((".csv", ".jsonl", ".json")):
            out = _run_trace(file, engine, model, gpu, gpus, weights, replicas, max_tpot_s, max_ttft_s)
        else:
            from inferonomics.fleet.run import run
            from inferonomics.fleet.scenario import load_scenario

            scn = load_scenario(file)
            scn = _with_flags(scn, idle_to_training, shared_fleet)
            res = run(scn, engine=engine, daily_tokens=daily_tokens, duration_s=duration_s)
            out = {"scenario": res["scenario"], "totals": res["totals"],
                   "pools": [_pool_row(p) for p in res["pools"]]}
        if json_out:
            print_json(out)
            return
        _print_run(out)

    @fleet_app.command("scale")
    def scale_cmd(
        file: Annotated[str, typer.Argument(help="A fleet scenario: built-in name (chat-api, alibaba-tiers) or YAML path.")],
        volumes: Annotated[str, typer.Option("--volumes", help="Daily token volumes, comma-separated.")] = "1e9,1e10,1e11,1e12",
        engine: Annotated[str, typer.Option("--engine", help="fluid (default, any size), auto or des.")] = "fluid",
        chart: Annotated[str | None, typer.Option("--chart", help="Also write the scale-curve chart to this PNG file.")] = None,
        idle_to_training: Annotated[bool, typer.Option("--idle-to-training", help="Owned fleets: lend the replicas serving does not need to training.")] = False,
        shared_fleet: Annotated[bool, typer.Option("--shared-fleet", help="Owned fleets: pools on the same accelerator share one fleet.")] = False,
        json_out: JsonOpt = False,
    ) -> None:
        """$/Mtok against daily token volume, split into floor, caching, batching and multiplexing."""
        from inferonomics.cli._render import print_json
        from inferonomics.fleet.run import flattening_volume, parse_volumes, scale_curve
        from inferonomics.fleet.scenario import load_scenario

        vols = parse_volumes(volumes)
        scn = load_scenario(file)
        scn = _with_flags(scn, idle_to_training, shared_fleet)
        rows = scale_curve(scn, vols, engine=engine)
        flat = flattening_volume(rows)
        if chart:
            from inferonomics.fleet.chart import scale_chart

            scale_chart(rows, chart, title=scn.title or scn.name)
        if json_out:
            print_json({"scenario": scn.name, "points": rows, "flattens_at_daily_tokens": flat, "chart": chart})
            return
        _print_scale(scn.name, rows, flat, chart)


def _with_flags(scn, idle_to_training: bool, shared_fleet: bool):
    upd = {k: True for k, v in (("idle_to_training", idle_to_training), ("shared_fleet", shared_fleet)) if v}
    return scn.model_copy(update=upd) if upd else scn


def _run_trace(path, engine, model, gpu, gpus, weights, replicas, max_tpot_s, max_ttft_s) -> dict:
    from inferonomics.errors import InputError
    from inferonomics.fleet import des
    from inferonomics.fleet.demand import read_trace
    from inferonomics.fleet.policy import Slo
    from inferonomics.fleet.replica import step_model

    if model is None or gpu is None:
        raise InputError("model", model, "a trace file needs --model and --gpu (the deployment that serves it)")
    if engine not in ("auto", "des"):
        raise InputError("engine", engine, "a trace file is replayed request by request: use --engine des (or auto)")
    if replicas < 1:
        raise InputError("replicas", replicas, "must be at least 1")
    tr = read_trace(path)
    dep = {"model": model, "gpu": gpu, "weights": weights, "isl": max(round(float(tr.input_tokens.mean())), 1),
           "osl": max(round(float(tr.output_tokens.mean())), 1), "max_tpot_s": max_tpot_s, "max_ttft_s": max_ttft_s}
    if gpus is not None:
        dep["gpus"] = gpus
    m = step_model(dep)
    r = des.simulate(tr, m, replicas=replicas, slo=Slo(max_ttft_s, max_tpot_s))
    from inferonomics.fleet.run import usd_per_gpu_hour

    r.usd_per_gpu_hour = usd_per_gpu_hour(None, gpu, r.utilization)
    row = _pool_row(r)
    row.update(pool=path, model=model, gpu=gpu)
    return {"trace": path, "requests": len(tr), "totals": {k: row[k] for k in (
        "gpu_hours", "utilization", "slo_attainment", "served_tokens")}, "pools": [row]}


def _pool_row(r) -> dict:
    s = r.summary()
    keep = ("engine", "duration_s", "requests", "batch_requests", "peak_replicas", "gpus_per_replica", "gpu_hours",
            "utilization", "interactive_utilization", "slot_occupancy", "slo_attainment", "ttft_p50_s", "ttft_p99_s",
            "tpot_p50_s", "tpot_p99_s", "mean_wait_s", "prefix_hit_rate", "idle_gpu_hours", "backfilled_gpu_hours",
            "served_tokens", "usd_per_gpu_hour", "cost_usd", "usd_per_mtok", "pool", "model", "gpu", "max_batch")
    row = {k: s.get(k) for k in keep}
    for k in ("slo_attainment_shared", "ttft_p99_s_shared", "tpot_p99_s_shared"):  # a pool of a shared fleet
        if k in s:
            row[k] = s[k]
    if "prefill_gpu_seconds" in s:  # a disaggregated pool on the request-level engine: its two stages
        row.update(prefill_gpu_hours=s["prefill_gpu_seconds"] / 3600.0, decode_gpu_hours=s["decode_gpu_seconds"] / 3600.0,
                   prefill_peak_ranks=s["prefill_peak_ranks"], decode_peak_instances=s["decode_peak_instances"],
                   prefill_to_decode_s_mean=s["kv_transfer_s_mean"])
    return row


def _print_run(out: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from inferonomics.present import money, number, percent, seconds, tokens

    c = Console(width=max(Console().width, 110))
    t = Table(title=f"fleet {out.get('scenario') or out.get('trace')}")
    for col in ("pool", "engine", "GPUs", "util", "SLO met", "TTFT p99", "TPOT p99", "cache", "$/Mtok"):
        t.add_column(col, justify="left" if col in ("pool", "engine") else "right")
    for p in out["pools"]:
        t.add_row(str(p["pool"]), p["engine"], number(p["peak_replicas"] * p["gpus_per_replica"]),
                  percent(p["utilization"]), percent(p["slo_attainment"]), seconds(p["ttft_p99_s"]),
                  seconds(p["tpot_p99_s"]), percent(p["prefix_hit_rate"], 0), money(p.get("usd_per_mtok")))
    c.print(t)
    tot = out["totals"]
    if "usd_per_mtok" in tot:
        c.print(f"fleet: {number(tot['gpus'])} GPUs, utilization {percent(tot['utilization'])}, SLO met "
                f"{percent(tot['slo_attainment'])}; {number(tot['idle_gpu_hours'], 3)} GPU-hours idle, "
                f"{number(tot['backfilled_gpu_hours'], 3)} backfilled, {number(tot['training_gpu_hours'], 3)} lent to "
                f"training; serving average/peak {number(tot['serving_average_over_peak'], 2)}; "
                f"delivered {money(tot['usd_per_mtok'])}/Mtok on {tokens(tot['served_tokens'])} tokens")
    if "slo_attainment_shared" in tot:
        fleets = ", ".join(f"{number(n)} {gpu}" for gpu, n in tot["shared_fleet_gpus"].items())
        c.print(f"shared fleet ({fleets}): SLO met {percent(tot['slo_attainment_shared'])} when its pools wait for the "
                "GPUs it hands out (each model's provisioning delay to load), against "
                f"{percent(tot['slo_attainment'])} with each pool's own peak fleet")


def _print_scale(name, rows, flat, chart) -> None:
    from rich.console import Console
    from rich.table import Table

    from inferonomics.present import money, number, percent, signed_money, tokens

    c = Console(width=max(Console().width, 110))
    t = Table(title=f"scale curve: {name} ($/Mtok and its parts)")
    for col in ("tokens/day", "GPUs", "util", "SLO met", "$/Mtok", "floor", "caching", "batching", "multiplex"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(tokens(r["daily_tokens"]), number(r["gpus"]), percent(r["utilization"]),
                  percent(r["slo_attainment"]), money(r["usd_per_mtok"]), money(r["floor_usd_per_mtok"]),
                  signed_money(r["caching_usd_per_mtok"]), signed_money(r["batching_usd_per_mtok"]),
                  signed_money(r["multiplexing_usd_per_mtok"]))
    c.print(t)
    for r in rows:
        c.print(f"  {tokens(r['daily_tokens'])} tokens/day: {number(r['idle_gpu_hours'], 3)} GPU-hours idle, "
                f"{number(r['backfilled_gpu_hours'], 3)} backfilled, prefix-cache hits {percent(r['prefix_hit_rate'], 0)}")
    c.print("delivered $/Mtok stops falling (within 5% of the largest volume) at "
            + (f"{tokens(flat)} tokens/day" if flat else "no volume of this sweep"))
    if chart:
        c.print(f"chart: {chart}")
