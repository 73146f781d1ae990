"""Catalog integrity: required records, provenance of every value, user overrides, clear errors."""

import dataclasses

import numpy as np
import pytest

from inferonomics.catalog import load_catalog
from inferonomics.catalog.records import SourcedMethods
from inferonomics.catalog.schema import ACCELERATOR_KINDS
from inferonomics.errors import CatalogFileError, InputError, NoRentalPriceError, UnknownNameError
from inferonomics.perf import predict
from inferonomics.perf.arch import (
    arch_columns,
    kv_bytes_per_sequence,
    kv_context_tokens,
    prefill_attended_tokens,
    total_params,
)

GIB = 2**30
RACK_SCALE = ["gb200", "gb300", "ascend-910c"]
NEW_DATACENTER = ["b300", "mi355x"]
WORKSTATION = [
    "rtx-3090", "rtx-4090", "rtx-5090", "rtx-pro-6000", "apple-m2-ultra", "apple-m3-ultra", "apple-m4-max",
    "apple-m4-pro", "dgx-spark", "ryzen-ai-max-395",
]
EDGE = ["jetson-agx-orin-64gb"]
REQUIRED_ACCELERATORS = [
    "h100-sxm", "h100-pcie", "h200", "b200", "a100-sxm-80gb", "l40s", "h20", "mi300x", "mi325x", "ascend-910b",
    *RACK_SCALE, *NEW_DATACENTER, *WORKSTATION, *EDGE, "atlas-300i-duo",
]
REQUIRED_MODELS = [
    "llama-2-7b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.3-70b", "llama-3.1-405b",
    "mixtral-8x7b", "mixtral-8x22b", "qwen2.5-7b", "qwen2.5-72b", "qwen3-8b", "qwen3-32b", "qwen3-30b-a3b",
    "qwen3-235b-a22b", "deepseek-v3", "deepseek-r1", "gpt-oss-120b", "gpt-oss-20b", "kimi-k2",
    "qwen3-coder-480b-a35b",
]
REQUIRED_REGIONS = ["cn-inner-mongolia", "cn-east", "us-average", "eu-average"]


def test_required_records_present(cat):
    assert set(REQUIRED_ACCELERATORS) <= set(cat.accelerators)
    assert set(REQUIRED_MODELS) <= set(cat.models)
    assert set(REQUIRED_REGIONS) <= set(cat.regions)
    assert "CNY" in cat.fx


def _sourced_values(obj, path=""):
    if isinstance(obj, SourcedMethods):  # a catalog record or a schema object
        yield path, obj
    elif hasattr(type(obj), "model_fields"):
        for name in type(obj).model_fields:
            yield from _sourced_values(getattr(obj, name), f"{path}.{name}")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _sourced_values(v, f"{path}.{k}")


def test_every_value_is_sourced_or_an_assumption(cat):
    n = 0
    for table in (cat.accelerators, cat.models, cat.regions, cat.fx, cat.efficiency, cat.constants):
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
        assert computed == pytest.approx(m.published_params_b.value, rel=0.02), slug


@pytest.mark.parametrize(
    "slug, total_b",
    [("gpt-oss-120b", 116.83), ("gpt-oss-20b", 20.91), ("kimi-k2", 1040), ("qwen3-coder-480b-a35b", 480)],
)
def test_new_models_have_published_counts_and_match_them(cat, slug, total_b):
    m = cat.model(slug)
    assert m.published_params_b is not None and m.published_params_b.value == total_b
    assert total_params(m) / 1e9 == pytest.approx(total_b, rel=0.02)
    assert m.source.startswith("https://huggingface.co/") and m.source.endswith("config.json")


def test_r1_record_covers_r1_0528(cat):
    assert "R1-0528" in cat.model("deepseek-r1").notes
    # same architecture as V3: every integer of the two records agrees
    v3, r1 = cat.model("deepseek-v3"), cat.model("deepseek-r1")
    assert arch_columns(v3) == arch_columns(r1)


def test_every_accelerator_has_a_kind(cat):
    kinds = {slug: a.kind for slug, a in cat.accelerators.items()}
    assert set(kinds.values()) <= set(ACCELERATOR_KINDS)
    assert set(RACK_SCALE) == {s for s, k in kinds.items() if k == "rack-scale"}
    assert all(kinds[s] == "workstation" for s in WORKSTATION)
    assert all(kinds[s] == "edge" for s in EDGE)
    assert kinds["h100-sxm"] == "datacenter" and kinds["b300"] == "datacenter"


