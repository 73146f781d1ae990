"""The buyer's decision under uncertainty: distributions in workload files, P(own beats the best API), the
NPV fan and the tornado, each checked against the deterministic engine."""

from pathlib import Path

import numpy as np
import pytest

from inferonomics.decide import evaluate, load_workload, prepare, uncertainty, with_overrides
from inferonomics.decide.uncertainty import _fixed, uncertain_inputs
from inferonomics.decide.workload import WorkloadError, parse_workload, val
from inferonomics.errors import InputError

FILE = str(Path(__file__).parent / "data" / "uncertain-copilot.yaml")


@pytest.fixture(scope="module")
def u():
    # module fixtures are set up before the per-test guard that drops a user catalog directory, and a CLI
    # test's --catalog-dir can leave one in the environment: clear it here too
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("INFERONOMICS_CATALOG_DIR", raising=False)
        return uncertainty(FILE, paths=120, seed=3)


def test_distributions_load_and_the_deterministic_view_uses_medians():
    w = load_workload(FILE)
    assert set(uncertain_inputs(w)) == {"input_tokens_per_month", "growth_per_year", "cache_hit_share",
                                        "staff.usd_per_fte_year", "ownership.electricity_usd_per_kwh"}
    assert val(w.input_tokens_per_month) == pytest.approx((1e9 * 8e9) ** 0.5)  # lognormal median
    assert val(w.ownership.electricity_usd_per_kwh) == pytest.approx(0.10)


def test_every_path_is_the_deterministic_engine_at_its_draws(u):
    w = load_workload(FILE)
    ds = u.paths
    base = prepare(w)
    for i in (0, 17, 119):
        values = {k.removeprefix("input:"): float(ds[k][i]) for k in ds.data_vars if k.startswith("input:")}
        ev = evaluate(prepare(_fixed(w, values), sized=base.sized))
        np.testing.assert_allclose(ds["npv_usd"][i].values, ev["npv"], rtol=1e-12)
    kinds = ds["kind"].values
    own = ds["npv_usd"].values[:, kinds == "own"].min(1)
    api = ds["npv_usd"].values[:, kinds == "api"].min(1)
    assert u.p_own_beats_best_api == pytest.approx(np.mean(own < api))
    assert 0.0 < u.p_own_beats_best_api < 1.0  # volume uncertainty spans both sides of the break-even


def test_same_seed_same_paths_and_draws_at_the_input_quantiles(u):
    again = uncertainty(FILE, paths=120, seed=3)
    np.testing.assert_array_equal(again.paths["npv_usd"].values, u.paths["npv_usd"].values)
    other = uncertainty(FILE, paths=120, seed=4)
    assert not np.array_equal(other.paths["npv_usd"].values, u.paths["npv_usd"].values)
    draws = u.paths["input:cache_hit_share"].values
    assert draws.min() >= 0.0 and draws.max() <= 0.5
    row = u.inputs.set_index("input").loc["cache_hit_share"]
    assert (row["p10"], row["p50"], row["p90"]) == pytest.approx((0.05, 0.25, 0.45))


def test_tornado_moves_one_input_and_reports_the_winner(u):
    w = load_workload(FILE)
    base = prepare(w)
    t = u.tornado.set_index("input")
    assert list(u.tornado["swing_usd"]) == sorted(u.tornado["swing_usd"], reverse=True)
    vol = t.loc["input_tokens_per_month"]
    assert vol["value_p10"] == pytest.approx(1e9) and vol["value_p90"] == pytest.approx(8e9)
    ev = evaluate(prepare(_fixed(w, {"input_tokens_per_month": 8e9}), sized=base.sized))
    gap = ev["npv"][ev["kind"] == "own"].min() - ev["npv"][ev["kind"] == "api"].min()
    assert vol["npv_gap_usd_p90"] == pytest.approx(gap)
    assert vol["npv_gap_usd_p90"] < vol["npv_gap_usd_p10"]  # more volume favours owning


def test_fan_is_ordered_and_ends_at_the_npv(u):
    fan = u.fan
    for _, g in fan.groupby("option"):
        assert (g["cumulative_pv_cost_usd_p10"] <= g["cumulative_pv_cost_usd_p50"] + 1e-6).all()
        assert (g["cumulative_pv_cost_usd_p50"] <= g["cumulative_pv_cost_usd_p90"] + 1e-6).all()
    opts = u.options.set_index("option")
    for name, g in fan.groupby("option"):
        # the PV of the cost lines over the horizon is the NPV on every path, so the percentiles agree
        assert g["cumulative_pv_cost_usd_p50"].iloc[-1] == pytest.approx(opts.loc[name, "npv_usd_p50"], rel=1e-9)


