"""compare and margin: the questions users ask, one command each; the numbers agree with cost()."""

import json

import pytest

from inferonomics.cli import main
from inferonomics.cost import cost
from inferonomics.cost.answers import INTERACTIVE_MAX_TPOT_S, compare, margin


def test_compare_picks_the_cheapest_config_per_accelerator_at_equal_latency():
    df = compare("qwen3-235b-a22b", ["h20", "h100-sxm", "ascend-910b"], gpus=8, max_tpot_s=0.05)
    assert set(df["gpu"]) == {"h20", "h100-sxm", "ascend-910b"}
    assert (df["tpot_s"] <= 0.05 + 1e-9).all()
    assert df["winner"].sum() == 1
    win = df[df["winner"]].iloc[0]
    assert win["usd_per_mtok_blended"] == df["usd_per_mtok_blended"].min()
    # each row is exactly cost() of its configuration at its operating point
    for _, r in df.iterrows():
        c = cost("qwen3-235b-a22b", r["gpu"], gpus=8, weights=r["weights"], ep=int(r["ep"]), isl=1024, osl=256,
                 concurrency=float(r["concurrency"]))
        assert c["usd_per_mtok_output"] == pytest.approx(r["usd_per_mtok_output"], rel=1e-9)
        assert c["usd_per_mtok_input"] == pytest.approx(r["usd_per_mtok_input"], rel=1e-9)


def test_compare_keeps_an_accelerator_that_cannot_serve_with_its_reason():
    df = compare("qwen3-235b-a22b", ["h20", "l40s"], gpus=2, max_tpot_s=0.05, weights=["bf16"])
    assert df["usd_per_mtok_blended"].isna().all() and not df["winner"].any()
    assert df["note"].str.contains("does not fit").all()


def test_compare_defaults_to_the_interactive_target():
    df = compare("llama-3.1-8b", ["h100-sxm"], gpus=1)
    assert df["max_tpot_s"].iloc[0] == INTERACTIVE_MAX_TPOT_S


def test_margin_adds_up_and_breaks_even_where_the_margin_is_zero():
    kw = dict(gpus=8, weights="fp8", isl=1024, osl=256)
    res = margin("llama-3.1-70b", "h100-sxm", price_in_usd_per_mtok=0.5, price_out_usd_per_mtok=2.0, **kw)
    s, lines = res["summary"], res["lines"].set_index("line")["usd_per_mtok"]
    assert s["revenue_usd_per_mtok"] == pytest.approx((0.5 * 1024 + 2.0 * 256) / 1280)
    costs = lines.drop(["revenue", "gross margin"])
    assert lines["revenue"] + costs.sum() == pytest.approx(lines["gross margin"])
    assert s["gross_margin_usd_per_mtok"] == pytest.approx(lines["gross margin"])
    be = s["breakeven_utilization"]
    assert be is not None and 0 < be < 1
    # rented: the cost per token scales as 1/utilization, so margin is zero where cost x u0 / u = revenue
    assert be == pytest.approx(s["utilization"] * s["cost_usd_per_mtok"] / s["revenue_usd_per_mtok"], rel=1e-6)
    at_be = margin("llama-3.1-70b", "h100-sxm", price_in_usd_per_mtok=0.5, price_out_usd_per_mtok=2.0,
                   utilization=be, **kw)["summary"]
    assert at_be["gross_margin_usd_per_mtok"] == pytest.approx(0.0, abs=1e-6)


def test_margin_prices_cache_hits_at_the_hit_price():
    base = dict(price_in_usd_per_mtok=0.55, price_out_usd_per_mtok=2.19, gpus=16, weights="fp8")
    s = margin("deepseek-r1", "h800", prefix_hit_rate=0.5, price_in_cache_hit_usd_per_mtok=0.14, **base)["summary"]
    rev = (0.5 * 0.14 + 0.5 * 0.55) * 1024 / 1280 + 2.19 * 256 / 1280
    assert s["revenue_usd_per_mtok"] == pytest.approx(rev)
    cin = 0.5 * s["cost_usd_per_mtok_input_cache_hit"] + 0.5 * s["cost_usd_per_mtok_input_cache_miss"]
    assert s["cost_usd_per_mtok"] == pytest.approx((cin * 1024 + s["cost_usd_per_mtok_output"] * 256) / 1280)


def test_margin_cli_picks_the_fewest_gpus_that_fit(capsys):
    rc = main(["margin", "--model", "deepseek-r1", "--gpu", "h800", "--price-in", "0.55", "--price-out", "2.19",
               "--prefix-hit-rate", "0.5", "--json"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d["gpus"] == 16 and d["prefix_hit_rate"] == 0.5 and d["max_tpot_s"] == INTERACTIVE_MAX_TPOT_S
    assert d["lines"][0]["line"] == "revenue" and d["lines"][-1]["line"] == "gross margin"


def test_compare_cli_json_and_table(capsys):
    argv = ["compare", "--model", "qwen3-235b-a22b", "--gpu", "h20", "--gpu", "h100-sxm", "--gpu", "ascend-910b",
            "--gpus", "8", "--max-tpot-s", "0.05"]
    assert main([*argv, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["winner"] in ("h20", "h100-sxm", "ascend-910b") and len(d["rows"]) == 3
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"Cheapest: {d['winner']}" in out and "e+" not in out and "None" not in out


@pytest.mark.parametrize("argv", [
    ["margin", "--model", "deepseek-r1", "--gpu", "h800", "--price-in", "-1", "--price-out", "2"],
    ["margin", "--model", "deepseek-r1", "--gpu", "h800", "--price-in", "1", "--price-out", "2",
     "--prefix-hit-rate", "1.5"],
    ["compare", "--model", "nope", "--gpu", "h20"],
])
def test_bad_input_is_exit_code_2_with_the_field(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error" in err.lower() and "Traceback" not in err


def test_breakeven_without_a_latency_target_uses_the_stated_interactive_default():
    from inferonomics.decide.api import with_default_slo
    from inferonomics.decide.workload import load_workload, split_volume, val, with_overrides

    i, o, isl = split_volume(1e11, None, None, None, None)
    assert (i, o, isl) == (pytest.approx(8e10), pytest.approx(2e10), 2048)  # 0.8 input share; 4 x 512 prompt tokens
    w = with_overrides(None, input_tokens_per_month=i, output_tokens_per_month=o, isl_tokens=isl,
                       model="llama-3.1-70b", name="custom")
    w2, note = with_default_slo(w)
    assert val(w2.slo.max_tpot_s) == INTERACTIVE_MAX_TPOT_S and "50 ms" in note
    # a workload that states a target keeps it, with no note
    bank = load_workload("bank-sovereign")
    assert with_default_slo(bank) == (bank, None)