def test_rack_scale_domains_and_single_devices(cat):
    assert cat.accelerator("gb200").scaleup_domain_gpus.value == 72
    assert cat.accelerator("gb300").scaleup_domain_gpus.value == 72
    assert cat.accelerator("ascend-910c").scaleup_domain_gpus.value == 384
    assert cat.accelerator("b300").scaleup_domain_gpus.value == 8
    for slug in [*WORKSTATION, *EDGE, "atlas-300i-duo"]:
        a = cat.accelerator(slug)
        assert a.scaleup_domain_gpus.value == 1, slug
        assert a.scaleout_bw_gb_s is not None and a.scaleout_bw_gb_s.value <= 64, slug


def test_fp4_peaks_where_the_hardware_has_it(cat):
    for slug in ["gb200", "gb300", "b300", "mi355x", "rtx-5090", "rtx-pro-6000", "dgx-spark"]:
        d = cat.accelerator(slug).peak_dense_tflops
        assert "fp4" in d, slug
        # dense FP4 is at least twice dense FP8 on these parts (never the sparse headline twice over)
        assert d["fp4"].value >= 2 * d["fp8"].value * 0.99, slug
        assert d["fp4"].value <= 4 * d["fp8"].value, slug
    assert "fp4" not in cat.accelerator("ascend-910c").peak_dense_tflops


def test_rack_scale_prices_are_per_gpu(cat):
    # the rack price divided by its GPUs: a GB200 NVL72 rack lands in the $2-4M range
    for slug in ("gb200", "gb300"):
        rack_usd = cat.accelerator(slug).purchase_price_usd.value * 72
        assert 2e6 <= rack_usd <= 5e6, slug
        assert "/ 72" in cat.accelerator(slug).purchase_price_usd.note


def test_rental_price_is_optional_and_renting_without_one_is_a_clear_error(cat):
    from inferonomics.cost.api import gpu_hour

    no_rent = [s for s, a in cat.accelerators.items() if a.rental_usd_per_gpu_hour is None]
    assert {"apple-m3-ultra", "dgx-spark", "jetson-agx-orin-64gb"} <= set(no_rent)
    with pytest.raises(NoRentalPriceError) as e:
        gpu_hour("dgx-spark", catalog=cat)
    assert isinstance(e.value, InputError)
    assert "dgx-spark" in str(e.value) and "no rental price" in str(e.value)
    assert "--rent-usd-per-gpu-hour" in str(e.value)
    # a given price or owning still works
    assert gpu_hour("dgx-spark", rent_usd_per_gpu_hour=0.4, catalog=cat)["usd_per_gpu_hour"] == 0.4
    assert gpu_hour("dgx-spark", own=True, catalog=cat)["usd_per_gpu_hour"] > 0
    assert gpu_hour("rtx-4090", catalog=cat)["usd_per_gpu_hour"] == 0.60


