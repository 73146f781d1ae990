"""The dashboard without a browser: formatters, ``inferonomics app`` and the pages run by Streamlit's AppTest.

The browser end-to-end tests are in tests/test_browser.py.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from inferonomics.app import (
    COST_DEFAULTS,
    DASHBOARD_PATH,
    L_TPOT,
    L_USD_HOUR,
    L_USD_IN,
    L_USD_OUT,
    PAGES,
    fmt_count,
    fmt_fraction,
    fmt_rate,
    fmt_seconds,
    fmt_usd,
    scenario_overrides,
    sig,
    streamlit_command,
)
from inferonomics.cli import main
from inferonomics.market.api import DEFAULT_PATHS
from inferonomics.present import probability

needs_streamlit = pytest.mark.skipif(importlib.util.find_spec("streamlit") is None,
                                     reason="needs streamlit (pip install -e '.[app]')")


def test_formatters_hand_computed():
    assert sig(0.129418) == "0.1294"
    assert sig(6119.3192) == "6,119"
    assert sig(96.1535) == "96.15"
    assert sig(12345.6) == "12,346"
    assert sig(0) == "0" and sig(float("nan")) == "-"
    assert fmt_usd(2.5) == "$2.500" and fmt_usd(-0.5) == "-$0.5000" and fmt_usd(1234.5) == "$1,234"
    assert fmt_rate(576.66) == "576.7"
    assert fmt_seconds(0.0275714) == "27.57 ms" and fmt_seconds(2.67742) == "2.677 s"
    assert fmt_count(64.0) == "64" and fmt_count(2.5) == "2.500" and fmt_count(1024.0) == "1,024"
    assert fmt_fraction(0.6) == "60.0%"


def test_app_dry_run_json_names_the_local_streamlit_command(capsys):
    rc = main(["app", "--port", "9123", "--dry-run", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert out["url"] == "http://127.0.0.1:9123/" and out["script"] == str(DASHBOARD_PATH)
    cmd = out["command"]
    assert cmd[:5] == [sys.executable, "-m", "streamlit", "run", str(DASHBOARD_PATH)]
    for flag, value in (("--server.address", "127.0.0.1"), ("--server.port", "9123"),
                        ("--server.headless", "true"), ("--browser.gatherUsageStats", "false")):
        assert cmd[cmd.index(flag) + 1] == value
    assert cmd == streamlit_command(9123)
    assert DASHBOARD_PATH.is_file()


def test_app_bad_port_is_a_usage_error(capsys):
    assert main(["app", "--port", "0", "--dry-run"]) == 2


def test_app_without_streamlit_is_one_clear_paragraph(monkeypatch, capsys):
    import importlib.util as iu
    import os

    real = iu.find_spec
    monkeypatch.setattr(iu, "find_spec", lambda name, *a: None if name == "streamlit" else real(name, *a))

    def no_exec(*a):  # never replace the test process by a server
        raise AssertionError("execv called")

    monkeypatch.setattr(os, "execv", no_exec)
    rc = main(["app", "--port", "9124"])
    err = capsys.readouterr().err
    assert rc == 2 and "Streamlit" in err and "inferonomics[app]" in err and "Traceback" not in err


def test_help_does_not_import_streamlit():
    code = ("import sys\nfrom inferonomics.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'streamlit' not in sys.modules and 'altair' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


# ------------------------------------------------------------------------------------ pages via AppTest
@pytest.fixture()
def at():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(DASHBOARD_PATH), default_timeout=60)


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _api(**change) -> dict:
    from inferonomics.cost import cost

    kw = {**COST_DEFAULTS, **change}
    return cost(kw.pop("model"), kw.pop("gpu"), **kw)


@needs_streamlit
def test_cost_page_shows_the_api_figures(at):
    at.run()
    assert not at.exception
    m, r = _metrics(at), _api()
    assert m[L_USD_OUT] == fmt_usd(r["usd_per_mtok_output"])
    assert m[L_USD_IN] == fmt_usd(r["usd_per_mtok_input"])
    assert m[L_TPOT] == fmt_seconds(r["tpot_s"])
    assert len(at.get("download_button")) == 3


@needs_streamlit
def test_cost_page_own_max_throughput_and_latency_target(at, cat):
    from inferonomics.perf.api import operating_point

    at.run()
    at.sidebar.radio(key="cost_own").set_value("Own")
    at.sidebar.radio(key="cost_mode").set_value("Max throughput").run()
    assert not at.exception
    r = _api(concurrency=None, own=True)
    assert _metrics(at)[L_USD_HOUR] == fmt_usd(r["usd_per_gpu_hour"])
    assert _metrics(at)[L_USD_OUT] == fmt_usd(r["usd_per_mtok_output"])
    at.sidebar.radio(key="cost_mode").set_value("Latency target (TPOT)").run()
    at.sidebar.slider(key="cost_tpot").set_value(30).run()
    kw = {k: v for k, v in COST_DEFAULTS.items() if k not in ("model", "gpu", "concurrency")}
    conc = operating_point(COST_DEFAULTS["model"], COST_DEFAULTS["gpu"], max_tpot_s=0.03, **kw)
    r = _api(concurrency=conc, own=True)
    assert _metrics(at)[L_USD_OUT] == fmt_usd(r["usd_per_mtok_output"])


@needs_streamlit
def test_cost_page_bad_input_is_an_error_message(at):
    at.run()
    at.sidebar.number_input(key="cost_gpus").set_value(3).run()
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith("tp: 3 is not allowed")
    assert L_USD_OUT not in _metrics(at)


@needs_streamlit
def test_every_page_runs_and_inputs_survive_a_visit_elsewhere(at):
    at.run()
    at.sidebar.number_input(key="cost_concurrency").set_value(8).run()
    for page in PAGES[1:]:
        at.sidebar.radio(key="page").set_value(page).run()
        assert not at.exception, page
        assert at.title[0].value == page
    at.sidebar.radio(key="page").set_value("Cost").run()
    assert _metrics(at)[L_USD_OUT] == fmt_usd(_api(concurrency=8)["usd_per_mtok_output"])


@needs_streamlit
@pytest.mark.parametrize("page,module", [("Provider scenario", "inferonomics.market"),
                                         ("Buyer break-even", "inferonomics.decide"),
                                         ("Price history", "inferonomics.decide")])
def test_missing_capability_is_said_plainly(at, monkeypatch, page, module):
    """A version without the package: the page says so (the package is hidden from the running script)."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith(module) else real(name, *a))
    at.run()
    at.sidebar.radio(key="page").set_value(page).run()
    assert not at.exception and not at.error
    assert any("not installed in this version" in i.value for i in at.info)


