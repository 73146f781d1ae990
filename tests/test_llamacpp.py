"""llama.cpp engine profile and GGUF weight formats: bytes per weight from the block layouts, the profile is
used, and single-user decoding stays within 20% median of the held-out llama.cpp scoreboard points."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from inferonomics.catalog import get_catalog
from inferonomics.perf import predict
from inferonomics.perf.hardware import default_kv, weight_bytes


def _validation():
    path = Path(__file__).resolve().parents[1] / "validation" / "llamacpp.py"
    spec = importlib.util.spec_from_file_location("llamacpp_validation", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gguf_bytes_per_weight_from_block_layouts():
    cat = get_catalog()
    assert weight_bytes(cat, "q4_0") == pytest.approx((2 + 16) / 32)  # fp16 scale + 32 nibbles
    assert weight_bytes(cat, "q8_0") == pytest.approx((2 + 32) / 32)  # fp16 scale + 32 int8
    # Q4_K_M mixes Q4_K (144 B / 256) with Q6_K (210 B / 256): between the two
    assert 144 / 256 < weight_bytes(cat, "q4_k_m") < 210 / 256
    assert default_kv("q4_0") == "fp16"


def test_weights_scale_with_the_format():
    r4 = predict("llama-2-7b", "apple-m4-max", weights="q4_0", engine="llama.cpp", isl=512, osl=128, concurrency=1)
    r8 = predict("llama-2-7b", "apple-m4-max", weights="q8_0", engine="llama.cpp", isl=512, osl=128, concurrency=1)
    # the quantized matrices scale by 34/18; tensors the model keeps at 16 bits (embeddings, norms) do not
    assert 1.7 < r8["weights_per_gpu_gb"] / r4["weights_per_gpu_gb"] <= 34 / 18
    # decoding is memory-bound at one user: q8_0 is slower, by less than the byte ratio (fixed overhead)
    assert 1.0 < r8["tpot_s"] / r4["tpot_s"] < 34 / 18


def test_llamacpp_profile_differs_from_generic():
    g = predict("llama-2-7b", "rtx-4090", weights="q4_0", isl=512, osl=128, concurrency=1)
    ll = predict("llama-2-7b", "rtx-4090", weights="q4_0", engine="llama.cpp", isl=512, osl=128, concurrency=1)
    assert ll["tpot_s"] < g["tpot_s"]


def test_held_out_llamacpp_scoreboard_within_20_percent_median():
    val = _validation()
    rows = val.errors(get_catalog())
    test = [abs(e) for _, split, _, _, e in rows if split == "test"]
    assert len(test) == 5
    assert np.median(test) < 0.20
