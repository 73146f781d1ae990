"""The fleet scale table (per pool, against daily volume), its disk cache, and the provider model reading
each tier's serving utilization from it (``serving.utilization_from: fleet``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from inferonomics.errors import InputError
from inferonomics.fleet import scale_table as st
from inferonomics.fleet.scale_table import COLUMNS, ScaleTable, flattening, for_tiers, scale_table

TOY_VOLUMES = (1e8, 1e10, 1e12)


def toy_fleet(tmp_path, **over) -> str:
    """One pool 'only' of llama-3.1-8b on one H100, an hour of a chat day, owned fleet: seconds to run."""
    doc = {
        "name": "toy-fleet", "daily_tokens": 1e10, "duration_s": 3600, "fleet": "owned", "own": True,
        "pools": [{
            "name": "only", "token_share": 1.0,
            "deployment": {"model": "llama-3.1-8b", "gpu": "h100-sxm", "gpus": 1, "weights": "fp8",
                           "isl": 1000, "osl": 250, "max_tpot_s": 0.05, "max_ttft_s": 2.0},
            "autoscaler": {"interval_s": 300, "target_utilization": 0.8, "provisioning_delay_s": 0},
            "tenants": [{"name": "chat", "class": "chat", "token_share": 1.0, "input_median_tokens": 1000,
                         "input_sigma": 0.5, "output_median_tokens": 250, "output_sigma": 0.5,
                         "diurnal_amplitude": 0.5, "peak_hour": 0.5}],
        }],
    }
    doc.update(over)
    p = tmp_path / "toy-fleet.yaml"
    p.write_text(yaml.safe_dump(doc))
    return str(p)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INFERONOMICS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(st, "_MEMO", {})


# --- pure functions ---------------------------------------------------------------------------------------------
def test_flattening_by_hand():
    f = flattening([1e9, 1e10, 1e11, 1e12], [10.0, 2.0, 1.04, 1.0], tolerance=0.05)
    # level 1.0, threshold 1.05: crossed between 1e10 (2.0) and 1e11 (1.04), linear in log10 volume
    t = (2.0 - 1.05) / (2.0 - 1.04)
    assert f["flattens_at_daily_tokens"] == pytest.approx(10 ** (10 + t))
    assert f["level_usd_per_mtok"] == 1.0
    assert f["reduction"] == pytest.approx(0.9)
    # already flat: the smallest volume; rising again at the end: no volume
    assert flattening([1e9, 1e10], [1.02, 1.0])["flattens_at_daily_tokens"] == 1e9
    assert flattening([1e9, 1e10, 1e11], [3.0, 1.0, 2.0])["flattens_at_daily_tokens"] is None
    # a looser tolerance flattens earlier
    assert flattening([1e9, 1e10, 1e11, 1e12], [10.0, 2.0, 1.04, 1.0], 0.5)["flattens_at_daily_tokens"] < 1e11


@pytest.mark.parametrize("args,field", [
    (([1e9], [1.0]), "daily_tokens"),
    (([1e10, 1e9], [1.0, 2.0]), "daily_tokens"),
    (([1e9, 1e10], [1.0, float("nan")]), "usd_per_mtok"),
    (([1e9, 1e10], [1.0, 0.0]), "usd_per_mtok"),
    (([1e9, 1e10], [2.0, 1.0], 1.5), "tolerance"),
])
def test_flattening_rejects_bad_input(args, field):
    with pytest.raises(InputError) as e:
        flattening(*args)
    assert e.value.field == field


def test_lookup_is_linear_in_log_volume_and_held_beyond_the_grid():
    cols = {k: [0.0, 0.0, 0.0] for k in COLUMNS}
    cols["utilization"] = [0.1, 0.3, 0.4]
    t = ScaleTable("x", (1e9, 1e11, 1e13), {"a": {"model": "m", "gpu": "g", **cols}})
    got = t.lookup("a", "utilization", np.array([[1e10, 1e12], [1e5, 1e16]]))
    np.testing.assert_allclose(got, [[0.2, 0.35], [0.1, 0.4]])
    assert t.lookup("a", "utilization", 0.0) == pytest.approx(0.1)  # no tokens: the smallest volume's value
    with pytest.raises(InputError, match="has pools a"):
        t.lookup("b", "utilization", 1e10)
    with pytest.raises(InputError, match="allowed columns"):
        t.column("a", "utilisation")


# --- the table from the engine ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def toy_table(tmp_path_factory):
    d = tmp_path_factory.mktemp("toyfleet")
    mp = pytest.MonkeyPatch()
    mp.setenv("INFERONOMICS_CACHE_DIR", str(d / "cache"))
    try:
        yield scale_table(toy_fleet(d), TOY_VOLUMES), d
    finally:
        mp.undo()


def test_table_parts_add_up_and_scale_raises_utilization(toy_table):
    t, _ = toy_table
    rows = t.rows("only")
    assert [r["daily_tokens"] for r in rows] == list(TOY_VOLUMES)
    for r in rows:
        parts = (r["floor_usd_per_mtok"] + r["caching_usd_per_mtok"] + r["batching_usd_per_mtok"]
                 + r["multiplexing_usd_per_mtok"])
        assert parts == pytest.approx(r["usd_per_mtok"], rel=1e-9)
        assert 0 < r["utilization"] <= 1 and r["slo_attainment"] > 0.95
        # the flat day's utilization bounds the actual day's (no peaks to provision for)
        assert r["flat_utilization"] >= r["utilization"] * (1 - 1e-3)
        # delivered $/Mtok is the GPU-hours' cost over the tokens, i.e. the floor over the utilization
        # (the floor is every GPU busy at the SLO operating point; no prefix model here: no caching part)
        assert r["caching_usd_per_mtok"] == pytest.approx(0.0, abs=1e-12)
    u = t.column("only", "utilization")
    c = t.column("only", "usd_per_mtok")
    assert u[0] < u[1] < u[2] and c[0] > c[1] > c[2]
    # a one-replica fleet at 1e8 tokens a day is mostly idle: batching (unfillable capacity) dominates
    assert rows[0]["batching_usd_per_mtok"] > 0.5 * rows[0]["usd_per_mtok"]
    assert t.column("only", "gpus")[0] == 1
    # one replica either way and the same tokens a day: nothing left for multiplexing to explain (the flat
    # run carries the tokens the simulated hour delivered, scaled to a day)
    assert abs(rows[0]["multiplexing_usd_per_mtok"]) < 1e-3 * rows[0]["usd_per_mtok"]


def test_table_is_read_back_from_disk_without_recomputing(toy_table, monkeypatch):
    t, d = toy_table
    monkeypatch.setenv("INFERONOMICS_CACHE_DIR", str(d / "cache"))
    monkeypatch.setattr(st, "compute", lambda *a, **k: pytest.fail("recomputed a cached table"))
    again = scale_table(toy_fleet(d), TOY_VOLUMES)
    assert again.pools == t.pools and again.daily_tokens == t.daily_tokens
    # another grid, or another scenario content, is another key: computed afresh
    calls = []
    monkeypatch.setattr(st, "compute", lambda scn, vols: calls.append(vols) or _fake(scn, vols))
    scale_table(toy_fleet(d), TOY_VOLUMES[:2])
    scale_table(toy_fleet(d, seed=3), TOY_VOLUMES)
    assert calls == [list(TOY_VOLUMES[:2]), list(TOY_VOLUMES)]


def _fake(scn, vols):
    return {"scenario": scn.name, "daily_tokens": list(vols),
            "pools": {p.name: {"model": "m", "gpu": "g", **{k: [0.5] * len(vols) for k in COLUMNS}}
                      for p in scn.pools}}


def test_a_capped_fleet_is_an_error_not_a_table(tmp_path):
    path = toy_fleet(tmp_path)
    doc = yaml.safe_load(Path(path).read_text())
    doc["pools"][0]["autoscaler"]["max_replicas"] = 2
    Path(path).write_text(yaml.safe_dump(doc))
    with pytest.raises(InputError) as e:
        scale_table(path, (1e8, 1e12))
    assert e.value.field == "pools[only].autoscaler.max_replicas" and "raise max_replicas" in str(e.value)


def test_bad_volumes():
    with pytest.raises(InputError, match="increasing daily token volumes"):
        st.compute(None, [1e12, 1e9])
    with pytest.raises(InputError, match="increasing daily token volumes"):
        st.compute(None, [1e9, math.inf])


def test_for_tiers_checks_pools_against_the_tiers(tmp_path):
    path = toy_fleet(tmp_path)
    with pytest.raises(InputError) as e:
        for_tiers(path, {"flagship": ("llama-3.1-8b", "h100-sxm")})
    assert e.value.field == "serving.fleet_scenario" and "its pools are only" in str(e.value)
    with pytest.raises(InputError, match="pool 'only' serves llama-3.1-8b on h100-sxm, but token tier 'only' serves"):
        for_tiers(path, {"only": ("llama-3.1-70b", "h100-sxm")})
    with pytest.raises(InputError) as e:
        for_tiers("alibaba-tierz", {"only": ("m", "g")})
    assert e.value.field == "serving.fleet_scenario" and "alibaba-tiers" in str(e.value)


# --- the provider model -----------------------------------------------------------------------------------------
def _provider(fleet_path: str, **serving) -> dict:
    return {
        "name": "toy", "title": "toy provider", "horizon_years": 3, "base_year": {"year": 2030},
        "token_tiers": {"only": {
            "deployment": {"model": "llama-3.1-8b", "gpu": "h100-sxm", "gpus": 1, "weights": "fp8",
                           "isl": 1000, "osl": 250, "max_tpot_s": 0.05},
            "base_tokens_mtok_per_year": 3e6, "input_price_usd_per_mtok": 0.5, "output_price_usd_per_mtok": 1.5,
            "growth_per_year": [9.0, 1.0], "throughput_multiplier": 2.0}},
        "serving": serving or {"utilization_from": "fleet", "fleet_scenario": fleet_path,
                               "software_throughput_gain_per_year": 0.5},
        "pools": {"h100-sxm": {"accelerator_usd": 20000, "server_network_frac": 0.5, "life_years": 2,
                               "initial_fleet_purchase_years": 1}},
        "costs": {"region": "us-average"},
    }


def test_provider_sizes_each_tier_by_the_fleet_utilization_at_its_volume(toy_table, monkeypatch):
    from inferonomics.market import load_scenario, simulate

    t, d = toy_table
    monkeypatch.setenv("INFERONOMICS_CACHE_DIR", str(d / "cache"))
    monkeypatch.setattr(st, "GRID_DAILY_TOKENS", TOY_VOLUMES)
    sc = load_scenario(_provider(toy_fleet(d)))
    m = {k: v[0] for k, v in simulate(sc, paths=1, seed=0).metrics.items()}
    tokens = 3e6 * np.array([1, 10, 20, 40])  # x10, then x2 a year (the last entry repeats)
    np.testing.assert_allclose(m["tokens_only_mtok"], tokens)
    gain = 2.0 * 1.5 ** np.arange(4)  # throughput multiplier x software gain index
    avg = tokens * 1e6 / (sc.tiers_tokens_per_s_per_gpu["only"] * gain * 8760 * 3600)
    # the lookup volume is the tier's daily tokens in replicas of the reference deployment
    u = t.lookup("only", "utilization", tokens * 1e6 / 365 / gain)
    np.testing.assert_allclose(m["fleet_serving_h100_sxm_need_gpu_eq"], avg / u, rtol=1e-9)
    assert np.all(np.diff(u) > 0)  # volume grows faster than throughput: the fleet fills better each year


def test_provider_lends_idle_serving_gpus_to_the_training_fleet(toy_table, monkeypatch):
    """``serving.idle_to_training``: the owned serving fleet's idle GPU-hours (the lending fleet simulation's
    training share) train, so the training fleet on the same accelerator buys that much less, and the
    share of the serving fleet that trains is charged to R&D, not to the tokens."""
    from inferonomics.market import load_scenario, simulate

    _, d = toy_table
    monkeypatch.setenv("INFERONOMICS_CACHE_DIR", str(d / "cache"))
    monkeypatch.setattr(st, "GRID_DAILY_TOKENS", TOY_VOLUMES)
    path = toy_fleet(d)
    training = {"training": {"accelerator": "h100-sxm", "base_gpus": 400, "utilization": 0.9}}
    serving = {"utilization_from": "fleet", "fleet_scenario": path, "software_throughput_gain_per_year": 0.5}
    runs = {}
    for lend in (False, True):
        doc = {**_provider(path, **serving, idle_to_training=lend), "rnd": training}
        sc = load_scenario(doc)
        runs[lend] = {k: v[0] for k, v in simulate(sc, paths=1, seed=0).metrics.items()}
    a, b = runs[False], runs[True]
    # the lending table: the share of the owned fleet's GPU-hours that trained, at the tier's lookup volume
    lending = for_tiers(path, {"only": ("llama-3.1-8b", "h100-sxm")}, idle_to_training=True)
    tokens = b["tokens_only_mtok"]
    gain = 2.0 * 1.5 ** np.arange(4)
    share = lending.lookup("only", "training_share", tokens * 1e6 / 365 / gain)
    assert np.all(share > 0.01)  # even one hour of the chat day leaves part of the owned peak fleet idle
    need = b["fleet_serving_h100_sxm_need_gpu_eq"]
    lent = np.minimum(need * share, 400.0)
    np.testing.assert_allclose(b["training_on_serving_gpu_eq"], lent, rtol=1e-9)
    np.testing.assert_allclose(b["fleet_training_h100_sxm_need_gpu_eq"], 400.0 - lent, rtol=1e-9)
    assert np.all(a["training_on_serving_gpu_eq"] == 0) and np.all(a["fleet_training_h100_sxm_need_gpu_eq"] == 400)
    # the serving fleet is still sized for its peak (the owned fleet's utilization, lending or not)
    np.testing.assert_allclose(need, a["fleet_serving_h100_sxm_need_gpu_eq"], rtol=0.05)
    # the serving fleet's GPUs are busier (training fills its idle hours); the tokens bear less cost and
    # the company as a whole buys and spends less
    assert np.all(b["fleet_serving_h100_sxm_utilization"] > a["fleet_serving_h100_sxm_utilization"])
    assert np.all(b["token_cost_usd_per_mtok"] < a["token_cost_usd_per_mtok"])
    total = {k: r["cost_of_revenue_tokens_usd"] + r["rnd_training_compute_usd"] for k, r in runs.items()}
    assert np.all(total[True] < total[False])
    assert b["capex_usd"].sum() < a["capex_usd"].sum()
    # an autoscaled (rented) fleet has nothing idle to lend
    with pytest.raises(InputError) as e:
        for_tiers(toy_fleet(d, fleet="autoscaled"), {"only": ("llama-3.1-8b", "h100-sxm")}, idle_to_training=True)
    assert e.value.field == "serving.idle_to_training" and "owned" in str(e.value)


def test_serving_fields_are_checked_together(tmp_path):
    from inferonomics.market import ScenarioFileError, load_scenario

    path = toy_fleet(tmp_path)
    cases = [
        ({"peak_to_average": 1.5}, "give peak_to_average and peak_utilization"),
        ({"utilization_from": "fleet"}, "give fleet_scenario"),
        ({"utilization_from": "fleet", "fleet_scenario": path, "peak_to_average": 1.5},
         "leave out peak_to_average"),
        ({"utilization_from": "simulation", "fleet_scenario": path}, "utilization_from"),
        ({"peak_to_average": 1.5, "peak_utilization": 0.8, "idle_to_training": True}, "idle_to_training needs"),
    ]
    for serving, msg in cases:
        with pytest.raises(ScenarioFileError) as e:
            load_scenario(_provider(path, **serving))
        assert "serving" in str(e.value) and msg in str(e.value)


def test_bad_fleet_scenario_is_a_clean_cli_error(tmp_path, capsys):
    from inferonomics.cli import main

    doc = _provider("no-such-fleet")
    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump(doc))
    rc = main(["provider", "run", str(p), "--paths", "10"])
    err = capsys.readouterr().err
    assert rc == 2 and "serving.fleet_scenario" in err and "Traceback" not in err


def test_alibaba_100b_reads_its_tier_utilization_from_alibaba_tiers():
    from inferonomics.market import load_scenario

    sc = load_scenario("alibaba-100b")
    s = sc.spec.serving
    assert s.utilization_from == "fleet" and s.fleet_scenario == "alibaba-tiers"
    assert "fleet simulation" in sc.spec.description
    # every tier has its pool, with the same model and accelerator (no engine run: the check only)
    from inferonomics.fleet.scenario import load_scenario as load_fleet

    pools = {p.name: p.deployment for p in load_fleet("alibaba-tiers").pools}
    for name, tier in sc.spec.token_tiers.items():
        assert (pools[name]["model"], pools[name]["gpu"]) == (tier.deployment.model, tier.deployment.gpu)
