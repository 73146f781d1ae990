"""The one presentation layer: hand-checked strings for every kind of figure, and labels with units."""

import math

import pytest

from inferonomics import present as P


@pytest.mark.parametrize(("v", "want"), [
    (0.0982, "$0.09820"), (2.5, "$2.500"), (1234.5, "$1,234"), (1.4e8, "$140m"), (-7.6e9, "-$7.60bn"),
    (1.2e11, "$120bn"), (0, "$0"), (None, "-"), (float("nan"), "-"),
])
def test_money(v, want):
    assert P.money(v) == want


def test_numbers_never_use_scientific_notation():
    for v in (2.95e10, 1.2e-5, 3.3e-9, 7.77e14):
        for s in (P.number(v), P.money(v), P.tokens(v), P.sig(v)):
            assert "e" not in s.lower() or s.endswith("bn"), s
    assert P.number(2.95e10) == "29,500,000,000"
    assert P.sig(1.2e-5) == "0.00001200"


def test_whole_numbers_have_no_decimals():
    assert P.number(8.0) == "8" and P.number(1024.0) == "1,024" and P.number(2.5) == "2.500"
    assert P.value("gpus", 8.0) == "8"


def test_tokens_percent_seconds():
    assert P.tokens(1.2e12) == "1.20T" and P.tokens(1e11) == "100bn" and P.tokens(2.5e8) == "250M"
    assert P.tokens(512) == "512"
    assert P.percent(0.147) == "14.7%" and P.percent(-4.5058) == "-450.6%" and P.percent(12.5) == "1,250%"
    assert P.seconds(0.05) == "50.00 ms" and P.seconds(2.67742) == "2.677 s"


def test_probability_carries_its_standard_error():
    # sqrt(0.147 * 0.853 / 10000) = 0.00354 -> 0.4 percentage points
    assert P.probability(0.147, 10_000) == "14.7% ± 0.4 pp"
    assert P.probability(0.5, 100) == "50.0% ± 5.0 pp"
    assert P.probability(None, 100) == "-"


@pytest.mark.parametrize(("name", "v", "want"), [
    ("revenue_usd_p50", 6.29e10, "$62.9bn"), ("gross_margin", 0.341, "34.1%"), ("tpot_s", 0.05, "50.00 ms"),
    ("fleet_gpus_p50", 2.58e6, "2.58M"), ("rnd_to_gross_profit", math.inf, "GP <= 0"),
    ("usd_per_mtok_output", 0.0982, "$0.09820"), ("output_tokens_per_s_per_gpu", 29_500.0, "29,500"),
    ("tokens_per_month", 1e11, "100bn"), ("year", 2031.0, "2031"), ("memory_bw_gb_s", 2039.0, "2,039"), ("month", 36, "36"), ("p_revenue_at_least_target", 0.147, "14.7%"),
])
def test_value_by_the_unit_in_the_name(name, v, want):
    assert P.value(name, v) == want


def test_labels_carry_units_and_no_snake_case():
    assert P.label("usd_per_mtok_output") == "$ per M output tokens"
    assert P.label("revenue_usd_p50") == "Revenue ($), median"
    assert P.label("capex_usd_p90") == "Capex ($), P90"
    assert P.label("p_revenue_at_least_target") == "P(revenue at least target)"
    assert P.label("memory_bw_gb_s") == "Memory bw (GB/s)"
    for name in ("output_tokens_per_s_per_gpu", "cumulative_free_cash_flow_usd", "fleet_gpus", "e2e_latency_s"):
        assert "_" not in P.label(name), name


def test_frame_formats_cells_and_drops_empty_columns():
    import pandas as pd

    df = pd.DataFrame({"model": ["a", "b"], "usd_per_mtok_output": [0.1, None], "metric": [None, None],
                       "gpus": [8.0, 4.0]})
    out = P.frame(df)
    assert list(out.columns) == ["Model", "$ per M output tokens", "GPUs"]
    assert out.iloc[0].tolist() == ["a", "$0.1000", "8"] and out.iloc[1].tolist() == ["b", "-", "4"]


def test_frame_formats_a_long_table_by_the_figure_named_in_each_row():
    import pandas as pd

    df = pd.DataFrame({"year": [2027, 2028], "metric": ["revenue_usd", "gross_margin"], "p50": [2.9e10, 0.35],
                       "swing": [1e9, 2e9]})
    out = P.frame(df, by={"p50": "metric", "swing": "revenue_usd"})
    assert list(out.columns) == ["Year", "Metric", "P50", "Swing"]
    assert out["P50"].tolist() == ["$29.0bn", "35.0%"] and out["Swing"].tolist() == ["$1.00bn", "$2.00bn"]
    assert out["Metric"].tolist() == ["Revenue ($)", "Gross margin"]  # figure names read as labels


def test_compact_years_dates_and_signed_money():
    import datetime

    assert P.compact(0.3) == "0.3" and P.compact(1.58132e11) == "158,132,000,000" and P.compact(2.0) == "2"
    assert P.compact(0.428626, 4) == "0.4286" and P.compact(None) == "-"
    assert P.years(5) == "5 years" and P.years(5.5) == "5.5 years" and P.years(1) == "1 year"
    assert P.date(datetime.date(2025, 3, 1)) == "2025-03-01" and P.date("2025-03") == "2025-03"
    assert P.value("effective_date", datetime.datetime(2025, 3, 1, 12)) == "2025-03-01"
    assert P.signed_money(0.0123) == "+$0.01230" and P.signed_money(-1.5) == "-$1.500" and P.signed_money(0) == "$0"
