"""Predict every production point of validation/production.yaml with the perf model and report the error.

    python validation/production.py            # every row: measured, predicted, error, split, or why skipped
    python validation/production.py --summary  # accuracy by split only

Each row is modelled with the conditions it states (disaggregated pools, EP widths, redundant experts,
two-batch overlap, prefix-cache hit rate, MTP draft tokens and acceptance).  Where the source states a
per-user speed or a TPOT target but no batch, the operating point is the highest-throughput load that meets
it.  A figure about one pool of a disaggregated system (role prefill or decode) is compared with that pool's
figure: decode rows with the other pool sized not to bind (when the source does not give it), prefill rows
with the prefill pool's capacity.  Rows whose model or accelerator is not in the catalog, or whose lengths
are not stated, are listed as skipped.  The split is the same hash split as validate.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import yaml

from common import is_test  # noqa: I001
from inferonomics.catalog import get_catalog
from inferonomics.errors import InferonomicsError
from inferonomics.perf import predict
from inferonomics.perf.calibrate import summary

HERE = Path(__file__).resolve().parent
PRODUCTION = HERE / "production.yaml"

# The pool figure each row's metric is compared with.
POOL_METRIC = {
    ("decode", "output_tokens_per_s_per_gpu"): "decode_capacity_output_tokens_per_s_per_gpu",
    ("prefill", "input_tokens_per_s_per_gpu"): "prefill_capacity_input_tokens_per_s_per_gpu",
}


def load_rows(path: Path = PRODUCTION) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["measurements"]


def deployment(r: dict) -> tuple[dict, str]:
    """predict() keyword arguments for a row and the output to compare, or raise ValueError(why skipped)."""
    role, mode = r.get("role"), r.get("mode")
    if r.get("isl") is None or (r.get("osl") is None and role == "system"):
        raise ValueError("request lengths not stated")
    # a pool's own figure does not depend on the other phase's length: a decode pool at a stated KV length
    # decodes at that context; a prefill pool does not decode
    osl = r.get("osl") or 1
    kw: dict = dict(
        weights=r["weights"], kv=r.get("kv"), isl=int(r["isl"]), osl=int(osl),
        prefix_hit_rate=float(r.get("prefix_hit_rate") or 0.0), mtp_tokens=int(r.get("mtp_tokens") or 0),
        mtp_accept_rate=r.get("mtp_accept_rate"), redundant_experts=int(r.get("redundant_experts") or 0),
    )
    if r.get("two_batch_overlap") is not None:
        kw["tbo"] = bool(r["two_batch_overlap"])
    if kw["mtp_tokens"] and kw["mtp_accept_rate"] is None:
        raise ValueError("MTP acceptance not stated")
    metric = r["metric"]
    if r.get("gpus") is None:
        raise ValueError("GPU count not stated")
    unit_gpus = int(r["gpus"])
    if mode == "disaggregated" and role in ("decode", "prefill", "system"):
        dg = r.get("decode_gpus") or (unit_gpus if role == "decode" else None)
        pg = r.get("prefill_gpus") or (unit_gpus if role == "prefill" else None)
        dep, pep = r.get("decode_ep") or (r.get("ep") if role == "decode" else 1) or 1, r.get("prefill_ep") or 1
        dtp, ptp = r.get("decode_tp") or (1 if dep > 1 else None), r.get("prefill_tp") or (1 if pep > 1 else None)
        if role == "decode" and pg is None:
            pg, pep, ptp = dg, dep, dtp  # the decode pool's capacity is compared; the prefill pool is moot
        if role == "prefill":
            dg = dg or pg
        if pg is None or dg is None:
            raise ValueError("pool sizes not stated")
        kw.update(prefill_gpus=int(pg), decode_gpus=int(dg), prefill_ep=int(pep), ep=int(dep))
        if ptp:
            kw["prefill_tp"] = int(ptp)
        if dtp:
            kw["tp"] = int(dtp)
        out = POOL_METRIC.get((role, metric), metric)
        conc_gpus = int(dg)
    else:
        kw.update(gpus=unit_gpus, ep=int(r.get("ep") or 1), pp=int(r.get("pp") or 1))
        if r.get("tp"):
            kw["tp"] = int(r["tp"])
        out = metric
        conc_gpus = unit_gpus
    if metric == "input_tokens_per_s_per_gpu" and out == metric:
        raise ValueError("per-GPU input rate of a co-located system")
    conc = r.get("concurrency")
    if conc is None and r.get("batch_per_gpu") is not None:
        conc = float(r["batch_per_gpu"]) * conc_gpus
    tpot = r.get("max_tpot_s")
    if tpot is None and r.get("tokens_per_s_per_user"):
        tpot = 1.0 / float(r["tokens_per_s_per_user"])
    if conc is not None:
        kw["concurrency"] = float(conc)
    elif tpot is not None:
        kw["max_tpot_s"] = float(tpot)
    if r.get("max_ttft_s") is not None and "concurrency" not in kw:
        kw["max_ttft_s"] = float(r["max_ttft_s"])
    return kw, out


def evaluate_rows(rows: list[dict]):
    cat = get_catalog()
    done, skipped = [], []
    for r in rows:
        try:
            kw, out = deployment(r)
            p = predict(r["model"], r["accelerator"], catalog=cat, **kw)
        except (ValueError, InferonomicsError) as exc:
            skipped.append((r, str(exc)))
            continue
        pred = p[out] if out in p else None
        if pred is None:
            skipped.append((r, f"metric {out} not predicted"))
            continue
        done.append((r, float(pred), float(pred) / float(r["value"]) - 1.0))
    return done, skipped


def main(argv: list[str]) -> int:
    done, skipped = evaluate_rows(load_rows())
    if "--summary" not in argv:
        print(f"{'id':64s} {'split':5s} {'measured':>11s} {'predicted':>11s} {'error':>7s}")
        for r, pred, err in done:
            split = "test" if is_test(r["id"]) else "train"
            print(f"{r['id'][:64]:64s} {split:5s} {r['value']:11.4g} {pred:11.4g} {err:+7.0%}")
        print(f"\nskipped {len(skipped)}:")
        for r, why in skipped:
            print(f"  {r['id']}: {why}")
    err = np.array([e for _, _, e in done])
    test = np.array([is_test(r["id"]) for r, _, _ in done])
    print("\nProduction points")
    print(f"{'split':6s} {'n':>4s} {'median |err|':>13s} {'p90 |err|':>10s}")
    for name, mask in (("test", test), ("train", ~test), ("all", np.ones_like(test))):
        s = summary(np.abs(err[mask])) if mask.any() else {"n": 0}
        if s["n"]:
            print(f"{name:6s} {s['n']:4d} {s['median']:13.1%} {s['p90']:10.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
