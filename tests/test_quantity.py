"""The one quantity type, the one loader and the one error formatter, through every file kind."""

from __future__ import annotations

import numpy as np
import pytest

from inferonomics.catalog import get_catalog
from inferonomics.decide.workload import WorkloadError, load_workload, parse_workload, val
from inferonomics.errors import UnknownNameError
from inferonomics.ledger.dists import make_dist
from inferonomics.market.competition import MarketFileError, load_market
from inferonomics.market.scenario import ScenarioFileError, load_scenario
from inferonomics.quantity import UNITS, Quantity, unit_error

WORKLOAD = {"input_tokens_per_month": 1e9, "output_tokens_per_month": 2e8, "model": "llama-3.1-8b"}


# --- units vocabulary ----------------------------------------------------------------------------------

def _workload_file(tmp_path, line: str):
    """``w.yaml``: a small valid workload plus ``line``."""
    f = tmp_path / "w.yaml"
    f.write_text(f"input_tokens_per_month: 1e9\noutput_tokens_per_month: 1e8\nmodel: llama-3.1-8b\n{line}\n")
    return f

def test_units_vocabulary_is_data_with_gib_and_gb_apart():
    assert {"usd", "usd_per_mtok", "usd_per_gpu_hour", "fraction", "per_year", "gib", "gb", "w", "s",
            "tokens"} <= set(UNITS)
    assert all(isinstance(v, str) and v for v in UNITS.values())
    assert "2^30" in UNITS["gib"] and "10^9" in UNITS["gb"]
    assert unit_error("usd_per_mtok") is None


def test_unknown_unit_names_the_value_and_close_matches():
    msg = unit_error("usd_per_mtoken")
    assert "'usd_per_mtoken'" in msg and "did you mean usd_per_mtok" in msg


def test_unknown_unit_in_each_file_kind_names_file_field_value_and_close_matches(tmp_path):
    bad = {"value": 1.2, "unit": "fractoin", "assumption": "t"}
    with pytest.raises(ScenarioFileError) as e:
        load_scenario({"base": "alibaba-100b", "costs": {"pue": bad}})
    msg = str(e.value)
    assert "costs.pue.unit" in msg and "'fractoin'" in msg and "did you mean fraction" in msg
    with pytest.raises(MarketFileError) as e:
        load_market({"base": "china-2026", "demand": {"elasticity": bad}})
    msg = str(e.value)
    assert "demand.elasticity.unit" in msg and "did you mean fraction" in msg
    with pytest.raises(WorkloadError) as e:
        load_workload(str(_workload_file(tmp_path, "growth_per_year: {value: 0.2, unit: per_yaer, assumption: t}")))
    msg = str(e.value)
    assert "w.yaml" in msg and "growth_per_year.unit" in msg and "did you mean per_year" in msg


def test_a_unit_that_contradicts_the_field_name_is_refused_and_a_matching_one_accepted():
    sc = load_scenario({"base": "alibaba-100b", "costs": {"electricity_usd_per_kwh": {
        "value": 0.1, "unit": "usd_per_kwh", "assumption": "t"}}})
    assert sc.spec.costs.electricity_usd_per_kwh.fixed_value() == 0.1
    with pytest.raises(ScenarioFileError) as e:
        load_scenario({"base": "alibaba-100b", "costs": {"electricity_usd_per_kwh": {
            "value": 0.1, "unit": "usd_per_mtok", "assumption": "t"}}})
    msg = str(e.value)
    assert "costs.electricity_usd_per_kwh.unit" in msg and "which says usd_per_kwh" in msg
    with pytest.raises(WorkloadError, match="growth_per_year.unit.*which says per_year"):
        parse_workload({**WORKLOAD, "growth_per_year": {"value": 0.2, "unit": "fraction", "assumption": "t"}},
                       "w.yaml")