def _installed(module: str, *names: str) -> bool:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin in (None, "namespace"):
        return False
    mod = importlib.import_module(module)
    return all(callable(getattr(mod, n, None)) for n in names)


needs_decide = pytest.mark.skipif(
    importlib.util.find_spec("streamlit") is None
    or not _installed("inferonomics.decide", "breakeven", "load_workload", "with_overrides", "builtin_names"),
    reason="needs streamlit and the buyer's decision model (inferonomics.decide)")
needs_prices = pytest.mark.skipif(
    importlib.util.find_spec("streamlit") is None
    or not _installed("inferonomics.decide", "price_records", "price_history", "latest_prices"),
    reason="needs streamlit and the API price catalog (inferonomics.decide.prices)")


@needs_decide
def test_buyer_page_shows_the_decision_of_the_api(at):
    from inferonomics.decide import breakeven, builtin_names, load_workload, with_overrides

    at.run()
    at.sidebar.radio(key="page").set_value("Buyer break-even").run()
    name = builtin_names()[0]
    assert not at.exception and not at.error
    d = breakeven(name)
    assert f"Recommended: {d.recommendation['option']}" in at.success[0].value
    assert _metrics(at)["Net present cost"] == fmt_usd(d.recommendation["npv_usd"])
    # Lift sovereignty: the choice is recomputed by the API with that one input changed.
    at.sidebar.checkbox(key=f"buy_{name}_sov").set_value(not load_workload(name).sovereign).run()
    d2 = breakeven(with_overrides(load_workload(name), sovereign=not load_workload(name).sovereign))
    assert not at.exception
    assert f"Recommended: {d2.recommendation['option']}" in at.success[0].value
    assert _metrics(at)["Net present cost"] == fmt_usd(d2.recommendation["npv_usd"])


@needs_prices
def test_price_history_page_lists_the_catalog_history(at):
    from inferonomics.decide import price_history

    at.run()
    at.sidebar.radio(key="page").set_value("Price history").run()
    assert not at.exception and not at.error
    model = at.sidebar.selectbox(key="px_model").value
    shown = at.dataframe[0].value
    want = price_history(model)
    from inferonomics.present import date, label

    # the API's figures, written by the presentation layer (headings with units, $ amounts)
    assert list(shown[label("effective_date")]) == [date(d) for d in want["effective_date"]]
    assert list(shown[label("input_usd_per_mtok")]) == [fmt_usd(v) for v in want["input_usd_per_mtok"]]
    assert label("input_usd_per_mtok") == "Input ($ per M tokens)"


