"""Shared by validate.py and fit.py: load measured points, split train/test, print accuracy."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import yaml

from inferonomics.errors import InferonomicsError
from inferonomics.perf.api import Deployment
from inferonomics.perf.calibrate import Point

HERE = Path(__file__).resolve().parent
MEASUREMENTS = HERE / "measurements.yaml"
SPECULATIVE = ("mtp", "speculative", "medusa", "eagle", "draft model")


def load_rows(path: Path = MEASUREMENTS) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["measurements"]


def to_points(rows: list[dict]) -> tuple[list[Point], list[tuple[dict, str]]]:
    points, skipped = [], []
    for r in rows:
        text = (r["id"] + " " + str(r.get("notes", ""))).lower()
        missing = [k for k in ("isl", "osl", "tp", "gpus", "weights") if r.get(k) is None]
        if missing:
            skipped.append((r, f"conditions not stated: {', '.join(missing)}"))
            continue
        if any(w in text for w in SPECULATIVE) and r["kind"] == "batch1":
            skipped.append((r, "speculative decoding with an unstated acceptance rate"))
            continue
        conc = {"max_throughput": None, "batch1": 1.0}.get(r["kind"], r.get("concurrency"))
        if r["kind"] == "fixed_concurrency" and conc is None:
            skipped.append((r, "fixed concurrency without a concurrency"))
            continue
        static = "static batch" in text or "static inference" in text or "benchmark_latency" in text
        d = Deployment(
            model=r["model"], gpu=r["accelerator"], gpus=int(r["gpus"]), tp=int(r["tp"]), pp=int(r.get("pp") or 1),
            ep=int(r.get("ep") or 1), weights=r["weights"], kv=r.get("kv"), isl=int(r["isl"]), osl=int(r["osl"]),
            concurrency=None if conc is None else float(conc),
            scheduler=r.get("scheduler") or ("static" if static else "continuous"),
        )
        points.append(Point(d, r["metric"], float(r["value"]), r["id"], r["kind"]))
        FRAMEWORK[r["id"]] = str(r.get("framework") or "")
    return points, skipped


def production_points() -> tuple[list[Point], list[tuple[dict, str]]]:
    """Production rows (production.yaml) usable for fitting: those at a stated load (a batch, a concurrency or
    a pool's capacity); rows whose load is set by a latency target are predicted by production.py only."""
    from production import deployment, load_rows as load_production

    points, skipped = [], []
    for r in load_production():
        try:
            kw, out = deployment(r)
        except ValueError as exc:
            skipped.append((r, str(exc)))
            continue
        if "max_tpot_s" in kw or "max_ttft_s" in kw:
            skipped.append((r, "load set by a latency target"))
            continue
        try:  # rows the model cannot serve as stated (unknown slug, does not fit) are not fitted on
            from inferonomics.perf import predict

            predict(r["model"], r["accelerator"], **kw)
        except InferonomicsError as exc:
            skipped.append((r, str(exc)))
            continue
        d = Deployment(model=r["model"], gpu=r["accelerator"], **kw)
        points.append(Point(d, out, float(r["value"]), r["id"], "production"))
        FRAMEWORK[r["id"]] = str(r.get("framework") or "")
    return points, skipped


SPLIT = {"mode": "hash"}  # "hash": one point in three by id; "framework": fit on TensorRT-LLM, test on the rest
FRAMEWORK: dict[str, str] = {}


# Engine profiles (`--engine`) and how a measurement's framework names them.
ENGINE_OF = {"trtllm": ("tensorrt-llm",), "vllm": ("vllm",), "sglang": ("sglang",)}
MIN_ENGINE_TRAIN_POINTS = 8


def engine_of(point_id: str) -> str | None:
    fw = FRAMEWORK.get(point_id, "").lower()
    for eng, keys in ENGINE_OF.items():
        if any(fw.startswith(k) or f"({k}" in fw for k in keys):
            return eng
    return None


def is_test(point_id: str) -> bool:
    """Deterministic hold-out, never used for fitting: one point in three by a hash of its id, or (with
    ``SPLIT["mode"] = "framework"``) every point not measured with TensorRT-LLM."""
    if SPLIT["mode"] == "framework":
        return "tensorrt" not in FRAMEWORK.get(point_id, "").lower()
    return zlib.crc32(point_id.encode()) % 3 == 0


def group(p: Point) -> str:
    if p.kind == "production":
        return "production"
    if p.kind == "max_throughput":
        return "max-load throughput"
    if p.kind == "batch1":
        return "batch-1 latency"
    return "fixed concurrency"


def report(prep, pred, title: str) -> dict:
    from inferonomics.perf.calibrate import errors, summary

    err = errors(pred, prep.measured)
    groups = np.array([group(p) for p in prep.points])
    test = np.array([is_test(p.id) for p in prep.points])
    out = {}
    print(f"\n{title}")
    print(f"{'group':24s} {'split':6s} {'n':>4s} {'median |err|':>13s} {'p90 |err|':>10s}")
    for g in ["max-load throughput", "batch-1 latency", "fixed concurrency", "production", "all"]:
        for split, mask in (("test", test), ("train", ~test), ("all", np.ones_like(test))):
            sel = mask & ((groups == g) if g != "all" else True)
            s = summary(np.abs(err[sel]))
            out[(g, split)] = s
            if s["n"]:
                print(f"{g:24s} {split:6s} {s['n']:4d} {s['median']:13.1%} {s['p90']:10.1%}")
    return out
