"""The ``inferonomics`` command line (Typer + Rich).

Heavy libraries (NumPy, pandas, pydantic, YAML) are imported inside the commands so that
``inferonomics --help`` stays instant.  Errors raised on purpose (:class:`InferonomicsError`) print one
paragraph and exit with code 2, never a traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from inferonomics.cli import _fast
from inferonomics.cli import _options as O

app = _fast.deferred_groups_typer(typer.Typer)(
    name="inferonomics",
    help="Unit economics of AI inference: from the silicon to the balance sheet.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
catalog_app = typer.Typer(help="List and show catalog records (accelerators, models, regions).", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")


@app.callback()
def _root(
    catalog_dir: Annotated[
        str | None,
        typer.Option(
            "--catalog-dir",
            help="Directory of user YAML files that add or override catalog records "
            "(default: $INFERONOMICS_CATALOG_DIR).",
        ),
    ] = None,
) -> None:
    if catalog_dir:
        os.environ["INFERONOMICS_CATALOG_DIR"] = catalog_dir


def _dep_kwargs(model, gpu, gpus, tp, pp, ep, weights, kv, isl, osl, concurrency=None, scheduler="continuous",
                **prod):
    """Deployment keyword arguments from the shared options; ``prod`` holds the production-serving options."""
    from inferonomics.errors import InputError

    decode_tp, decode_ep = prod.pop("decode_tp", None), prod.pop("decode_ep", None)
    if decode_tp is not None:
        if tp is not None and tp != decode_tp:
            raise InputError("decode_tp", decode_tp, f"conflicts with --tp {tp}; give one of them")
        tp = decode_tp
    if decode_ep is not None:
        if ep != 1 and ep != decode_ep:
            raise InputError("decode_ep", decode_ep, f"conflicts with --ep {ep}; give one of them")
        ep = decode_ep
    disagg = prod.get("prefill_gpus") is not None or prod.get("decode_gpus") is not None
    if gpus is None:
        gpus = 1
    kw = dict(
        model=model, gpu=gpu, gpus=gpus, tp=tp, pp=pp, ep=ep, weights=weights, kv=kv, isl=isl, osl=osl,
        concurrency=concurrency, scheduler=scheduler, **{k: v for k, v in prod.items() if k not in ("max_tpot_s", "max_ttft_s")},
    )
    if not disagg:
        for k in ("prefill_gpus", "decode_gpus", "prefill_tp"):
            kw.pop(k, None)
    return kw


def _slo(prod: dict) -> dict:
    return {k: prod[k] for k in ("max_tpot_s", "max_ttft_s")}


def _need_load(concurrency: float | None, max_throughput: bool, slo: dict | None = None) -> float | None:
    from inferonomics.errors import InputError

    has_slo = bool(slo) and any(v is not None for v in slo.values())
    if has_slo:
        if concurrency is not None or max_throughput:
            raise InputError(
                "concurrency", concurrency if concurrency is not None else "--max-throughput",
                "a latency target (--max-tpot-s/--max-ttft-s) picks the load; give it alone",
            )
        return None
    if concurrency is None and not max_throughput:
        raise InputError(
            "concurrency", None, "give --concurrency N (requests in flight), --max-throughput, or a latency "
            "target (--max-tpot-s S / --max-ttft-s S)",
        )
    if concurrency is not None and max_throughput:
        raise InputError("concurrency", concurrency, "give --concurrency or --max-throughput, not both")
    return concurrency


@app.command()
def perf(
    model: O.Model,
    gpu: O.Gpu,
    gpus: O.Gpus = None,
    tp: O.Tp = None,
    ep: O.Ep = 1,
    pp: O.Pp = 1,
    weights: O.Weights = "bf16",
    kv: O.Kv = None,
    isl: O.Isl = 1024,
    osl: O.Osl = 256,
    concurrency: O.Concurrency = None,
    max_throughput: O.MaxThroughput = False,
    scheduler: O.Scheduler = "continuous",
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
    max_tpot_s: O.MaxTpot = None,
    max_ttft_s: O.MaxTtft = None,
    json_out: O.Json = False,
) -> None:
    """Throughput, latency and memory of one deployment (co-located or prefill/decode disaggregated)."""
    from inferonomics.cli import _render
    from inferonomics.perf import predict

    prod = _prod(locals())
    conc = _need_load(concurrency, max_throughput, _slo(prod))
    r = predict(**_dep_kwargs(model, gpu, gpus, tp, pp, ep, weights, kv, isl, osl, conc, scheduler, **prod), **_slo(prod))
    _render.result(r, json_out, kind="perf")


@app.command()
def cost(
    model: O.Model,
    gpu: O.Gpu,
    gpus: O.Gpus = None,
    tp: O.Tp = None,
    ep: O.Ep = 1,
    pp: O.Pp = 1,
    weights: O.Weights = "bf16",
    kv: O.Kv = None,
    isl: O.Isl = 1024,
    osl: O.Osl = 256,
    concurrency: O.Concurrency = None,
    max_throughput: O.MaxThroughput = False,
    scheduler: O.Scheduler = "continuous",
    region: O.Region = "us-average",
    utilization: O.Utilization = None,
    rent: O.Rent = None,
    own: O.Own = False,
    life_years: O.LifeYears = None,
    cost_of_capital: O.CostOfCapital = None,
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
    max_tpot_s: O.MaxTpot = None,
    max_ttft_s: O.MaxTtft = None,
    json_out: O.Json = False,
) -> None:
    """Cost per GPU-hour and per million tokens of one deployment, with every line item."""
    from inferonomics.cli import _render
    from inferonomics.cost import OwnershipAssumptions
    from inferonomics.cost import cost as _cost

    prod = _prod(locals())
    conc = _need_load(concurrency, max_throughput, _slo(prod))
    r = _cost(
        region=region,
        utilization=utilization,
        rent_usd_per_gpu_hour=rent,
        own=own,
        assumptions=OwnershipAssumptions(life_years=life_years, cost_of_capital=cost_of_capital),
        **_dep_kwargs(model, gpu, gpus, tp, pp, ep, weights, kv, isl, osl, conc, scheduler, **prod),
        **_slo(prod),
    )
    _render.result(r, json_out, kind="cost")


@app.command()
def frontier(
    model: O.Model,
    gpu: O.Gpu,
    gpus: O.Gpus = None,
    tp: O.Tp = None,
    ep: O.Ep = 1,
    pp: O.Pp = 1,
    weights: O.Weights = "bf16",
    kv: O.Kv = None,
    isl: O.Isl = 1024,
    osl: O.Osl = 256,
    points: Annotated[int, typer.Option(help="Concurrency levels from 1 to the most that fits.", min=2)] = 24,
    csv: Annotated[str | None, typer.Option("--csv", help="Also write the frontier to this CSV file.")] = None,
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
    max_tpot_s: O.MaxTpot = None,
    max_ttft_s: O.MaxTtft = None,
    pd_search: Annotated[bool, typer.Option("--pd-search", help="Disaggregated: search prefill:decode mixes of 1-8 instances each instead of a concurrency sweep.")] = False,
    json_out: O.Json = False,
) -> None:
    """Throughput-interactivity frontier: tokens/s per GPU against tokens/s per user as concurrency varies
    (or, with --pd-search, the best point of every prefill:decode mix)."""
    from inferonomics.cli import _render
    from inferonomics.perf import frontier as _frontier

    prod = _prod(locals())
    kw = _dep_kwargs(model, gpu, gpus, tp, pp, ep, weights, kv, isl, osl, None, "continuous", **prod)
    kw.pop("concurrency")
    if pd_search:
        from inferonomics.perf.api import pd_ratios

        df = pd_ratios(**kw, **_slo(prod))
        _render.pd_table(df, json_out, csv)
        return
    df = _frontier(points=points, **kw, **_slo(prod))
    _render.frontier(df, json_out, csv)


_PROD_KEYS = (
    "prefill_gpus", "decode_gpus", "prefill_tp", "prefill_ep", "decode_tp", "decode_ep", "prefix_hit_rate",
    "mtp_tokens", "mtp_accept_rate", "redundant_experts", "tbo", "engine", "max_tpot_s", "max_ttft_s",
)


def _prod(scope: dict) -> dict:
    """The production-serving options of a command's arguments."""
    return {k: scope[k] for k in _PROD_KEYS}


