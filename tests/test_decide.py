"""The buyer's decision: hand-computed break-even and NPV, invariants, sovereignty, SLO and file errors."""

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inferonomics.cli import main
from inferonomics.decide import Levers, breakeven, evaluate, load_workload, prepare, with_overrides
from inferonomics.decide import engine as E
from inferonomics.decide.api import MONTHLY_COLUMNS
from inferonomics.decide.sizing import SloUnreachableError
from inferonomics.decide.workload import Workload, WorkloadError, builtin_names
from inferonomics.errors import UnknownNameError
from inferonomics.quantity import Quantity

BUILTINS = ["bank-sovereign", "startup-api", "enterprise-copilot"]


# ------------------------------------------------------------------------------- a hand-computed case
def _hand_case(api_usd_per_mtok=10.0, rate=0.12, H=12):
    """1 request/s (1000 in + 1000 out tokens) all month, no peak; one candidate serving 0.5 request/s per
    8-GPU instance at $10,000 per GPU (no server share), life 12 months; only staff ($1,000/month) besides
    capex; one API at a flat price per Mtok."""
    w = Workload(input_tokens_per_month=1e9, output_tokens_per_month=1e9, model="llama-3.1-8b")
    months = np.arange(1, H + 1)
    tok = np.full(H, 1000.0 * E.SECONDS_PER_MONTH)  # 1 request/s x 1000 tokens
    cap = pd.DataFrame([{
        "model": "m", "gpu": "g", "weights": "fp8", "gpus_per_instance": 8, "tp": 8, "ep": 1, "concurrency": 8.0,
        "output_tokens_per_s": 500.0, "input_tokens_per_s": 500.0, "requests_per_s": 0.5, "ttft_s": 0.1,
        "tpot_s": 0.01, "memory_per_gpu_gb": 40.0,
    }])
    apis = [{"option": "api p/m (international)", "kind": "api", "input_usd_per_mtok": api_usd_per_mtok,
             "output_usd_per_mtok": api_usd_per_mtok, "cache_hit_input_usd_per_mtok": api_usd_per_mtok}]
    own_c = {k: np.array([v]) for k, v in {
        "server_gpus": 8.0, "accelerator_usd": 10_000.0, "rental_usd_per_gpu_hour": 2.0, "tdp_w": 700.0,
        "server_overhead_w": 500.0, "gpi": 8.0, "req_s": 0.5}.items()}
    consts = {
        "life_months": 12, "server_network_frac": 0.0, "facility_usd_per_kw_month": 0.0,
        "maintenance_frac_per_year": 0.0, "electricity_usd_per_kwh": 0.0, "pue": 1.2, "idle_power_frac": 0.15,
        "busy_power_frac": 0.8, "spare_servers": 0, "resize_every_months": 1, "residual_value_frac_of_book": 0.0,
        "own_staff_usd_per_month": 1000.0, "rent_staff_usd_per_month": 0.0, "discount_rate_per_year": rate,
        "cache_hit_share": 0.0, "api_price_change_per_year": 0.0,
    }
    return E.Prepared(
        workload=w, months=months, in_tok=tok, out_tok=tok, isl=1000, osl=1000, peak_to_average=1.0,
        monthly_rate=(1 + rate) ** (1 / 12) - 1, apis=apis, api_skipped=[], cap=cap, own_c=own_c, consts=consts,
    )


