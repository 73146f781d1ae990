"""The self-contained report: opens offline, every chart is a real PNG, every input is listed."""

import base64
import json
import re

import pytest

from inferonomics.cli import main
from inferonomics.report import build_report


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return build_report(out), out


def test_report_is_self_contained(report):
    res, out = report
    doc = res.html_path.read_text(encoding="utf-8")
    # nothing is fetched from the network: no remote src/href, no external script or stylesheet
    assert not re.search(r"""(src|href)\s*=\s*["']https?:""", doc)
    assert "<script src" not in doc and "<link" not in doc
    imgs = re.findall(r'<img [^>]*src="([^"]+)"', doc)
    assert len(imgs) == len(res.png_paths) >= 3
    for src in imgs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_pngs_written_beside_the_html(report):
    res, out = report
    for p in res.png_paths:
        assert p.parent == out and p.read_bytes()[:4] == b"\x89PNG" and p.stat().st_size > 5000


def test_assumptions_table_lists_every_constant_with_provenance(report, cat):
    res, _ = report
    doc = res.html_path.read_text(encoding="utf-8")
    assert "assumptions" in res.sections
    for name, c in cat.constants.items():
        assert f">{name}<" in doc, name
    assert doc.count("assumption:") >= sum(1 for c in cat.constants.values() if c.assumption)


def test_headline_names_the_cheapest_pair(report):
    res, _ = report
    assert "cheapest pair" in res.headlines and "per M output tokens" in res.headlines["cheapest pair"]


def test_default_report_has_the_buyer_decision_and_the_price_war(report):
    res, _ = report
    assert {"cost", "frontier", "provider", "buyer", "prices", "assumptions"} <= set(res.sections)
    key = [k for k in res.headlines if k.startswith("alibaba-100b: P(revenue >= target")]
    assert key and res.headlines[key[0]].endswith(")")
    assert "bank-sovereign: recommendation" in res.headlines
    # the May-2024 Qwen-Long cut (RMB 20 -> 0.5 per M input tokens) shows as a fall of about 97%
    change = int(res.headlines["qwen-long input price"].split("%")[0])
    assert -99 <= change <= -96


def test_report_cli_json(tmp_path, capsys):
    rc = main(["report", "--out", str(tmp_path / "r"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["html"].endswith("index.html") and len(out["pngs"]) >= 3


def test_report_into_a_file_path_is_a_clear_error(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    rc = main(["report", "--out", str(f)])
    assert rc == 2 and "must be a directory" in capsys.readouterr().err


def _people_text(doc: str) -> list[str]:
    """The text of every table cell, heading, caption and headline card a person reads (the assumptions table
    is left out: its item and field columns are the catalog keys a reader types in an override file)."""
    doc = re.sub(r'<section id="assumptions">.*?</section>', "", doc, flags=re.S)
    cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", doc, flags=re.S)
    cells += re.findall(r"<figcaption>(.*?)</figcaption>", doc, flags=re.S)
    cells += re.findall(r'<div class="card">(.*?)</div>', doc, flags=re.S)
    return [re.sub(r"<[^>]+>", "", c).strip() for c in cells]


def test_tables_are_written_for_people(report):
    res, _ = report
    text = _people_text(res.html_path.read_text(encoding="utf-8"))
    assert len(text) > 50
    for t in text:
        assert t not in ("None", "nan", "NaN", "inf"), t
        assert not re.search(r"\d[eE][+-]?\d", t), f"scientific notation: {t!r}"
        assert not re.search(r"\b[a-z0-9]+_[a-z0-9_]+\b", t), f"snake_case: {t!r}"


def test_money_in_tables_has_a_dollar_sign_and_separators(report):
    res, _ = report
    doc = res.html_path.read_text(encoding="utf-8")
    costs = re.search(r'<section id="cost">.*?</section>', doc, flags=re.S).group(0)
    heads = re.findall(r"<th>(.*?)</th>", costs)
    assert "Own, $ per M output tokens" in heads and "Output tokens/s per GPU" in heads
    assert re.search(r"<td>\$\d", costs)
    assert re.search(r"<td>\d{1,3},\d{3}</td>", costs)  # thousands separators on tokens/s per GPU


def test_scale_section_answers_where_scale_stops_paying(report):
    """The scale section: one chart of the alibaba-100b tiers and a headline per tier whose figures are the
    domain function's (flattening of the cached fleet scale table), formatted by the presentation layer."""
    from inferonomics.fleet.scale_table import flattening, scale_table
    from inferonomics.present import money, percent, tokens

    res, out = report
    assert "scale" in res.sections
    assert (out / "scale_alibaba-100b.png").read_bytes()[:4] == b"\x89PNG"
    table = scale_table("alibaba-tiers")
    for tier in ("flagship", "plus", "turbo"):
        f = flattening(table.daily_tokens, table.column(tier, "usd_per_mtok"), 0.05)
        text = res.headlines[f"{tier} tier: where scale stops paying"]
        assert f"from {tokens(f['flattens_at_daily_tokens'])} tokens a day" in text
        assert money(f["level_usd_per_mtok"]) in text and f"cuts it {percent(f['reduction'], 0)}" in text
        assert 0 < f["reduction"] < 1


def test_the_report_and_the_command_line_agree_to_the_digit(report, capsys):
    """The same question answered by the CLI and by the report reads the same, digit for digit."""
    from inferonomics.present import money, probability

    res, _ = report
    assert main(["breakeven", "bank-sovereign", "--no-flips", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)["recommendation"]
    assert res.headlines["bank-sovereign: recommendation"] == (
        f"{rec['option']} (net present cost {money(rec['npv_usd'])})")
    assert main(["provider", "run", "alibaba-100b", "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    ev, paths = run["events"], run["paths"]
    key = f"alibaba-100b: P(revenue >= target and GM > 0) in {ev['year_label']}"
    assert res.headlines[key] == (f"{probability(ev['p_target_and_gross_margin_positive'], paths)} (revenue >= "
                                  f"target: {probability(ev['p_revenue_at_least_target'], paths)})")
    assert main(["provider", "run", "alibaba-100b"]) == 0  # the table a person reads prints the same figure
    assert f"P(revenue >= target) = {probability(ev['p_revenue_at_least_target'], paths)}" in capsys.readouterr().out