def test_currency_on_a_unit_that_is_not_money_is_refused():
    with pytest.raises(ValueError, match="not money"):
        Quantity(value=3.0, unit="gib", currency="EUR", assumption="t")


# --- currency conversion ---------------------------------------------------------------------------------
def test_money_in_another_currency_is_converted_at_the_dated_rate_and_says_so():
    cat = get_catalog()
    eur = cat.fx["EUR"].usd_per_unit
    w = parse_workload({**WORKLOAD, "staff": {"own_fte": 1, "usd_per_fte_year": {
        "value": 100_000, "currency": "EUR", "currency_year": 2024, "unit": "usd_per_fte_year",
        "assumption": "a European salary"}}}, "w.yaml")
    q = w.staff.usd_per_fte_year
    assert val(q) == pytest.approx(100_000 * eur.value)
    assert f"{eur.value:g} USD/EUR" in q.fx_note and str(eur.date) in q.fx_note
    year = str(eur.date)[:4]
    assert f"money of 2024 at a rate of {year}" in q.fx_note and q.fx_note in q.provenance
    # the same money of the rate's own year says nothing about years
    q2 = Quantity(value=1.0, currency="EUR", currency_year=int(year), assumption="t")
    q2.convert(cat)
    assert "money of" not in q2.fx_note and q2.fixed_value() == pytest.approx(eur.value)


def test_scenario_money_in_cny_states_the_rate_used():
    sc = load_scenario("alibaba-100b")
    cny = get_catalog().fx["CNY"].usd_per_unit
    rev = sc.spec.base_year.revenue_usd
    assert rev.currency == "CNY" and rev.fixed_value() == pytest.approx(rev.value * cny.value)
    assert f"{cny.value:g} USD/CNY" in rev.provenance and str(cny.date) in rev.provenance


def test_unknown_currency_names_field_and_known_currencies():
    with pytest.raises(WorkloadError) as e:
        parse_workload({**WORKLOAD, "staff": {"usd_per_fte_year": {"value": 5, "currency": "XYZ",
                                                                   "assumption": "t"}}}, "w.yaml")
    msg = str(e.value)
    assert "staff.usd_per_fte_year.currency" in msg and "'XYZ'" in msg and "CNY" in msg


# --- one distribution, three file kinds ----------------------------------------------------------------------
SPEC = {"dist": "pert", "low": 1.5, "mode": 2.0, "high": 3.0, "assumption": "test"}


def test_the_same_distribution_gives_the_same_quantiles_and_draws_through_every_file_kind():
    sc = load_scenario({"base": "alibaba-100b", "costs": {"pue": SPEC}})
    mk = load_market({"base": "china-2026", "demand": {"elasticity": SPEC}})
    wl = parse_workload({**WORKLOAD, "peak_to_average": SPEC}, "w.yaml")
    qs = [sc.spec.costs.pue, mk.demand.elasticity, wl.peak_to_average]
    assert all(isinstance(q, Quantity) and q.uncertain for q in qs)
    u = np.linspace(0.01, 0.99, 41)
    ref = make_dist("pert", {"low": 1.5, "mode": 2.0, "high": 3.0}).ppf(u)
    for q in qs:
        np.testing.assert_array_equal(q.ppf(u), ref)
        assert q.fixed_value() == pytest.approx(float(ref[20]))
    draws = [q.sample(np.random.default_rng(7), 500) for q in qs]
    for d in draws[1:]:
        np.testing.assert_array_equal(d, draws[0])
    assert 1.5 <= draws[0].min() and draws[0].max() <= 3.0


def test_a_fixed_quantity_draws_the_same_stream_as_an_uncertain_one():
    """The market draws one ``rng.random(n)`` per quantity, fixed or not: a later input's draws do not
    depend on whether an earlier one is uncertain."""
    fixed, dist = Quantity(value=2.0), Quantity(**{k: v for k, v in SPEC.items()})
    r1, r2 = np.random.default_rng(3), np.random.default_rng(3)
    assert (fixed.sample(r1, 10) == 2.0).all()
    dist.sample(r2, 10)
    np.testing.assert_array_equal(r1.random(5), r2.random(5))


