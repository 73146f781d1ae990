"""llama.cpp engine profile: fit and held-out accuracy of single-user decoding on workstation and edge devices.

Data: llama-bench token generation (``tg128``, batch 1, all layers on the GPU) for Llama-2 7B Q4_0 from
llama.cpp's own scoreboards -- Discussion #15013 (CUDA,
https://github.com/ggml-org/llama.cpp/discussions/15013) and Discussion #4167 (Apple silicon,
https://github.com/ggml-org/llama.cpp/discussions/4167) -- as tabulated in a public survey of local inference
engines (2026-07), whose tables were not re-checked against the discussion pages in this pass.  Only
devices in the catalog are used: n = 10, split 5 train / 5 test, alternating by vendor and bandwidth so each
side has CUDA and Apple devices.

Model of a decode step at concurrency 1 (the perf kernel, engine ``llama.cpp``): weights and KV bytes over
(memory bandwidth x ``memory_bw_eff``) plus a per-step overhead ``step_overhead_s``; llama.cpp launches the
whole graph at once (CUDA graphs, one Metal command buffer), so the per-layer overhead is 0.  The two factors
are fitted on the train split by least squares on log error; the test split is reported, never fitted.

Run: ``python validation/llamacpp.py`` (prints the fit, the errors, and the YAML block for efficiency.yaml).
"""

from __future__ import annotations

import dataclasses

import numpy as np

SOURCE = ("llama.cpp scoreboards, Discussions #15013 (CUDA) and #4167 (Apple silicon), Llama-2 7B Q4_0 llama-bench "
          "tg128, as tabulated in a public survey of local inference engines")
DATE = "2026-07"

# device slug -> measured tokens/s (tg128), split
POINTS = [
    ("rtx-4090", 189.0, "train"),
    ("rtx-5090", 300.4, "test"),
    ("rtx-3090", 158.2, "train"),
    ("rtx-pro-6000", 281.1, "test"),
    ("dgx-spark", 57.2, "train"),
    ("jetson-agx-orin-64gb", 33.6, "test"),
    ("apple-m2-ultra", 94.3, "train"),
    ("apple-m3-ultra", 92.1, "test"),
    ("apple-m4-pro", 50.7, "train"),
    ("apple-m4-max", 83.1, "test"),
]
MODEL, WEIGHTS, ISL, OSL = "llama-2-7b", "q4_0", 512, 128


def _catalog_with(cat, mem_eff: float, step_s: float):
    from inferonomics.catalog.schema import EngineProfile

    prof = EngineProfile(
        engine="llama.cpp",
        compute_eff_scale={"value": 1.0, "assumption": "fit"},
        step_overhead_s={"value": step_s, "assumption": "fit"},
        layer_overhead_s={"value": 0.0, "assumption": "fit"},
        memory_bw_eff={"value": mem_eff, "assumption": "fit"},
    )
    return dataclasses.replace(cat, engines={**cat.engines, "llama.cpp": prof})


def predict_tg(cat, gpu: str) -> float:
    from inferonomics.perf import predict

    r = predict(MODEL, gpu, weights=WEIGHTS, isl=ISL, osl=OSL, concurrency=1, engine="llama.cpp", catalog=cat)
    return 1.0 / r["tpot_s"]


def fit():
    from scipy.optimize import least_squares

    from inferonomics.catalog import get_catalog

    base = get_catalog()
    train = [(g, m) for g, m, s in POINTS if s == "train"]

    def resid(x):
        cat = _catalog_with(base, x[0], x[1] * 1e-3)
        return [np.log(predict_tg(cat, g) / m) for g, m in train]

    sol = least_squares(resid, x0=[0.7, 0.5], bounds=([0.2, 0.0], [1.0, 5.0]))
    return float(sol.x[0]), float(sol.x[1] * 1e-3)


def errors(cat) -> list[tuple[str, str, float, float, float]]:
    out = []
    for g, m, split in POINTS:
        p = predict_tg(cat, g)
        out.append((g, split, m, p, p / m - 1))
    return out


def main() -> None:
    from inferonomics.catalog import get_catalog

    eff, step = fit()
    print(f"fitted on {sum(s == 'train' for *_, s in POINTS)} train points: memory_bw_eff={eff:.4f} "
          f"step_overhead_s={step:.3g}")
    cat = get_catalog()
    if cat.engine_profile("llama.cpp") is None:
        cat = _catalog_with(cat, eff, step)
    rows = errors(cat)
    for g, split, m, p, e in rows:
        print(f"{g:22s} {split:5s} measured {m:6.1f}  predicted {p:6.1f}  error {e * 100:+6.1f}%")
    for split in ("train", "test"):
        errs = [abs(e) for _, s, _, _, e in rows if s == split]
        print(f"{split}: n={len(errs)} median |error| {np.median(errs) * 100:.1f}%  max {np.max(errs) * 100:.1f}%")


if __name__ == "__main__":
    main()
