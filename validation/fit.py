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

from common import SPLIT, is_test, load_rows, report, to_points  # noqa: I001
from inferonomics.catalog import get_catalog
from inferonomics.perf.calibrate import FAMILY_FACTORS, SHARED_FACTORS, fit, predict_prepared, prepare

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
    if "--dry-run" in argv:
        return 0
    today = dt.date.today().isoformat()
    src = (f"fitted by validation/fit.py on the {n_train} train-split points of validation/measurements.yaml "
           f"(least squares on log error, weak priors)")
    counts = {f: int(((prep.fam_index == i) & train).sum()) for i, f in enumerate(prep.families)}
    records = []
    all_fams = sorted(set(PRIORS) | set(prep.families))
    shared = fitted[prep.families[0]]
    for f in all_fams:
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
    OUT.write_text(header + yaml.safe_dump({"efficiency": records}, sort_keys=False, width=110), encoding="utf-8")
    print(f"\nwrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
