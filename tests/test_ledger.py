"""The economic ledger: its identities, and cost, breakeven and provider agreeing on the same case."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inferonomics import ledger
from inferonomics.cost import OwnershipAssumptions, gpu_hour
from inferonomics.cost.tco import usd_per_mtok
from inferonomics.decide import evaluate, prepare
from inferonomics.decide.workload import Workload
from inferonomics.market import load_scenario, simulate

RATE, LIFE, REGION = 0.06, 5, "cn-east"


def _physics(**kw):
    base = {"tdp_w": np.array([700.0]), "server_overhead_w": np.array([575.0]), "idle_power_frac": 0.15,
            "busy_power_frac": 0.8, "pue": 1.3, "electricity_usd_per_kwh": 0.09, "facility_usd_per_kw_month": 120.0,
            "maintenance_frac_per_year": 0.03}
    base.update(kw)
    return base


# ------------------------------------------------------------------------------------------- identities
@settings(max_examples=40, deadline=None)
@given(
    buys=st.lists(st.integers(0, 5), min_size=3, max_size=40),
    life=st.integers(1, 30),
    rate=st.floats(0.0, 0.4),
    residual=st.floats(0.0, 1.0),
    tax=st.floats(0.0, 0.4),
    period=st.sampled_from(["month", "year"]),
)
def test_cost_lines_have_the_present_value_of_the_cash(buys, life, rate, residual, tax, period):
    """For any purchases, life, rate, residual choice and tax rate: PV(cost) = PV(cash) = NPV, and the
    depreciation plus the residual credit and the write-off add up to the capex."""
    b = np.array([buys], float)
    gpus = np.cumsum(b, axis=1)
    f = ledger.fleet(bought=b, gpus=gpus, utilization=np.full(b.shape, 0.5), capex_per_gpu_usd=[20_000.0],
                     life_periods=life, rate_per_year=rate, period=period, other_usd=100.0,
                     residual_frac_of_book=residual, tax_rate=tax, **_physics())
    d_s, d_e = f["discount_start"], f["discount_end"]
    pv_cash = f["capex_usd"][0] @ d_s + (f["cash_usd"][0] - f["capex_usd"][0]) @ d_e
    assert f["npv_usd"][0] == pytest.approx(pv_cash, rel=1e-12, abs=1e-6)
    assert f["cost_usd"][0] @ d_e == pytest.approx(f["npv_usd"][0], rel=1e-9, abs=1e-6)
    total = f["depreciation_usd"].sum() + f["write_off_usd"].sum() + f["residual_credit_usd"].sum()
    assert total == pytest.approx(f["capex_usd"].sum(), rel=1e-9, abs=1e-6)
    assert (f["closing_book_usd"] >= -1e-6).all()


def test_levelized_constant_fleet_is_the_annuity():
    """A fleet bought at once and held one life: PV(cost) / PV(GPU-hours) is the cost view's $/GPU-hour."""
    u = 0.4
    f = ledger.fleet(bought=np.array([[8.0] + [0.0] * 59]), gpus=np.full((1, 60), 8.0),
                     utilization=np.full((1, 60), u), capex_per_gpu_usd=[30_000.0], life_periods=60,
                     rate_per_year=0.08, period="month", **_physics())
    lev = float(ledger.levelized(f["npv_usd"], f["pv_gpu_hours"])[0])
    steady = ledger.owned_usd_per_gpu_hour(
        accelerator_usd=30_000.0, server_network_frac=0.0, life_years=5, cost_of_capital=0.08, tdp_w=700.0,
        server_overhead_w=575.0, idle_power_frac=0.15, busy_power_frac=0.8, utilization=u, pue=1.3,
        electricity_usd_per_kwh=0.09, facility_usd_per_kw_month=120.0, operations_frac_per_year=0.03)
    assert lev == pytest.approx(float(steady["usd_per_gpu_hour"]), rel=1e-12)
    # by hand: monthly annuity of 30,000 at (1.08)^(1/12) - 1 over 60 months, per 730 hours
    r = 1.08 ** (1 / 12) - 1
    assert float(steady["capital_accelerator_usd_per_gpu_hour"]) == pytest.approx(
        30_000 * r / (1 - (1 + r) ** -60) / 730, rel=1e-12)


