"""Option types shared by the commands (one definition, so names never drift from the CLI contract)."""

from __future__ import annotations

from typing import Annotated

import typer

Model = Annotated[str, typer.Option("--model", "-m", help="Model slug (see: inferonomics catalog list models).")]
Gpu = Annotated[str, typer.Option("--gpu", "-g", help="Accelerator slug (see: inferonomics catalog list accelerators).")]
Gpus = Annotated[int | None, typer.Option("--gpus", help="All GPUs of the deployment (default 1, or one P+D unit); the ones beyond one instance are replicas.")]
Tp = Annotated[int | None, typer.Option("--tp", help="Tensor-parallel degree (default: all GPUs / pp, or 1 with --ep).")]
Ep = Annotated[int, typer.Option("--ep", help="Expert-parallel degree, attention data-parallel across it (MoE only).")]
Pp = Annotated[int, typer.Option("--pp", help="Pipeline-parallel stages.")]
Weights = Annotated[str, typer.Option("--weights", "--precision", help="Weight precision: bf16, fp16, fp8, int8, int4, fp4; llama.cpp GGUF: q4_0, q4_k_m, q8_0.")]
Kv = Annotated[str | None, typer.Option("--kv", help="KV-cache precision: bf16, fp16, fp8 (default: fp8 for fp8/fp4 weights, else the weight precision).")]
Isl = Annotated[int, typer.Option("--isl", help="Input (prompt) tokens per request.")]
Osl = Annotated[int, typer.Option("--osl", help="Output tokens per request.")]
Concurrency = Annotated[float | None, typer.Option("--concurrency", help="Requests in flight over the whole deployment.")]
MaxThroughput = Annotated[bool, typer.Option("--max-throughput", help="As many requests in flight as memory allows (offline benchmark).")]
Json = Annotated[bool, typer.Option("--json", help="Print one machine-readable JSON object.")]
Region = Annotated[str, typer.Option("--region", help="Region slug for electricity price and PUE.")]
Utilization = Annotated[float | None, typer.Option("--utilization", help="Fraction of hours the deployment serves (default: catalog constant).")]
Rent = Annotated[float | None, typer.Option("--rent-usd-per-gpu-hour", "--usd-per-gpu-hour", help="Rental price, USD per GPU-hour; default: the accelerator's catalog rental price.")]
Own = Annotated[bool, typer.Option("--own", help="Own the hardware: capex annuity, power x PUE, facility and operations.")]
LifeYears = Annotated[float | None, typer.Option("--life-years", help="Ownership: years over which capex is recovered.")]
CostOfCapital = Annotated[float | None, typer.Option("--cost-of-capital", "--discount-rate", help="Ownership: yearly cost of capital, the discount rate (0.08 = 8%).")]
Scheduler = Annotated[str, typer.Option("--scheduler", help="continuous (in-flight batching, default) or static (fixed batches, as offline latency benchmarks).")]
# Production serving (disaggregation, wide EP, prefix caching, speculative decoding) and latency targets.
PrefillGpus = Annotated[int | None, typer.Option("--prefill-gpus", help="Disaggregated serving: prefill GPUs per P+D unit (with --decode-gpus; --gpus is then a whole number of units).")]
DecodeGpus = Annotated[int | None, typer.Option("--decode-gpus", help="Disaggregated serving: decode GPUs per P+D unit.")]
PrefillTp = Annotated[int | None, typer.Option("--prefill-tp", help="Tensor-parallel degree of a prefill instance (default: all prefill GPUs, or 1 with --prefill-ep).")]
PrefillEp = Annotated[int, typer.Option("--prefill-ep", help="Expert-parallel degree of a prefill instance.")]
DecodeTp = Annotated[int | None, typer.Option("--decode-tp", help="Tensor-parallel degree of a decode instance (same as --tp).")]
DecodeEp = Annotated[int | None, typer.Option("--decode-ep", help="Expert-parallel degree of a decode instance (same as --ep).")]
PrefixHitRate = Annotated[float, typer.Option("--prefix-hit-rate", help="Share of input tokens served from a prefix cache (0-1): their prefill is skipped.")]
MtpTokens = Annotated[int, typer.Option("--mtp-tokens", help="Speculative decoding / multi-token prediction: draft tokens per decode step.")]
MtpAcceptRate = Annotated[float | None, typer.Option("--mtp-accept-rate", help="Accepted / drafted tokens (a step yields 1 + K x A tokens); default: catalog constant mtp_accept_rate.")]
RedundantExperts = Annotated[int, typer.Option("--redundant-experts", help="Extra copies of hot experts spread over the EP ranks (EPLB) against load imbalance.")]
Tbo = Annotated[bool | None, typer.Option("--tbo/--no-tbo", help="Two-batch overlap of all-to-all with computation (default: on for expert-parallel disaggregated pools).")]
Engine = Annotated[str, typer.Option("--engine", help="Efficiency profile: generic (shared fit, default), trtllm, vllm, sglang, llama.cpp.")]
MaxTpot = Annotated[float | None, typer.Option("--max-tpot-s", "--slo-tpot-s", help="Latency target, seconds: pick the highest-throughput load whose time per output token is at most this.")]
MaxTtft = Annotated[float | None, typer.Option("--max-ttft-s", "--slo-ttft-s", help="Latency target, seconds: pick the highest-throughput load whose time to first token is at most this.")]


