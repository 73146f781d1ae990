"""The kernel's two backends (NumPy arrays for sweeps, Python floats for single predictions) run the same
formulas: they must agree on every output, for every kind of configuration, valid or not."""

import math

import numpy as np
import pytest

from inferonomics.perf.api import Deployment, kernel_inputs
from inferonomics.perf.kernel import _SCALAR, DEPRECATED_OUTPUTS, OUTPUTS, _evaluate, evaluate, evaluate_scalar

MODELS = ["llama-3.1-8b", "llama-3.1-70b", "qwen3-30b-a3b", "mixtral-8x7b", "deepseek-v3", "qwen2.5-7b",
          "deepseek-v2-lite", "qwen3-235b-a22b", "llama-3.2-1b", "gpt-oss-20b", "gpt-oss-120b", "kimi-k2"]
GPUS = ["h100-sxm", "h200", "mi300x", "b200", "a100-sxm-80gb", "l40s", "h20", "gb200", "rtx-4090", "apple-m3-ultra"]
MOE = {"qwen3-30b-a3b", "mixtral-8x7b", "deepseek-v3", "deepseek-v2-lite", "qwen3-235b-a22b", "gpt-oss-20b",
       "gpt-oss-120b", "kimi-k2"}


def _random_deployments(rng, n):
    """Co-located (continuous and static), expert-parallel and disaggregated configurations with prefix
    caching, MTP, redundant experts and two-batch overlap; some parallel layouts are invalid on purpose."""
    deps = []
    for _ in range(n):
        model = str(rng.choice(MODELS))
        kw = {
            "weights": str(rng.choice(["bf16", "fp8", "int4", "fp4", "int8"])),
            "isl": int(rng.choice([1, 16, 128, 1000, 2000, 8000, 30000])),
            "osl": int(rng.choice([1, 2, 64, 256, 1000, 4000])),
            "concurrency": None if rng.random() < 0.3 else float(rng.choice([1, 3, 16, 64, 256, 1024, 10000])),
            "prefix_hit_rate": float(rng.choice([0.0, 0.0, 0.3, 0.9, 0.999])),
            "mtp_tokens": int(rng.choice([0, 0, 1, 3])),
            "mtp_accept_rate": None if rng.random() < 0.5 else float(rng.choice([0.0, 0.4, 0.9, 1.0])),
            "tbo": [None, True, False][rng.integers(3)],
            "pp": int(rng.choice([1, 1, 1, 2, 4])),
        }
        moe = model in MOE
        ep = int(rng.choice([1, 2, 8, 16, 32, 64])) if moe and rng.random() < 0.6 else 1
        kw["redundant_experts"] = int(rng.choice([0, 16, 32])) if ep > 1 else 0
        if moe and rng.random() < 0.35:  # disaggregated prefill/decode
            pep = int(rng.choice([1, 8, 16])) if rng.random() < 0.6 else 1
            ptp = int(rng.choice([1, 2, 4, 8]))
            p_inst = pep if pep > 1 else ptp
            d_tp = 1 if ep > 1 else int(rng.choice([1, 2, 4, 8]))
            d_inst = (ep if ep > 1 else d_tp) * kw["pp"]
            pg, dg = p_inst * int(rng.integers(1, 4)), d_inst * int(rng.integers(1, 4))
            units = int(rng.integers(1, 3))
            kw.update(prefill_gpus=pg, decode_gpus=dg, prefill_ep=pep, prefill_tp=None if pep > 1 else ptp,
                      ep=ep, tp=d_tp, gpus=units * (pg + dg))
        else:
            tp = int(rng.choice([1, 2, 3, 4, 8, 16]))
            inst = (ep if ep > 1 else tp) * kw["pp"]
            kw.update(tp=tp, ep=ep, gpus=inst * int(rng.choice([1, 1, 2, 3])) + int(rng.random() < 0.05),
                      scheduler="static" if rng.random() < 0.2 else "continuous")
        deps.append(Deployment(model=model, gpu=str(rng.choice(GPUS)), **kw).resolved())
    return deps