def test_yearly_and_monthly_periods_agree_on_the_capital_of_a_steady_fleet():
    """12 monthly payments a year per GPU in service (the provider's capital charge) equal 12 x the monthly
    annuity, whatever the period the fleet is kept in."""
    hourly = float(ledger.capital_usd_per_gpu_hour(10_000.0, 0.07, 4))
    yearly = 10_000.0 * 12 * float(ledger.capital_recovery_factor(ledger.period_rate(0.07, "month"), 48))
    assert yearly == pytest.approx(hourly * 8760, rel=1e-12)


def test_labelled_dataset():
    f = ledger.fleet(bought=np.array([[1.0, 0, 0], [2.0, 0, 1]]), gpus=np.array([[1.0] * 3, [2.0, 2, 3]]),
                     utilization=np.full((2, 3), 0.5), capex_per_gpu_usd=[1000.0, 2000.0], life_periods=2,
                     rate_per_year=0.1, period="year", **_physics(tdp_w=np.array([700.0, 400.0]),
                                                                  server_overhead_w=np.array([500.0, 300.0])))
    ds = ledger.to_dataset(f, ["a", "b"], period="year", start=2027)
    assert dict(ds.sizes) == {"option": 2, "period": 3}
    assert ds["capex_usd"].sel(option="b", period=2029).item() == 2000.0
    assert ds["power_usd"].attrs["units"] == "USD" and ds.attrs["period_months"] == 12
    assert ds["npv_usd"].sel(option="a").item() == pytest.approx(f["npv_usd"][0])


# --------------------------------------------------------------------- the three views, whole catalog
def _catalog_workload(cat):
    """Steady volume (no growth), no spares, one purchase for the whole 5-year horizon, no residual, no
    staff: every owned option runs a constant fleet at a constant utilization for exactly one life."""
    return Workload(
        input_tokens_per_month=4e11, output_tokens_per_month=1e11, isl_tokens=2000, osl_tokens=500,
        growth_per_year=0.0, peak_to_average=1.7, model="llama-3.1-8b", accelerators=sorted(cat.accelerators),
        precisions=["bf16", "fp8", "int8", "int4"], gpus_per_instance=[1], horizon_months=60,
        discount_rate_per_year=RATE, region=REGION, ownership={"life_years": LIFE, "resize_every_months": 60},
    )


@pytest.fixture(scope="module")
def catalog_case():
    from inferonomics.catalog import get_catalog

    with pytest.MonkeyPatch.context() as mp:  # set up before the per-test guard against a user catalog
        mp.delenv("INFERONOMICS_CATALOG_DIR", raising=False)
        cat = get_catalog()
    p = prepare(_catalog_workload(cat), cat)
    return p, evaluate(p)


def _cost_view(cat, gpu, util):
    return gpu_hour(gpu, region=REGION, utilization=util, own=True, catalog=cat,
                    assumptions=OwnershipAssumptions(cost_of_capital=RATE, life_years=LIFE))


