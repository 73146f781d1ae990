"""The catalog's own numbers use the units vocabulary of every other file: shipped data, user files, display."""

from __future__ import annotations

import re
from importlib import resources

import pytest
import yaml

from inferonomics.catalog import CatalogFileError, load_catalog
from inferonomics.present import UNIT_LABELS, unit_label
from inferonomics.quantity import UNITS, Quantity, currency_error, is_money, unit_currency


def _units(obj, path=""):
    """(path, unit) of every ``unit`` key in a parsed YAML tree."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            p = f"{path}.{k}" if path else str(k)
            if k == "unit":
                yield path, v
            else:
                yield from _units(v, p)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _units(v, f"{path}[{i}]")


def _shipped() -> dict[str, object]:
    files = {f"catalog/{p.name}": p for p in (resources.files("inferonomics.catalog") / "data").iterdir()
             if p.name.endswith(".yaml")}
    files["ledger/ledger.yaml"] = resources.files("inferonomics.ledger") / "data" / "ledger.yaml"
    return {name: yaml.safe_load(p.read_text("utf-8")) for name, p in files.items()}


def test_every_unit_in_the_shipped_catalog_and_ledger_is_in_the_vocabulary():
    found = {name: list(_units(doc)) for name, doc in _shipped().items()}
    bad = [(name, path, u) for name, units in found.items() for path, u in units if u not in UNITS]
    assert not bad, bad
    # the walk saw the records the data files hold (accelerators 326, constants 28, regions 12, ledger 9)
    counts = {name: len(units) for name, units in found.items()}
    assert counts["catalog/accelerators.yaml"] >= 326 and counts["catalog/constants.yaml"] >= 28
    assert counts["catalog/regions.yaml"] >= 12 and counts["ledger/ledger.yaml"] == 9


def test_memory_is_in_gib_and_bandwidth_in_gb_s(cat):
    for slug, a in cat.accelerators.items():
        assert a.memory_gib.unit == "gib", slug
        assert a.memory_bw_gb_s.unit == a.scaleup_bw_gb_s.unit == "gb_s", slug
        assert a.tdp_w.unit == "w", slug
        assert {v.unit for v in a.peak_dense_tflops.values()} <= {"tflops", "tops"}, slug
    assert cat.constants["memory_reserve_gb"].unit == "gib"
    assert cat.fx["CNY"].usd_per_unit.unit == "usd_per_cny"


def test_descriptive_units_moved_to_the_note(cat):
    idle = cat.constants["idle_power_frac"]
    assert idle.unit == "fraction" and "fraction of tdp drawn when idle" in idle.note.lower()
    util = cat.constants["gpu_memory_utilization"]  # the existing note is kept, the description appended
    assert util.note.startswith("SGLang's --mem-fraction-static") and "accelerator memory" in util.note


def _watts_file(tmp_path, unit="Watts"):
    (tmp_path / "mine.yaml").write_text(f"""
accelerators:
  - slug: my-card
    name: My card
    vendor: acme
    family: hopper
    peak_dense_tflops: {{bf16: {{value: 100, unit: tflops, assumption: spec sheet}}}}
    memory_gib: {{value: 24, unit: gib, assumption: spec sheet}}
    memory_bw_gb_s: {{value: 900, unit: gb_s, assumption: spec sheet}}
    tdp_w: {{value: 300, unit: {unit}, assumption: spec sheet}}
    scaleup_bw_gb_s: {{value: 32, unit: gb_s, assumption: spec sheet}}
    scaleup_domain_gpus: {{value: 1, unit: gpus, assumption: spec sheet}}
    purchase_price_usd: {{value: 2000, unit: usd, assumption: invoice}}