def _row(cols, i, cast=float):
    """Configuration ``i`` of a dict of columns (arrays or constants) as scalars."""
    return {k: cast(v[i]) if np.ndim(v) else cast(v) for k, v in cols.items()}


def _assert_rows_equal(r_arr, i, r_one):
    for k in OUTPUTS:
        x, y = r_arr[k][i].item(), r_one[k]
        if isinstance(x, bool):
            assert y is x, (k, i, x, y)
        elif math.isnan(x):
            assert math.isnan(y), (k, i, x, y)
        else:
            assert y == pytest.approx(x, rel=1e-12, abs=0.0), (k, i, x, y)


def test_scalar_backend_equals_array_backend_on_random_configurations(cat):
    rng = np.random.default_rng(20261206)
    deps = _random_deployments(rng, 3000)
    a, hw, s = kernel_inputs(cat, deps)
    r = evaluate(a, hw, s)
    fits = np.asarray(r["fits"])
    # the sample covers what it claims: fitting rows of every kind, and rows that do not fit or are invalid
    dis = s["disagg"] > 0
    assert fits[dis].sum() > 100 and fits[~dis & (s["ep"] > 1)].sum() > 100
    assert fits[(s["mtp_k"] > 0)].sum() > 100 and fits[s["prefix_hit"] > 0].sum() > 100
    assert fits[s["static"] > 0].sum() > 50 and (~np.asarray(r["valid"])).sum() > 100
    for i in range(len(deps)):
        # the scalar backend itself (no fallback to NumPy): none of these configurations makes it raise
        one = _evaluate(*(_row(d, i) for d in (a, hw, s)), _SCALAR)
        _assert_rows_equal(r, i, one)


def test_scalar_inputs_to_evaluate_take_the_scalar_backend(cat):
    deps = _random_deployments(np.random.default_rng(7), 40)
    a, hw, s = kernel_inputs(cat, deps)
    r = evaluate(a, hw, s)
    for i in range(len(deps)):
        one = evaluate(*(_row(d, i, np.float64) for d in (a, hw, s)))  # NumPy scalars
        assert all(not isinstance(v, np.ndarray) for v in one.values())
        _assert_rows_equal(r, i, one)


def test_zero_divisions_and_nan_inputs_give_what_numpy_gives(cat):
    """Inputs where plain float arithmetic would raise (zero bandwidths, zero parallel degrees, zero
    lengths) or where NaN must propagate: the scalar path returns NumPy's inf/NaN figures, never an error."""
    deps = _random_deployments(np.random.default_rng(11), 200)
    a, hw, s = kernel_inputs(cat, deps)
    hw["scaleup_bw_gb_s"] = np.where(np.arange(len(deps)) % 3 == 0, 0.0, hw["scaleup_bw_gb_s"])
    hw["scaleout_bw_gb_s"] = np.where(np.arange(len(deps)) % 5 == 0, 0.0, hw["scaleout_bw_gb_s"])
    hw["expert_load_cv"] = np.where(np.arange(len(deps)) % 7 == 0, np.nan, hw["expert_load_cv"])
    s["tp"] = np.where(np.arange(len(deps)) % 11 == 0, 0.0, s["tp"])
    s["osl"] = np.where(np.arange(len(deps)) % 13 == 0, 0.0, s["osl"])
    s["isl"] = np.where(np.arange(len(deps)) % 17 == 0, -5.0, s["isl"])
    with np.errstate(all="ignore"):
        r = evaluate(a, hw, s)
    for i in range(len(deps)):
        one = evaluate_scalar(*(_row(d, i) for d in (a, hw, s)))
        _assert_rows_equal(r, i, one)