def test_breakeven_and_cost_agree_across_the_catalog(cat, catalog_case):
    p, ev = catalog_case
    assert set(p.cap["gpu"]) == set(cat.accelerators)  # every accelerator in the catalog is compared
    own = ev["own"]
    A, C = len(p.apis), len(p.cap)
    for i, row in p.cap.iterrows():
        util = own["utilization"][i]
        assert np.ptp(util) == 0 and 0 < util[0] <= 1  # steady
        h = _cost_view(cat, row["gpu"], float(util[0]))
        lev_hour = own["npv_usd"][i] / own["pv_gpu_hours"][i]
        assert lev_hour == pytest.approx(h["usd_per_gpu_hour"], abs=0.005), row["gpu"]
        assert lev_hour == pytest.approx(h["usd_per_gpu_hour"], rel=1e-9), row["gpu"]
        gpi = row["gpus_per_instance"]
        tok = usd_per_mtok(h["usd_per_gpu_hour"], row["output_tokens_per_s"] / gpi, row["input_tokens_per_s"] / gpi,
                           row["prefill_time_share"], float(util[0]))["usd_per_mtok_blended"]
        assert ev["usd_per_mtok"][A + C + i] == pytest.approx(float(tok), rel=1e-6, abs=0.005), row["gpu"]


def _provider_doc(gpu, weights, util):
    peak_util = 0.8
    return {
        "name": f"steady-{gpu}", "title": "steady fleet", "horizon_years": 3, "base_year": {"year": 2030},
        "token_tiers": {"only": {
            "deployment": {"model": "llama-3.1-8b", "gpu": gpu, "gpus": 1, "weights": weights, "isl": 2000,
                           "osl": 500},
            "base_tokens_mtok_per_year": 1e7, "input_price_usd_per_mtok": 0.5, "output_price_usd_per_mtok": 1.5,
            "realized_share_of_list_price": 1.0}},
        "serving": {"peak_to_average": peak_util / util, "peak_utilization": peak_util},
        "pools": {gpu: {"life_years": LIFE, "initial_fleet_purchase_years": LIFE}},
        "costs": {"region": REGION, "cost_of_capital": RATE},
    }


def test_provider_and_cost_agree_across_the_catalog(cat, catalog_case):
    p, _ = catalog_case
    util = 0.5
    firsts = p.cap.groupby("gpu").first()
    for gpu, row in firsts.iterrows():
        sc = load_scenario(_provider_doc(gpu, row["weights"], util), catalog=cat)
        m = {k: v[0] for k, v in simulate(sc, paths=1, seed=0).metrics.items()}
        tag = f"fleet_serving_{gpu.replace('-', '_').replace('.', '_')}"
        np.testing.assert_allclose(m[f"{tag}_utilization"][1:], util, rtol=1e-12)
        h = _cost_view(cat, gpu, util)
        for year in (1, 2, 3):
            assert m[f"{tag}_economic_cost_usd_per_gpu_hour"][year] == pytest.approx(
                h["usd_per_gpu_hour"], rel=1e-9, abs=0.005), gpu
            tps = sc.tiers_tokens_per_s_per_gpu["only"]
            per_mtok = h["usd_per_gpu_hour"] / (tps * 3600 * util) * 1e6
            assert m["token_economic_cost_usd_per_mtok"][year] == pytest.approx(per_mtok, rel=1e-9), gpu


def test_the_three_views_agree_to_the_cent_on_one_case(cat, catalog_case):
    """H20 in eastern China at 6%: cost (annuity), breakeven (monthly cash flows, levelized) and provider
    (yearly books by vintage with the capital annuity) give the same $/GPU-hour to the cent."""
    p, ev = catalog_case
    i = int(np.flatnonzero(p.cap["gpu"].to_numpy() == "h20")[0])
    util = float(ev["own"]["utilization"][i][0])
    cost_view = _cost_view(cat, "h20", util)["usd_per_gpu_hour"]
    breakeven_view = ev["own"]["npv_usd"][i] / ev["own"]["pv_gpu_hours"][i]
    sc = load_scenario(_provider_doc("h20", p.cap.iloc[i]["weights"], util), catalog=cat)
    provider_view = simulate(sc, paths=1, seed=0).metrics["fleet_serving_h20_economic_cost_usd_per_gpu_hour"][0, 2]
    assert round(cost_view, 2) == round(breakeven_view, 2) == round(float(provider_view), 2)
    assert abs(cost_view - breakeven_view) < 1e-9 and abs(cost_view - provider_view) < 1e-9