def test_hand_computed_breakeven_month_and_npv():
    p = _hand_case()
    ev = evaluate(p)
    api, rent, own = 0, 1, 2  # option order: APIs, rented candidates, owned candidates
    tokens_mtok = 2 * 1000 * E.SECONDS_PER_MONTH / 1e6  # 5,256 Mtok a month
    assert ev["cash"][api][0] == pytest.approx(10 * tokens_mtok)  # $52,560
    # 1 request/s at 0.5 per instance: 2 instances = 2 servers of 8 GPUs = $160,000 in month 1
    assert ev["own"]["servers"][0].tolist() == [2.0] * 12
    assert ev["cash"][own][0] == pytest.approx(160_000 + 1_000)
    assert ev["cash"][own][1] == pytest.approx(1_000)
    # straight-line depreciation plus the cost of capital on the opening book, at the monthly rate
    r = 1.12 ** (1 / 12) - 1
    assert ev["cost"][own][0] == pytest.approx(160_000 / 12 + r * 160_000 + 1_000)
    # the cost lines have the cash's present value: the NPV
    d_end = (1 + r) ** -np.arange(1, 13)
    assert ev["cost"][own] @ d_end == pytest.approx(ev["npv"][own])
    # rent: 16 GPUs x $2 x 730 h
    assert ev["cash"][rent][0] == pytest.approx(16 * 2 * 730)
    # cumulative: 160,000 + 1,000 m <= 52,560 m  <=>  m >= 3.10  ->  month 4
    month = E._first_crossing(np.cumsum(ev["cash"][own]), np.cumsum(ev["cash"][api]))
    assert month == 4
    # NPV: capex at the start of month 1 (undiscounted), monthly flows at the end of each month
    annuity = (1 - (1 + r) ** -12) / r
    assert ev["npv"][own] == pytest.approx(160_000 + 1_000 * annuity)
    assert ev["npv"][api] == pytest.approx(52_560 * annuity)
    assert 1_000 * annuity == pytest.approx(11_291.52, abs=0.01)  # (1 - 1/1.12) / (1.12^(1/12) - 1) = 11.29152


def test_hand_case_breakeven_volume():
    """Steady volume V (Mtok/month) at which 160,000 + 1,000 a = 10 V a (one or two servers)."""
    p = _hand_case()
    r = 1.12 ** (1 / 12) - 1
    a = (1 - (1 + r) ** -12) / r
    v = E.breakeven_volume(p, 0, np.array([False, False, True]))
    # 1 server (capacity 0.5 req/s = 2,628 Mtok/month) suffices below 2,628 Mtok: V* = (80,000 + 1,000 a) / (10 a)
    expected = (80_000 + 1_000 * a) / (10 * a) * 1e6
    assert v == pytest.approx(expected, rel=1e-6)


def test_residual_value_and_replacement():
    p = _hand_case(H=30)
    p.consts["residual_value_frac_of_book"] = 1.0
    ev = evaluate(p)
    bought = ev["own"]["servers_bought"][0]
    assert bought[0] == 2 and bought[12] == 2 and bought[24] == 2  # replaced at the end of each 12-month life
    # at month 30 the month-25 purchase has 6 of 12 months left: half of $160,000
    assert ev["residual"][2] == pytest.approx(80_000)


# ------------------------------------------------------------------------------------------ invariants
def _cheap_own_workload(**kw):
    """llama-3.1-8b self-hosted against frontier-priced APIs: owning's marginal cost is far below them."""
    base = {
        "input_tokens_per_month": 2e9, "output_tokens_per_month": 5e8, "isl_tokens": 2000, "osl_tokens": 500,
        "model": "llama-3.1-8b", "quality_tier": "frontier", "api_markets": ["international"],
        "api_providers": ["openai"], "accelerators": ["h100-sxm", "l40s"], "precisions": ["fp8"],
        "gpus_per_instance": [1, 2], "slo": {"max_ttft_s": 2.0, "max_tpot_s": 0.05}, "horizon_months": 24,
        "growth_per_year": 0.3, "staff": {"own_fte": 1, "rented_fte": 0.5, "usd_per_fte_year": 150000},
        "region": "us-average",
    }
    base.update(kw)
    return Workload(**base)


@pytest.fixture(scope="module")
def cheap_own():
    return prepare(_cheap_own_workload())