# --- sweep(): built from the axis grid, it must equal evaluating every configuration on its own ----------
def _sweep_the_slow_way(cat, model, gpu, **axes):
    """One resolved Deployment per combination, as records, evaluated row by row (the reference)."""
    import itertools
    from dataclasses import asdict

    import pandas as pd

    names = ["model", "gpu", *axes]
    vals = [v if isinstance(v, list) else [v] for v in (model, gpu, *axes.values())]
    deps = [Deployment(**dict(zip(names, c, strict=True))).resolved() for c in itertools.product(*vals)]
    df = pd.DataFrame([asdict(d) for d in deps])
    a, hw, s = kernel_inputs(cat, deps)
    r = evaluate(a, hw, s)
    for k in OUTPUTS:
        df[k] = r[k]
    for old, new in DEPRECATED_OUTPUTS.items():  # the old names of GiB outputs, kept as aliases at the end
        df[old] = r[new]
    return df


@pytest.mark.parametrize(
    "model, gpu, axes",
    [
        (["llama-3.1-8b", "qwen3-30b-a3b"], ["h100-sxm", "mi300x"],
         {"gpus": [1, 2, 4, 8], "weights": ["fp8", "bf16"], "isl": 1024, "osl": 256, "concurrency": [None, 3.0]}),
        ("deepseek-v3", "h200",
         {"prefill_gpus": [None, 8], "decode_gpus": [None, 16], "ep": [1, 8, 16], "gpus": [1, 24, 48],
          "weights": "fp8", "tbo": [None, True], "mtp_tokens": [0, 2], "mtp_accept_rate": [None, 0.7],
          "kv": [None, "bf16"], "prefix_hit_rate": [0.0, 0.5], "redundant_experts": [0, 32]}),
        ("llama-3.1-70b", "h100-sxm",
         {"tp": [None, 1, 3, 4], "pp": [1, 2], "gpus": [4, 8], "scheduler": ["static", "continuous"],
          "concurrency": [1, 64], "isl": [100, 2000.5]}),
        ("mixtral-8x7b", "b200", {"weights": ["fp4", "int4"], "kv": "fp8", "ep": [1, 2], "gpus": 2}),
    ],
)
def test_sweep_equals_one_deployment_at_a_time(cat, model, gpu, axes):
    from inferonomics.perf import sweep

    got = sweep(model, gpu, catalog=cat, **axes)
    want = _sweep_the_slow_way(cat, model, gpu, **axes)
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want) > 0
    for c in want.columns:
        assert got[c].dtype == want[c].dtype, c
        x, y = want[c].to_numpy(), got[c].to_numpy()
        if x.dtype.kind == "f":
            np.testing.assert_array_equal(x, y, err_msg=c)  # same operations: bit-identical, NaN in place
        else:
            assert list(x) == list(y), c


def test_sweep_with_an_empty_axis_has_no_rows(cat):
    from inferonomics.perf import sweep

    df = sweep("llama-3.1-8b", "h100-sxm", gpus=[], catalog=cat)
    assert len(df) == 0 and {"tp", "valid", "tpot_s"} <= set(df.columns)


def test_blocks_and_split_rows_give_the_one_call_result_bit_for_bit(cat, monkeypatch):
    """evaluate() cuts large grids into blocks and evaluates co-located and disaggregated rows apart: the
    result must be exactly that of evaluating everything in one call, flat or broadcast over a grid."""
    from inferonomics.perf import kernel

    deps = _random_deployments(np.random.default_rng(5), 1500)
    a, hw, s = kernel_inputs(cat, deps)
    with np.errstate(all="ignore"):
        whole = kernel._evaluate(a, hw, s, kernel._NP)
        # the same configurations broadcast against a second axis of concurrencies: a 2-d grid
        s2 = {**s, "concurrency": np.array([np.nan, 1.0, 7.0, 300.0])[None, :]}
        a2, hw2 = ({k: (v[:, None] if np.ndim(v) else v) for k, v in d.items()} for d in (a, hw))
        s2 = {k: (v[:, None] if np.ndim(v) == 1 else v) for k, v in s2.items()}
        whole2 = kernel._evaluate(a2, hw2, s2, kernel._NP)
    monkeypatch.setattr(kernel, "BLOCK_ROWS", 97)
    for got, want in ((evaluate(a, hw, s), whole), (evaluate(a2, hw2, s2), whole2)):
        for k in OUTPUTS:
            assert got[k].shape == np.shape(want[k])
            np.testing.assert_array_equal(got[k], want[k], err_msg=k)
