"""Predicted against measured: every usable published point, with median and p90 absolute error.

    python validation/validate.py            # table of every point + summary by group and split
    python validation/validate.py --summary  # summary only

The efficiency factors used are the catalog's (fitted by validation/fit.py on the 'train' split only);
'test' rows were never used for fitting.
"""

from __future__ import annotations

import sys

import numpy as np

from common import is_test, load_rows, report, to_points  # noqa: I001
from inferonomics.catalog import get_catalog
from inferonomics.perf.calibrate import FAMILY_FACTORS, SHARED_FACTORS, predict_prepared, prepare


def catalog_factors(cat, families):
    out = {}
    for f in families:
        e = cat.efficiency_for(f)
        out[f] = {n: getattr(e, n).value if getattr(e, n) is not None else 0.0 for n in FAMILY_FACTORS + SHARED_FACTORS}
    return out


def main(argv: list[str]) -> int:
    cat = get_catalog()
    rows = load_rows()
    points, skipped = to_points(rows)
    prep = prepare(cat, points)
    pred = predict_prepared(prep, catalog_factors(cat, prep.families))
    if "--summary" not in argv:
        print(f"{'id':70s} {'metric':30s} {'measured':>11s} {'predicted':>11s} {'error':>7s} split")
        for p, y in zip(prep.points, pred, strict=True):
            e = y / p.measured - 1
            print(f"{p.id[:70]:70s} {p.metric:30s} {p.measured:11.4g} {y:11.4g} {e:+7.1%} "
                  f"{'test' if is_test(p.id) else 'train'}")
    print(f"\n{len(rows)} published points; {len(prep.points)} usable; "
          f"{len(skipped) + len(prep.rejected)} skipped:")
    for r, why in skipped:
        print(f"  - {r['id']}: {why}")
    for p, why in prep.rejected:
        print(f"  - {p.id}: {why}")
    report(prep, pred, "Accuracy with the catalog's efficiency factors")
    worst = np.argsort(-np.abs(pred / prep.measured - 1))[:8]
    print("\nLargest misses:")
    for i in worst:
        p = prep.points[i]
        print(f"  {pred[i] / p.measured - 1:+.0%}  {p.id} ({p.metric})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
