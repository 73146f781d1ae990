"""validation/production.yaml: schema, units and internal consistency of the published production points."""

import re
from pathlib import Path

import pytest
import yaml

PATH = Path(__file__).resolve().parents[1] / "validation" / "production.yaml"

FIELDS = [
    "id", "kind", "model", "accelerator", "engine", "mode", "role", "gpus", "tp", "ep", "pp", "prefill_gpus",
    "decode_gpus", "prefill_tp", "prefill_ep", "decode_tp", "decode_ep", "dp_attention", "redundant_experts",
    "two_batch_overlap", "weights", "kv", "isl", "osl", "concurrency", "batch_per_gpu", "tokens_per_s_per_user",
    "max_tpot_s", "max_ttft_s", "prefix_hit_rate", "mtp_tokens", "mtp_accept_rate", "metric", "value", "framework",
    "source", "date", "notes", "assumed",
]
INT_FIELDS = [
    "gpus", "tp", "ep", "pp", "prefill_gpus", "decode_gpus", "prefill_tp", "prefill_ep", "decode_tp", "decode_ep",
    "redundant_experts", "isl", "osl", "concurrency", "batch_per_gpu", "mtp_tokens",
]
ENGINES = {"sglang", "trtllm", "vllm", "deepseek", "rtp-llm"}
METRICS = {
    "output_tokens_per_s_per_gpu", "input_tokens_per_s_per_gpu", "output_tokens_per_s", "input_tokens_per_s",
    "tpot_s", "ttft_s",
}


@pytest.fixture(scope="module")
def rows():
    return yaml.safe_load(PATH.read_text(encoding="utf-8"))["measurements"]


def test_enough_points_from_enough_sources(rows):
    assert len(rows) >= 25
    assert len({r["source"] for r in rows}) >= 8


def test_fields_exact_and_ids_unique_kebab(rows):
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    for r in rows:
        assert list(r) == FIELDS, r["id"]
        assert re.fullmatch(r"[a-z0-9]+(?:[.-][a-z0-9]+)*", r["id"]), r["id"]


def test_enumerations(rows):
    for r in rows:
        rid = r["id"]
        assert r["kind"] == "production", rid
        assert r["engine"] in ENGINES or r["engine"].startswith("other"), rid
        assert r["mode"] in {"disaggregated", "colocated"}, rid
        assert r["role"] in {"prefill", "decode", "system"}, rid
        assert r["weights"] in {"fp8", "fp4", "bf16", "int8", "int4"}, rid
        assert r["kv"] in {"fp8", "bf16", None}, rid
        assert r["metric"] in METRICS, rid
        assert r["dp_attention"] in {True, False, None}, rid
        assert r["two_batch_overlap"] in {True, False, None}, rid


def test_numbers_have_units_and_ranges(rows):
    for r in rows:
        rid = r["id"]
        assert isinstance(r["value"], (int, float)) and r["value"] > 0, rid
        for k in INT_FIELDS:
            v = r[k]
            assert v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0), (rid, k, v)
        for k in ("gpus", "tp", "ep", "pp", "isl", "osl", "concurrency", "batch_per_gpu"):
            assert r[k] is None or r[k] >= 1, (rid, k)
        for k in ("prefix_hit_rate", "mtp_accept_rate"):
            assert r[k] is None or 0.0 <= r[k] <= 1.0, (rid, k)
        for k in ("max_tpot_s", "max_ttft_s"):  # seconds, not milliseconds
            assert r[k] is None or 0.0 < r[k] < 10.0, (rid, k)
        if r["mtp_accept_rate"] is not None:
            assert r["mtp_tokens"], rid  # an acceptance rate needs drafted tokens
        if r["metric"].startswith("input"):
            assert r["role"] in {"prefill", "system"}, rid
        if r["metric"].startswith("output") and r["role"] == "prefill":
            pytest.fail(f"{rid}: output tokens from a prefill pool")


def test_pool_sizes_are_consistent(rows):
    for r in rows:
        rid = r["id"]
        if r["mode"] == "colocated":
            assert r["prefill_gpus"] is None and r["decode_gpus"] is None, rid
        if r["role"] in ("prefill", "decode") and r["gpus"] and r[f"{r['role']}_gpus"]:
            assert r["gpus"] <= r[f"{r['role']}_gpus"], rid
        if r["role"] in ("prefill", "decode") and r["ep"] and r["gpus"]:
            assert r["ep"] <= r["gpus"], rid
        if r["batch_per_gpu"] and r["concurrency"] and r["gpus"]:
            assert r["batch_per_gpu"] * r["gpus"] == r["concurrency"], rid
        if r["role"] == "system" and r["gpus"] and r["prefill_gpus"] and r["decode_gpus"]:
            assert r["prefill_gpus"] + r["decode_gpus"] == r["gpus"], rid


def test_provenance_and_assumptions(rows):
    for r in rows:
        rid = r["id"]
        assert r["source"].startswith("https://"), rid
        assert re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", str(r["date"])), rid
        assert isinstance(r["notes"], str) and len(r["notes"]) > 150, rid
        assert isinstance(r["assumed"], list) and set(r["assumed"]) <= set(FIELDS) - {"id", "notes", "assumed"}, rid
        assert r["framework"], rid


def test_slugs_known_or_flagged(rows, cat):
    for r in rows:
        if r["model"] not in cat.models or r["accelerator"] not in cat.accelerators:
            assert "not in the catalog" in r["notes"], r["id"]


def test_hand_checked_conversions(rows):
    """Spot checks against the published per-node figures (8 GPUs per H100/H800/H200 node)."""
    by_id = {r["id"]: r for r in rows}
    assert by_id["deepseek-day6-h800-v3r1-prefill-ep32-24h-average"]["value"] == pytest.approx(73_700 / 8)
    assert by_id["deepseek-day6-h800-v3r1-decode-ep144-24h-average"]["value"] == pytest.approx(14_800 / 8)
    assert by_id["sglang-96xh100-deepseek-v3-decode-ep72-bs256-kv2000"]["value"] == pytest.approx(22_282 / 8)
    assert by_id["deepseek-profile-h800-v3-decode-ep128-bs128-kv4096"]["value"] == pytest.approx(18_598 / 8)
    fleet = by_id["deepseek-day6-h800-v3r1-fleet-24h-output-per-gpu"]
    assert fleet["value"] == pytest.approx(168e9 / (86_400 * 226.75 * 8), rel=1e-4)
    mtp3 = by_id["trtllm-blog1-8xb200-deepseek-r1-fp4-bs1-i1k-o2k-mtp3"]
    assert mtp3["mtp_accept_rate"] == pytest.approx((2.82 - 1) / 3, abs=1e-4)
