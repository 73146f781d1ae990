"""One flag vocabulary: every option documented, old spellings still accepted but hidden from --help."""

import json
import re

import pytest

from inferonomics.cli import app, command, main
from inferonomics.cli._options import OLD_SPELLINGS, OLD_SPELLINGS_OF_COMMAND


def _options(cmd, path=()):
    for p in cmd.params:
        if p.param_type_name == "option":
            yield path, p
    for name, sub in (getattr(cmd, "commands", None) or {}).items():
        yield from _options(sub, (*path, name))


def _commands(cmd, path=()):
    subs = getattr(cmd, "commands", None) or {}
    if not subs:
        yield path
    for name, sub in subs.items():
        yield from _commands(sub, (*path, name))


def test_every_option_has_help_text():
    missing = [(" ".join(path), p.opts) for path, p in _options(command(app))
               if not (p.help or "").strip() and p.name != "help"]
    assert not missing, missing


def test_no_option_shows_an_old_spelling_and_each_old_spelling_is_still_an_option():
    seen = set()
    for path, p in _options(command(app)):
        old = {**OLD_SPELLINGS, **OLD_SPELLINGS_OF_COMMAND.get(" ".join(path), {})}
        if p.hidden:
            assert len(p.opts) == 1 and p.opts[0] in old, (path, p.opts)
            seen.add(p.opts[0])
        else:
            assert not set(p.opts) & set(old), (path, p.opts)
    assert seen == set(OLD_SPELLINGS) | {o for d in OLD_SPELLINGS_OF_COMMAND.values() for o in d}


def test_help_of_every_command_names_only_the_canonical_spellings(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    paths = list(_commands(command(app)))
    assert len(paths) > 20
    old = re.compile("|".join(re.escape(o) + r"(?![\w-])" for o in OLD_SPELLINGS))
    for path in paths:
        rc = main([*path, "--help"])
        out = capsys.readouterr().out
        assert rc == 0 and "Usage" in out, path
        assert not old.search(out), (path, old.search(out).group(0))
        if path == ("provider", "sensitivity"):
            assert "--metric" in out and not re.search(r"(?<![\w-])(-o|--output)(?![\w-])", out)
    out = _help(capsys, "cost")
    for canonical in ("--weights", "--rent-usd-per-gpu-hour", "--cost-of-capital", "--max-tpot-s", "--max-ttft-s"):
        assert canonical in out
    assert "-o" in _help(capsys, "report")  # -o stays the output directory of the report
    assert "(Allowed: a whole number" in out  # the range of a numeric option is in its help (not eaten as markup)


def _help(capsys, *path):
    assert main([*path, "--help"]) == 0
    return capsys.readouterr().out


def _json(capsys, argv):
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_alias_spellings_give_the_same_answer(capsys):
    base = ["cost", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--own"]
    a = _json(capsys, [*base, "--weights", "fp8", "--cost-of-capital", "0.1", "--max-tpot-s", "0.03"])
    b = _json(capsys, [*base, "--precision", "fp8", "--discount-rate", "0.1", "--slo-tpot-s", "0.03"])
    assert a["usd_per_mtok_output"] == b["usd_per_mtok_output"] and a["weights"] == "fp8"
    c = _json(capsys, [*base, "--weights", "int4", "--cost-of-capital", "0.1", "--max-tpot-s", "0.03"])
    assert c["weights"] == "int4" and c["usd_per_mtok_output"] != a["usd_per_mtok_output"]  # the value is used
    r1 = _json(capsys, ["cost", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--concurrency", "8",
                        "--rent-usd-per-gpu-hour", "3"])
    r2 = _json(capsys, ["cost", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--concurrency", "8",
                        "--usd-per-gpu-hour", "3"])
    assert r1["usd_per_gpu_hour"] == r2["usd_per_gpu_hour"] == 3
    # the same value under both spellings is not a conflict
    r3 = _json(capsys, ["cost", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--concurrency", "8",
                        "--usd-per-gpu-hour", "3", "--rent-usd-per-gpu-hour", "3.0"])
    assert r3["usd_per_gpu_hour"] == 3


def test_an_old_spelling_supplies_a_required_option(capsys):
    argv = ["margin", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--price-out", "0.6"]
    a = _json(capsys, [*argv, "--price-in", "0.2"])
    b = _json(capsys, [*argv, "--price-in-usd-per-mtok", "0.2"])
    assert a == b
    assert main(argv) == 2
    assert "--price-in" in capsys.readouterr().err


@pytest.mark.parametrize("argv, first, second", [
    (["cost", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--concurrency", "8", "--weights", "fp8",
      "--precision", "int4"], "--weights", "--precision"),
    (["cost", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--concurrency", "8", "--usd-per-gpu-hour", "3",
      "--rent-usd-per-gpu-hour", "4"], "--rent-usd-per-gpu-hour", "--usd-per-gpu-hour"),
    (["breakeven", "--tokens-per-month", "1e9", "--model", "llama-3.1-8b", "--discount-rate", "0.1",
      "--cost-of-capital", "0.2"], "--cost-of-capital", "--discount-rate"),
    (["provider", "sensitivity", "alibaba-100b", "--metric", "revenue_usd", "-o", "gross_margin"],
     "--metric", "-o"),
])
def test_two_spellings_with_different_values_are_an_error(capsys, argv, first, second):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {first}: ") and f"{second} was given" in err and "give it once" in err, err
    assert "Traceback" not in err


def test_a_range_error_names_the_spelling_typed(capsys):
    argv = ["cost", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--own", "--concurrency", "8"]
    assert main([*argv, "--discount-rate", "7"]) == 2
    assert "--discount-rate" in capsys.readouterr().err
    assert main([*argv, "--cost-of-capital", "7"]) == 2
    assert "--cost-of-capital" in capsys.readouterr().err
    assert main([*argv, "--discount-rate", "nan"]) == 2
    assert "--discount-rate: nan is not allowed" in capsys.readouterr().err
    assert main([*argv, "--discount-rate", "eight"]) == 2  # not a number at all: the range is still given
    err = capsys.readouterr().err
    assert "--discount-rate: 'eight' is not allowed" in err and "at most 1" in err, err
