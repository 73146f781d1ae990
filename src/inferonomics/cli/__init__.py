"""The ``inferonomics`` command line (Typer + Rich).

Heavy libraries (NumPy, pandas, pydantic, YAML) are imported inside the commands so that
``inferonomics --help`` stays instant.  Errors raised on purpose (:class:`InferonomicsError`) print one
paragraph and exit with code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Annotated, Optional

import typer

from inferonomics.cli import _options as O

app = typer.Typer(
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
        Optional[str],
        typer.Option(
            "--catalog-dir",
            help="Directory of user YAML files that add or override catalog records "
            "(default: $INFERONOMICS_CATALOG_DIR).",
        ),
    ] = None,
) -> None:
    if catalog_dir:
        os.environ["INFERONOMICS_CATALOG_DIR"] = catalog_dir


def _dep_kwargs(model, gpu, gpus, tp, pp, ep, weights, kv, isl, osl, concurrency=None, scheduler="continuous"):
    return dict(
        model=model, gpu=gpu, gpus=gpus, tp=tp, pp=pp, ep=ep, weights=weights, kv=kv, isl=isl, osl=osl,
        concurrency=concurrency, scheduler=scheduler,
    )


def _need_load(concurrency: Optional[float], max_throughput: bool) -> Optional[float]:
    from inferonomics.errors import InputError

    if concurrency is None and not max_throughput:
        raise InputError("concurrency", None, "give --concurrency N (requests in flight) or --max-throughput")
    if concurrency is not None and max_throughput:
        raise InputError("concurrency", concurrency, "give --concurrency or --max-throughput, not both")
    return concurrency


@app.command()
def perf(
    model: O.Model,
    gpu: O.Gpu,
    gpus: O.Gpus = 1,
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
    json_out: O.Json = False,
) -> None:
    """Throughput, latency and memory of one deployment."""
    from inferonomics.cli import _render
    from inferonomics.perf import predict

    conc = _need_load(concurrency, max_throughput)
    r = predict(**_dep_kwargs(model, gpu, gpus, tp, pp, ep, weights, kv, isl, osl, conc, scheduler))
    _render.result(r, json_out, kind="perf")


@app.command()
def cost(
    model: O.Model,
    gpu: O.Gpu,
    gpus: O.Gpus = 1,
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
    json_out: O.Json = False,
) -> None:
    """Cost per GPU-hour and per million tokens of one deployment, with every line item."""
    from inferonomics.cli import _render
    from inferonomics.cost import OwnershipAssumptions
    from inferonomics.cost import cost as _cost

    conc = _need_load(concurrency, max_throughput)
    r = _cost(
        region=region,
        utilization=utilization,
        rent_usd_per_gpu_hour=rent,
        own=own,
        assumptions=OwnershipAssumptions(life_years=life_years, cost_of_capital=cost_of_capital),
        **_dep_kwargs(model, gpu, gpus, tp, pp, ep, weights, kv, isl, osl, conc, scheduler),
    )
    _render.result(r, json_out, kind="cost")


@app.command()
def frontier(
    model: O.Model,
    gpu: O.Gpu,
    gpus: O.Gpus = 1,
    tp: O.Tp = None,
    ep: O.Ep = 1,
    pp: O.Pp = 1,
    weights: O.Weights = "bf16",
    kv: O.Kv = None,
    isl: O.Isl = 1024,
    osl: O.Osl = 256,
    points: Annotated[int, typer.Option(help="Concurrency levels from 1 to the most that fits.", min=2)] = 24,
    csv: Annotated[Optional[str], typer.Option("--csv", help="Also write the frontier to this CSV file.")] = None,
    json_out: O.Json = False,
) -> None:
    """Throughput-interactivity frontier: tokens/s per GPU against tokens/s per user as concurrency varies."""
    from inferonomics.cli import _render
    from inferonomics.perf import frontier as _frontier

    kw = _dep_kwargs(model, gpu, gpus, tp, pp, ep, weights, kv, isl, osl)
    kw.pop("concurrency")
    df = _frontier(points=points, **kw)
    _render.frontier(df, json_out, csv)


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
for _name in ("provider", "decide", "prices", "bench", "report"):
    if importlib.util.find_spec(f"inferonomics.cli.{_name}") is not None:
        importlib.import_module(f"inferonomics.cli.{_name}").register(app)


def guard_numbers(cmd, path: tuple[str, ...] = ()) -> None:
    """Put every numeric option of every command through the one validation layer (:mod:`inferonomics.limits`):
    finite and within its documented range, checked before the command runs; the range goes into ``--help``."""
    from inferonomics.limits import Limit, check_number, flag_limit

    for p in cmd.params:
        if getattr(getattr(p, "type_descriptor", None), "annotation", None) not in (int, float):
            continue
        opt = max(p.opts, key=len)
        lim = flag_limit(" ".join(path), opt) or Limit()
        prev = p.callback

        def check(ctx, param, value, _lim=lim, _opt=opt, _prev=prev):
            if value is not None:
                check_number(_opt, value, _lim)
            return _prev(ctx, param, value) if _prev is not None else value

        p.callback = check
        if p.help and "must be" not in p.help:
            p.help = f"{p.help} [{lim.describe()}]"
    for name, sub in (getattr(cmd, "commands", None) or {}).items():
        guard_numbers(sub, path + (name,))


def _explain_bad_value(exc, argv: list[str]) -> None:
    """A value Typer could not parse (``--gpus nan``): say the value given and the range allowed."""
    param = getattr(exc, "param", None)
    opts = list(getattr(param, "opts", None) or [])
    if not opts or getattr(getattr(param, "type_descriptor", None), "annotation", None) not in (int, float):
        return
    raw = None
    for i, a in enumerate(argv):
        for o in opts:
            if a == o and i + 1 < len(argv):
                raw = argv[i + 1]
            elif a.startswith(o + "="):
                raw = a[len(o) + 1:]
    if raw is None:
        return
    from inferonomics.limits import Limit, flag_limit

    opt = max(opts, key=len)
    path, c = [], getattr(exc, "ctx", None)
    while c is not None and getattr(c, "parent", None) is not None:
        path.insert(0, c.info_name)
        c = c.parent
    lim = flag_limit(" ".join(path), opt) or Limit(integer=param.type_descriptor.annotation is int)
    print(f"error: {opt}: {raw!r} is not allowed; {lim.describe()}.", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the Typer app; purposeful errors → one paragraph on stderr, exit code 2."""
    from inferonomics.errors import InferonomicsError

    try:
        cmd = typer.main.get_command(app)
        guard_numbers(cmd)
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
            exc.show()
            _explain_bad_value(exc, sys.argv[1:] if argv is None else argv)
            return 2
        raise
    return rc if isinstance(rc, int) else 0
