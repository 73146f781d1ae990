"""The short way through the command line (inferonomics.cli._fast): a well-formed core command hands the
domain function exactly what Typer would; anything else is left to Typer, which prints what it always did."""

import json
import subprocess
import sys

import pytest

from inferonomics import cli
from inferonomics.cli import _fast


class _Called(Exception):
    pass


@pytest.fixture
def record(monkeypatch):
    """The keyword arguments the commands hand to the domain functions (which then stop the command)."""
    import inferonomics.cost
    import inferonomics.perf

    calls = []

    def fake(name):
        def f(*args, **kwargs):
            calls.append((name, args, kwargs))
            raise _Called

        return f

    monkeypatch.setattr(inferonomics.perf, "predict", fake("predict"))
    monkeypatch.setattr(inferonomics.perf, "frontier", fake("frontier"))
    monkeypatch.setattr(inferonomics.cost, "cost", fake("cost"))
    return calls


def _typer_way(argv):
    cli._ARGV[:] = argv
    cmd = cli.command(cli._core_app())  # what main() runs when the short way declines
    cmd(args=argv, standalone_mode=False)


def _short_way(argv):
    cli._ARGV[:] = argv
    return _fast.run(cli.app, cli._CORE_COMMANDS, argv)


M = ["--model", "llama-3.1-70b", "--gpu", "h100-sxm"]
SAME = [
    ["perf", *M, "--gpus", "4", "--weights", "fp8", "--isl", "2048", "--osl", "512", "--concurrency", "64", "--json"],
    ["perf", "--model=deepseek-v3", "--gpu=h200", "--gpus=16", "--ep=16", "--max-throughput", "--tbo"],
    ["perf", "-m", "llama-3.1-8b", "-g", "h100-sxm", "--precision", "fp8", "--concurrency", "1e2", "--no-tbo"],
    ["perf", *M, "--gpus", "8", "--slo-tpot-s", ".05", "--engine", "vllm", "--prefix-hit-rate", "0.5"],
    ["perf", *M, "--prefill-gpus", "8", "--decode-gpus", "16", "--decode-ep", "16", "--mtp-tokens", "1",
     "--mtp-accept-rate", "0.7", "--redundant-experts", "32", "--max-ttft-s", "2"],
    ["perf", *M, "--concurrency", "3", "--scheduler", "static", "--kv", "bf16", "--tp", "2", "--pp", "2"],
    ["cost", *M, "--gpus", "4", "--concurrency", "64", "--own", "--region", "cn-east", "--life-years", "4",
     "--discount-rate", "0.1", "--utilization", "0.6", "--json"],
    ["cost", *M, "--concurrency", "8", "--usd-per-gpu-hour", "2.5"],
    ["frontier", *M, "--gpus", "4", "--points", "5", "--json"],
    ["--catalog-dir", "tests", "perf", *M, "--concurrency", "1"],
    ["--catalog-dir=tests", "perf", *M, "--gpus", "08", "--max-tpot-s", "5E-2", "--prefix-hit-rate", "0"],
    ["perf", *M, "--isl", "0012", "--concurrency", "1.", "--prefix-hit-rate", ".5", "--mtp-accept-rate", "1e-1"],
]


@pytest.mark.parametrize("argv", SAME, ids=lambda a: " ".join(a)[:60])
def test_the_short_way_hands_on_what_typer_does(argv, record, monkeypatch):
    monkeypatch.delenv("INFERONOMICS_CATALOG_DIR", raising=False)
    with pytest.raises(_Called):
        _typer_way(argv)
    monkeypatch.delenv("INFERONOMICS_CATALOG_DIR", raising=False)
    with pytest.raises(_Called):
        _short_way(argv)
    (typer_call, short_call) = record
    assert short_call == typer_call
    for k, v in short_call[2].items():  # the same types too: 64.0, not 64
        assert type(v) is type(typer_call[2][k]), k


