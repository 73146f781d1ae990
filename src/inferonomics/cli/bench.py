"""``inferonomics bench ...`` (measure endpoints, stored runs, measured cost) and ``inferonomics calibrate``.

Only Typer is imported at module level; the load generator, pandas and Rich load inside the commands.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Annotated

import typer

from inferonomics.cli import _options as O

bench_app = typer.Typer(
    help="Measure OpenAI-compatible endpoints (TTFT, TPOT, ITL, throughput, goodput), keep every request, "
    "and turn runs into $ per million tokens.",
    no_args_is_help=True,
)

Json = O.Json
RunRef = Annotated[str, typer.Argument(help="Run id (or a unique prefix of one, or 'latest').")]

SUMMARY_ROWS = [
    ("n_requests", "requests"),
    ("n_ok", "  succeeded"),
    ("n_errors", "  failed"),
    ("duration_s", "measured window (s)"),
    ("request_throughput_per_s", "requests/s"),
    ("output_tokens_per_s", "output tokens/s"),
    ("input_tokens_per_s", "input tokens/s"),
    ("mean_concurrency", "mean requests in flight"),
    ("input_tokens_mean", "input tokens per request (mean)"),
    ("output_tokens_mean", "output tokens per request (mean)"),
    ("output_tokens_per_s_per_user_mean", "output tokens/s per user (mean)"),
]
DIST_ROWS = [("ttft_s", "TTFT (s)"), ("tpot_s", "TPOT (s)"), ("itl_s", "ITL (s)"), ("e2e_latency_s", "E2E latency (s)")]
COMPARE_ROWS = [
    "status", "mode", "concurrency", "rate_per_s", "isl", "osl", "n_ok", "n_errors", "request_throughput_per_s",
    "output_tokens_per_s", "input_tokens_per_s", "mean_concurrency", "ttft_s_p50", "ttft_s_p99", "tpot_s_mean",
    "tpot_s_p99", "itl_s_p50", "itl_s_p99", "e2e_latency_s_p50", "goodput_requests_per_s",
]


@bench_app.callback()
def _bench_root(
    data_dir: Annotated[
        str | None,
        typer.Option("--data-dir", help="Where runs are stored (default: $INFERONOMICS_DATA_DIR or the platform's "
                     "user data directory, e.g. ~/.local/share/inferonomics)."),
    ] = None,
) -> None:
    if data_dir:
        os.environ["INFERONOMICS_DATA_DIR"] = data_dir


# --- helpers -----------------------------------------------------------------------------------------
def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr)


def _fmt(v) -> str:
    from inferonomics.present import number as f

    if v is None:
        return "-"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {x}" for k, x in v.items()) or "-"
    return f(v)


def _summary_table(title: str, sm: dict):
    from rich.table import Table

    t = Table(title=title, show_header=True, header_style="bold")
    t.add_column("figure")
    t.add_column("value", justify="right")
    for k, label in SUMMARY_ROWS:
        t.add_row(label, _fmt(sm.get(k)))
    t.add_section()
    d = Table(show_header=True, header_style="bold", box=None, padding=(0, 1))
    d.add_column("latency")
    for c in ("mean", "p50", "p90", "p99"):
        d.add_column(c, justify="right")
    for k, label in DIST_ROWS:
        d.add_row(label, *(_fmt(sm.get(f"{k}_{c}")) for c in ("mean", "p50", "p90", "p99")))
    if sm.get("goodput_requests_per_s") is not None:
        slos = ", ".join(f"{n} <= {sm[k]} s" for n, k in (("TTFT", "slo_ttft_s"), ("TPOT", "slo_tpot_s")) if sm.get(k) is not None)
        t.add_row(f"goodput requests/s ({slos})",
                  _fmt(sm["goodput_requests_per_s"]))
        t.add_row("goodput output tokens/s", _fmt(sm.get("goodput_output_tokens_per_s")))
        t.add_row("share of requests meeting the SLOs", _fmt(sm.get("goodput_fraction")))
    t.add_row("output tokens counted from", _fmt(sm.get("output_tokens_source")))
    t.add_row("input tokens counted from", _fmt(sm.get("input_tokens_source")))
    if sm.get("errors_by_type"):
        t.add_row("errors (kind:type)", _fmt(sm["errors_by_type"]))
    return t, d


def _print_run(run, db_path, as_json: bool, extra: dict | None = None) -> None:
    from inferonomics.cli._render import print_json

    sm = run.summary if run.summary is not None else run.summarize()
    if as_json:
        print_json({**run.header(), "config": run.config, "summary": sm, "database": str(db_path), **(extra or {})})
        return
    cfg = run.config
    load = (f"concurrency {cfg.get('concurrency')}" if cfg.get("mode") == "concurrency"
            else f"Poisson {cfg.get('rate_per_s')} req/s" + (f", at most {cfg['max_concurrency']} in flight"
                                                            if cfg.get("max_concurrency") else ""))
    lengths = f"ISL {cfg.get('isl')} / OSL {cfg.get('osl')}"
    if cfg.get("mode") == "trace":
        load = (f"trace {cfg.get('trace_file')} from {_fmt(cfg.get('trace_start_s'))} s, time x "
                f"{_fmt(cfg.get('time_scale'))}")
        lengths = "the trace's lengths"
    model = (cfg.get("endpoint") or {}).get("model") or cfg.get("model")
    title = f"run {run.id} ({run.status}): {cfg.get('url')} {cfg.get('api')} model {model}, {load}, {lengths}"
    t, d = _summary_table(title, sm)
    con = _console()
    con.print(t)
    con.print(d)
    if run.reason:
        con.print(f"[yellow]{run.status}:[/] {run.reason}")
    con.print(f"stored in {db_path}" + (f"; JSON written to {extra['out']}" if extra and extra.get("out") else ""))


def _write_out(path: str, runs, sweep_id: str | None = None) -> None:
    import json

    from inferonomics.cli._render import _jsonable
    from inferonomics.io import write_text_atomic

    def one(r):
        recs = []
        for rec in r.records:
            d = rec.to_dict()
            d.pop("output_text", None)
            recs.append(d)
        return {**r.header(), "config": r.config, "summary": r.summary if r.summary is not None else r.summarize(),
                "records": recs}

    doc = one(runs[0]) if sweep_id is None else {"sweep_id": sweep_id, "runs": [one(r) for r in runs]}
    write_text_atomic(path, json.dumps(_jsonable(doc), indent=1) + "\n")


def _csv_list(v: str, field: str, allowed) -> tuple[str, ...]:
    from inferonomics.errors import InputError

    items = tuple(s.strip() for s in v.split(",") if s.strip())
    bad = [s for s in items if s not in allowed]
    if bad or not items:
        raise InputError(field, v, f"a comma-separated list of {', '.join(allowed)}")
    return items


def _run_async(make_coro, on_interrupt):
    """Run a coroutine; Ctrl-C or SIGTERM cancels it (the run is stored as incomplete) → exit code 130."""
    import asyncio
    import signal

    async def main():
        task = asyncio.current_task()
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover - not on this platform
            pass
        return await make_coro()

    try:
        return asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        on_interrupt()
        raise typer.Exit(130) from None


# --- bench run ---------------------------------------------------------------------------------------
@bench_app.command("run")
def bench_run(
    url: Annotated[str, typer.Option("--url", help="Base URL of the OpenAI-compatible server, e.g. http://127.0.0.1:8000 (or .../v1).")],
    api: Annotated[str, typer.Option("--api", help="completions (/v1/completions) or chat (/v1/chat/completions).")] = "completions",
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model name to send (default: the first of /v1/models).")] = None,
    concurrency: Annotated[int | None, typer.Option("--concurrency", "-c", help="Fixed number of requests in flight.")] = None,
    rate: Annotated[float | None, typer.Option("--rate", help="Poisson arrivals at this many requests per second.")] = None,
    sweep: Annotated[bool, typer.Option("--sweep", help="Concurrency 1, 2, 4, ... until output throughput stops rising (one stored run per level).")] = False,
    max_concurrency: Annotated[int | None, typer.Option("--max-concurrency", help="With --rate: cap on requests in flight; with --sweep: the highest level (default 256).")] = None,
    min_gain: Annotated[float, typer.Option("--min-gain", help="--sweep stops when a level raises output tokens/s by less than this fraction.")] = 0.05,
    requests: Annotated[int | None, typer.Option("--requests", "--max-requests", "-n", help="Requests to send (the most, with --duration; per level with --sweep, at least 4 x concurrency). Default 32; with --trace, every request of the trace from --trace-start-s on.")] = None,
    duration: Annotated[float | None, typer.Option("--duration", help="Send no new request after this many seconds.")] = None,
    isl: Annotated[int, typer.Option("--isl", help="Input tokens per synthetic prompt, as the server counts them.")] = 128,
    osl: Annotated[int, typer.Option("--osl", help="Output tokens per request (max_tokens).")] = 64,
    prompts: Annotated[str | None, typer.Option("--prompts", help="JSONL file: one {\"prompt\": ...} or {\"messages\": [...]} per line (optional \"max_tokens\").")] = None,
    warmup: Annotated[int, typer.Option("--warmup", help="Requests sent (and stored) before the measured ones, not aggregated.")] = 0,
    ignore_eos: Annotated[bool, typer.Option("--ignore-eos/--no-ignore-eos", help="Send ignore_eos so every request produces max_tokens (vLLM, llama.cpp, SGLang).")] = True,
    stream_usage: Annotated[bool, typer.Option("--stream-usage/--no-stream-usage", help="Ask for usage in the stream (stream_options.include_usage).")] = True,
    temperature: Annotated[float | None, typer.Option("--temperature", help="Sampling temperature to send (default: the server's).")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds before a request counts as failed (timeout).")] = 300.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the prompts and of the Poisson arrivals.")] = 0,
    slo_ttft: Annotated[float | None, typer.Option("--slo-ttft-s", "--max-ttft-s", help="TTFT objective for goodput, seconds.")] = None,
    slo_tpot: Annotated[float | None, typer.Option("--slo-tpot-s", "--max-tpot-s", help="TPOT objective for goodput, seconds.")] = None,
    output_tokens_from: Annotated[str, typer.Option("--output-tokens-from", help="Order of sources for output token counts.")] = "usage,length,tokenizer,chunks",
    extra_body: Annotated[str | None, typer.Option("--extra-body", help="JSON object merged into every request body.")] = None,
    api_key_env: Annotated[str, typer.Option("--api-key-env", help="Environment variable holding the API key (sent as a Bearer token).")] = "OPENAI_API_KEY",
    max_connect_errors: Annotated[int, typer.Option("--max-connect-errors", help="Stop (run incomplete) after this many connection failures in a row.")] = 10,
    store_text: Annotated[bool, typer.Option("--store-text/--no-store-text", help="Keep each response's text in the run database (needed to count output tokens with the tokenizer).")] = True,
    label: Annotated[str | None, typer.Option("--label", help="A free-text label stored with the run.")] = None,
    out: Annotated[str | None, typer.Option("--out", help="Also write the run (config, summary, every request) to this JSON file.")] = None,
    trace: Annotated[str | None, typer.Option("--trace", help="Replay this trace file (Azure LLM CSV, BurstGPT CSV or Mooncake JSONL): each request at its timestamp, with a prompt of its input length and max_tokens = its output length.")] = None,
    trace_format: Annotated[str | None, typer.Option("--trace-format", help="azure, burstgpt or mooncake (default: detected from the file's first line).")] = None,
    time_scale: Annotated[float, typer.Option("--time-scale", help="With --trace: multiply the gaps between requests by this factor (0.1 replays ten times faster).")] = 1.0,
    trace_start_s: Annotated[float, typer.Option("--trace-start-s", help="With --trace: start at this many seconds after the trace's first request.")] = 0.0,
    replica: Annotated[str | None, typer.Option("--replica", help="With --trace: also simulate the same requests with this fitted replica (from `bench fit-replica`) and print measured and simulated percentiles side by side.")] = None,
    json_out: Json = False,
) -> None:
    """Load-test an endpoint and store the run (each request recorded as it completes).

    With --trace, replay a request trace (a measured day) and, with --replica, compare it with the fleet
    simulator's run of the same requests.

    Exit codes: 0 the run is stored; 2 bad input or the server cannot be used (nothing stored);
    3 the run is stored but every request failed; 130 interrupted (what was measured is kept)."""
    import json

    from inferonomics.bench import BenchConfig, Store
    from inferonomics.bench.records import OUTPUT_TOKEN_SOURCES
    from inferonomics.bench.runner import run_async, sweep_async
    from inferonomics.bench.store import new_run_id
    from inferonomics.errors import InputError

    modes = sum(x is not None and x is not False for x in (concurrency, rate, sweep or None, trace))
    if modes > 1:
        raise InputError("load", "--concurrency/--rate/--sweep/--trace",
                         "give one of --concurrency N, --rate R, --sweep or --trace FILE")
    if trace is None:
        for flag, v, default in (("--trace-format", trace_format, None), ("--time-scale", time_scale, 1.0),
                                 ("--trace-start-s", trace_start_s, 0.0), ("--replica", replica, None)):
            if v != default:
                raise InputError(flag.lstrip("-"), v, "applies to a trace replay only: add --trace FILE")
    eb = {}
    if extra_body:
        try:
            eb = json.loads(extra_body)
        except ValueError as exc:
            raise InputError("extra-body", extra_body, f"must be a JSON object ({exc})") from None
        if not isinstance(eb, dict):
            raise InputError("extra-body", extra_body, "must be a JSON object")
    cfg = BenchConfig(
        url=url, api=api, model=model, mode="rate" if rate is not None else "concurrency",
        concurrency=concurrency or 1, rate_per_s=rate, max_concurrency=max_concurrency,
        num_requests=requests or 32,
        duration_s=duration, isl=isl, osl=osl, prompts_file=prompts, warmup=warmup, seed=seed,
        ignore_eos=ignore_eos, stream_usage=stream_usage, temperature=temperature, timeout_s=timeout,
        extra_body=eb, output_tokens_from=_csv_list(output_tokens_from, "output-tokens-from", OUTPUT_TOKEN_SOURCES),
        slo_ttft_s=slo_ttft, slo_tpot_s=slo_tpot, max_consecutive_connect_errors=max_connect_errors, label=label,
        keep_text=store_text, trace_file=trace, trace_format=trace_format, time_scale=time_scale,
        trace_start_s=trace_start_s,
    )
    cfg.check()
    if trace is not None:  # read and check the trace (and the replica) before connecting or storing anything
        from inferonomics.bench.replay import load_trace, trace_window

        window = trace_window(load_trace(trace, trace_format), trace_start_s, time_scale, requests)
        rep = None
        if replica is not None:
            from inferonomics.bench.calibration import load_replica, replica_step_model

            rep = load_replica(replica)
            replica_step_model(rep)  # its model and accelerator are in the catalog
        cfg = replace(cfg, mode="trace", num_requests=len(window))
    if prompts:  # read and check the prompts file before connecting or storing anything
        from inferonomics.bench.prompts import load_jsonl

        load_jsonl(prompts, osl)
    if out:
        from inferonomics.io import check_output_path

        check_output_path(out, "--out")
    api_key = os.environ.get(api_key_env) or None
    store = Store()
    progress = _progress(json_out)
    if sweep:
        sid = "sweep-" + new_run_id()
        level_rows = []

        def on_level(run):
            level_rows.append(run)
            if not json_out:
                sm = run.summary or {}
                _console(stderr=True).print(
                    f"c={run.config['concurrency']}: {_fmt(sm.get('output_tokens_per_s'))} output tok/s, "
                    f"TTFT p50 {_fmt(sm.get('ttft_s_p50'))} s, TPOT mean {_fmt(sm.get('tpot_s_mean'))} s "
                    f"({run.status}) run {run.id}")

        def interrupted():
            runs = [store.load(i) for i in _safe_resolve(store, sid)]
            _after_interrupt(runs, store, out, json_out, sweep_id=sid)

        _, runs = _run_async(lambda: sweep_async(cfg, store, min_gain=min_gain, api_key=api_key, sweep_id=sid,
                                                 progress=progress, on_level=on_level), interrupted)
        if out:
            _write_out(out, runs, sweep_id=sid)
        _print_sweep(sid, runs, store, json_out, out)
        _exit_if_all_failed(runs)
        return
    rid = new_run_id()

    def interrupted():
        runs = [store.load(i) for i in _safe_resolve(store, rid)]
        _after_interrupt(runs, store, out, json_out)

    if trace is not None:
        from inferonomics.bench.replay import replay_async

        run = _run_async(lambda: replay_async(cfg, window, store, api_key=api_key, run_id=rid, progress=progress),
                         interrupted)
    else:
        run = _run_async(lambda: run_async(cfg, store, api_key=api_key, run_id=rid, progress=progress), interrupted)
    if out:
        _write_out(out, [run])
    extra = {"out": out}
    if trace is not None:
        extra["trace"] = {"file": trace, "requests": len(window), "duration_s": window.duration_s,
                          "time_scale": time_scale, "trace_start_s": trace_start_s}
        if rep is not None:
            extra["comparison"] = _trace_comparison(run, window, rep, replica)
    _print_run(run, store.path, json_out, extra)
    if not json_out and trace is not None:
        _print_trace_comparison(extra)
    _exit_if_all_failed([run])


def _trace_comparison(run, window, rep: dict, replica_file: str) -> dict:
    from inferonomics.bench.replay import compare, measured_arrays, simulate_trace

    sim = simulate_trace(window, rep)
    cmp = compare(measured_arrays(run.records, len(window)), sim)
    return {**cmp, "replica": replica_file, "step_model": sim["step_model"], "slots": sim["max_batch"],
            "engine": "des"}


def _print_trace_comparison(extra: dict) -> None:
    con = _console()
    tr = extra["trace"]
    cmp = extra.get("comparison")
    if cmp is None:
        con.print(f"trace {tr['file']}: {tr['requests']} requests over {_fmt(tr['duration_s'])} s. Compare with the "
                  "simulator: add --replica FILE (fit one with `inferonomics bench fit-replica RUN... --model M --gpu G`).")
        return
    from inferonomics.bench.replay import comparison_table

    reps = cmp.get("replications", 1)
    pooled = f", {reps} replications pooled" if reps > 1 else ""
    con.print(comparison_table(cmp, f"trace {tr['file']}: measured vs simulated ({cmp['engine']}, {cmp['step_model']}"
                                    f"{pooled}), {cmp['requests_compared']} requests"))
    lag = cmp["client_send_lag_s"]
    con.print(f"the client sent requests {_fmt(lag['p50'])} s late at the median, {_fmt(lag['p99'])} s at p99 "
              "(the simulator sends them on time)")


EXIT_ALL_FAILED = 3


def _exit_if_all_failed(runs) -> None:
    """Exit code 3 when requests were sent and none succeeded (the run is stored, with every error)."""
    sent = sum((r.summary or {}).get("n_requests") or 0 for r in runs)
    ok = sum((r.summary or {}).get("n_ok") or 0 for r in runs)
    if sent and not ok:
        _console(stderr=True).print(f"every one of the {sent} requests failed (exit code {EXIT_ALL_FAILED}); "
                                    "see the errors above or: inferonomics bench show RUN --requests")
        raise typer.Exit(EXIT_ALL_FAILED)


def _safe_resolve(store, ref: str) -> list[str]:
    from inferonomics.errors import InferonomicsError

    try:
        return store.resolve(ref)
    except InferonomicsError:
        return []


def _after_interrupt(runs, store, out, json_out, sweep_id=None) -> None:
    con = _console(stderr=True)
    if not runs:
        con.print("interrupted before a run was started; nothing was stored")
        return
    if out:
        _write_out(out, runs, sweep_id=sweep_id)
    n = sum(len([r for r in run.records if r.phase == "measure"]) for run in runs)
    con.print(f"interrupted: {n} measured requests kept in {store.path} "
              f"(runs {', '.join(r.id for r in runs)}, marked {runs[-1].status})")
    if sweep_id is None:
        _print_run(runs[0], store.path, json_out, {"out": out})


def _progress(json_out: bool):
    import sys

    if json_out or not sys.stderr.isatty():
        return None
    con = _console(stderr=True)
    state = {"last": 0.0}

    def cb(done: int, total: int, rec) -> None:
        import time

        now = time.monotonic()
        if now - state["last"] > 0.2 or done == total:
            state["last"] = now
            con.print(f"\r{done}/{total} requests", end="", highlight=False)
            if done == total:
                con.print("")

    return cb


def _print_sweep(sid, runs, store, json_out, out) -> None:
    from rich.table import Table

    from inferonomics.cli._render import print_json

    if json_out:
        print_json({"sweep_id": sid, "database": str(store.path), "out": out, "runs": [
            {**r.header(), "concurrency": r.config["concurrency"], "summary": r.summary} for r in runs]})
        return
    t = Table(title=f"sweep {sid}: {runs[0].config.get('url')} ISL {runs[0].config.get('isl')} / OSL "
              f"{runs[0].config.get('osl')}")
    cols = ["concurrency", "output_tokens_per_s", "request_throughput_per_s", "ttft_s_p50", "ttft_s_p99",
            "tpot_s_mean", "itl_s_p99", "n_errors"]
    heads = ["c", "out tok/s", "req/s", "TTFT p50", "TTFT p99", "TPOT mean", "ITL p99", "errors"]
    t.add_column("run", no_wrap=True)
    for h in heads:
        t.add_column(h, justify="right")
    t.add_column("status")
    for r in runs:
        sm = r.summary or {}
        t.add_row(r.id, str(r.config["concurrency"]), *(_fmt(sm.get(c)) for c in cols[1:]), r.status)
    con = _console()
    con.print(t)
    con.print(f"stored in {store.path}" + (f"; JSON written to {out}" if out else "")
              + f". Calibrate on all levels with: inferonomics calibrate {sid} --model ... --gpu ...")


# --- stored runs --------------------------------------------------------------------------------------
@bench_app.command("list")
def bench_list(json_out: Json = False) -> None:
    """List stored runs."""
    from rich.table import Table

    from inferonomics.bench import Store
    from inferonomics.cli._render import print_json

    store = Store()
    rows = []
    for r in store.list_runs():
        sm = r.summary or {}
        cfg = r.config
        rows.append({
            "id": r.id, "created_at": r.created_at, "status": r.status, "sweep_id": r.sweep_id, "label": r.label,
            "url": cfg.get("url"), "api": cfg.get("api"), "model": (cfg.get("endpoint") or {}).get("model"),
            "mode": cfg.get("mode"), "concurrency": cfg.get("concurrency") if cfg.get("mode") == "concurrency" else None,
            "rate_per_s": cfg.get("rate_per_s"), "isl": cfg.get("isl"), "osl": cfg.get("osl"),
            "n_ok": sm.get("n_ok"), "n_errors": sm.get("n_errors"), "output_tokens_per_s": sm.get("output_tokens_per_s"),
        })
    if json_out:
        print_json({"database": str(store.path), "runs": rows})
        return
    t = Table(title=f"{len(rows)} stored runs ({store.path})")
    labels = any(row["label"] for row in rows)
    for h in ("run", "status", "model", "load", "ISL/OSL", "ok/err", "out tok/s") + (("label",) if labels else ()):
        t.add_column(h, justify="right" if h in ("ok/err", "out tok/s") else "left", no_wrap=h in ("run", "status"))
    for row in rows:
        load = (f"c={row['concurrency']}" if row["mode"] == "concurrency" else f"{row['rate_per_s']}/s")
        t.add_row(row["id"], row["status"], _fmt(row["model"]), f"{row['api']} {load}", f"{row['isl']}/{row['osl']}",
                  f"{_fmt(row['n_ok'])}/{_fmt(row['n_errors'])}", _fmt(row["output_tokens_per_s"]),
                  *((_fmt(row["label"]),) if labels else ()))
    _console().print(t)


@bench_app.command("show")
def bench_show(
    run: RunRef,
    requests: Annotated[bool, typer.Option("--requests", help="Also list every request's record.")] = False,
    csv: Annotated[str | None, typer.Option("--csv", help="Write every request's record to this CSV file.")] = None,
    slo_ttft: Annotated[float | None, typer.Option("--slo-ttft-s", "--max-ttft-s", help="Recompute goodput with this TTFT objective, seconds.")] = None,
    slo_tpot: Annotated[float | None, typer.Option("--slo-tpot-s", "--max-tpot-s", help="Recompute goodput with this TPOT objective, seconds.")] = None,
    json_out: Json = False,
) -> None:
    """Show a stored run: its configuration, the metrics and (optionally) every request."""
    from inferonomics.bench import Store

    store = Store()
    r = store.load(run)
    r.summary = r.summarize(slo_ttft, slo_tpot)
    recs = [rec.to_dict() for rec in r.records]
    for d in recs:
        d.pop("output_text", None)
        d["itl_s"] = len(d["itl_s"])
    if csv:
        import pandas as pd

        from inferonomics.io import write_text_atomic

        write_text_atomic(csv, pd.DataFrame(recs).rename(columns={"itl_s": "n_itl"}).to_csv(index=False))
    extra = {"csv": csv}
    if json_out:
        if requests:
            extra["records"] = [rec.to_dict() for rec in r.records]
        _print_run(r, store.path, True, extra)
        return
    _print_run(r, store.path, False)
    if requests:
        from rich.table import Table

        t = Table(title=f"requests of run {r.id}")
        for h in ("#", "result", "start (s)", "TTFT (s)", "E2E (s)", "TPOT (s)", "in tok", "out tok (from)", "chunks"):
            t.add_column(h, justify="left" if h == "result" else "right")
        for d in recs:
            res = "ok" if d["ok"] else f"{d['error_kind']}:{d['error_type']}"
            t.add_row(str(d["idx"]) + ("w" if d["phase"] == "warmup" else ""), res, _fmt(d["start_s"]),
                      _fmt(d["ttft_s"]), _fmt(d["e2e_s"]), _fmt(d["tpot_s"]), _fmt(d["input_tokens"]),
                      f"{_fmt(d['output_tokens'])} ({d['output_tokens_source'] or '-'})", _fmt(d["output_chunks"]))
        _console().print(t)
    if csv:
        _console().print(f"wrote {csv}")


@bench_app.command("compare")
def bench_compare(
    runs: Annotated[list[str], typer.Argument(help="Run ids (prefixes, 'latest' or a sweep id).")],
    json_out: Json = False,
) -> None:
    """Compare stored runs side by side."""
    from rich.table import Table

    from inferonomics.bench import Store
    from inferonomics.cli._render import print_json

    store = Store()
    ids = [i for ref in runs for i in store.resolve(ref)]
    loaded = [store.load(i) for i in ids]
    cols = []
    for r in loaded:
        sm = r.summary if r.summary is not None else r.summarize()
        cfg = r.config
        cols.append({"id": r.id, "status": r.status, "mode": cfg.get("mode"),
                     "concurrency": cfg.get("concurrency") if cfg.get("mode") == "concurrency" else None,
                     "rate_per_s": cfg.get("rate_per_s"), "isl": cfg.get("isl"), "osl": cfg.get("osl"),
                     "model": (cfg.get("endpoint") or {}).get("model"), "summary": sm})
    if json_out:
        print_json({"runs": cols})
        return
    t = Table(title="runs compared")
    t.add_column("figure")
    for c in cols:
        t.add_column(c["id"], justify="right")
    for k in COMPARE_ROWS:
        t.add_row(k, *(_fmt(c[k] if k in c else c["summary"].get(k)) for c in cols))
    _console().print(t)


@bench_app.command("delete")
def bench_delete(run: RunRef, json_out: Json = False) -> None:
    """Delete a stored run and its requests."""
    from inferonomics.bench import Store
    from inferonomics.cli._render import print_json

    store = Store()
    ids = store.resolve(run)
    for i in ids:
        store.delete_run(i)
    if json_out:
        print_json({"deleted": ids})
    else:
        _console().print(f"deleted {', '.join(ids)}")


# --- money ---------------------------------------------------------------------------------------------
@bench_app.command("cost")
def bench_cost(
    run: RunRef,
    usd_per_gpu_hour: Annotated[float | None, typer.Option("--usd-per-gpu-hour", "--rent-usd-per-gpu-hour", help="Price of one GPU-hour (rented), USD.")] = None,
    gpus: Annotated[int, typer.Option("--gpus", help="GPUs serving the endpoint during the run.")] = 1,
    gpu: Annotated[str | None, typer.Option("--gpu", "-g", help="Accelerator slug: its catalog rental price, or with --own its ownership cost.")] = None,
    own: O.Own = False,
    region: O.Region = "us-average",
    utilization: O.Utilization = None,
    life_years: O.LifeYears = None,
    cost_of_capital: O.CostOfCapital = None,
    prefill_share: Annotated[float | None, typer.Option("--prefill-time-share", help="Share of GPU time charged to input tokens (default: measured, mean TTFT / mean E2E).")] = None,
    slo_ttft: Annotated[float | None, typer.Option("--slo-ttft-s", "--max-ttft-s", help="Also cost the goodput under this TTFT objective, seconds.")] = None,
    slo_tpot: Annotated[float | None, typer.Option("--slo-tpot-s", "--max-tpot-s", help="Also cost the goodput under this TPOT objective, seconds.")] = None,
    json_out: Json = False,
) -> None:
    """Measured $ per million output and input tokens of a stored run."""
    from rich.table import Table

    from inferonomics.bench import Store, measured_cost
    from inferonomics.cli._render import print_json
    from inferonomics.cost import OwnershipAssumptions

    r = Store().load(run)
    res = measured_cost(
        r, usd_per_gpu_hour=usd_per_gpu_hour, gpus=gpus, gpu=gpu, own=own, region=region, utilization=utilization,
        prefill_time_share=prefill_share, slo_ttft_s=slo_ttft, slo_tpot_s=slo_tpot,
        assumptions=OwnershipAssumptions(life_years=life_years, cost_of_capital=cost_of_capital),
    )
    if json_out:
        print_json(res)
        return
    how = (f"{gpus}x {gpu or 'GPU'} at {_fmt(res['usd_per_gpu_hour'])} USD/GPU-h ({res['mode']}"
           + (f", {region}" if res["mode"] == "own" else "") + f"), utilization {res['utilization']}")
    t = Table(title=f"Measured cost of run {r.id} ({r.status}): {how}")
    t.add_column("figure")
    t.add_column("value", justify="right")
    rows = [
        ("output_tokens_per_s", "measured output tokens/s"), ("input_tokens_per_s", "measured input tokens/s"),
        ("output_tokens_per_s_per_gpu", "output tokens/s per GPU"), ("usd_per_hour", "USD per hour (all GPUs)"),
        ("prefill_time_share", "prefill time share"), ("usd_per_mtok_output", "USD per M output tokens"),
        ("usd_per_mtok_input", "USD per M input tokens"), ("usd_per_mtok_output_all_in", "USD per M output tokens, all-in"),
        ("usd_per_mtok_blended", "USD per M tokens, blended"),
        ("goodput_output_tokens_per_s", "goodput output tokens/s"),
        ("usd_per_mtok_output_goodput_all_in", "USD per M output tokens within SLO, all-in"),
    ]
    for k, label in rows:
        if k in res:
            t.add_row(label, _fmt(res[k]))
    con = _console()
    con.print(t)
    con.print(f"prefill time share: {res['prefill_time_share_source']}. All-in charges every GPU-hour to output tokens.")


# --- calibrate -----------------------------------------------------------------------------------------
def calibrate(
    runs: Annotated[list[str], typer.Argument(help="Run ids (prefixes, 'latest' or a sweep id, which means all its levels).")],
    model: O.Model,
    gpu: O.Gpu,
    gpus: O.Gpus = 1,
    tp: O.Tp = None,
    ep: O.Ep = 1,
    pp: O.Pp = 1,
    weights: O.Weights = "bf16",
    kv: O.Kv = None,
    scheduler: O.Scheduler = "continuous",
    metrics: Annotated[str, typer.Option("--metrics", help="Measured figures to fit.")] = "output_tokens_per_s,tpot_s,ttft_s",
    prior_sigma: Annotated[float, typer.Option("--prior-sigma", help="Width of the log-normal prior on each factor.")] = 0.5,
    catalog_dir: Annotated[str | None, typer.Option("--catalog-dir", help="User catalog directory to read and to write the calibration file to (default: $INFERONOMICS_CATALOG_DIR, else <data dir>/catalog).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Fit and report, write nothing.")] = False,
    json_out: Json = False,
) -> None:
    """Fit the performance model's efficiency factors of the accelerator's family to measured runs and save a
    user calibration file that perf, cost and the scenarios then use."""
    from rich.table import Table

    from inferonomics.bench import Store, calibrate_runs
    from inferonomics.bench.calibration import _SUMMARY_KEY
    from inferonomics.cli._render import print_json

    if catalog_dir:
        os.environ["INFERONOMICS_CATALOG_DIR"] = catalog_dir
    env_dir = os.environ.get("INFERONOMICS_CATALOG_DIR")
    store = Store()
    ids = list(dict.fromkeys(i for ref in runs for i in store.resolve(ref)))
    loaded = [store.load(i) for i in ids]
    res = calibrate_runs(
        loaded, model=model, gpu=gpu, gpus=gpus, tp=tp, pp=pp, ep=ep, weights=weights, kv=kv, scheduler=scheduler,
        metrics=_csv_list(metrics, "metrics", tuple(_SUMMARY_KEY)), prior_sigma=prior_sigma, write=not dry_run,
    )
    res["catalog_dir_in_use"] = env_dir
    if json_out:
        print_json(res)
        return
    con = _console()
    t = Table(title=f"Calibration of family '{res['family']}' on {res['n_points']} measured points "
              f"({model} on {gpus}x {gpu})")
    for c in ("run", "metric", "concurrency", "measured", "predicted_before", "predicted_after", "error_before",
              "error_after"):
        t.add_column(c, justify="left" if c in ("run", "metric") else "right")
    for p in res["points"]:
        t.add_row(p["run"], p["metric"], _fmt(p["concurrency"]), _fmt(p["measured"]), _fmt(p["predicted_before"]),
                  _fmt(p["predicted_after"]), f"{p['error_before']:+.1%}", f"{p['error_after']:+.1%}")
    con.print(t)
    f = Table(title="efficiency factors")
    f.add_column("factor")
    f.add_column("before", justify="right")
    f.add_column("after", justify="right")
    for k, v in res["factors_after"].items():
        f.add_row(k, _fmt(res["factors_before"][k]), _fmt(v))
    con.print(f)
    from inferonomics.present import percent

    con.print(f"median |error| on the measured points: before {percent(res['median_abs_error_before'])}, "
              f"after {percent(res['median_abs_error_after'])}")
    for n in res["notes"]:
        con.print(f"[yellow]note:[/] {n}")
    if res["file"]:
        con.print(f"wrote {res['file']}")
        if not env_dir:
            con.print(f"perf and cost use it with --catalog-dir {res['catalog_dir']} "
                      f"(or export INFERONOMICS_CATALOG_DIR={res['catalog_dir']})")


@bench_app.command("fit-replica")
def bench_fit_replica(
    runs: Annotated[list[str], typer.Argument(help="Run ids (prefixes, 'latest' or a sweep id): --concurrency 1 runs at a few --isl and --osl values, plus an open-loop run (--rate or --trace) at the load to simulate, which measures what arrivals, queues and idle periods cost.")],
    model: O.Model,
    gpu: O.Gpu,
    slots: Annotated[int, typer.Option("--slots", help="Sequences the server runs at once (llama-cpp-python's server: 1; vLLM: its max_num_seqs).")] = 1,
    gpus: O.Gpus = 1,
    tp: O.Tp = None,
    weights: O.Weights = "bf16",
    kv: O.Kv = None,
    prior_sigma: Annotated[float, typer.Option("--prior-sigma", help="Width of the log-normal prior on each efficiency factor.")] = 0.5,
    out: Annotated[str | None, typer.Option("--out", help="Write the replica file here (JSON), for `bench run --trace ... --replica FILE`.")] = None,
    json_out: Json = False,
) -> None:
    """Fit a replica of the measured server for the fleet simulator: the performance model calibrated on the
    closed-loop runs, the overheads outside it (per request, per prompt token, per decode step) and, from
    open-loop runs, what arrivals, waiting requests and idle periods cost, with the fit quality."""
    import json

    from rich.table import Table

    from inferonomics.bench import Store
    from inferonomics.bench.calibration import fit_replica
    from inferonomics.cli._render import _jsonable, print_json

    if out:
        from inferonomics.io import check_output_path

        check_output_path(out, "--out")
    store = Store()
    ids = list(dict.fromkeys(i for ref in runs for i in store.resolve(ref)))
    res = fit_replica([store.load(i) for i in ids], model=model, gpu=gpu, slots=slots, gpus=gpus, tp=tp,
                      weights=weights, kv=kv, prior_sigma=prior_sigma)
    if out:
        from inferonomics.io import write_text_atomic

        write_text_atomic(out, json.dumps(_jsonable(res), indent=1) + "\n")
    if json_out:
        print_json({**res, "file": out})
        return
    con = _console()
    t = Table(title=f"replica of {model} on {gpus}x {gpu}, {slots} slot(s): overheads outside the performance model, "
              f"fitted on {res['n_requests']} requests")
    t.add_column("term")
    t.add_column("value", justify="right")
    for k, v in res["overheads"].items():
        t.add_row(k, f"{v:.4g}")
    sp = res.get("decode_speed_percentiles")
    if sp:
        n = len(sp) - 1
        t.add_row("decode speed between streams, p10 / p90", f"{sp[round(0.1 * n)]:.3g} / {sp[round(0.9 * n)]:.3g}")
    sc = res.get("decode_speed_correlation")
    if sp and sc:
        t.add_row("decode speed correlation of two streams gap s apart",
                  f"{sc['share']:.2f} x exp(-gap / {sc['decay_s']:.3g} s)")
    con.print(t)
    q = Table(title="fit quality per request (|simulated / measured - 1|)")
    for c in ("metric", "median", "p90", "mean signed", "R²", "model alone: median"):
        q.add_column(c, justify="left" if c == "metric" else "right")
    for m, f in res["fit"].items():
        pct = (lambda x: "-" if x is None else f"{x:.1%}")
        q.add_row(m, pct(f["median_abs_rel_error"]), pct(f["p90_abs_rel_error"]), pct(f.get("mean_rel_error")),
                  _fmt(f["r2"]), pct(f["model_only"]["median_abs_rel_error"]))
    con.print(q)
    for n in res["notes"]:
        con.print(f"[yellow]note:[/] {n}")
    if out:
        con.print(f"wrote {out}; replay a trace against it with: inferonomics bench run --url URL --trace FILE "
                  f"--replica {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
    app.command("calibrate")(calibrate)
