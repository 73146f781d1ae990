"""API price catalog: integrity, histories, user overrides, CLI, and the litellm importer on a fixture."""

import json
from pathlib import Path

import pytest
import yaml

from inferonomics.catalog import load_catalog
from inferonomics.catalog.schema import QUALITY_TIERS
from inferonomics.cli import main
from inferonomics.decide.prices import (
    date_of,
    import_litellm,
    latest_prices,
    litellm_records,
    price_history,
    price_records,
)
from inferonomics.errors import CatalogFileError, UnknownNameError

DATA = Path(__file__).resolve().parents[1] / "src" / "inferonomics" / "catalog" / "data" / "api_prices.yaml"


def test_price_catalog_integrity(cat):
    recs = list(cat.api_prices.values())
    assert len(recs) >= 40
    known_ccy = {"USD", *cat.fx}
    for r in recs:
        assert r.source and r.date, r.key
        assert r.currency in known_ccy, r.key
        assert cat.usd_per(r.currency) > 0
        assert r.input_per_mtok >= 0 and (r.output_per_mtok is None or r.output_per_mtok >= 0), r.key
        assert r.cache_hit_input_per_mtok is None or r.cache_hit_input_per_mtok <= r.input_per_mtok, r.key
        assert r.quality_tier in QUALITY_TIERS, r.key
        for m in r.equivalent_open_models:
            assert m in cat.models, f"{r.key}: {m}"
        assert (r.market == "china") == (r.currency == "CNY"), r.key


def test_histories_in_date_order_in_the_file():
    doc = yaml.safe_load(DATA.read_text())
    last: dict = {}
    for i, rec in enumerate(doc["api_prices"]):
        k = (rec["provider"], rec["model"], rec["market"], rec.get("context_tier"))
        d = date_of(str(rec["effective_date"]))
        assert k not in last or last[k] < d, f"record #{i + 1} {k} is out of date order"
        last[k] = d


def test_required_products_present(cat):
    have = {(r.provider, r.model) for r in cat.api_prices.values()}
    for m in ("qwen-max", "qwen-plus", "qwen-turbo", "qwen-long", "qwen-flash", "qwen3-max"):
        assert ("alibaba", m) in have, m
    for m in ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-5"):
        assert ("openai", m) in have, m
    versions = {r.version for r in cat.api_prices.values() if r.provider == "deepseek"}
    assert {"v2", "v3", "v3.1", "v3.2-exp"} <= versions
    assert {"bytedance", "baidu"} <= {r.provider for r in cat.api_prices.values()}


def test_may_and_september_2024_cuts(cat):
    ql = price_history("qwen-long", cat)
    before = ql[ql["effective_date"] == "2024-05-20"].iloc[0]
    after = ql[ql["effective_date"] == "2024-05-21"].iloc[0]
    assert before["input_per_mtok"] == 20 and after["input_per_mtok"] == 0.5  # RMB 0.02 -> 0.0005 per 1k
    assert after["input_per_mtok"] / before["input_per_mtok"] - 1 == pytest.approx(-0.975)
    plus = price_history("qwen-plus", cat, market="china").set_index("effective_date")
    assert plus.loc["2024-09-19", "input_per_mtok"] / plus.loc["2024-05-21", "input_per_mtok"] == pytest.approx(0.2)
    # RMB converted at the catalog's dated rate
    assert after["input_usd_per_mtok"] == pytest.approx(0.5 * cat.usd_per("CNY"))


def test_latest_prices_as_of(cat):
    df = latest_prices(cat, as_of="2024-05-20", provider="alibaba", market="china")
    ql = df[df["model"] == "qwen-long"]
    assert list(ql["input_per_mtok"]) == [20]
    df = latest_prices(cat, provider="alibaba", market="china")
    assert list(df[df["model"] == "qwen-long"]["input_per_mtok"]) == [0.5]
    tiers = df[df["model"] == "qwen3-max"]["context_tier"].tolist()
    assert tiers == ["0-32k", "32k-128k", "128k-256k"]


def test_unknown_model_and_provider_name_close_matches(cat):
    with pytest.raises(UnknownNameError) as e:
        price_history("qwen-lon", cat)
    assert "qwen-long" in str(e.value)
    with pytest.raises(UnknownNameError):
        price_records(cat, provider="alibabba")


def test_user_file_overrides_and_validates(tmp_path):
    (tmp_path / "mine.yaml").write_text(
        "api_prices:\n"
        "  - {provider: alibaba, model: qwen-long, effective_date: '2024-05-21', market: china, currency: CNY,\n"
        "     input_per_mtok: 0.4, output_per_mtok: 1.5, quality_tier: medium, source: my contract, date: 2025-01}\n"
    )
    c = load_catalog(tmp_path)
    r = c.api_prices["alibaba/qwen-long/china/2024-05-21"]
    assert r.input_per_mtok == 0.4 and "mine.yaml" in c.origin["api_prices:alibaba/qwen-long/china/2024-05-21"]


@pytest.mark.parametrize(
    "rec, words",
    [
        ("input_per_mtok: -1, output_per_mtok: 1", ["input_per_mtok", "greater than or equal to 0"]),
        ("input_per_mtok: 1, output_per_mtok: 1, context_tier: 32k-8k", ["context_tier"]),
        ("input_per_mtok: 1, output_per_mtok: 1, currency: yuan", ["currency"]),
        ("input_per_mtok: 1, output_per_mtok: 1, market: mars", ["market"]),
        ("input_per_mtok: 1, output_per_mtok: 1, price: 3", ["price", "unknown field"]),
    ],
)
def test_bad_price_records_name_file_and_field(tmp_path, rec, words):
    base = {"provider": "x", "model": "m", "effective_date": "2025-01-01", "market": "china", "currency": "CNY",
            "source": "s", "date": "2025"}
    extra = yaml.safe_load("{" + rec + "}")
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"api_prices": [{**base, **extra}]}))
    with pytest.raises(CatalogFileError) as e:
        load_catalog(tmp_path)
    msg = str(e.value)
    assert "bad.yaml" in msg and "api_prices" in msg
    for w in words:
        assert w in msg