needs_market = pytest.mark.skipif(
    importlib.util.find_spec("streamlit") is None
    or not _installed("inferonomics.market", "builtin_names", "builtin_table", "load_scenario", "simulate",
                      "sensitivity"),
    reason="needs streamlit and provider economics (inferonomics.market)")

# A small made-up scenario (two uncertain growth rates), so the page is tested on inputs this file controls.
TINY_SCENARIO = """
name: tiny-provider
title: Tiny token factory (test)
horizon_years: 3
base_year: {year: 2025, revenue_usd: {value: 2.0e9, assumption: test}}
target: {revenue_usd_per_year: {value: 4.0e9, assumption: test}, year: 2028}
token_tiers:
  flagship:
    deployment: {model: llama-3.1-8b, gpu: h100-sxm, gpus: 1, weights: fp8, isl: 1024, osl: 256, assumption: test}
    base_revenue_usd_per_year: {value: 5.0e8, assumption: test}
    input_price_usd_per_mtok: {value: 0.2, assumption: test}
    output_price_usd_per_mtok: {value: 0.6, assumption: test}
    growth_per_year: {dist: uniform, low: 0.2, high: 2.0, assumption: test}
classic_cloud:
  base_revenue_usd_per_year: residual
  growth_per_year: {dist: uniform, low: 0.0, high: 0.2, assumption: test}
  cash_cost_share_of_revenue: {value: 0.5, assumption: test}
  capex_share_of_revenue: {value: 0.15, assumption: test}
  life_years: {value: 6, assumption: test}
serving:
  peak_to_average: {value: 2.0, assumption: test}
  peak_utilization: {value: 0.7, assumption: test}
costs: {region: us-average}
"""


def _events_shown(at) -> dict[str, str]:
    return {k: v for k, v in _metrics(at).items() if k.startswith("P(")}


@needs_market
def test_provider_page_runs_the_first_builtin_or_says_why_not(at):
    from inferonomics.errors import InferonomicsError
    from inferonomics.market import builtin_names, load_scenario, simulate

    at.run()
    at.sidebar.radio(key="page").set_value("Provider scenario").run()
    assert not at.exception
    try:
        names = builtin_names()
    except OSError:
        names = []
    if not names:
        assert any("No built-in provider scenarios" in i.value for i in at.info)
        return
    try:
        sc = load_scenario(names[0])
    except InferonomicsError as exc:  # a scenario this version cannot load is a message on the page
        assert [e.value for e in at.error] == [str(exc)]
        return
    ev = simulate(sc, paths=DEFAULT_PATHS, seed=0).events()
    assert _events_shown(at)["P(gross margin > 0)"] == probability(ev["p_gross_margin_positive"], DEFAULT_PATHS)


@needs_market
def test_provider_page_on_a_scenario_file_follows_its_sliders(at, tmp_path):
    from inferonomics.market import load_scenario, simulate

    f = tmp_path / "tiny.yaml"
    f.write_text(TINY_SCENARIO, encoding="utf-8")
    at.run()
    at.sidebar.radio(key="page").set_value("Provider scenario").run()
    at.sidebar.text_input(key="prov_file").set_value(str(f)).run()
    assert not at.exception and not at.error
    ev = simulate(load_scenario(str(f)), paths=DEFAULT_PATHS, seed=0).events()
    shown = _events_shown(at)
    assert shown["P(revenue ≥ target)"] == probability(ev["p_revenue_at_least_target"], DEFAULT_PATHS)
    # The sliders are the uncertain inputs that move revenue; fixing one reruns the model with it fixed.
    sliders = {s.key: s for s in at.sidebar.select_slider}
    key = f"prov_{f}_token_tiers.flagship.growth_per_year"
    assert key in sliders and sliders[key].label == "flagship: growth per year"
    # a growth rate reads as a percentage (uniform 0.2-2.0: P10 0.38, P90 1.82), never as a raw fraction
    assert {"38.0%", "110.0%", "182.0%", "150.0%"} <= set(sliders[key].options)
    assert sliders[key].value == pytest.approx(1.1)
    sliders[key].set_value(1.5).run()
    fixed = load_scenario(scenario_overrides(str(f), [("token_tiers.flagship.growth_per_year", 1.5)]))
    ev2 = simulate(fixed, paths=DEFAULT_PATHS, seed=0).events()
    assert ev2["p_revenue_at_least_target"] != ev["p_revenue_at_least_target"]
    assert _events_shown(at)["P(revenue ≥ target)"] == probability(ev2["p_revenue_at_least_target"], DEFAULT_PATHS)