def test_cli_without_rental_price_exits_2_naming_the_accelerator(capsys):
    from inferonomics.cli import main

    rc = main(["cost", "--model", "llama-3.1-8b", "--gpu", "apple-m4-max", "--weights", "int4",
               "--concurrency", "2"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "apple-m4-max" in err and "no rental price" in err and "Traceback" not in err


def test_catalog_list_shows_kind(capsys):
    import json

    from inferonomics.cli import main

    assert main(["catalog", "list", "accelerators", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by = {r["slug"]: r for r in rows}
    assert by["gb200"]["kind"] == "rack-scale" and by["rtx-4090"]["kind"] == "workstation"
    assert by["dgx-spark"]["rental_usd_per_gpu_hour"] is None
    assert by["h100-sxm"]["memory_gib"] == by["h100-sxm"]["memory_gb"] == 80  # GiB, and its deprecated name
    assert main(["catalog", "show", "gb300", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["kind"] == "accelerators" and shown["accelerator_kind"] == "rack-scale"
    assert shown["memory_gib"]["unit"] == "gib" and "memory_gb" not in shown  # the record under its one name


# --- sliding-window attention (gpt-oss) ---------------------------------------------------------------
def test_gpt_oss_sliding_window_schema(cat):
    for slug, layers in (("gpt-oss-120b", 36), ("gpt-oss-20b", 24)):
        m = cat.model(slug)
        assert m.sliding_window == 128 and m.sliding_window_layers == layers // 2
        assert m.attention_sinks and m.checkpoint_expert_dtype == "fp4"
    assert cat.model("llama-3.1-8b").sliding_window is None


def test_gpt_oss_kv_cache_is_smaller_than_full_attention_by_the_hand_computed_amount(cat):
    m = cat.model("gpt-oss-120b")
    full = m.model_copy(update={"sliding_window": None, "sliding_window_layers": 0})
    t, kvb = 32768, 2.0  # tokens of context, bf16 KV
    per_tok_layer = 2 * 8 * 64 * kvb  # k and v, 8 KV heads x head_dim 64
    assert kv_bytes_per_sequence(full, kvb, t) == 36 * t * per_tok_layer
    assert kv_bytes_per_sequence(m, kvb, t) == 18 * t * per_tok_layer + 18 * 128 * per_tok_layer
    saved = kv_bytes_per_sequence(full, kvb, t) - kv_bytes_per_sequence(m, kvb, t)
    assert saved == 18 * (t - 128) * per_tok_layer == 1_203_240_960
    # inside the window both are the same
    assert kv_bytes_per_sequence(m, kvb, 100) == kv_bytes_per_sequence(full, kvb, 100)


def test_kernel_honours_the_window_in_memory_and_attention(cat):
    m = cat.model("gpt-oss-120b")
    full = m.model_copy(update={"sliding_window": None, "sliding_window_layers": 0})
    cat_full = dataclasses.replace(cat, models={**cat.models, "gpt-oss-120b": full})
    kw = {"gpus": 1, "weights": "fp4", "kv": "bf16", "isl": 30000, "osl": 2768}
    win = predict("gpt-oss-120b", "h200", concurrency=8, catalog=cat, **kw)
    ful = predict("gpt-oss-120b", "h200", concurrency=8, catalog=cat_full, **kw)
    per_tok_layer = 2 * 8 * 64 * 2.0
    assert ful["kv_per_sequence_per_gpu_gib"] * GIB == pytest.approx(36 * 32768 * per_tok_layer)
    assert win["kv_per_sequence_per_gpu_gib"] * GIB == pytest.approx((18 * 32768 + 18 * 128) * per_tok_layer)
    # more sequences fit, and each decode step reads less KV, so decode is faster at the same load
    assert win["max_concurrency"] > 1.9 * ful["max_concurrency"]
    assert win["decode_memory_s"] < ful["decode_memory_s"]
    assert win["tpot_s"] < ful["tpot_s"]


def test_window_helpers_match_a_brute_force_count():
    a = {"sliding_layer_share": np.float64(0.5), "sliding_window": np.float64(128)}
    for isl in (1, 50, 128, 129, 1000, 4096):
        pos = np.arange(1, isl + 1)
        brute = 0.5 * pos.mean() + 0.5 * np.minimum(pos, 128).mean()
        assert float(prefill_attended_tokens(a, np.float64(isl))) == pytest.approx(brute)
    assert float(kv_context_tokens(a, np.float64(10_000))) == 0.5 * 10_000 + 0.5 * 128
    none = {"sliding_layer_share": 0.0, "sliding_window": 0.0}
    assert float(kv_context_tokens(none, 10_000.0)) == 10_000.0
    assert float(prefill_attended_tokens(none, np.float64(1000))) == 500.5


@pytest.mark.parametrize(
    "extra, text",
    [
        ("    sliding_window: 128\n", "sliding_window"),
        ("    sliding_window: 128\n    sliding_window_layers: 40\n", "cannot exceed num_layers"),
        ("    checkpoint_expert_dtype: fp4\n", "mixture-of-experts"),
    ],
)
def test_bad_sliding_window_fields_are_clear_errors(tmp_path, extra, text):
    (tmp_path / "m.yaml").write_text(
        "models:\n  - slug: tiny\n    name: Tiny\n    family: t\n    source: https://example.org/config.json\n"
        "    date: 2025-01-01\n    num_layers: 4\n    hidden_size: 64\n    num_attention_heads: 4\n"
        "    num_kv_heads: 2\n    head_dim: 16\n    intermediate_size: 128\n    vocab_size: 100\n"
        "    max_context: 4096\n" + extra
    )
    with pytest.raises(CatalogFileError) as e:
        load_catalog(tmp_path)
    assert "'tiny'" in str(e.value) and text in str(e.value)


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
    memory_gib: {value: 80, source: datasheet, date: 2023-01}
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


# --- accelerator memory: memory_gib, and memory_gb, its deprecated first name ------------------------------
def _card(tmp_path, name, memory):
    """A user catalog directory holding one accelerator whose memory is given by ``memory`` (YAML lines)."""
    d = tmp_path / name
    d.mkdir()
    (d / "card.yaml").write_text(f"""
accelerators:
  - slug: my-card
    name: My card
    vendor: nvidia
    family: hopper
    peak_dense_tflops: {{bf16: {{value: 400, assumption: spec sheet}}, fp8: {{value: 800, assumption: spec sheet}}}}
{memory}
    memory_bw_gb_s: {{value: 2000, unit: gb_s, assumption: spec sheet}}
    tdp_w: {{value: 500, unit: w, assumption: spec sheet}}
    scaleup_bw_gb_s: {{value: 400, unit: gb_s, assumption: spec sheet}}
    scaleup_domain_gpus: {{value: 8, unit: gpus, assumption: spec sheet}}
    purchase_price_usd: {{value: 15000, unit: usd, assumption: invoice}}
""")
    return d


def test_shipped_catalog_names_memory_in_gib():
    from pathlib import Path

    import inferonomics.catalog

    text = (Path(inferonomics.catalog.__file__).with_name("data") / "accelerators.yaml").read_text(encoding="utf-8")
    body = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    assert sum("memory_gib:" in ln for ln in body) == text.count("\n  - slug:") > 20
    assert not any("memory_gb:" in ln for ln in body)


def test_deprecated_memory_gb_loads_as_the_same_gib(tmp_path):
    new = load_catalog(_card(tmp_path, "new", "    memory_gib: {value: 72, unit: gib, assumption: spec sheet}"))
    old = load_catalog(_card(tmp_path, "old", "    memory_gb: {value: 72, unit: gib, assumption: spec sheet}"))
    a_new, a_old = new.accelerator("my-card"), old.accelerator("my-card")
    assert a_old == a_new and a_old.memory_gib.value == 72 and a_old.memory_gib.unit == "gib"
    assert a_old.memory_gb == a_old.memory_gib  # the deprecated attribute reads the same record
    assert "memory_gb" not in a_old.model_dump()
    kw = {"gpus": 1, "weights": "fp8", "isl": 2048, "osl": 512, "concurrency": None}
    p_new = predict("llama-3.1-8b", "my-card", catalog=new, **kw)
    p_old = predict("llama-3.1-8b", "my-card", catalog=old, **kw)
    assert p_old == p_new
    # the KV budget is 72 GiB x utilization - weights - reserve: the most sequences that fit follows from it
    budget = (72 * new.const("gpu_memory_utilization") - new.const("memory_reserve_gb")) * GIB
    seqs = (budget - p_new["weights_per_gpu_gib"] * GIB) // (p_new["kv_per_sequence_per_gpu_gib"] * GIB)
    assert p_new["max_concurrency"] == min(seqs, new.const("max_batch_per_rank"))


def test_both_memory_names_is_an_error_naming_both(tmp_path):
    d = _card(tmp_path, "both", "    memory_gib: {value: 72, assumption: a}\n    memory_gb: {value: 80, assumption: b}")
    with pytest.raises(CatalogFileError) as e:
        load_catalog(d)
    msg = str(e.value)
    for piece in ("card.yaml", "'my-card'", "memory_gib", "memory_gb", "deprecated", "72", "80"):
        assert piece in msg, (piece, msg)


def test_a_bad_deprecated_memory_gb_is_blamed_on_the_name_written(tmp_path):
    with pytest.raises(CatalogFileError, match=r"field 'memory_gb': .*\(GiB\).*got 0"):
        load_catalog(_card(tmp_path, "zero", "    memory_gb: {value: 0, assumption: a}"))
    with pytest.raises(CatalogFileError, match=r"field 'memory_gib': missing"):
        load_catalog(_card(tmp_path, "none", ""))


def test_missing_user_dir_is_a_clear_error(tmp_path):
    with pytest.raises(CatalogFileError, match="does not exist"):
        load_catalog(tmp_path / "nope")