LEFT_TO_TYPER = [
    ["perf", "--help"],
    ["--help"],
    ["perf", "--gpu", "h100-sxm", "--concurrency", "1"],  # a required option missing
    ["perf", *M, "--gpus", "-3", "--concurrency", "1"],  # negative: out of range
    ["perf", *M, "--gpus", "0", "--concurrency", "1"],  # out of range
    ["perf", *M, "--gpus", "nan", "--concurrency", "1"],
    ["perf", *M, "--gpus", "4.0", "--concurrency", "1"],
    ["perf", *M, "--concurrency", "1e999"],  # not finite
    ["perf", *M, "--prefix-hit-rate", "1.5", "--concurrency", "1"],
    ["perf", *M, "--concurrency", "1", "--bogus"],
    ["perf", *M, "--concurrency", "1", "--concurrency", "2"],  # given twice
    ["perf", *M, "--weights", "fp8", "--precision", "fp8", "--concurrency", "1"],  # one option, two spellings
    ["perf", *M, "--concurrency", "1", "--json=yes"],
    ["perf", *M, "--concurrency", "1", "extra"],
    ["perf", *M, "--concurrency", "1", "--"],
    ["perf", *M, "--concurrency"],
    ["perf", "--model", "--gpu", "h100-sxm", "--concurrency", "1"],
    ["perf", "-mllama-3.1-8b", "--gpu", "h100-sxm", "--concurrency", "1"],
    ["--catalog-dir", "tests"],
    ["--bogus", "perf", *M],
    ["catalog", "list", "models"],
    ["provider", "--help"],
]


@pytest.mark.parametrize("argv", LEFT_TO_TYPER, ids=lambda a: " ".join(a)[:60])
def test_anything_unusual_is_left_to_typer(argv, record, monkeypatch):
    monkeypatch.delenv("INFERONOMICS_CATALOG_DIR", raising=False)
    assert _short_way(argv) == (False, None)
    assert record == []
    import os

    assert "INFERONOMICS_CATALOG_DIR" not in os.environ  # nothing ran, not even the root options


def test_messages_are_typers(capsys):
    assert cli.main(["perf", *M, "--gpus", "0", "--concurrency", "1"]) == 2
    assert capsys.readouterr().err == ("error: --gpus: 0 is not allowed; must be a whole number (GPUs) at least 1 "
                                       "and at most 100,000.\n")
    assert cli.main(["perf", "--gpu", "h100-sxm", "--concurrency", "1"]) == 2
    assert "Missing option '--model'" in capsys.readouterr().err
    # a number that cannot be read: one message with the option, the value and the range, not click's too
    assert cli.main(["provider", "run", "alibaba-100b", "--paths", "abc"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --paths: 'abc' is not allowed; must be a whole number (Monte Carlo paths) at least 1")
    assert "Invalid value" not in err and err.count("error") == 1 and "provider run --help' for help." in err


def test_a_prediction_imports_neither_typers_converters_nor_pydantic(tmp_path):
    code = ("import sys\nfrom inferonomics.cli import main\n"
            f"rc = main({SAME[0]!r})\n"
            "print(rc, sorted(m for m in ('pydantic', 'typer._adapters', 'numpy', 'rich', 'yaml',"
            " 'inferonomics.cli.provider') if m in sys.modules), file=sys.stderr)\n")
    env = {"INFERONOMICS_CACHE_DIR": str(tmp_path / "cache")}
    import os

    env = {**os.environ, **env}
    subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True)  # fills the cache
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stderr.strip() == "0 []"
    assert '"output_tokens_per_s_per_gpu"' in out.stdout
    d = json.loads(out.stdout)  # the GiB figures under their names and their deprecated _gb aliases
    assert d["memory_per_gpu_gib"] == d["memory_per_gpu_gb"] > d["weights_per_gpu_gib"] == d["weights_per_gpu_gb"] > 0


def test_every_command_is_registered_for_help_and_the_other_commands():
    names = {c.name or c.callback.__name__ for c in cli.app.registered_commands}
    groups = {g.name for g in cli.app.registered_groups}
    assert {"perf", "cost", "frontier", "demo"} <= names and "catalog" in groups
    assert len(names | groups) > len(cli._core_names())  # the deferred groups are there once looked at