def test_raising_volume_never_makes_owning_relatively_worse(cheap_own):
    p = cheap_own
    ratios = []
    for k in [2.0 ** i for i in range(-6, 8)]:
        ev = evaluate(p, Levers(volume=k))
        own = ev["npv"][ev["kind"] == "own"].min()
        api = ev["npv"][ev["kind"] == "api"].min()
        ratios.append(own / api)
    assert all(b <= a * (1 + 1e-9) for a, b in itertools.pairwise(ratios)), ratios
    assert ratios[0] > 1 > ratios[-1]  # the API wins small, owning wins large


@settings(max_examples=15, deadline=None)
@given(base=st.floats(min_value=0.01, max_value=50.0), steps=st.integers(min_value=1, max_value=4))
def test_volume_doubling_property(cheap_own, base, steps):
    p = cheap_own

    def ratio(k):
        ev = evaluate(p, Levers(volume=k))
        return ev["npv"][ev["kind"] == "own"].min() / ev["npv"][ev["kind"] == "api"].min()

    assert ratio(base * 2 ** steps) <= ratio(base) * (1 + 1e-9)


def test_breakeven_volume_separates_the_winners(cheap_own):
    p = cheap_own
    ev = evaluate(p)
    api = int(np.argmin(np.where(ev["kind"] == "api", ev["npv"], np.inf)))
    v = E.breakeven_volume(p, api, ev["kind"] == "own")
    assert v is not None and v > 0
    for f, own_wins in ((0.9, False), (1.1, True)):
        e = evaluate(p, steady_tokens_per_month=v * f)
        assert (e["npv"][ev["kind"] == "own"].min() < e["npv"][api]) == own_wins


def test_flip_multipliers_do_flip():
    d = breakeven(_cheap_own_workload(input_tokens_per_month=2e8, output_tokens_per_month=5e7))
    assert d.recommendation["kind"] == "api"
    vol = next(f for f in d.flips if f["lever"] == "volume" and f["direction"] == "up")
    assert vol["multiplier"] is not None and vol["new_kind"] != "api"
    p = prepare(_cheap_own_workload(input_tokens_per_month=2e8, output_tokens_per_month=5e7))
    for k, same in ((vol["multiplier"] * 1.02, False), (vol["multiplier"] / 1.02, True)):
        ev = evaluate(p, Levers(volume=k))
        assert (ev["kind"][int(np.argmin(ev["npv"]))] == "api") == same
    price = next(f for f in d.flips if f["lever"] == "api_price" and f["direction"] == "up")
    assert price["multiplier"] is not None and price["multiplier"] > 1


# ---------------------------------------------------------------------------------------- sovereignty
def test_sovereignty_removes_api_and_rented_options():
    w = _cheap_own_workload(input_tokens_per_month=2e8, output_tokens_per_month=5e7)
    free = breakeven(w, with_flips=False)
    assert free.recommendation["kind"] == "api"
    sov = breakeven(with_overrides(w, sovereign=True))
    elig = sov.options[sov.options["eligible"]]
    assert set(elig["kind"]) == {"own"} and sov.recommendation["kind"] == "own"
    assert {e["kind"] for e in sov.excluded} == {"api", "rent"}
    assert sov.counterfactual["kind"] == "api" and sov.counterfactual["price_of_sovereignty_usd"] > 0
    assert any(f["lever"] == "sovereign" for f in sov.flips)
    assert any("Sovereignty" in r for r in sov.recommendation["reasons"])


# ------------------------------------------------------------------------------------ SLO and errors
def test_unreachable_slo_says_so():
    w = _cheap_own_workload(slo={"max_ttft_s": 2.0, "max_tpot_s": 0.0001})
    with pytest.raises(SloUnreachableError) as e:
        prepare(w)
    msg = str(e.value)
    assert "latency target" in msg and "TPOT" in msg and "Relax the SLO" in msg