@needs_market
def test_provider_page_bad_scenario_file_is_a_message(at, tmp_path):
    at.run()
    at.sidebar.radio(key="page").set_value("Provider scenario").run()
    at.sidebar.text_input(key="prov_file").set_value(str(tmp_path / "missing.yaml")).run()
    assert not at.exception
    assert len(at.error) == 1 and "missing.yaml" in at.error[0].value


def test_slider_options_read_like_the_presentation_layer():
    from inferonomics.app import slider_options
    from inferonomics.present import percent

    # a round step (0.1 for a span of 2.54 in about 50 positions) plus the anchors, exactly
    opts = slider_options(0.0, 2.54, percent, anchors=(0.38, 1.1, 1.82))
    assert opts[:6] == [0.0, 0.1, 0.2, 0.3, 0.38, 0.4] and opts[-1] == 2.5
    assert 1.1 in opts and 1.82 in opts and len(opts) == 26 + 2  # 0, 0.1 ... 2.5 and the two off-grid anchors
    # positions written alike are kept once (the anchor wins): 0.1% steps on a percent scale of one decimal
    tight = slider_options(0.0, 0.0005, percent, anchors=(0.00026,), step=0.0001)
    assert len({percent(v) for v in tight}) == len(tight) and 0.00026 in tight
    assert slider_options(0.05, 1.0, percent, anchors=(0.7,), step=0.05) == [round(0.05 * k, 12) for k in range(1, 21)]


def _shown_text(at) -> str:
    """Everything the page writes for a person: headings, figures, captions, table cells and headings,
    slider positions (help tooltips and download file names are not on the page)."""
    parts = []
    for m in at.metric:
        parts += [m.label, m.value]
    for kind in ("title", "subheader", "markdown", "caption", "success", "info", "warning", "error"):
        parts += [str(e.value) for e in at.get(kind)]
    for df in at.dataframe:
        v = df.value
        parts += [str(c) for c in v.columns]
        for c in v.columns:  # sources are quoted as published (URLs, paper ids, catalog keys): only no None there
            cells = [str(x) for x in v[c]]
            parts += cells if c not in ("Source", "Provenance") else [x for x in cells if x in ("None", "nan")]
    for s in at.select_slider:
        parts += [s.label, *s.options]
    for s in at.slider:
        parts += [s.label, str(s.value)]
    for w in list(at.number_input) + list(at.checkbox):
        parts.append(w.label)
    for w in list(at.selectbox) + list(at.radio) + list(at.multiselect):  # the choices as the page writes them
        parts += [w.label, *w.options]
    return "\n".join(parts)


@needs_streamlit
def test_every_page_shows_only_formatted_figures(at):
    """No raw float, scientific notation, snake_case or None on any page (the issue's 3.464 growth slider)."""
    from _readable import problems

    at.run()
    at.sidebar.radio(key="cost_own").set_value("Own").run()  # the ownership sliders too
    seen = {}
    for page in PAGES:
        at.sidebar.radio(key="page").set_value(page).run()
        assert not at.exception, page
        text = _shown_text(at)
        seen[page] = text
        assert not problems(text), (page, problems(text))
        assert "revenue_usd" not in text  # a metric is chosen by its label, "Revenue ($)"
    assert "%" in seen["Cost"] and "years" in seen["Cost"]
    if at.get("select_slider"):
        assert all(o for s in at.select_slider for o in s.options)


@needs_decide
@needs_market
def test_the_dashboard_and_the_command_line_agree_to_the_digit(at, capsys):
    """The buyer's answer and the provider's headline probability read the same in the dashboard as in the
    CLI's JSON written by the presentation layer (the report is held to the same in tests/test_report.py)."""
    from inferonomics.decide import builtin_names
    from inferonomics.market import builtin_names as scenarios

    name = builtin_names()[0]
    assert main(["breakeven", name, "--no-flips", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)["recommendation"]
    at.run()
    at.sidebar.radio(key="page").set_value("Buyer break-even").run()
    assert f"Recommended: {rec['option']}" in at.success[0].value
    assert _metrics(at)["Net present cost"] == fmt_usd(rec["npv_usd"])
    assert main(["provider", "run", scenarios()[0], "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)["events"]
    at.sidebar.radio(key="page").set_value("Provider scenario").run()
    assert _events_shown(at)["P(revenue ≥ target)"] == probability(ev["p_revenue_at_least_target"], DEFAULT_PATHS)
