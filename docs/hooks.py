"""mkdocs hooks: the assumption tables are generated from the catalog and the validation results from
``validation/`` at every build, so the site never disagrees with the code."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _md_table(rows: list[dict]) -> str:
    if not rows:
        return "_none_\n"
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(str(r[c]).replace("|", "/").replace("\n", " ") for c in cols) + " |")
    return "\n".join(out) + "\n"


def _prov(v) -> str:
    return f"assumption: {v.assumption}" if getattr(v, "assumption", None) else f"{v.source} ({v.date})"


def assumptions_md() -> str:
    sys.path.insert(0, str(ROOT / "src"))
    from inferonomics.catalog import get_catalog
    from inferonomics.present import number, unit_label

    cat = get_catalog()
    parts = ["# Assumptions (generated from the catalog)\n",
             "Every number the models use, with its source and date or the reason it is an assumption. "
             "Generated from `src/inferonomics/catalog/data/*.yaml` when the site is built.\n",
             "## Constants\n"]
    parts.append(_md_table([{"constant": f"`{k}`", "value": number(c.value), "unit": unit_label(c.unit),
                             "note": c.note or "", "source or assumption": _prov(c)}
                            for k, c in sorted(cat.constants.items())]))
    parts.append("\n## Accelerators\n")
    rows = []
    for slug, a in sorted(cat.accelerators.items()):
        for f in ("memory_gib", "memory_bw_gb_s", "tdp_w", "purchase_price_usd", "rental_usd_per_gpu_hour"):
            v = getattr(a, f, None)
            if v is not None:
                rows.append({"accelerator": slug, "field": f"`{f}`", "value": number(v.value),
                             "source or assumption": _prov(v)})
    parts.append(_md_table(rows))
    parts.append("\n## Regions\n")
    parts.append(_md_table([{"region": s, "electricity $/kWh": number(r.electricity_usd_per_kwh.value),
                             "PUE": number(r.pue.value), "source or assumption": _prov(r.electricity_usd_per_kwh)}
                            for s, r in sorted(cat.regions.items())]))
    parts.append("\n## Models\n")
    parts.append(_md_table([{"model": s, "config source": m.source, "date": m.date}
                            for s, m in sorted(cat.models.items())]))
    return "\n".join(parts)


def validation_md() -> str:
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(ROOT / "validation"))
    import numpy as np
    from common import is_test, load_rows, to_points  # type: ignore[import-not-found]
    from production import evaluate_rows  # type: ignore[import-not-found]
    from production import load_rows as load_production
    from validate import catalog_factors  # type: ignore[import-not-found]

    from inferonomics.catalog import get_catalog
    from inferonomics.perf.calibrate import predict_prepared, prepare

    cat = get_catalog()
    points, skipped = to_points(load_rows())
    prep = prepare(cat, points)
    pred = predict_prepared(prep, catalog_factors(cat, prep.families))
    err = pred / prep.measured - 1
    test = np.array([is_test(p.id) for p in prep.points])

    def summ(mask):
        a = np.abs(err[mask])
        return {"n": int(mask.sum()), "median abs. error": f"{np.median(a):.1%}",
                "p90 abs. error": f"{np.percentile(a, 90):.1%}"} if mask.any() else None

    rows = [{"split": n, **s} for n, m in (("test (never fitted)", test), ("train", ~test),
                                            ("all", np.ones_like(test))) if (s := summ(m))]
    pts = [{"point": p.id, "metric": p.metric.replace("_", " "), "measured": f"{p.measured:,.4g}",
            "predicted": f"{y:,.4g}", "error": f"{y / p.measured - 1:+.1%}",
            "split": "test" if is_test(p.id) else "train"} for p, y in zip(prep.points, pred, strict=True)]
    done, pskip = evaluate_rows(load_production())
    prod = [{"point": r["id"], "measured": f"{float(r['value']):,.4g}", "predicted": f"{y:,.4g}",
             "error": f"{e:+.1%}", "split": "test" if is_test(r["id"]) else "train"} for r, y, e in done]
    return "\n".join([
        "# Validation (generated from `validation/`)\n",
        "Predicted against published measurements, computed when the site is built "
        "(`validation/validate.py`, `validation/production.py`). Test points were never used to fit the "
        "efficiency factors.\n",
        f"## Published serving results: {len(prep.points)} usable points\n", _md_table(rows),
        "\n### Every point\n", _md_table(pts),
        f"\n## Production-style points (disaggregation, wide EP, MTP, prefix caching): {len(done)} points\n",
        _md_table(prod), f"\n{len(pskip)} production points skipped (conditions not modelled).\n",
    ])


GENERATED = {"assumptions.md": assumptions_md, "validation.md": validation_md}


def units_md() -> str:
    sys.path.insert(0, str(ROOT / "src"))
    from inferonomics.present import unit_label
    from inferonomics.quantity import UNITS

    return _md_table([{"unit": f"`{u}`", "meaning": m, "shown as": unit_label(u) or "(a plain number)"}
                      for u, m in UNITS.items()])


def on_page_markdown(markdown, page, config, files):
    """The units vocabulary table, from ``inferonomics.quantity.UNITS``."""
    return markdown.replace("<!-- units-vocabulary -->", units_md()) if "<!-- units-vocabulary -->" in markdown \
        else markdown


def on_page_read_source(page, config):
    fn = GENERATED.get(page.file.src_uri)
    return fn() if fn else None