""")
    return tmp_path


def test_a_user_catalog_unit_outside_the_vocabulary_names_record_field_value_and_suggestion(tmp_path):
    with pytest.raises(CatalogFileError) as e:
        load_catalog(_watts_file(tmp_path))
    msg = str(e.value)
    assert "mine.yaml: accelerators entry 'my-card': field 'tdp_w.unit':" in msg
    assert "unit 'Watts' is not in the units vocabulary; did you mean w?" in msg
    assert "allowed: usd," in msg and "gib" in msg
    assert load_catalog(_watts_file(tmp_path, "w")).accelerator("my-card").tdp_w.unit == "w"


@pytest.mark.parametrize("unit, want", [
    ("GB/s", "gb_s"), ("USD/kWh", "usd_per_kwh"), ("W", "w"), ("USD/GPU-hour", "usd_per_gpu_hour"),
    ("seconds", "s"), ("GiB per GPU", "gib"), ("CNY per 8-GPU server", "cny_per_server"),
    ("fraction of TDP drawn when idle", "fraction"), ("GB/s per GPU, one direction", "gb_s"),
])
def test_the_old_free_text_spellings_suggest_their_unit(tmp_path, unit, want):
    (tmp_path / "c.yaml").write_text(f"constants:\n  - {{name: x, value: 1, unit: '{unit}', assumption: t}}\n")
    pattern = rf"field 'unit': unit {re.escape(repr(unit))} is not in the units vocabulary; did you mean {want}\b"
    with pytest.raises(CatalogFileError, match=pattern):
        load_catalog(tmp_path)


def test_cli_bad_catalog_unit_exits_2_without_a_traceback(tmp_path, capsys, monkeypatch):
    from inferonomics.cli import main

    monkeypatch.setenv("INFERONOMICS_CATALOG_DIR", "")  # --catalog-dir sets it: restored (removed) afterwards
    rc = main(["--catalog-dir", str(_watts_file(tmp_path)), "catalog", "list", "accelerators"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "'Watts'" in err and "did you mean w" in err and "tdp_w.unit" in err and "Traceback" not in err


def test_an_fx_rate_unit_must_name_its_currency(tmp_path):
    (tmp_path / "fx.yaml").write_text("fx:\n  - {currency: CNY, usd_per_unit: {value: 0.14, unit: usd_per_eur, "
                                      "assumption: t}}\n")
    with pytest.raises(CatalogFileError, match=r"fx entry 'CNY': field 'usd_per_unit': unit 'usd_per_eur' is not "
                                               r"the unit of a CNY rate: write 'unit: usd_per_cny'"):
        load_catalog(tmp_path)


# --- currency units ------------------------------------------------------------------------------------
def test_money_units_say_their_currency():
    assert unit_currency("cny_per_server") == "CNY" and unit_currency("usd_per_kwh") == "USD"
    assert unit_currency("fraction") is None and unit_currency(None) is None
    assert is_money("cny_per_server") and not is_money("gib")
    assert currency_error("cny_per_server", "CNY") is None and currency_error("usd_per_mtok", "CNY") is None
    assert "give 'currency: CNY'" in currency_error("cny_per_server", None)
    assert "not EUR" in currency_error("cny_per_server", "EUR")


def test_a_quantity_in_yuan_converts_at_the_catalog_rate(cat):
    q = Quantity(value=1_300_000, unit="cny_per_server", currency="CNY", assumption="t")
    q.convert(cat)
    assert q.fixed_value() == pytest.approx(1_300_000 * cat.fx["CNY"].usd_per_unit.value)
    with pytest.raises(ValueError, match="is an amount in CNY: give 'currency: CNY'"):
        Quantity(value=1_300_000, unit="cny_per_server", assumption="t")


def test_the_ledger_reads_the_yuan_server_quotes_at_the_catalog_rate(cat):
    from inferonomics.ledger.data import Money, capex_terms, ledger_data

    systems = {s.accelerator: s for s in ledger_data().systems}
    assert systems["h20"].price.unit == "cny_per_server" and systems["h20"].price.currency == "CNY"
    assert systems["h100-sxm"].price.unit == "usd_per_server"
    t = capex_terms(cat.accelerator("h20"), cat)
    # 1.3m CNY per 8-GPU server at the catalog rate, plus the 10% network share of the system price
    want = 1_300_000 * cat.fx["CNY"].usd_per_unit.value / 8 * 1.10
    assert t["capex_per_gpu_usd"] == pytest.approx(want) and "1,300,000 CNY" in t["capex_source"]
    with pytest.raises(ValueError, match="'cny_per_server' is an amount in CNY, but currency is USD"):
        Money(value=1.0, unit="cny_per_server", assumption="t")
    with pytest.raises(ValueError, match="'fraction' is not money"):
        Money(value=1.0, unit="fraction", currency="CNY", assumption="t")


# --- display ---------------------------------------------------------------------------------------------
def test_every_unit_has_a_display_label():
    assert set(UNIT_LABELS) == set(UNITS)
    assert (unit_label("w"), unit_label("gb_s"), unit_label("gib"), unit_label("usd_per_kwh")) == (
        "W", "GB/s", "GiB", "USD per kWh")
    assert unit_label(None) == "" and unit_label("count") == ""
    for u, lab in UNIT_LABELS.items():
        assert "_" not in lab, u


def test_catalog_show_prints_the_display_label(capsys):
    from inferonomics.cli import main

    assert main(["catalog", "show", "h100-sxm"]) == 0
    out = capsys.readouterr().out
    assert "700 W" in out and "3,350 GB/s" in out and "80 GiB" in out and "USD per GPU-hour" in out
    # no value cell shows a unit in the vocabulary's spelling (the field names keep theirs)
    assert not re.search(r"\d (gb_s|w|gib|usd|usd_per_gpu_hour|gpus|tflops) ", out)


# --- the fast path --------------------------------------------------------------------------------------
def test_the_record_cache_key_covers_the_units_vocabulary(monkeypatch):
    """Records validated against an older vocabulary are never read back: the cache key hashes the source of
    the vocabulary's module with the schema's."""
    from pathlib import Path

    import inferonomics.catalog as catalog_pkg

    read = []
    real = Path.read_bytes

    def spy(self):
        read.append(self.name)
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", spy)
    assert catalog_pkg._parser_version.__wrapped__() is not None
    assert {"quantity.py", "schema.py", "records.py"} <= set(read)


def test_cached_records_keep_the_units(tmp_path, monkeypatch):
    from inferonomics import _cache

    monkeypatch.setenv(_cache.ENV, str(tmp_path / "cache"))
    user = tmp_path / "user"
    user.mkdir()
    first = load_catalog(_watts_file(user, "w"))
    assert list((tmp_path / "cache" / "catalog-records").glob("*.json"))  # validated once, stored
    again = load_catalog(user)  # read back from the cache, without pydantic
    assert again.accelerator("my-card") == first.accelerator("my-card")
    assert again.accelerator("my-card").tdp_w.unit == "w" and again.accelerator("h100-sxm").memory_gib.unit == "gib"