@catalog_app.command("list")
def catalog_list(
    kind: Annotated[str, typer.Argument(help="accelerators, models or regions")],
    json_out: O.Json = False,
) -> None:
    """List the records of one kind."""
    from inferonomics.cli import _render

    _render.catalog_list(kind, json_out)


@catalog_app.command("show")
def catalog_show(
    slug: Annotated[str, typer.Argument(help="An accelerator, model or region slug.")],
    json_out: O.Json = False,
) -> None:
    """Show one record with the source of every value."""
    from inferonomics.cli import _render

    _render.catalog_show(slug, json_out)


@app.command()
def demo(
    region: O.Region = "us-average",
    json_out: O.Json = False,
) -> None:
    """The main job on built-in defaults: cost per million tokens for flagship model/accelerator pairs."""
    from inferonomics.cli import _render

    _render.demo(region, json_out)


# Command groups of later capabilities live in their own modules, each with ``register(app)``; a module
# that is not there (yet) is skipped.  They import only Typer at module level, to keep start-up instant.
# The commands defined in this module, kept apart so that running one of them builds only these (Typer
# resolves the options of every registered command when it builds the command line: ~50 ms for all groups).
_CORE_COMMANDS = list(app.registered_commands)
_CORE_GROUPS = list(app.registered_groups)

# (registered the first time something looks at the app's commands, so that a core command skips importing them)
app.defer("inferonomics.cli", ("provider", "decide", "prices", "bench", "report", "fleet", "market", "answers"))