def test_cli_prices_list_and_history(capsys, tmp_path):
    assert main(["prices", "list", "--provider", "deepseek", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["prices"] and {p["provider"] for p in out["prices"]} == {"deepseek"}
    assert main(["prices", "history", "qwen-long", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["input_per_mtok"] for r in out["records"]] == [20, 0.5]
    assert out["records"][1]["input_change"] == pytest.approx(-0.975)
    assert main(["prices", "history", "qwen-long"]) == 0
    text = capsys.readouterr().out
    assert "2024-05-21" in text and "-97.5%" in text
    png = tmp_path / "h.png"
    assert main(["prices", "history", "qwen-max", "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["prices", "history", "no-such-model"]) == 2
    assert "unknown" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ litellm
FIXTURE = {
    "sample_spec": {"input_cost_per_token": 0.0, "litellm_provider": "one of ...", "mode": "one of ..."},
    "dashscope/qwen-plus": {"input_cost_per_token": 4e-07, "output_cost_per_token": 1.2e-06,
                            "litellm_provider": "dashscope", "max_input_tokens": 129024, "mode": "chat",
                            "source": "https://www.alibabacloud.com/help/en/model-studio/models"},
    "dashscope/qwen3-max": {"litellm_provider": "dashscope", "mode": "chat", "tiered_pricing": [
        {"input_cost_per_token": 1.2e-06, "output_cost_per_token": 6e-06, "range": [0, 32000.0]},
        {"input_cost_per_token": 2.4e-06, "output_cost_per_token": 1.2e-05, "range": [32000.0, 128000.0]},
        {"input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05, "range": [128000.0, 252000.0]},
    ]},
    "dashscope/qwen-max-latest": {"alias_of": "dashscope/qwen3.8-max"},
    "gpt-4o": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05, "cache_read_input_token_cost": 1.25e-06,
               "litellm_provider": "openai", "mode": "chat"},
    "text-embedding-3-small": {"input_cost_per_token": 2e-08, "litellm_provider": "openai", "mode": "embedding"},
    "dashscope/qwen3-30b-a3b": {"litellm_provider": "dashscope", "mode": "chat", "max_input_tokens": 129024},
    "fireworks_ai/accounts/fireworks/models/qwen3-235b": {"input_cost_per_token": 2.2e-07,
                                                          "output_cost_per_token": 8.8e-07,
                                                          "litellm_provider": "fireworks_ai", "mode": "chat"},
}


def test_litellm_records_from_fixture(cat):
    recs, skipped = litellm_records(FIXTURE, version="9.9", effective_date="2026-11-28", catalog=cat)
    by = {(r["provider"], r["model"], r.get("context_tier")): r for r in recs}
    plus = by[("alibaba", "qwen-plus", None)]
    assert plus["input_per_mtok"] == 0.4 and plus["output_per_mtok"] == 1.2 and plus["currency"] == "USD"
    assert plus["market"] == "international" and plus["max_input_tokens"] == 129024
    assert plus["quality_tier"] == "large"  # inherited from the built-in record
    assert "dashscope/qwen-plus" in plus["source"] and "9.9" in plus["source"]
    assert by[("alibaba", "qwen3-max", "32k-128k")]["output_per_mtok"] == 12
    assert {k[2] for k in by if k[1] == "qwen3-max"} == {"0-32k", "32k-128k", "128k-252k"}
    assert by[("openai", "gpt-4o", None)]["cache_hit_input_per_mtok"] == 1.25
    assert ("fireworks-ai", "accounts/fireworks/models/qwen3-235b", None) in by
    assert skipped["alias"] == 1 and skipped["not_chat"] == 1 and skipped["no_price"] == 1
    only = litellm_records(FIXTURE, version="9.9", effective_date="2026-11-28", providers=["openai"], catalog=cat)[0]
    assert {r["provider"] for r in only} == {"openai"}


def test_import_litellm_writes_a_loadable_user_catalog(tmp_path, capsys):
    src = tmp_path / "prices.json"
    src.write_text(json.dumps(FIXTURE))
    d = tmp_path / "cat"
    d.mkdir()
    r = import_litellm(str(d / "litellm.yaml"), from_json=str(src), effective_date="2026-12-01")
    assert r["records"] == 6
    c = load_catalog(d)
    assert c.api_prices["alibaba/qwen-plus/international/2026-12-01"].input_per_mtok == 0.4
    # through the CLI, then read back with --catalog-dir
    assert main(["--catalog-dir", str(d), "prices", "import-litellm", "--from-json", str(src),
                 "--provider", "dashscope", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["providers"] == ["alibaba"] and Path(out["out"]).parent == d
    assert main(["--catalog-dir", str(d), "prices", "list", "--provider", "fireworks-ai", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["prices"][0]["input_per_mtok"] == 0.22


def test_import_litellm_without_the_package(monkeypatch, capsys):
    import inferonomics.decide.prices as P

    real = P.importlib.util.find_spec
    monkeypatch.setattr(P.importlib.util, "find_spec", lambda name, *a: None if name == "litellm" else real(name, *a))
    assert main(["prices", "import-litellm"]) == 2
    err = capsys.readouterr().err
    assert "pip install litellm" in err and "Traceback" not in err