def test_more_volume_raises_the_chance_that_owning_wins():
    w = load_workload(FILE)
    d = w.input_tokens_per_month.model_dump(exclude_none=True)
    big = with_overrides(w, input_tokens_per_month={**d, "p10": 4e9, "p90": 3.2e10})
    assert uncertainty(big, paths=80, seed=3).p_own_beats_best_api > uncertainty(w, paths=80, seed=3).p_own_beats_best_api


def test_a_workload_without_distributions_is_one_path():
    r = uncertainty("startup-api", paths=50)
    assert r.paths_n == 1 and len(r.tornado) == 0
    assert r.p_recommendation_holds == 1.0


@pytest.mark.parametrize("field, spec, needle", [
    ("isl_tokens", {"dist": "uniform", "low": 100, "high": 200, "assumption": "x"}, "must be a fixed number"),
    ("cache_hit_share", {"dist": "uniform", "low": 0.5, "high": 1.5, "assumption": "x"}, "at most 1"),
    ("growth_per_year", {"dist": "uniform", "low": 0.5, "assumption": "x"}, "uniform takes"),
    ("growth_per_year", {"dist": "uniform", "low": 0.1, "high": 0.5}, "assumption"),
])
def test_bad_distributions_name_the_field(field, spec, needle):
    doc = {"input_tokens_per_month": 1e9, "output_tokens_per_month": 1e8, "model": "llama-3.1-8b", field: spec}
    with pytest.raises(WorkloadError) as e:
        parse_workload(doc, "w.yaml")
    assert f"'{field}" in str(e.value) and needle in str(e.value)


def test_bad_path_count():
    with pytest.raises(InputError) as e:
        uncertainty("startup-api", paths=0)
    assert e.value.field == "paths"


def _correlated(rho):
    w = load_workload(FILE)
    doc = w.model_dump(exclude_none=True)
    doc["correlations"] = [{"inputs": ["input_tokens_per_month", "growth_per_year"], "rank_correlation": rho,
                            "assumption": "test: a bigger roll-out also spreads faster"}]
    return parse_workload(doc, "test")


def test_correlated_inputs_keep_their_marginals_and_take_the_rank_correlation():
    from scipy.stats import spearmanr

    w = _correlated(0.7)
    r = uncertainty(w, paths=1500, seed=5)
    a, b = r.paths["input:input_tokens_per_month"].values, r.paths["input:growth_per_year"].values
    assert spearmanr(a, b)[0] == pytest.approx(0.7, abs=0.05)
    assert np.quantile(a, 0.5) == pytest.approx((1e9 * 8e9) ** 0.5, rel=0.1)  # marginal unchanged
    # independent draws otherwise
    free = uncertainty(load_workload(FILE), paths=1500, seed=5)
    assert abs(spearmanr(free.paths["input:input_tokens_per_month"].values,
                         free.paths["input:growth_per_year"].values)[0]) < 0.1


def test_the_tornado_moves_correlated_inputs_to_their_conditional_medians():
    w = _correlated(0.7)
    r = uncertainty(w, paths=20, seed=5)
    base = prepare(w)
    from scipy.special import ndtr, ndtri

    rho = 2 * np.sin(np.pi * 0.7 / 6)
    g = uncertain_inputs(w)["growth_per_year"]
    moved = {"input_tokens_per_month": 8e9, "growth_per_year": float(g.ppf(ndtr(rho * ndtri(0.9))))}
    ev = evaluate(prepare(_fixed(w, moved), sized=base.sized))
    gap = ev["npv"][ev["kind"] == "own"].min() - ev["npv"][ev["kind"] == "api"].min()
    assert r.tornado.set_index("input").loc["input_tokens_per_month", "npv_gap_usd_p90"] == pytest.approx(gap)


@pytest.mark.parametrize("corr, needle", [
    ([{"inputs": ["growth_per_year", "peak_to_average"], "rank_correlation": 0.5, "assumption": "x"}],
     "'peak_to_average' is not an uncertain input"),
    ([{"inputs": ["growth_per_year", "cache_hit_share"], "rank_correlation": 0.9, "assumption": "x"},
      {"inputs": ["cache_hit_share", "input_tokens_per_month"], "rank_correlation": 0.9, "assumption": "x"},
      {"inputs": ["growth_per_year", "input_tokens_per_month"], "rank_correlation": -0.9, "assumption": "x"}],
     "not mutually consistent"),
    ([{"inputs": ["growth_per_year", "cache_hit_share"], "rank_correlation": 1.5, "assumption": "x"}],
     "less than or equal to 1"),
])
def test_bad_correlations_say_what_is_wrong(corr, needle):
    doc = load_workload(FILE).model_dump(exclude_none=True)
    doc["correlations"] = corr
    with pytest.raises(WorkloadError) as e:
        parse_workload(doc, "w.yaml")
    assert needle in str(e.value) and "correlations" in str(e.value)