def test_unreachable_slo_cli_exit_2(capsys):
    rc = main(["breakeven", "--tokens-per-month", "1e9", "--model", "qwen2.5-72b", "--gpu", "h20",
               "--max-tpot-s", "0.0005", "--no-flips"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot be met" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "body, words",
    [
        ("input_tokens_per_month: 1e9\noutput_tokens_per_month: 1e8\nmodel: qwen2.5-72b\nslo: {max_ttft_s: -1}\n",
         ["slo.max_ttft_s", "above 0"]),
        ("input_tokens_per_month: 1e9\noutput_tokens_per_month: 1e8\nmodel: qwen2.5-72b\nstaff: {own_fte: {value: 2}}\n",
         ["staff.own_fte", "source"]),
        ("input_tokens_per_month: 1e9\noutput_tokens_per_month: 1e8\nmodel: qwen2.5-72b\nstafff: {}\n",
         ["stafff", "unknown field"]),
        ("input_tokens_per_month: 1e9\noutput_tokens_per_month: 1e8\n", ["model", "quality_tier"]),
        ("input_tokens_per_month: 1e9\noutput_tokens_per_month: 1e8\nmodel: m\nownership: {resize_every_months: 2.5}\n",
         ["ownership.resize_every_months", "whole number"]),
        ("- just a list\n", ["top level must be a mapping"]),
        ("model: [\n", ["not valid YAML"]),
    ],
)
def test_bad_workload_files_name_file_and_field(tmp_path, body, words):
    f = tmp_path / "bad.yaml"
    f.write_text(body)
    with pytest.raises(WorkloadError) as e:
        load_workload(str(f))
    msg = str(e.value)
    assert "bad.yaml" in msg
    for w in words:
        assert w in msg


def test_bad_names_in_workload(tmp_path, capsys):
    with pytest.raises(UnknownNameError) as e:
        prepare(_cheap_own_workload(model="qwen2.5-27b"))
    assert "qwen2.5-72b" in str(e.value) or "qwen2.5-7b" in str(e.value)
    with pytest.raises(UnknownNameError) as e:
        prepare(_cheap_own_workload(accelerators=["h100-sxm", "h300"]))
    assert "accelerators[1]" in str(e.value)
    with pytest.raises(UnknownNameError):
        load_workload("bank-sovereing")
    f = tmp_path / "w.yaml"
    f.write_text("input_tokens_per_month: 1e9\noutput_tokens_per_month: -5\nmodel: qwen2.5-72b\n")
    assert main(["breakeven", str(f)]) == 2
    err = capsys.readouterr().err
    assert "w.yaml" in err and "output_tokens_per_month" in err
    assert main(["breakeven", str(tmp_path / "missing.yaml")]) == 2
    assert main(["breakeven"]) == 2
    assert "--tokens-per-month" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ built-ins
def _numbers(obj, path=""):
    if isinstance(obj, Quantity) or isinstance(obj, float | int) and not isinstance(obj, bool):
        yield path, obj
    elif hasattr(type(obj), "model_fields"):
        for name in type(obj).model_fields:
            yield from _numbers(getattr(obj, name), f"{path}.{name}" if path else name)


def test_builtin_workloads_source_every_number():
    assert set(BUILTINS) <= set(builtin_names())
    for name in BUILTINS:
        w = load_workload(name)
        n = 0
        for path, v in _numbers(w):
            if path.startswith("gpus_per_instance"):
                continue
            n += 1
            assert isinstance(v, Quantity), f"{name}: {path} needs a source or an assumption"
            assert v.assumption and len(v.assumption) >= 10 or (v.source and v.date), f"{name}: {path}"
        assert n >= 15, name
    bank = load_workload("bank-sovereign")
    assert bank.sovereign and bank.model == "qwen2.5-72b"
    assert 1e10 <= bank.number("input_tokens_per_month") + bank.number("output_tokens_per_month") < 1e11


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_breakeven_cli(name, capsys):
    assert main(["breakeven", name]) == 0
    out = capsys.readouterr().out
    assert "Recommendation:" in out and "flip" in out


def test_breakeven_json_csv_and_flags(tmp_path, capsys):
    csv = tmp_path / "m.csv"
    assert main(["breakeven", "bank-sovereign", "--json", "--csv", str(csv)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["recommendation"]["kind"] == "own"
    assert out["counterfactual"]["price_of_sovereignty_usd"] > 0
    assert {"options", "monthly", "flips", "breakeven", "excluded", "capacity"} <= set(out)
    df = pd.read_csv(csv)
    assert list(df.columns) == MONTHLY_COLUMNS
    H = 60
    assert df.groupby("option")["month"].max().eq(H).all()
    one = df[df["option"] == out["recommendation"]["option"]]
    assert one["cumulative_cash_usd"].iloc[-1] == pytest.approx(one["cash_usd"].sum())
    # the same workload without the constraint: an API wins
    assert main(["breakeven", "bank-sovereign", "--no-sovereign", "--no-flips", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["recommendation"]["kind"] == "api"
    # a workload stated inline
    assert main(["breakeven", "--tokens-per-month", "2e9", "--input-share", "0.75", "--model", "llama-3.1-8b",
                 "--gpu", "h100-sxm", "--precision", "fp8", "--api-market", "international", "--horizon-months", "12",
                 "--no-flips", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    res = out["workload"]
    assert res["input_tokens_per_month"] == pytest.approx(1.5e9) and res["isl_tokens"] == 1536
    assert len(out["monthly"]) == 12 * len(out["options"])
    assert main(["breakeven", "--list"]) == 0
    assert "bank-sovereign" in capsys.readouterr().out


def test_decision_figures_are_consistent():
    d = breakeven("enterprise-copilot", with_flips=False)
    opts = d.options.set_index("option")
    m = d.monthly
    r = (1 + d.workload["resolved"]["discount_rate_per_year"]) ** (1 / 12) - 1
    for opt, g in m.groupby("option"):
        v = (1 + r) ** -g["month"].to_numpy(float)
        # levelized: PV(cost) / PV(tokens), and PV(cost) is the NPV (cash) of the option
        assert opts.loc[opt, "usd_per_mtok"] == pytest.approx(g["cost_usd"] @ v / (g["tokens"] @ v) * 1e6)
        assert g["cost_usd"] @ v == pytest.approx(opts.loc[opt, "npv_usd"], rel=1e-9)
        assert opts.loc[opt, "month1_usd"] == pytest.approx(g["cost_usd"].iloc[0])
    ds = d.ledger
    assert set(ds.sizes) == {"option", "period"} and ds["cash_usd"].attrs["units"] == "USD"
    for opt in ds["option"].values:
        assert float(ds["npv_usd"].sel(option=opt)) == pytest.approx(opts.loc[opt, "npv_usd"])
    own = m[m["kind"] == "own"]
    # never sells: the owned fleet does not shrink
    for _, g in own.groupby("option"):
        assert (np.diff(g["servers"].to_numpy()) >= 0).all()
    assert math.isfinite(d.recommendation["npv_usd"])


# -------------------------------------------------------------- one option per figure, prefix caching
@pytest.mark.parametrize("name", BUILTINS)
def test_recommendation_breakeven_and_at_scale_cost_are_one_option(name):
    w = load_workload(name)
    d = breakeven(w, with_flips=False)
    p = prepare(w)
    names = E.option_names(p)
    ev = evaluate(p)
    api = names.index(d.breakeven["against"])
    rec = d.recommendation
    if rec["kind"] in ("own", "rent"):
        assert d.breakeven[rec["kind"]]["option"] == rec["option"]
    scale = evaluate(p, steady_tokens_per_month=1e15)
    for kind in ("own", "rent"):
        b = d.breakeven[kind]
        j = names.index(b["option"])
        assert b["usd_per_mtok"] == pytest.approx(ev["usd_per_mtok"][j])
        assert b["usd_per_mtok_at_scale"] == pytest.approx(scale["usd_per_mtok"][j])
        v = b["breakeven_tokens_per_month"]
        if v is None:  # never: the same option's at-scale cost is above the API's
            big = evaluate(p, steady_tokens_per_month=1e15)
            assert big["npv"][j] >= big["npv"][api]
        elif v > 0:
            for f, wins in ((1.05, True), (0.95, False)):
                e = evaluate(p, steady_tokens_per_month=v * f)
                assert (e["npv"][j] < e["npv"][api]) == wins


def test_prefix_caching_lowers_self_hosted_prefill_work():
    w = _cheap_own_workload()
    p0, p3 = prepare(w), prepare(with_overrides(w, cache_hit_share=0.3))
    share = p0.cap["prefill_time_share"].to_numpy()
    assert (share > 0).all()
    np.testing.assert_allclose(p3.cap["requests_per_s"], p0.cap["requests_per_s"] / (1 - 0.3 * share))
    e0, e3 = evaluate(p0), evaluate(p3)
    own = e0["kind"] == "own"
    assert (e3["npv"][own] <= e0["npv"][own] + 1e-6).all() and (e3["npv"][own] < e0["npv"][own]).any()


_MODELS = sorted(__import__("inferonomics.catalog", fromlist=["get_catalog"]).get_catalog().models)
_GPUS = sorted(__import__("inferonomics.catalog", fromlist=["get_catalog"]).get_catalog().accelerators)


@settings(max_examples=12, deadline=None)
@given(model=st.sampled_from(_MODELS), gpu=st.sampled_from(_GPUS), name=st.sampled_from(BUILTINS))
def test_breakeven_never_raises_for_catalog_models_accelerators_and_workloads(model, gpu, name):
    """Any catalog model on any catalog accelerator under any built-in workload: a decision, or an input
    error that names what cannot be met (never a KeyError or another unexpected exception)."""
    from inferonomics.errors import InputError

    w = with_overrides(load_workload(name), model=model, accelerators=[gpu])
    try:
        d = breakeven(w, with_flips=False)
    except InputError as exc:
        assert exc.field and str(exc)
        return
    assert math.isfinite(d.recommendation["npv_usd"])
    if d.recommendation["kind"] in ("own", "rent"):
        assert d.breakeven.get(d.recommendation["kind"], {"option": d.recommendation["option"]})["option"] == \
            d.recommendation["option"]


def test_taxes_shield_api_spend_at_once_and_hardware_through_depreciation():
    p = _hand_case()
    base = evaluate(p)
    p.consts["tax_rate"] = 0.25
    taxed = evaluate(p)
    api, own = 0, 2
    assert taxed["npv"][api] == pytest.approx(0.75 * base["npv"][api])
    r = 1.12 ** (1 / 12) - 1
    d = (1 + r) ** -np.arange(1, 13)
    # capex 160,000 at once; its shield 25% of 160,000/12 a month; staff 1,000 a month after tax
    assert taxed["npv"][own] == pytest.approx(160_000 - 0.25 * 160_000 / 12 * d.sum() + 750 * d.sum())
    assert taxed["npv"][own] > 0.75 * base["npv"][own]  # the hardware's shield comes later


def test_a_device_without_rental_price_is_compared_as_owned_only(cat):
    """A workstation (no public per-hour price) can still be bought: its rent option is listed as not
    eligible with the reason, never priced, never recommended."""
    assert cat.accelerator("dgx-spark").rental_usd_per_gpu_hour is None
    w = Workload(input_tokens_per_month=2e9, output_tokens_per_month=5e8, model="qwen3-30b-a3b",
                 accelerators=["dgx-spark", "h100-sxm"], precisions=["fp8"], gpus_per_instance=[1])
    p = prepare(w, cat)
    reasons = E.exclusion_reasons(p)
    names = E.option_names(p)
    by_name = dict(zip(names, reasons, strict=True))
    rent_ws = [n for n in names if n.startswith("rent dgx-spark")]
    own_ws = [n for n in names if n.startswith("own dgx-spark")]
    assert rent_ws and own_ws
    assert all(by_name[n] == E.NO_RENTAL_PRICE for n in rent_ws)
    assert all(by_name[n] is None for n in own_ws)
    d = breakeven(w, cat, with_flips=False)
    assert not d.recommendation["option"].startswith("rent dgx-spark")
