"""One flag vocabulary: every option documented, old spellings still accepted as aliases."""

import json

import typer

from inferonomics.cli import app, main


def _options(cmd, path=()):
    for p in cmd.params:
        if p.param_type_name == "option":
            yield path, p
    for name, sub in (getattr(cmd, "commands", None) or {}).items():
        yield from _options(sub, (*path, name))


def test_every_option_has_help_text():
    missing = [(" ".join(path), p.opts) for path, p in _options(typer.main.get_command(app))
               if not (p.help or "").strip() and p.name != "help"]
    assert not missing, missing


def _json(capsys, argv):
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_alias_spellings_give_the_same_answer(capsys):
    base = ["cost", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--own"]
    a = _json(capsys, [*base, "--weights", "fp8", "--cost-of-capital", "0.1", "--max-tpot-s", "0.03"])
    b = _json(capsys, [*base, "--precision", "fp8", "--discount-rate", "0.1", "--slo-tpot-s", "0.03"])
    assert a["usd_per_mtok_output"] == b["usd_per_mtok_output"] and a["weights"] == "fp8"
    r1 = _json(capsys, ["cost", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--concurrency", "8",
                        "--rent-usd-per-gpu-hour", "3"])
    r2 = _json(capsys, ["cost", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--concurrency", "8",
                        "--usd-per-gpu-hour", "3"])
    assert r1["usd_per_gpu_hour"] == r2["usd_per_gpu_hour"] == 3


def test_a_range_error_names_the_spelling_typed(capsys):
    argv = ["cost", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--own", "--concurrency", "8"]
    assert main([*argv, "--discount-rate", "7"]) == 2
    assert "--discount-rate" in capsys.readouterr().err
    assert main([*argv, "--cost-of-capital", "7"]) == 2
    assert "--cost-of-capital" in capsys.readouterr().err