# One vocabulary across commands.  The spellings below are the old names of options, still accepted for one
# release but not shown in --help: each becomes a hidden option of its own, merged into the canonical one
# (giving both spellings with different values is an error).  ``{command: {old: canonical}}`` holds the
# spellings that are old in one command only (``-o`` is the output directory of ``report``).
OLD_SPELLINGS: dict[str, str] = {
    "--precision": "--weights",
    "--usd-per-gpu-hour": "--rent-usd-per-gpu-hour",
    "--discount-rate": "--cost-of-capital",
    "--slo-tpot-s": "--max-tpot-s",
    "--slo-ttft-s": "--max-ttft-s",
    "--price-in-usd-per-mtok": "--price-in",
    "--price-out-usd-per-mtok": "--price-out",
}
OLD_SPELLINGS_OF_COMMAND: dict[str, dict[str, str]] = {
    "provider sensitivity": {"--output": "--metric", "-o": "--metric"},
}


def _old_spellings(command: str) -> dict[str, str]:
    return {**OLD_SPELLINGS, **OLD_SPELLINGS_OF_COMMAND.get(command, {})}


def hide_old_spellings(cmd, path: tuple[str, ...] = ()) -> None:
    """Split every old spelling of an option (:data:`OLD_SPELLINGS`) off into a hidden option of its own, so
    ``--help`` shows one name per option while the old names still work; the command merges them back."""
    import copy

    old = _old_spellings(" ".join(path))
    merges: list[tuple[object, list[object], bool]] = []
    params = []
    for p in cmd.params:
        params.append(p)
        if getattr(p, "param_type_name", None) != "option":
            continue
        aliases = [o for o in p.opts if o in old]
        if not aliases:
            continue
        keep = [o for o in p.opts if o not in old]
        canonical = _long_name(keep)
        p.all_spellings = tuple(p.opts)  # for the range of a value that could not be parsed
        p.opts = keep
        clones = []
        for a in aliases:
            c = copy.copy(p)
            c.opts, c.secondary_opts = [a], []
            c.name = f"{p.name}__old_{a.lstrip('-').replace('-', '_')}"
            c.default, c.required, c.hidden = None, False, True
            c.help = f"Old spelling of {canonical}, accepted for one release."
            clones.append(c)
            params.append(c)
        merges.append((p, clones, p.required))
        p.required = False  # the old spelling may supply it: checked after the merge
    cmd.params = params
    if merges and cmd.callback is not None:
        cmd.callback = _merging(cmd.callback, merges)
    for name, sub in (getattr(cmd, "commands", None) or {}).items():
        hide_old_spellings(sub, path + (name,))


def _merging(callback, merges):
    """``callback`` with the values of old spellings moved into their canonical option."""
    from typer._click.core import ParameterSource
    from typer._click.exceptions import MissingParameter
    from typer._click.globals import get_current_context

    from inferonomics.errors import InputError

    class SpellingConflict(InputError):
        problem = "conflicts with another spelling of the same option"

    given_sources = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)

    def merged(**kwargs):
        ctx = get_current_context()
        for p, clones, required in merges:
            given = []
            if ctx.get_parameter_source(p.name) in given_sources:
                given.append((_long_name(p.opts), kwargs[p.name]))
            for c in clones:
                value = kwargs.pop(c.name)
                if ctx.get_parameter_source(c.name) in given_sources:
                    given.append((c.opts[0], value))
            values = {repr(v) for _, v in given}
            if len(values) > 1:
                (a, va), (b, vb) = given[0], next(g for g in given[1:] if repr(g[1]) != repr(given[0][1]))
                raise SpellingConflict(a, _shown(va), f"{b} was given {_shown(vb)!r}; give it once, as {_long_name(p.opts)}")
            if given:
                kwargs[p.name] = given[-1][1]
            elif required:
                raise MissingParameter(ctx=ctx, param=p)
        return callback(**kwargs)

    return merged


def _long_name(opts) -> str:
    return next((o for o in opts if o.startswith("--")), opts[0])


def _shown(value):
    return list(value) if isinstance(value, tuple) else value
