"""Provider economics: accounting identities, fleet sizing, target solving, distributions, seeds, scenario
errors (API and CLI), built-in scenarios' provenance."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from inferonomics.cli import main
from inferonomics.errors import InferonomicsError, InputError, UnknownNameError
from inferonomics.market import (
    builtin_names,
    load_scenario,
    make_dist,
    price_for_gross_margin,
    price_path,
    required_cagr,
    required_token_path,
    required_tokens_mtok,
    revenue_path,
    sensitivity,
    simulate,
)
from inferonomics.market.api import sample_inputs
from inferonomics.market.model import project, vintage_books
from inferonomics.market.scenario import ScenarioFileError, ScenarioSpec, Spec, _resolve

BAD = sorted((Path(__file__).parent / "data" / "bad_scenarios").glob("*.yaml"))
VARIANTS = ["token-war", "vertical-clouds", "own-silicon", "ghost-cloud"]


def run(capsys, *args):
    rc = main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture(scope="module")
def base():
    return load_scenario("alibaba-100b")


@pytest.fixture(scope="module")
def base_run(base):
    return simulate(base, paths=3000, seed=7, years=8)


# --- a hand-checkable toy provider -----------------------------------------------------------------------
def toy(**over) -> dict:
    """One token tier on one H100, fixed numbers, a 2-year life: every figure can be computed by hand."""
    doc = {
        "name": "toy",
        "title": "toy provider",
        "horizon_years": 4,
        "base_year": {"year": 2030},
        "target": {"revenue_usd_per_year": 2e9, "year": 2034},
        "token_tiers": {
            "only": {
                "deployment": {"model": "llama-3.1-8b", "gpu": "h100-sxm", "gpus": 1, "weights": "fp8",
                               "isl": 1000, "osl": 250, "max_tpot_s": 0.05},
                "base_tokens_mtok_per_year": 1e9,
                "input_price_usd_per_mtok": 0.5,
                "output_price_usd_per_mtok": 1.5,
                "realized_share_of_list_price": 0.8,
                "price_change_per_year": -0.2,
                "price_steps": [{"year": 2032, "change": 0.5}],
                "growth_per_year": [1.0, 0.5],
            }
        },
        "serving": {"peak_to_average": 1.5, "peak_utilization": 0.75},
        "pools": {"h100-sxm": {"accelerator_usd": 20000, "server_network_frac": 0.5, "life_years": 2,
                               "initial_fleet_purchase_years": 1}},
        "costs": {"region": "us-average", "pue": 1.2, "electricity_usd_per_kwh": 0.1,
                  "facility_usd_per_kw_month": 100, "operations_share_of_capex_per_year": 0.05,
                  "sga_share_of_revenue": 0.1},
        "rnd": {"other_usd_per_year": 1e7},
    }
    for k, v in over.items():
        doc[k] = v
    return doc


def test_toy_provider_by_hand():
    sc = load_scenario(toy())
    r = simulate(sc, paths=1, seed=0)
    m = {k: v[0] for k, v in r.metrics.items()}
    # prices: blended list (1000 x 0.5 + 250 x 1.5) / 1250 = 0.7, realized 80% = 0.56, -20% a year, +50% in 2032
    price = 0.56 * np.array([1, 0.8, 0.8 * 0.8 * 1.5, 0.8 ** 3 * 1.5, 0.8 ** 4 * 1.5])
    np.testing.assert_allclose(m["price_only_usd_per_mtok"], price)
    tokens = 1e9 * np.array([1, 2, 3, 4.5, 6.75])  # +100%, then +50% a year (the last entry repeats)
    np.testing.assert_allclose(m["tokens_only_mtok"], tokens)
    np.testing.assert_allclose(m["revenue_usd"], tokens * price)
    # fleet: average busy GPUs = tokens / (tokens/s per GPU x seconds a year), x peak 1.5 / 0.75
    tps = sc.tiers_tokens_per_s_per_gpu["only"]
    need = tokens * 1e6 / (tps * 8760 * 3600) * 1.5 / 0.75
    np.testing.assert_allclose(m["fleet_serving_h100_sxm_need_gpu_eq"], need)
    # life 2 years: the base-year fleet (bought in the base year) serves years 0-1; purchases top up to need
    bought = [need[0], need[1] - need[0], need[2] - (need[1] - need[0]), None, None]
    bought[3] = need[3] - bought[2]
    bought[4] = need[4] - bought[3]
    np.testing.assert_allclose(m["gpus_purchased"], bought)
    np.testing.assert_allclose(m["fleet_gpus"], need)
    np.testing.assert_allclose(m["capex_usd"], np.array(bought) * 30000)
    dep = np.array([bought[0], bought[0] + bought[1], bought[1] + bought[2], bought[2] + bought[3],
                    bought[3] + bought[4]]) * 30000 / 2
    np.testing.assert_allclose(m["depreciation_usd"], dep)
    # power, facility and operations follow the cost engine's per-GPU-hour formulas
    util = tokens * 1e6 / (tps * 8760 * 3600) / need
    acc_w = 700 * (0.15 + (0.8 - 0.15) * util)
    host_w = 575  # the catalog's H100 host power (DGX H100 datasheet)
    np.testing.assert_allclose(m["power_usd"], need * (acc_w + host_w) / 1000 * 1.2 * 0.1 * 8760)
    np.testing.assert_allclose(m["facility_usd"], need * (700 + host_w) / 1000 * 100 * 12)
    gross_book = np.array([bought[0], bought[0] + bought[1], bought[1] + bought[2], bought[2] + bought[3],
                           bought[3] + bought[4]]) * 30000
    np.testing.assert_allclose(m["operations_usd"], 0.05 * gross_book)
    cor = dep + m["power_usd"] + m["facility_usd"] + m["operations_usd"]
    np.testing.assert_allclose(m["cost_of_revenue_usd"], cor)
    np.testing.assert_allclose(m["operating_profit_usd"], tokens * price * 0.9 - cor - 1e7)
    np.testing.assert_allclose(m["rnd_to_gross_profit"], 1e7 / (tokens * price - cor))


def test_identities_on_every_path_and_year(base_run):
    m = base_run.metrics
    ok = {"rtol": 1e-9, "atol": 1e-3}
    np.testing.assert_allclose(m["revenue_usd"], m["revenue_tokens_usd"] + m["revenue_gpu_rental_usd"]
                               + m["revenue_classic_usd"], **ok)
    np.testing.assert_allclose(m["revenue_usd"] - m["cost_of_revenue_usd"], m["gross_profit_usd"], **ok)
    np.testing.assert_allclose(m["cost_of_revenue_usd"], m["cost_of_revenue_tokens_usd"]
                               + m["cost_of_revenue_gpu_rental_usd"] + m["cost_of_revenue_classic_usd"], **ok)
    np.testing.assert_allclose(m["gross_profit_usd"] - m["rnd_usd"] - m["sga_usd"], m["operating_profit_usd"], **ok)
    np.testing.assert_allclose(m["operating_profit_usd"] + m["depreciation_usd"] - m["capex_usd"],
                               m["free_cash_flow_usd"], **ok)
    np.testing.assert_allclose(np.cumsum(m["free_cash_flow_usd"][:, 1:], axis=1),
                               m["cumulative_free_cash_flow_usd"][:, 1:], rtol=1e-9, atol=1.0)
    np.testing.assert_allclose(m["gross_margin"], m["gross_profit_usd"] / m["revenue_usd"], rtol=1e-12)
    np.testing.assert_allclose(m["cost_of_revenue_ratio"], 1 - m["gross_margin"], rtol=1e-9, atol=1e-12)
    sold = m["tokens_mtok"] > 0  # a path whose token business exited (the exit rule) sells none, at no price
    np.testing.assert_allclose(m["revenue_tokens_usd"][sold], (m["tokens_mtok"] * m["token_price_usd_per_mtok"])[sold],
                               rtol=1e-9)
    assert np.all(m["revenue_tokens_usd"][~sold] == 0)
    gp = m["gross_profit_usd"]
    assert np.all(np.where(gp > 0, np.isclose(m["rnd_to_gross_profit"], m["rnd_usd"] / np.where(gp > 0, gp, 1)),
                           np.isinf(m["rnd_to_gross_profit"])))
    # the fleet never falls below what demand needs; nothing negative
    tags = {k[: -len("_need_gpu_eq")] for k in m if k.endswith("_need_gpu_eq")}
    assert tags == {"fleet_serving_h800", "fleet_serving_h20", "fleet_rental_h800", "fleet_training_h800"}
    for tag in tags:
        need, cap = m[f"{tag}_need_gpu_eq"], m[f"{tag}_capacity_gpu_eq"]
        assert np.all(cap >= need * (1 - 1e-9) - 1e-6), tag
        assert np.all(m[f"{tag}_purchased_gpus"] >= 0)
        assert np.all((m[f"{tag}_utilization"] >= 0) & (m[f"{tag}_utilization"] <= 1))
    for k in ("capex_usd", "depreciation_usd", "power_usd", "fleet_gpus", "gpus_retired", "net_book_value_usd"):
        assert np.all(m[k] >= -1e-6), k


def _explicit_books(spend, vintage_year, life, years):
    """Straight-line books vintage by vintage (plain loops): depreciation per (vintage, year), net book value."""
    rows = spend.shape[1]
    dep = np.zeros((spend.shape[0], years, rows))
    nbv = np.zeros((spend.shape[0], years, rows))
    for v, y in enumerate(vintage_year):
        for t in range(years):
            if t < y:
                continue
            served = sum(np.clip(life - a, 0, 1) for a in range(t - y + 1))
            dep[v, t] = spend[v] * np.clip(life - (t - y), 0, 1) / life
            nbv[v, t] = spend[v] * (1 - served / life)
    return dep, nbv


@pytest.mark.parametrize("scenario", ["alibaba-100b", "own-silicon"])
def test_each_vintage_depreciates_its_capex(scenario):
    sc = load_scenario(scenario)
    years = 11
    x = sample_inputs(sc, 40, seed=3)
    books: dict = {}
    m = project(sc, x, years, books=books)
    total_dep = np.zeros((years, 40))
    for name, b in books.items():
        spend, vy, life = b["vintage_spend"], b["vintage_year"], b["life"][0]
        dep, nbv = _explicit_books(spend, vy, life, years)
        np.testing.assert_allclose(dep.sum(0), b["depreciation"], rtol=1e-9, atol=1e-3, err_msg=name)
        np.testing.assert_allclose(nbv.sum(0), b["net_book"], rtol=1e-9, atol=1e-3, err_msg=name)
        for v, y in enumerate(vy):
            if y >= 0:  # bought in the horizon: depreciation within it + remaining book value = its capex
                np.testing.assert_allclose(dep[v].sum(0) + nbv[v, -1], spend[v], rtol=1e-9, atol=1e-3)
            else:  # bought before: book value at the start = depreciation within the horizon + what remains
                opening = spend[v] * (1 - sum(np.clip(life - a, 0, 1) for a in range(-y)) / life)
                np.testing.assert_allclose(dep[v].sum(0) + nbv[v, -1], opening, rtol=1e-9, atol=1e-3)
        total_dep += b["depreciation"]
    np.testing.assert_allclose(total_dep.T, m["depreciation_usd"], rtol=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    lives=st.lists(st.floats(1.0, 7.0), min_size=3, max_size=3),
    spend=st.lists(st.floats(0.0, 1e6), min_size=9, max_size=9),
)
def test_vintage_books_match_plain_loops(lives, spend):
    life = np.array([lives])
    pad = 9
    cols = np.zeros((pad + 9, 3))
    cols[pad:] = np.array(spend)[:, None] * np.array([1.0, 0.5, 2.0])
    vy = np.arange(pad + 9) - pad
    dep, gross, nbv = vintage_books(cols, pad + np.arange(9), life)
    ed, en = _explicit_books(cols, vy, life[0], 9)
    np.testing.assert_allclose(dep, ed.sum(0), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(nbv, en.sum(0), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(gross, dep * life, rtol=1e-12, atol=1e-9)


# --- target solving ----------------------------------------------------------------------------------------
def test_required_cagr_by_hand():
    assert required_cagr(121, 100, 2) == pytest.approx(0.1)
    assert required_cagr(200, 100, 1) == pytest.approx(1.0)
    # $100 bn in five years from FY2026's RMB 158.132 bn at 0.14048 USD/CNY
    base_usd = 158.132e9 * 0.14048
    assert required_cagr(100e9, base_usd, 5) == pytest.approx((100e9 / base_usd) ** 0.2 - 1)
    assert required_cagr(100e9, base_usd, 5) == pytest.approx(0.3511, abs=1e-4)  # e^(ln(4.5016)/5) - 1
    np.testing.assert_allclose(revenue_path(100, 0.1, 3), [110, 121, 133.1])
    np.testing.assert_allclose(required_cagr(np.array([121.0, 144.0]), 100.0, 2), [0.1, 0.2])
    with pytest.raises(InputError, match="years"):
        required_cagr(2, 1, 0)
    with pytest.raises(InputError, match="positive"):
        required_cagr(2, -1, 3)


def test_token_volume_and_price_targets_by_hand():
    assert required_tokens_mtok(1e9, 0.5) == pytest.approx(2e9)
    assert float(price_for_gross_margin(0.3, 0.4)) == pytest.approx(0.5)
    np.testing.assert_allclose(price_path(1.0, 3, -0.5), [0.5, 0.25, 0.125])
    np.testing.assert_allclose(price_path([0.4, 0.3], 4), [0.4, 0.3, 0.3, 0.3])
    df = required_token_path(121, 100, 2, [0.5, 0.25], token_share=0.5)
    np.testing.assert_allclose(df["revenue_usd"], [110, 121])
    np.testing.assert_allclose(df["tokens_mtok"], [55 / 0.5, 60.5 / 0.25])
    np.testing.assert_allclose(df["tokens_per_day"], df["tokens_mtok"] * 1e6 / 365)


def test_target_cli(capsys):
    rc, out, _ = run(capsys, "provider", "target", "--revenue-usd", "121", "--years", "2", "--base-usd", "100",
                     "--price-path", "0.5,0.25", "--cost-usd-per-mtok", "0.3", "--gross-margin", "0.4", "--json")
    assert rc == 0
    d = json.loads(out)
    assert d["required_cagr"] == pytest.approx(0.1)
    assert [r["tokens_mtok"] for r in d["token_path"]] == pytest.approx([220, 484])
    assert d["price_for_gross_margin_usd_per_mtok"] == pytest.approx(0.5)
    rc, out, _ = run(capsys, "provider", "target", "--revenue-usd", "100e9", "--years", "5", "--base-usd", "22.2e9")
    assert rc == 0 and "a year" in out and "%" in out
    rc, out, _ = run(capsys, "provider", "target", "--scenario", "alibaba-100b", "--gross-margin", "0.4",
                     "--paths", "500", "--json")
    d = json.loads(out)
    assert rc == 0 and d["years"] == 5 and d["revenue_usd"] == 100e9
    assert d["base_usd"] == pytest.approx(158.132e9 * 0.14048)
    p = d["price_for_gross_margin"]
    assert 0 < p["price_usd_per_mtok_p10"] <= p["price_usd_per_mtok_p50"] <= p["price_usd_per_mtok_p90"]
    rc, _, err = run(capsys, "provider", "target", "--years", "5")
    assert rc == 2 and "revenue-usd" in err


# --- distributions -----------------------------------------------------------------------------------------
CASES = [
    ("normal", {"mean": 2.0, "sd": 0.5}),
    ("normal", {"p10": 1.0, "p90": 3.0}),
    ("lognormal", {"median": 2.0, "sigma": 0.4}),
    ("lognormal", {"mu": 0.1, "sigma": 0.3}),
    ("lognormal", {"p10": 0.4, "p90": 0.9}),
    ("uniform", {"low": 1.0, "high": 3.0}),
    ("uniform", {"p10": 1.0, "p90": 3.0}),
    ("triangular", {"low": 0.0, "mode": 1.0, "high": 4.0}),
    ("triangular", {"p10": 0.5, "mode": 1.0, "p90": 3.0}),
    ("pert", {"low": 0.45, "mode": 0.7, "high": 0.95}),
    ("pert", {"p10": -0.3, "mode": -0.1, "p90": 0.02}),
]


def _scipy(d):
    from scipy import stats

    if d.kind == "normal":
        return stats.norm(d.a, d.b)
    if d.kind == "lognormal":
        return stats.lognorm(d.b, scale=np.exp(d.a))
    if d.kind == "uniform":
        return stats.uniform(d.a, d.b - d.a)
    if d.kind == "triangular":
        return stats.triang((d.c - d.a) / (d.b - d.a), loc=d.a, scale=d.b - d.a)
    al, be = 1 + 4 * (d.c - d.a) / (d.b - d.a), 1 + 4 * (d.b - d.c) / (d.b - d.a)
    return stats.beta(al, be, loc=d.a, scale=d.b - d.a)


@pytest.mark.parametrize("kind,params", CASES)
def test_monte_carlo_percentiles_of_known_distributions(kind, params):
    d = make_dist(kind, params)
    ref = _scipy(d)
    qs = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(d.ppf(qs), ref.ppf(qs), rtol=1e-5, atol=1e-6 * (abs(ref.ppf(0.9)) + 1))
    # sampled the way the simulation samples (a seeded stream through the quantile function)
    u = np.random.default_rng(11).random(200_000)
    x = d.ppf(u)
    spread = ref.ppf(0.9) - ref.ppf(0.1)
    np.testing.assert_allclose(np.percentile(x, [10, 50, 90]), ref.ppf(qs), atol=0.01 * spread)
    if "p10" in params:  # the P10/P90 form recovers its P10 and P90 exactly
        assert d.ppf(0.1) == pytest.approx(params["p10"], abs=1e-6 * spread)
        assert d.ppf(0.9) == pytest.approx(params["p90"], abs=1e-6 * spread)
        assert d.cdf(params["p10"]) == pytest.approx(0.1, abs=1e-7)


def test_spec_conversion_and_bounds(cat):
    s = Spec.model_validate({"value": 10, "currency": "CNY", "source": "x", "date": "2026"})
    s._factor = cat.usd_per("CNY")
    assert s.fixed_value() == pytest.approx(10 * cat.usd_per("CNY"))
    with pytest.raises(ValueError, match="not both"):
        Spec.model_validate({"value": 1, "dist": "uniform", "low": 0, "high": 1})
    with pytest.raises(ValueError, match="takes"):
        make_dist("pert", {"low": 0, "high": 1})


# --- Monte Carlo: seeds, events, summary ------------------------------------------------------------------
def test_seeds_reproduce_and_variants_share_draws(base):
    a = simulate(base, paths=500, seed=5)
    b = simulate(base, paths=500, seed=5)
    c = simulate(base, paths=500, seed=6)
    for k in ("revenue_usd", "free_cash_flow_usd", "fleet_gpus"):
        np.testing.assert_array_equal(a.metrics[k], b.metrics[k])
    assert not np.allclose(a.metrics["revenue_usd"][:, 1:], c.metrics["revenue_usd"][:, 1:])
    # a variant draws the same numbers for the inputs it shares with its base (common random numbers)
    war = simulate("token-war", paths=500, seed=5)
    np.testing.assert_array_equal(a.metrics["revenue_classic_usd"], war.metrics["revenue_classic_usd"])
    # more paths extend, never reshuffle, the first ones
    d = simulate(base, paths=800, seed=5)
    np.testing.assert_array_equal(a.metrics["revenue_usd"], d.metrics["revenue_usd"][:500])


def test_events_and_summary_agree_with_paths(base_run):
    r = base_run
    k = r.target_index
    assert r.fiscal_years[k - 1] == 2031
    rev = r.metrics["revenue_usd"][:, k]
    gp = r.metrics["gross_profit_usd"][:, k]
    ev = r.events()
    assert ev["year"] == 2031 and ev["target_revenue_usd"] == 100e9
    assert ev["p_revenue_at_least_target"] == pytest.approx(np.mean(rev >= 100e9))
    assert ev["p_target_and_gross_margin_positive"] == pytest.approx(np.mean((rev >= 100e9) & (gp > 0)))
    assert ev["p_target_and_gross_margin_positive"] <= min(ev["p_revenue_at_least_target"],
                                                           ev["p_gross_margin_positive"])
    s = r.summary(["revenue_usd", "rnd_to_gross_profit"])
    assert list(s["year"].unique()) == r.fiscal_years and len(r.fiscal_years) == 8
    row = s[(s["metric"] == "revenue_usd") & (s["year"] == 2031)].iloc[0]
    assert row["p10"] <= row["p50"] <= row["p90"]
    assert row["p50"] == pytest.approx(np.median(rev))
    assert row["year_label"] == "FY2031"
    paths = r.paths("gross_margin")
    assert paths.shape == (3000, 8) and list(paths.columns) == r.fiscal_years
    with pytest.raises(UnknownNameError, match="Did you mean"):
        r.paths("revenue_us")


def test_simulation_reaches_the_target_year_when_fewer_years_are_shown(base):
    r = simulate(base, paths=200, seed=1, years=2)
    assert r.fiscal_years == [2027, 2028]
    assert r.events()["year"] == 2031
    assert len(r.summary(["revenue_usd"])) == 2


def test_calibration_reproduces_the_reported_base_year(base_run):
    cal = base_run.calibration().set_index("check")
    rev = cal.loc["FY2026 Cloud Intelligence revenue"]
    assert rev["modelled_p50"] == pytest.approx(rev["reported"])  # the classic residual closes the base year
    assert rev["calibrated_ok"] is True and rev["tolerance"] == 0.005
    plan = cal.loc["Three-year cloud + AI infrastructure plan (> RMB 380 bn)"]
    assert plan["solved_by"] == "(check)" and plan["calibrated_ok"] is None
    assert len(cal) == 8 and cal["modelled_p50"].notna().all()
    # the solved inputs are fixed on every path: the base year's AI-equipment capex spreads only with demand
    ebita = cal.loc["FY2026 segment adjusted EBITA"]
    assert 0.7 < ebita["modelled_p50_over_reported"] < 1.3


# --- base-year calibration ------------------------------------------------------------------------------
def test_alibaba_calibration_meets_every_tolerance(base):
    from inferonomics.market.calibrate import calibration_of

    cal = calibration_of(base)
    rows = {r["metric"] + ("" if r["solved_by"] != "(checked only)" else " (check)"): r for r in cal.targets}
    assert cal.ok and len(cal.targets) == 7
    for r in cal.targets:
        assert abs(r["model_over_reported"] - 1) <= r["tolerance"], r
        assert "http" in r["provenance"], r  # each target cites its filing
    # the capex parts add up to the filed total; revenue closes by the classic residual
    parts = sum(rows[k]["model"] for k in ("capex_accelerators_usd", "capex_classic_usd", "capex_buildings_usd"))
    assert parts == pytest.approx(rows["capex_usd (check)"]["model"], rel=1e-12)
    assert rows["capex_usd (check)"]["reported"] == pytest.approx(126.063e9 * 0.14048)
    assert rows["operating_profit_usd"]["model"] == pytest.approx(14.265e9 * 0.14048, rel=1e-9)
    solved = {p["input"]: p["solved"] for p in cal.parameters}
    assert set(solved) == {"gpu_rental.base_revenue_usd_per_year", "pools.h20.initial_fleet_purchases_growth_per_year",
                           "pools.h800.initial_fleet_purchases_growth_per_year", "classic_cloud.capex_share_of_revenue",
                           "costs.buildings_share_of_it_capex", "costs.sga_share_of_revenue"}
    assert solved["pools.h20.initial_fleet_purchases_growth_per_year"] == solved[
        "pools.h800.initial_fleet_purchases_growth_per_year"]
    assert 0 < solved["costs.sga_share_of_revenue"] < 0.3


def test_forward_run_uses_the_solved_inputs_on_every_path(base):
    from inferonomics.market.calibrate import calibration_of

    solved = calibration_of(base).values
    x = sample_inputs(base, 500, seed=3)
    for path, v in solved.items():
        assert x.values[path].shape == (1,) and x.values[path][0] == v
    assert x.values["costs.pue"].shape == (1,)  # unaffected inputs keep their draws / values
    assert x.values["gpu_rental.utilization"].shape == (500,)  # uncertain inputs keep their draws
    df = sensitivity(base, "revenue_usd", 2031)
    assert not set(df["input"]) & set(solved)  # solved inputs are no longer free: no tornado bar


def _calibrated_toy(targets, **pool):
    doc = toy()
    doc["pools"]["h100-sxm"].update(pool)
    doc["calibration"] = {"targets": targets}
    return doc


def _target(metric, value, solve_for, tol=0.01, label=None):
    return {"metric": metric, "label": label or metric, "tolerance": tol, "solve_for": solve_for,
            "value": {"value": value, "assumption": "hand-made test target"}}


def test_calibration_of_a_tiny_scenario_by_hand():
    from inferonomics.market.calibrate import solve

    plain = simulate(load_scenario(toy()), paths=1, seed=0).metrics
    rev0 = 1e9 * 0.56  # 1e9 Mtok at the realized blended price (see test_toy_provider_by_hand)
    need0 = plain["fleet_serving_h100_sxm_need_gpu_eq"][0, 0]
    full_fleet_usd = need0 * 30000  # the whole base-year fleet at $20k x 1.5
    gp0, rnd0 = plain["gross_profit_usd"][0, 0], 1e7
    # bought over two years; base-year purchases 80% of the fleet: 1 / (1 + 1/(1+h)) = 0.8 -> h = 3
    # buildings 30% of the base-year IT capex; EBITA 5% of revenue -> SG&A = (gp - R&D - EBITA) / revenue
    sc = load_scenario(_calibrated_toy([
        _target("capex_accelerators_usd", 0.8 * full_fleet_usd, ["pools.h100-sxm.initial_fleet_purchases_growth_per_year"]),
        _target("capex_buildings_usd", 0.3 * 0.8 * full_fleet_usd, ["costs.buildings_share_of_it_capex"]),
        _target("operating_profit_usd", 0.05 * rev0, ["costs.sga_share_of_revenue"]),
        _target("revenue_usd", rev0, []),
    ], initial_fleet_purchase_years=2))
    cal = solve(sc)
    assert cal.ok
    solved = {p["input"]: p["solved"] for p in cal.parameters}
    assert solved["pools.h100-sxm.initial_fleet_purchases_growth_per_year"] == pytest.approx(3.0, rel=1e-9)
    assert solved["costs.buildings_share_of_it_capex"] == pytest.approx(0.3, rel=1e-9)
    # with a 2-year life both purchase years are in service: base-year depreciation (so gross profit) is the
    # uncalibrated toy's, and SG&A = (gross profit - R&D - EBITA) / revenue
    r = simulate(sc, paths=1, seed=0).metrics
    assert r["gross_profit_usd"][0, 0] == pytest.approx(gp0, rel=1e-12)
    assert solved["costs.sga_share_of_revenue"] == pytest.approx((gp0 - rnd0 - 0.05 * rev0) / rev0, rel=1e-9)
    assert r["operating_profit_usd"][0, 0] == pytest.approx(0.05 * rev0, rel=1e-9)
    assert r["capex_buildings_usd"][0, 0] == pytest.approx(0.3 * r["capex_accelerators_usd"][0, 0], rel=1e-9)
    assert r["capex_usd"][0, 0] == pytest.approx(1.3 * 0.8 * full_fleet_usd, rel=1e-9)
    # the forward years buy buildings with the IT equipment at the solved share
    np.testing.assert_allclose(r["capex_buildings_usd"][0], 0.3 * (r["capex_accelerators_usd"][0]), rtol=1e-12)


def test_an_infeasible_calibration_target_is_named():
    from inferonomics.market.calibrate import CalibrationError, solve

    doc = _calibrated_toy([_target("operating_profit_usd", 1e12, ["costs.sga_share_of_revenue"],
                                   label="EBITA above revenue")])
    with pytest.raises(CalibrationError) as e:
        solve(load_scenario(doc))
    msg = str(e.value)
    assert "calibration.targets[0] (EBITA above revenue)" in msg and "costs.sga_share_of_revenue" in msg
    assert "within its allowed range (0 to 1)" in msg and "cannot be met" in msg
    with pytest.raises(CalibrationError):  # simulate solves the calibration first: same error
        simulate(load_scenario(doc), paths=10)
    bad = _calibrated_toy([_target("operating_profit_usd", 1e8, ["costs.sga_share_of_revenu"])])
    with pytest.raises(UnknownNameError) as e:
        solve(load_scenario(bad))
    assert e.value.field == "calibration.targets[0].solve_for" and "costs.sga_share_of_revenue" in str(e.value)
    twice = _calibrated_toy([_target("operating_profit_usd", 1e8, ["costs.sga_share_of_revenue"]),
                             _target("revenue_usd", 1e8, ["costs.sga_share_of_revenue"])])
    with pytest.raises(CalibrationError, match="already solved for by calibration.targets"):
        solve(load_scenario(twice))


def test_calibrate_cli_table_json_and_errors(capsys, tmp_path):
    rc, out, _ = run(capsys, "provider", "calibrate", "alibaba-100b")
    assert rc == 0
    for word in ("EBITA", "equipment", "buildings", "share", "tolerance", "OK", "solved", "prior P50"):
        assert word in out, word
    rc, out, _ = run(capsys, "provider", "calibrate", "alibaba-100b", "--json")
    d = json.loads(out)
    assert rc == 0 and d["ok"] is True and d["year"] == 2026 and len(d["targets"]) == 7
    assert {"target", "reported", "model", "model_over_reported", "tolerance", "ok", "provenance"} <= set(d["targets"][0])
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(_calibrated_toy([_target("operating_profit_usd", 1e12, ["costs.sga_share_of_revenue"],
                                                         label="EBITA above revenue")])))
    rc, _, err = run(capsys, "provider", "calibrate", str(f))
    assert rc == 2 and "EBITA above revenue" in err and "Traceback" not in err
    f.write_text(yaml.safe_dump(_calibrated_toy([_target("revenue_usd", 1e12, [], tol=0.01, label="far off")])))
    rc, out, _ = run(capsys, "provider", "calibrate", str(f))
    assert rc == 1 and "NOT OK" in out


def test_sensitivity_is_sorted_and_moves_one_input_at_a_time(base):
    from inferonomics.market.calibrate import calibration_of

    df = sensitivity(base, "revenue_usd", 2031)
    assert list(df["swing"]) == sorted(df["swing"], reverse=True)
    solved = calibration_of(base).values
    assert len(df) == len([lf for lf in base.uncertain_inputs() if lf.path not in solved])
    assert not df["input"].str.startswith("target").any()
    # an input that cannot move revenue (the training fleet's utilization drives power only) has no swing
    util = df[df["input"] == "rnd.training.utilization"].iloc[0]
    assert util["swing"] == pytest.approx(0.0, abs=1e-3)
    assert df.attrs["year"] == 2031 and df.attrs["baseline"] > 0


def test_sensitivity_by_hand():
    doc = toy()
    doc["token_tiers"]["only"]["growth_per_year"] = [{"dist": "uniform", "low": 0.0, "high": 1.0}]
    df = sensitivity(load_scenario(doc), "revenue_tokens_usd", 2031)
    row = df.iloc[0]
    assert row["input"] == "token_tiers.only.growth_per_year"
    price = 0.56 * 0.8
    assert row["output_at_input_p10"] == pytest.approx(1e9 * 1.1 * price)
    assert row["output_at_input_p90"] == pytest.approx(1e9 * 1.9 * price)
    assert df.attrs["baseline"] == pytest.approx(1e9 * 1.5 * price)


# --- built-in scenarios ---------------------------------------------------------------------------------
def test_builtin_scenarios_and_variants_load(base):
    assert set(builtin_names()) == {"alibaba-100b", *VARIANTS}
    assert base.spec.target.year == 2031 and base.spec.base_year.year == 2026
    assert base.spec.base_year.revenue_usd.fixed_value() == pytest.approx(158.132e9 * 0.14048)
    for v in VARIANTS:
        sc = load_scenario(v)
        assert sc.chain[0].startswith("built-in scenario alibaba-100b") and sc.name == v


def _fields_set_leaves(obj, path=""):
    """Numeric inputs written in a file (not defaults): (path, spec)."""
    from pydantic import BaseModel

    if isinstance(obj, Spec):
        yield path, obj
    elif isinstance(obj, list):
        for i, x in enumerate(obj):
            yield from _fields_set_leaves(x, f"{path}[{i}]")
    elif isinstance(obj, dict):
        for k, x in obj.items():
            yield from _fields_set_leaves(x, f"{path}.{k}")
    elif isinstance(obj, BaseModel):
        for k in obj.model_fields_set:
            yield from _fields_set_leaves(getattr(obj, k), f"{path}.{k}" if path else k)


@pytest.mark.parametrize("name", ["alibaba-100b", *VARIANTS])
def test_every_shipped_number_has_a_source_or_an_assumption(name):
    doc, _ = _resolve(name, None, ())
    spec = ScenarioSpec.model_validate(doc)
    leaves = list(_fields_set_leaves(spec))
    assert len(leaves) > 20
    for path, s in leaves:
        assert s.assumption or (s.source and s.date), f"{name}: {path} has neither source+date nor assumption"
    for t_name, t in spec.token_tiers.items():
        assert t.deployment.assumption or t.deployment.source, t_name


def test_base_scenario_headline_figures_are_plausible(base_run):
    """Guards against silent breakage of the built-in scenario (ranges, not point values)."""
    ev = base_run.events()
    assert 0.03 < ev["p_revenue_at_least_target"] < 0.5
    assert ev["p_gross_margin_positive"] > 0.7
    s = base_run.summary(["revenue_usd", "gross_margin"]).set_index(["metric", "year"])
    assert 35e9 < s.loc[("revenue_usd", 2031), "p50"] < 100e9
    assert 0.1 < s.loc[("gross_margin", 2027), "p50"] < 0.5


# --- broken scenario files -----------------------------------------------------------------------------
def _expect(path: Path) -> list[str]:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect:"), path
    return [e.strip() for e in first.split("expect:", 1)[1].split("|")]


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_broken_scenarios_give_clear_errors(path):
    with pytest.raises(InferonomicsError) as exc:
        load_scenario(str(path))
    msg = str(exc.value)
    assert str(path) in msg
    for part in _expect(path):
        assert part in msg, f"{part!r} not in: {msg}"


@pytest.mark.parametrize("path", BAD[:8], ids=lambda p: p.stem)
def test_broken_scenarios_exit_2_through_the_cli(capsys, path):
    rc, out, err = run(capsys, "provider", "run", str(path), "--paths", "10")
    assert rc == 2 and out == ""
    assert "Traceback" not in err and err.startswith("error: ") and str(path) in err
    assert _expect(path)[0] in err


def test_base_chain_loop_and_missing_file(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b.yaml\nname: a\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\nname: b\n")
    with pytest.raises(ScenarioFileError, match="loops back"):
        load_scenario(str(tmp_path / "a.yaml"))
    with pytest.raises(ScenarioFileError, match="does not exist"):
        load_scenario(str(tmp_path / "nope.yaml"))


def test_variant_replaces_a_distribution_whole(tmp_path):
    f = tmp_path / "v.yaml"
    f.write_text("base: alibaba-100b\nname: v\ncosts:\n  sga_share_of_revenue: {dist: uniform, low: 0.1, high: 0.2, "
                 "assumption: test}\n")
    s = load_scenario(str(f)).spec.costs.sga_share_of_revenue
    assert s.dist == "uniform" and s.mode is None


# --- CLI -----------------------------------------------------------------------------------------------
def test_run_table_and_json(capsys, tmp_path):
    rc, out, _ = run(capsys, "provider", "run", "alibaba-100b", "--paths", "400", "--seed", "3")
    assert rc == 0
    assert "FY2031" in out and "P10" in out and "P90" in out
    assert "P(revenue >= target AND gross margin > 0)" in out
    assert "Base-year check" in out
    csv = tmp_path / "s.csv"
    rc, out, _ = run(capsys, "provider", "run", "alibaba-100b", "--paths", "400", "--seed", "3", "--years", "6",
                     "--json", "--csv", str(csv))
    d = json.loads(out)
    assert rc == 0 and d["paths"] == 400 and d["seed"] == 3 and d["fiscal_years"][-1] == 2032
    assert {"p_revenue_at_least_target", "p_gross_margin_positive", "p_target_and_gross_margin_positive",
            "p_cumulative_free_cash_flow_positive"} <= set(d["events"])
    metrics = {r["metric"] for r in d["summary"]}
    assert {"revenue_usd", "gross_margin", "capex_usd", "free_cash_flow_usd", "fleet_gpus",
            "rnd_to_gross_profit", "cost_of_revenue_ratio"} <= metrics
    assert csv.read_text().startswith("year,year_label,metric,p10,p50,p90,mean")


def test_compare_list_sensitivity_inputs(capsys):
    rc, out, _ = run(capsys, "provider", "compare", "alibaba-100b", "token-war", "--paths", "300", "--json")
    d = json.loads(out)
    assert rc == 0 and [s["scenario"] for s in d["scenarios"]] == ["alibaba-100b", "token-war"]
    war, base_ = d["scenarios"][1], d["scenarios"][0]
    # token-war's tier prices are the china-2026-token-war market's equilibrium (tests/test_market_rules.py), not an
    # assumed -90% a year: its token business keeps a gross margin above -100%, and its prices differ from the base's
    assert war["gross_margin_tokens_p50"] > -1.0
    assert war["token_price_usd_per_mtok_p50"] != base_["token_price_usd_per_mtok_p50"]
    rc, out, _ = run(capsys, "provider", "compare", *builtin_names(), "--paths", "200")
    assert rc == 0 and "P(target & GM > 0)" in out
    rc, out, _ = run(capsys, "provider", "list", "--json")
    assert rc == 0 and {s["name"] for s in json.loads(out)["scenarios"]} == set(builtin_names())
    rc, out, _ = run(capsys, "provider", "sensitivity", "alibaba-100b", "--output", "gross_margin", "--json")
    d = json.loads(out)
    assert rc == 0 and d["output"] == "gross_margin" and d["year"] == 2031 and len(d["inputs"]) > 20
    rc, out, _ = run(capsys, "provider", "sensitivity", "alibaba-100b", "-o", "free_cash_flow_usd", "--year", "1")
    assert rc == 0 and "free_cash_flow_usd in 2027" in out
    rc, out, _ = run(capsys, "provider", "inputs", "own-silicon", "--json")
    d = json.loads(out)
    assert rc == 0 and any(r["input"].startswith("pools.h20.in_house") for r in d["inputs"])


def test_cli_errors_name_what_is_allowed(capsys):
    rc, _, err = run(capsys, "provider", "run", "alibaba-10b")
    assert rc == 2 and "Did you mean alibaba-100b" in err
    rc, _, err = run(capsys, "provider", "sensitivity", "alibaba-100b", "--output", "revenue")
    assert rc == 2 and "output" in err and "revenue_usd" in err
    rc, _, err = run(capsys, "provider", "sensitivity", "alibaba-100b", "--output", "revenue_usd", "--year", "2040")
    assert rc == 2 and "year" in err
    rc, _, err = run(capsys, "provider", "run", "alibaba-100b", "--paths", "0")
    assert rc == 2


def test_scenario_from_a_dict_and_the_python_api(base):
    sc = load_scenario(toy())
    r = simulate(sc, paths=50, seed=0)
    assert r.events()["p_revenue_at_least_target"] in (0.0, 1.0)  # nothing uncertain: all paths agree
    assert sc.inputs_table()["uncertain"].sum() == 0
    with pytest.raises(InputError, match="paths"):
        simulate(base, paths=0)
    with pytest.raises(InputError, match="seed"):
        simulate(base, paths=10, seed=-1)


def test_yaml_numbers_without_a_sign_in_the_exponent_parse(tmp_path):
    """PyYAML reads 1.5e9 as a string; numeric inputs accept it anyway."""
    doc = toy()
    text = yaml.safe_dump(doc).replace("1000000000.0", "1.0e9")
    assert "1.0e9" in text
    f = tmp_path / "t.yaml"
    f.write_text(text)
    assert load_scenario(str(f)).spec.token_tiers["only"].base_tokens_mtok_per_year.value == 1e9


def test_cli_formats_by_the_unit_in_the_name():
    from inferonomics.cli.provider import fmt

    assert fmt("revenue_usd_p50", 6.29e10) == "$62.9bn"
    assert fmt("free_cash_flow_usd", -7.6e9) == "-$7.60bn"  # 3 significant digits above $1m
    assert fmt("base_revenue_usd_per_year", 1.4e8) == "$140m"
    assert fmt("token_price_usd_per_mtok_p50", 0.0609) == "$0.06090"  # 4 significant digits below $1m
    assert fmt("price_usd_per_gpu_hour", 1.8) == "$1.800"
    assert fmt("p_revenue_at_least_target", 0.147) == "14.7%"
    assert fmt("gross_margin", 0.341) == "34.1%"
    assert fmt("fleet_gpus_p50", 2.58e6) == "2.58M"
    assert fmt("rnd_to_gross_profit", float("inf")) == "GP <= 0"
    assert fmt("rnd_to_gross_profit_p50", 0.18) == "0.18x"
    assert fmt("revenue_usd", None) == "-" and fmt("revenue_usd", float("nan")) == "-"


# --- rank-correlated inputs (Gaussian copula) -----------------------------------------------------------
def _correlated_toy(rho):
    doc = toy()
    t = doc["token_tiers"]["only"]
    t["price_change_per_year"] = {"dist": "uniform", "low": -0.3, "high": -0.1, "assumption": "test"}
    t["growth_per_year"] = {"dist": "uniform", "low": 0.2, "high": 1.0, "assumption": "test"}
    doc["correlations"] = [{"inputs": ["token_tiers.only.price_change_per_year", "token_tiers.only.growth_per_year"],
                            "rank_correlation": rho, "assumption": "test: deeper price cuts, more demand"}]
    return doc


def test_correlated_inputs_keep_marginals_and_rank_correlation():
    from scipy.stats import spearmanr

    r = simulate(load_scenario(_correlated_toy(-0.6)), paths=4000, seed=1)
    free = simulate(load_scenario({**_correlated_toy(0.0), "correlations": []}), paths=4000, seed=1)
    price, tokens = r.metrics["price_only_usd_per_mtok"][:, 1], r.metrics["tokens_only_mtok"][:, 1]
    assert spearmanr(price, tokens)[0] == pytest.approx(-0.6, abs=0.05)
    assert abs(spearmanr(free.metrics["price_only_usd_per_mtok"][:, 1], free.metrics["tokens_only_mtok"][:, 1])[0]) < 0.05
    # each input's own distribution is unchanged (uniform -30%..-10%: year-1 price 0.56 x 0.7..0.9)
    np.testing.assert_allclose(np.quantile(price, [0.1, 0.5, 0.9]), 0.56 * np.array([0.72, 0.8, 0.88]), rtol=0.02)


def test_tornado_moves_correlated_inputs_to_their_conditional_medians():
    from scipy.special import ndtr, ndtri

    sc = load_scenario(_correlated_toy(-0.6))
    df = sensitivity(sc, "revenue_usd", 2032).set_index("input")
    rho = 2 * np.sin(np.pi * -0.6 / 6)
    q = float(ndtr(rho * ndtri(0.9)))  # the price change's conditional quantile when growth is at its P90
    fixed = _correlated_toy(-0.6)
    fixed["correlations"] = []
    t = fixed["token_tiers"]["only"]
    t["growth_per_year"] = 0.2 + 0.8 * 0.9
    t["price_change_per_year"] = -0.3 + 0.2 * q
    rev = simulate(load_scenario(fixed), paths=1, seed=0).metrics["revenue_usd"][0, 2]
    assert df.loc["token_tiers.only.growth_per_year", "output_at_input_p90"] == pytest.approx(rev, rel=1e-9)


def test_bad_scenario_correlations_name_the_field():
    doc = _correlated_toy(0.5)
    doc["correlations"][0]["inputs"][1] = "serving.peak_to_average"
    with pytest.raises(ScenarioFileError) as e:
        load_scenario(doc)
    assert "correlations[0].inputs" in str(e.value) and "not an uncertain input" in str(e.value)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 400), years=st.integers(1, 12), transposed=st.booleans())
def test_selection_quantiles_equal_numpy(n, years, transposed):
    from inferonomics.market.api import _quantiles

    rng = np.random.default_rng(n * 100 + years)
    a = np.ascontiguousarray(rng.lognormal(size=(years, n))).T if transposed else rng.normal(size=(n, years))
    np.testing.assert_allclose(_quantiles(a), np.quantile(a, [0.1, 0.5, 0.9], axis=0), rtol=1e-12, atol=1e-12)
    a[0, 0] = np.inf  # non-finite metrics keep the nan-aware path
    assert _quantiles(a).shape == (3, years)


def test_labelled_results(base_run):
    ds = base_run.to_dataset()
    assert ds["year"].values[0] == base_run.base_year and len(ds["path"]) == base_run.paths_n
    np.testing.assert_array_equal(ds["revenue_usd"].values, base_run.metrics["revenue_usd"][:, : base_run.years + 1])
    kinds = dict(zip(ds["fleet"].values, ds["fleet_kind"].values, strict=True))
    assert kinds["serving h20"] == "serving" and ds["accelerator"].sel(fleet="serving h20").item() == "h20"
    np.testing.assert_array_equal(ds["fleet_capex_usd"].sel(fleet="serving h20").values,
                                  base_run.metrics["fleet_serving_h20_capex_usd"][:, : base_run.years + 1])
    tier = next(iter(base_run.scenario.spec.token_tiers))
    np.testing.assert_array_equal(ds["tier_tokens_mtok"].sel(tier=tier).values,
                                  base_run.metrics[f"tokens_{tier.replace('-', '_')}_mtok"][:, : base_run.years + 1])
    assert ds["capex_usd"].attrs["units"] == "USD" and ds["gross_margin"].attrs["units"] == "1"


# --- chunks drawn apart, and on a dask.distributed cluster ---------------------------------------------
def test_chunks_drawn_apart_equal_one_draw(base):
    full = sample_inputs(base, 1000, seed=11)
    part = sample_inputs(base, 1000, seed=11, lo=370, hi=620)
    for k, v in full.values.items():
        w = part.values[k]
        np.testing.assert_array_equal(w, v if v.shape[0] == 1 else v[370:620])


def test_simulation_on_a_local_dask_cluster_gives_the_in_process_paths(base):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        remote = simulate(base, paths=1200, seed=5, years=6, chunk_paths=300, scheduler=client,
                          metrics=["gross_margin", "capex_usd"])
    local = simulate(base, paths=1200, seed=5, years=6, chunk_paths=300)
    assert set(remote.metrics) >= {"gross_margin", "capex_usd", "revenue_usd"} and len(remote.metrics) < len(local.metrics)
    for k, v in remote.metrics.items():
        np.testing.assert_array_equal(v, local.metrics[k])
    pd_remote = remote.summary(["gross_margin", "capex_usd"])
    assert pd_remote.equals(local.summary(["gross_margin", "capex_usd"]))
    assert remote.events() == local.events()


def test_a_run_kept_in_chunks_gives_the_figures_of_one_array(base):
    """In process, a run of several chunks keeps them as projected (no copy into one array per metric): the
    summary (every metric, non-finite ones included), the events, the calibration and every path are those
    of the same run in one chunk, to the bit; asking whether a metric exists joins nothing."""
    one = simulate(base, paths=900, seed=3, years=6, chunk_paths=900)
    kept = simulate(base, paths=900, seed=3, years=6, chunk_paths=250)
    assert type(kept.metrics).__name__ == "_ChunkedMetrics" and isinstance(one.metrics, dict)
    assert "revenue_usd" in kept.metrics and "no_such_metric" not in kept.metrics
    assert not kept.metrics._joined  # membership and the summary read the chunks
    assert kept.summary().equals(one.summary())
    assert not kept.metrics._joined
    assert kept.events() == one.events() and kept.events(3) == one.events(3)
    assert kept.calibration().equals(one.calibration())
    assert list(kept.metrics) == list(one.metrics)
    for k, v in one.metrics.items():
        np.testing.assert_array_equal(kept.metrics[k], v)
    cols = kept.summary_columns(["revenue_usd"])
    assert list(cols) == ["year", "year_label", "metric", "p10", "p50", "p90", "mean"]
    np.testing.assert_array_equal(cols["p50"], one.summary(["revenue_usd"])["p50"].to_numpy())


def test_bad_scheduler_and_metric_names(base):
    with pytest.raises(InputError) as e:
        simulate(base, paths=10, scheduler="nowhere")
    assert e.value.field == "scheduler"
    with pytest.raises(UnknownNameError):
        simulate(base, paths=10, metrics=["revenue_usd", "no_such_metric"])


def test_results_stream_to_zarr_and_summarize_from_the_store(base, tmp_path):
    pytest.importorskip("zarr")
    keep = ["gross_margin", "capex_usd"]
    store = tmp_path / "run.zarr"
    streamed = simulate(base, paths=1500, seed=4, years=6, chunk_paths=400, metrics=keep, store=store)
    local = simulate(base, paths=1500, seed=4, years=6, chunk_paths=400)
    assert store.is_dir() and set(streamed.metrics) == {*keep, "revenue_usd", "gross_profit_usd",
                                                         "operating_profit_usd", "cumulative_free_cash_flow_usd"}
    for k in streamed.metrics:  # read back from the store: the same paths as held in memory
        np.testing.assert_array_equal(streamed.metrics[k], local.metrics[k])
    assert streamed.summary(keep).equals(local.summary(keep)) and streamed.events() == local.events()
    import xarray as xr

    with xr.open_zarr(store, consolidated=False) as ds:
        assert ds.sizes == {"year": 7, "path": 1500} and int(ds["path"][-1]) == 1499
        assert ds["capex_usd"].attrs["units"] == "USD"
    nc = tmp_path / "run.nc"
    simulate(base, paths=300, seed=4, years=3, metrics=keep, store=nc)
    with xr.open_dataset(nc) as ds:
        np.testing.assert_array_equal(ds["capex_usd"].values,
                                      simulate(base, paths=300, seed=4, years=3).metrics["capex_usd"][:, :4])
    with pytest.raises(InputError, match=r"\.zarr"):
        simulate(base, paths=10, store=tmp_path / "run.parquet")


def test_provider_run_on_a_scheduler_address_streams_to_zarr(base, capsys, tmp_path):
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("zarr")
    store = tmp_path / "cli.zarr"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                                  dashboard_address=None) as cluster:
        rc, out, err = run(capsys, "provider", "run", "alibaba-100b", "--paths", "1200", "--seed", "5", "--years",
                           "6", "--scheduler", cluster.scheduler_address, "--out", str(store), "--metrics",
                           "gross_margin,capex_usd", "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["scheduler"].startswith("tcp://") and d["out"] == str(store) and store.is_dir()
    local = simulate(base, paths=1200, seed=5, years=6).summary(["gross_margin", "capex_usd"])
    got = {(r["metric"], r["year"]): r["p50"] for r in d["summary"]}
    for _, r in local.iterrows():
        assert got[(r["metric"], r["year"])] == r["p50"]  # exactly the in-process paths


def test_provider_run_scheduler_errors(capsys, monkeypatch):
    rc, _, err = run(capsys, "provider", "run", "alibaba-100b", "--paths", "6000000")
    assert rc == 2 and "--paths" in err and "--scheduler" in err
    rc, _, err = run(capsys, "provider", "run", "alibaba-100b", "--paths", "100000001", "--scheduler", "local")
    assert rc == 2 and "--paths" in err and "100,000,000" in err
    from inferonomics.market import api

    monkeypatch.setattr(api, "CONNECT_TIMEOUT_S", 1)
    rc, _, err = run(capsys, "provider", "run", "alibaba-100b", "--paths", "100", "--scheduler", "tcp://127.0.0.1:9")
    assert rc == 2 and "--scheduler" in err and "no dask scheduler answered" in err and "Traceback" not in err
    rc, _, err = run(capsys, "provider", "run", "alibaba-100b", "--paths", "100", "--scheduler", "somewhere")
    assert rc == 2 and "--scheduler" in err and "tcp://HOST:PORT" in err
    monkeypatch.setitem(__import__("sys").modules, "dask.distributed", None)  # the dask extra not installed
    rc, _, err = run(capsys, "provider", "run", "alibaba-100b", "--paths", "100", "--scheduler", "local")
    assert rc == 2 and "pip install 'inferonomics[dask]'" in err
    rc, _, err = run(capsys, "provider", "run", "alibaba-100b", "--paths", "100", "--out", "x.csv")
    assert rc == 2 and "--out" in err and ".zarr" in err
    rc, _, err = run(capsys, "provider", "run", "alibaba-100b", "--paths", "100", "--metrics", "no_such_metric")
    assert rc == 2 and "--metrics" in err


def test_large_runs_keep_what_the_run_shows(base):
    from inferonomics.cli.provider import RUN_COLUMNS, _keep_metrics

    assert _keep_metrics(base, None, 200_000, True) is None  # every metric up to 200,000 paths
    keep = _keep_metrics(base, None, 1_000_000, True)
    assert [m for m, *_ in RUN_COLUMNS] == keep[:len(RUN_COLUMNS)]
    assert {"ai_share_of_revenue", "capex_buildings_usd", "operating_profit_usd"} <= set(keep)  # the base-year check
    assert _keep_metrics(base, "all", 10_000_000, True) is None
    assert _keep_metrics(base, " revenue_usd , capex_usd ", 10, True) == ["revenue_usd", "capex_usd"]
    with pytest.raises(InputError, match="--metrics"):
        _keep_metrics(base, " , ", 10, True)


def test_calibration_and_tier_throughput_are_cached_on_disk_keyed_on_the_scenario(tmp_path, monkeypatch):
    """A second process reads the solved calibration and the tiers' operating points from the on-disk cache
    (same figures as solving); another scenario is another entry, solved anew."""
    from inferonomics.market.calibrate import calibration_of, solve

    from inferonomics.market.scenario import throughput

    monkeypatch.setenv("INFERONOMICS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(throughput, "_PERF_CACHE", {})  # as in a new process
    first = calibration_of(load_scenario("alibaba-100b"))
    entries = sorted((tmp_path / "provider-calibration").glob("*.json"))
    assert len(entries) == 1 and len(list((tmp_path / "tier-throughput").glob("*.json"))) == 3
    again = load_scenario("alibaba-100b")
    assert again.tiers_tokens_per_s_per_gpu == load_scenario("alibaba-100b").tiers_tokens_per_s_per_gpu
    hit = calibration_of(again)
    assert (hit.values, hit.targets, hit.parameters) == (first.values, first.targets, first.parameters)
    solved = solve(again)
    assert (solved.values, solved.targets) == (hit.values, hit.targets)
    other = load_scenario({"base": "alibaba-100b", "name": "dearer-power", "costs": {
        "electricity_usd_per_kwh": {"value": 0.2, "assumption": "test: dearer power"}}})
    moved = calibration_of(other)
    assert len(list((tmp_path / "provider-calibration").glob("*.json"))) == 2
    assert moved.values != first.values