def _core_app() -> typer.Typer:
    """The same command line with only this module's commands (perf, cost, frontier, catalog, demo)."""
    core = typer.Typer(
        name=app.info.name, help=app.info.help, no_args_is_help=True, add_completion=False,
        pretty_exceptions_enable=False,
    )
    core.registered_callback = app.registered_callback
    core.registered_commands = list(_CORE_COMMANDS)
    core.registered_groups = list(_CORE_GROUPS)
    return core


def _core_names() -> set[str]:
    names = {c.name or c.callback.__name__ for c in _CORE_COMMANDS}
    return names | {g.name for g in _CORE_GROUPS}


def _command_word(argv: list[str]) -> str | None:
    """The first command word of ``argv`` (root options and their values skipped)."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--catalog-dir":
            i += 2
            continue
        if a.startswith("-"):
            return None  # --help, --version...: the whole command line
        return a
    return None


_ARGV: list[str] = []  # the command line being run, so a range error names the option as typed


def guard_numbers(cmd, path: tuple[str, ...] = ()) -> None:
    """Put every numeric option of every command through the one validation layer (:mod:`inferonomics.limits`):
    finite and within its documented range, checked before the command runs; the range goes into ``--help``."""
    from inferonomics.limits import Limit, check_number, flag_limit

    for p in cmd.params:
        if getattr(getattr(p, "type_descriptor", None), "annotation", None) not in (int, float):
            continue
        # the range is keyed by the longest spelling; an error names the spelling the user typed
        opt = max(p.opts, key=len)
        lim = flag_limit(" ".join(path), opt) or Limit()
        prev = p.callback

        def check(ctx, param, value, _lim=lim, _opt=opt, _prev=prev, _opts=tuple(p.opts)):
            if value is not None:
                typed = [o for o in _opts if o.startswith("--") and any(a == o or a.startswith(o + "=") for a in _ARGV)]
                check_number(typed[-1] if typed else _opt, value, _lim)
            return _prev(ctx, param, value) if _prev is not None else value

        p.callback = check
        if p.help and "(Allowed:" not in p.help and "must be" not in p.help:
            p.help = f"{p.help} (Allowed: {lim.describe().removeprefix('must be ')}.)"  # [..] is Rich markup
    for name, sub in (getattr(cmd, "commands", None) or {}).items():
        guard_numbers(sub, path + (name,))


def command(typer_app: typer.Typer | None = None):
    """The click command tree that ``main`` runs: every numeric option range-checked, old spellings hidden."""
    cmd = typer.main.get_command(app if typer_app is None else typer_app)
    guard_numbers(cmd)
    O.hide_old_spellings(cmd)
    return cmd


def _explain_bad_value(exc, argv: list[str]) -> str | None:
    """A value Typer could not parse (``--paths abc``): the message naming the option, the value given and the
    range allowed; ``None`` for any other usage error."""
    param = getattr(exc, "param", None)
    opts = list(getattr(param, "opts", None) or [])
    if not opts or getattr(getattr(param, "type_descriptor", None), "annotation", None) not in (int, float):
        return None
    raw = typed = None
    for i, a in enumerate(argv):
        for o in opts:
            if a == o and i + 1 < len(argv):
                raw, typed = argv[i + 1], o
            elif a.startswith(o + "="):
                raw, typed = a[len(o) + 1:], o
    if raw is None:
        return None
    from inferonomics.limits import Limit, flag_limit

    opt = max(getattr(param, "all_spellings", None) or opts, key=len)  # the key of the range, as guard_numbers
    path, c = [], getattr(exc, "ctx", None)
    while c is not None and getattr(c, "parent", None) is not None:
        path.insert(0, c.info_name)
        c = c.parent
    lim = flag_limit(" ".join(path), opt) or Limit(integer=param.type_descriptor.annotation is int)
    ctx = getattr(exc, "ctx", None)
    hint = f"\nTry '{ctx.command_path} --help' for help." if ctx is not None and ctx.command_path else ""
    return f"error: {typed}: {raw!r} is not allowed; {lim.describe()}.{hint}"


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the Typer app; purposeful errors → one paragraph on stderr, exit code 2."""
    from inferonomics.errors import InferonomicsError

    _ARGV[:] = list(sys.argv[1:] if argv is None else argv)
    args = list(_ARGV)
    try:
        word = _command_word(args)
        done = False
        if word in _core_names():  # a plain call of a core command runs without Typer's parser (and pydantic)
            done, rc = _fast.run(app, _CORE_COMMANDS, args)
        if not done:
            cmd = command(_core_app() if word in _core_names() else app)
            rc = cmd(args=argv, standalone_mode=False)
    except InferonomicsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("aborted", file=sys.stderr)
        return 1
    except Exception as exc:
        # Usage errors of click (vendored inside recent Typer releases): bad option values, missing options.
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            # a number Typer could not read gets our one line (value and range); anything else click's message
            msg = _explain_bad_value(exc, sys.argv[1:] if argv is None else argv)
            if msg is None:
                exc.show()
            else:
                print(msg, file=sys.stderr)
            return 2
        raise
    return rc if isinstance(rc, int) else 0
