"""Fit the efficiency factors on the 'train' split of validation/measurements.yaml and write them to
src/inferonomics/catalog/data/efficiency.yaml (with source and date), then report train/test accuracy.

    python validation/fit.py [--dry-run]
    python validation/fit.py --split-by-framework   # fit on TensorRT-LLM points, report on other engines
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
import yaml

from common import SPLIT, is_test, load_rows, production_points, report, to_points  # noqa: I001
from inferonomics.catalog import get_catalog
from common import MIN_ENGINE_TRAIN_POINTS, engine_of  # noqa: I001
from inferonomics.perf.calibrate import (
    FAMILY_FACTORS, SHARED_FACTORS, errors, fit, fit_engine, predict_prepared, prepare, summary,
)

OUT = Path(__file__).resolve().parents[1] / "src" / "inferonomics" / "catalog" / "data" / "efficiency.yaml"

# Priors.  Compute: measured achievable matmul throughput / dense peak (MAMF, stas00/ml-engineering
# compute/accelerator/README.md @744d01e1, 2026-08-22): A100 86.9%, H100 BF16 80.3% / FP8 70.9%,
# B200 77.6%, MI300X 51.4%; no measurement for Ada and Ascend (0.6).  Others are assumptions.
MAMF_SOURCE = "https://github.com/stas00/ml-engineering/blob/744d01e1/compute/accelerator/README.md (MAMF table)"
PRIORS = {
    "ampere": 0.869, "hopper": 0.75, "blackwell": 0.776, "cdna3": 0.514, "ada": 0.6, "ascend": 0.6, "default": 0.6,
}
SHARED_PRIOR = {"step_overhead_s": 0.002, "layer_overhead_s": 2e-5, "prefill_layer_overhead_s": 5e-5,
                "moe_expert_eff": 0.7, "expert_load_cv": 0.3}
COMM_PRIOR = {"ada": 3e-5}  # PCIe all-reduce latency is higher than NVLink's


def priors_for(families):
    return {
        f: {
            "prefill_compute_eff": PRIORS.get(f, 0.6),
            "decode_compute_eff": PRIORS.get(f, 0.6) * 0.8,
            "memory_bw_eff": 0.8,
            "comm_latency_s": COMM_PRIOR.get(f, 1e-5),
            **SHARED_PRIOR,
        }
        for f in families
    }


def main(argv: list[str]) -> int:
    if "--split-by-framework" in argv:  # a harder hold-out: fit on TensorRT-LLM only, test on other engines
        SPLIT["mode"] = "framework"
        argv = [*argv, "--dry-run"]
    cat = get_catalog()
    points, _ = to_points(load_rows())
    if "--benchmarks-only" not in argv:
        points += production_points()[0]  # the production rows at a stated load (train split only is fitted)
    prep = prepare(cat, points)
    train = np.array([not is_test(p.id) for p in prep.points])
    pri = priors_for(prep.families)
    report(prep, predict_prepared(prep, pri), "Before fitting (priors)")
    fitted = fit(prep, pri, train=train)
    report(prep, predict_prepared(prep, fitted), "After fitting on the train split")
    n_train = int(train.sum())
    print("\nFitted factors:")
    for f in prep.families:
        print(f"  {f:10s} " + "  ".join(f"{k}={v:.4g}" for k, v in fitted[f].items()))
    engines = fit_engines(prep, fitted, train)
    if "--dry-run" in argv:
        return 0
    today = dt.date.today().isoformat()
    src = (f"fitted by validation/fit.py on the {n_train} train-split points of validation/measurements.yaml "
           f"and validation/production.yaml (least squares on log error, weak priors)")
    counts = {f: int(((prep.fam_index == i) & train).sum()) for i, f in enumerate(prep.families)}
    records = []
    existing = yaml.safe_load(OUT.read_text(encoding="utf-8")).get("efficiency", [])
    kept = {r["family"]: r for r in existing if r["family"] not in set(PRIORS) | set(prep.families)}
    all_fams = sorted(set(PRIORS) | set(prep.families) | set(kept))
    shared = fitted[prep.families[0]]
    for f in all_fams:
        if f in kept:  # a family this script has no prior for (added with its own stated prior): keep it,
            rec = dict(kept[f])  # refreshing only the engine factors shared by every family
            for n in SHARED_FACTORS:
                rec[n] = {"value": float(f"{shared[n]:.4g}"), "source": src, "date": today,
                          "note": "engine overhead shared by all families"}
            records.append(rec)
            continue
        rec = {"family": f}
        for n in FAMILY_FACTORS:
            if f in fitted and counts.get(f, 0) > 0:
                rec[n] = {"value": float(f"{fitted[f][n]:.4g}"), "source": src, "date": today,
                          "note": f"{counts[f]} train points on this family"}
            else:
                prior = priors_for([f])[f][n]
                why = ("no published measurement of this family in the validation set; prior from "
                       + (f"MAMF/peak, {MAMF_SOURCE}" if f in ("ampere", "hopper", "blackwell", "cdna3")
                          else "the range of measured families (MAMF/peak 0.51-0.87)"))
                rec[n] = {"value": float(f"{prior:.4g}"), "assumption": why}
        for n in SHARED_FACTORS:
            rec[n] = {"value": float(f"{shared[n]:.4g}"), "source": src, "date": today,
                      "note": "engine overhead shared by all families"}
        records.append(rec)
    header = (
        "# Efficiency factors of the performance model, per accelerator family (a handful, never per benchmark).\n"
        "# Written by validation/fit.py: fitted on the train split of validation/measurements.yaml; families\n"
        "# without measurements keep their priors (marked as assumptions).  Re-run the script after adding points.\n"
    )
    eng_records = []
    for eng, (prof, n_eng) in engines.items():
        esrc = (f"fitted by validation/fit.py on the {n_eng} train-split points measured with {eng} "
                "(family factors held at the shared fit; least squares on log error, weak priors)")
        rec = {"engine": eng}
        for n, v in prof.items():
            rec[n] = {"value": float(f"{v:.4g}"), "source": esrc, "date": today}
        eng_records.append(rec)
    doc = {"efficiency": records, "engines": eng_records}
    OUT.write_text(header + yaml.safe_dump(doc, sort_keys=False, width=110), encoding="utf-8")
    print(f"\nwrote {OUT}")
    return 0


def fit_engines(prep, fitted, train) -> dict:
    """Fit an efficiency profile for every engine with enough train points; report its held-out accuracy on
    that engine's test points against the shared fit."""
    eng = np.array([engine_of(p.id) or "" for p in prep.points])
    out = {}
    print("\nEngine profiles (family factors at the shared fit):")
    print(f"{'engine':8s} {'train':>5s} {'test':>5s} {'shared fit, test median/p90':>28s} {'profile, test median/p90':>25s}")
    for name in ("trtllm", "vllm", "sglang"):
        tr, te = train & (eng == name), ~train & (eng == name)
        if tr.sum() < MIN_ENGINE_TRAIN_POINTS:
            print(f"{name:8s} {int(tr.sum()):5d} {int(te.sum()):5d}   too few train points: not fitted")
            continue
        prof = fit_engine(prep, fitted, tr)
        base = summary(np.abs(errors(predict_prepared(prep, fitted), prep.measured)[te]))
        own = summary(np.abs(errors(predict_prepared(prep, fitted, prof), prep.measured)[te]))
        print(f"{name:8s} {int(tr.sum()):5d} {int(te.sum()):5d} {base['median']:14.1%} / {base['p90']:6.1%}"
              f" {own['median']:12.1%} / {own['p90']:6.1%}   "
              + "  ".join(f"{k}={v:.3g}" for k, v in prof.items()))
        out[name] = (prof, int(tr.sum()))
    return out


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
