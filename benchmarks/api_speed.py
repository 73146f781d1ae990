"""Speed of the performance model's Python API, with llm-analysis 0.2.2 timed in the same run.

* ``predict()``: one configuration, co-located (Llama-3.1-70B fp8 on 4x H100 SXM) and a production
  disaggregated one (DeepSeek-V3 on H200: EP8 prefill + EP16 decode, MTP, prefix cache).  Target <= 50 us.
  llm-analysis's ``infer()`` (Llama-2-70B W8A8 on 4x H100 SXM) is the yardstick.
* ``sweep()``: a Cartesian grid to a DataFrame, one row per configuration.  Target >= 500,000 configurations/s.
* ``frontier()`` over concurrency and ``pd_ratios()`` over prefill:decode mixes.  Target < 2 s.

Absolute times on shared machines vary 2-4x; compare the ratios.  ``pip install inferonomics[bench]``.

    python benchmarks/api_speed.py
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sys
import time

import numpy as np

from inferonomics.catalog import get_catalog
from inferonomics.perf.api import frontier, pd_ratios, predict, sweep

sys.path.insert(0, os.path.dirname(__file__))
from _reference import best_time_s, llm_analysis_predict_s, machine

CO = {"model": "llama-3.1-70b", "gpu": "h100-sxm", "gpus": 4, "weights": "fp8", "isl": 1024, "osl": 256,
      "concurrency": 64}
PD = {"model": "deepseek-v3", "gpu": "h200", "weights": "fp8", "isl": 2000, "osl": 1000, "prefill_gpus": 8,
      "decode_gpus": 16, "prefill_ep": 8, "ep": 16, "mtp_tokens": 1, "prefix_hit_rate": 0.5, "concurrency": 2048}
SWEEP = {"gpus": [1, 2, 4, 8], "tp": [1, 2, 4, 8], "weights": ["fp8", "bf16"],
         "concurrency": [float(c) for c in np.geomspace(1, 4096, 48)], "isl": [256, 1024, 4096, 16384],
         "osl": [128, 512, 2048], "prefix_hit_rate": [0.0, 0.5], "mtp_tokens": [0, 2]}


def _best_once(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    cat = get_catalog()
    print(machine())
    ref = llm_analysis_predict_s()
    ref_txt = f"; llm-analysis infer(): {ref * 1e6:,.0f} us" if ref else ""
    for name, kw in (("co-located", CO), ("disaggregated P/D + EP + MTP + prefix", PD)):
        t = best_time_s(lambda kw=kw: predict(catalog=cat, **kw), 2000)
        ratio = f" (llm-analysis takes {ref / t:.1f}x as long)" if ref else ""
        print(f"predict(), {name}: {t * 1e6:,.1f} us per call (target <= 50 us){ratio}{ref_txt}")

    t, df = _best_once(lambda: sweep(["llama-3.1-70b", "qwen3-30b-a3b"], ["h100-sxm", "h200"], catalog=cat, **SWEEP))
    n = len(df)
    print(f"sweep(): {n:,} configurations x {df.shape[1]} columns in {t:.2f} s -> {n / t:,.0f} configurations/s "
          f"(target >= 500,000; {int(df['fits'].sum()):,} fit)"
          + (f"; llm-analysis one infer() per configuration: {1 / ref:,.0f}/s" if ref else ""))
    del df

    t, df = _best_once(lambda: frontier("llama-3.1-70b", "h100-sxm", gpus=8, weights="fp8", catalog=cat))
    print(f"frontier() over concurrency: {t * 1e3:,.1f} ms ({len(df)} points)")
    for m in (8, 16):
        t, df = _best_once(lambda m=m: pd_ratios("deepseek-v3", "h200", prefill_ep=8, ep=16, max_instances=m,
                                                 max_tpot_s=0.05, weights="fp8", isl=2000, osl=1000, catalog=cat))
        print(f"pd_ratios() over {m}x{m} prefill:decode mixes x 16 concurrencies: {t * 1e3:,.1f} ms "
              f"(target < 2 s; best {df['prefill_gpus'].iloc[0]:.0f}P:{df['decode_gpus'].iloc[0]:.0f}D, "
              f"{df['output_tokens_per_s_per_gpu'].iloc[0]:,.0f} output tok/s/GPU)")


if __name__ == "__main__":
    main()