# --- one loader ------------------------------------------------------------------------------------------------
def test_extends_cycle_is_an_error_that_shows_the_cycle_for_every_kind(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\nname: a\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\nname: b\n")
    for load, err in ((load_scenario, ScenarioFileError), (load_market, MarketFileError),
                      (load_workload, WorkloadError)):
        with pytest.raises(err) as e:
            load(str(tmp_path / "a.yaml"))
        msg = str(e.value)
        assert "loops back" in msg and "a.yaml -> " in msg and "b.yaml -> " in msg, msg


def test_a_workload_extends_a_builtin_and_changes_one_field(tmp_path):
    f = tmp_path / "w.yaml"
    f.write_text("extends: bank-sovereign\ngrowth_per_year: {value: 0.9, assumption: faster roll-out}\n")
    base, w = load_workload("bank-sovereign"), load_workload(str(f))
    assert val(w.growth_per_year) == 0.9
    assert val(w.input_tokens_per_month) == val(base.input_tokens_per_month) and w.model == base.model


def test_base_and_extends_together_are_refused(tmp_path):
    f = tmp_path / "w.yaml"
    f.write_text("base: bank-sovereign\nextends: startup-api\n")
    with pytest.raises(WorkloadError, match="not both"):
        load_workload(str(f))


def test_unknown_builtin_market_suggests_close_names():
    with pytest.raises(UnknownNameError) as e:
        load_market("china-2062")
    assert "china-2026" in str(e.value)


# --- one error formatter --------------------------------------------------------------------------------------
def test_formatter_names_file_field_value_and_what_is_allowed(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("base: china-2026\ndemand: {elastcity: {value: 1.2, assumption: t}}\n")
    with pytest.raises(MarketFileError) as e:
        load_market(str(f))
    msg = str(e.value)
    assert str(f) in msg and "field 'demand.elastcity': unknown field" in msg
    assert "did you mean elasticity" in msg and "allowed fields:" in msg
    g = _workload_file(tmp_path, "cache_hit_share: 1.5")
    with pytest.raises(WorkloadError) as e:
        load_workload(str(g))
    msg = str(e.value)
    assert str(g) in msg and "field 'cache_hit_share'" in msg and "at most 1" in msg and "1.5" in msg


def test_market_money_in_another_currency_is_converted_and_sampled_in_usd():
    cny = get_catalog().fx["CNY"].usd_per_unit.value
    mk = load_market({"base": "china-2026", "demand": {"reference_price_usd_per_mtok": {
        "value": 10.0, "currency": "CNY", "currency_year": 2026, "assumption": "a yuan list price"}}})
    q = mk.demand.reference_price_usd_per_mtok
    assert q.median_value() == pytest.approx(10.0 * cny)
    assert (q.sample(np.random.default_rng(0), 4) == pytest.approx(10.0 * cny))
    assert "USD/CNY" in q.provenance


def test_catalog_records_share_the_formatter_with_close_field_names():
    from inferonomics.catalog import _SECTIONS, CatalogFileError, _load_file

    out = {s: {} for s in _SECTIONS}
    text = ("regions:\n  - {slug: x, name: X, currency: USD, electricty_usd_per_kwh: {value: 0.1, assumption: t},"
            " pue: {value: 1.2, assumption: t}}\n")
    with pytest.raises(CatalogFileError) as e:
        _load_file("u.yaml", text, out, {})
    msg = str(e.value)
    assert msg.startswith("u.yaml: regions entry 'x': ")
    assert "field 'electricty_usd_per_kwh': unknown field; did you mean electricity_usd_per_kwh?" in msg
    assert "field 'electricity_usd_per_kwh': missing (required)" in msg
