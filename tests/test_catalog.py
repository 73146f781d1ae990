"""Catalog integrity: required records, provenance of every value, user overrides, clear errors."""

import pytest

from inferonomics.catalog import load_catalog
from inferonomics.catalog.schema import Sourced
from inferonomics.errors import CatalogFileError, UnknownNameError
from inferonomics.perf.arch import total_params

REQUIRED_ACCELERATORS = [
    "h100-sxm", "h100-pcie", "h200", "b200", "a100-sxm-80gb", "l40s", "h20", "mi300x", "mi325x", "ascend-910b",
]
REQUIRED_MODELS = [
    "llama-2-7b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.3-70b", "llama-3.1-405b",
    "mixtral-8x7b", "mixtral-8x22b", "qwen2.5-7b", "qwen2.5-72b", "qwen3-8b", "qwen3-32b", "qwen3-30b-a3b",
    "qwen3-235b-a22b", "deepseek-v3", "deepseek-r1",
]
REQUIRED_REGIONS = ["cn-inner-mongolia", "cn-east", "us-average", "eu-average"]


def test_required_records_present(cat):
    assert set(REQUIRED_ACCELERATORS) <= set(cat.accelerators)
    assert set(REQUIRED_MODELS) <= set(cat.models)
    assert set(REQUIRED_REGIONS) <= set(cat.regions)
    assert "CNY" in cat.fx


def _sourced_values(obj, path=""):
    if isinstance(obj, Sourced):
        yield path, obj
    elif hasattr(type(obj), "model_fields"):
        for name in type(obj).model_fields:
            yield from _sourced_values(getattr(obj, name), f"{path}.{name}")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _sourced_values(v, f"{path}.{k}")


def test_every_value_is_sourced_or_an_assumption(cat):
    n = 0
    for table in (cat.accelerators, cat.regions, cat.fx, cat.efficiency, cat.constants):
        for slug, rec in table.items():
            for path, v in _sourced_values(rec, slug):
                n += 1
                assert v.assumption or (v.source and v.date), path
                if v.assumption:
                    assert len(v.assumption) >= 10, f"{path}: an assumption must say why"
    assert n > 100
    for slug, m in cat.models.items():
        assert m.source.startswith("http"), slug
        assert m.date


def test_model_parameter_counts_match_published(cat):
    for slug, m in cat.models.items():
        if m.published_params_b is None:
            continue
        computed = total_params(m) / 1e9
        assert computed == pytest.approx(m.published_params_b.value, rel=0.04), slug


def test_conflicting_figures_record_a_range(cat):
    acc = cat.accelerator("ascend-910b")
    ranged = [v for _, v in _sourced_values(acc) if v.low is not None and v.high is not None]
    assert ranged, "Ascend 910B figures conflict publicly; the catalog must record the range"
    for v in ranged:
        assert v.low <= v.value <= v.high


def test_unknown_slug_suggests_close_matches(cat):
    with pytest.raises(UnknownNameError) as e:
        cat.model("llama-3.1-7b")
    assert "llama-3.1-70b" in str(e.value) or "llama-3.1-8b" in str(e.value)
    assert "model" in str(e.value)


def test_user_file_adds_and_overrides(tmp_path, cat):
    (tmp_path / "mine.yaml").write_text(
        """
accelerators:
  - slug: h100-sxm
    name: H100 at my price
    vendor: nvidia
    family: hopper
    peak_dense_tflops: {bf16: {value: 989.4, source: datasheet, date: 2023-01}}
    memory_gb: {value: 80, source: datasheet, date: 2023-01}
    memory_bw_gb_s: {value: 3350, source: datasheet, date: 2023-01}
    tdp_w: {value: 700, source: datasheet, date: 2023-01}
    scaleup_bw_gb_s: {value: 450, source: datasheet, date: 2023-01}
    scaleup_domain_gpus: {value: 8, source: datasheet, date: 2023-01}
    purchase_price_usd: {value: 20000, source: my invoice, date: 2026-10}
    rental_usd_per_gpu_hour: {value: 1.5, assumption: our internal transfer price}
regions:
  - slug: my-dc
    name: My data centre
    currency: USD
    electricity_usd_per_kwh: {value: 0.05, source: our tariff, date: 2026-01}
    pue: {value: 1.2, assumption: measured by facilities last year}
"""
    )
    c = load_catalog(tmp_path)
    assert c.accelerator("h100-sxm").purchase_price_usd.value == 20000
    assert c.region("my-dc").pue.value == 1.2
    assert "mine.yaml" in c.origin["accelerators:h100-sxm"]
    assert set(cat.models) == set(c.models)


@pytest.mark.parametrize(
    "body, expected",
    [
        ("regions:\n  - slug: x\n    name: X\n    currency: USD\n    electricity_usd_per_kwh: {value: 0.1}\n"
         "    pue: {value: 1.2, assumption: measured by us}\n", ["bad.yaml", "'x'", "electricity_usd_per_kwh", "source"]),
        ("models:\n  - slug: m\n    name: M\n", ["bad.yaml", "'m'", "family"]),
        ("gadgets: []\n", ["bad.yaml", "gadgets", "allowed sections"]),
        ("regions:\n  - slug: y\n    name: Y\n    currency: USD\n    colour: red\n"
         "    electricity_usd_per_kwh: {value: 0.1, assumption: a reason here}\n"
         "    pue: {value: 1.2, assumption: measured by us}\n", ["'y'", "colour", "unknown field"]),
        ("models: [\n", ["bad.yaml", "not valid YAML"]),
    ],
)
def test_bad_user_file_names_file_entry_and_field(tmp_path, body, expected):
    (tmp_path / "bad.yaml").write_text(body)
    with pytest.raises(CatalogFileError) as e:
        load_catalog(tmp_path)
    for piece in expected:
        assert piece in str(e.value)


def test_missing_user_dir_is_a_clear_error(tmp_path):
    with pytest.raises(CatalogFileError, match="does not exist"):
        load_catalog(tmp_path / "nope")
