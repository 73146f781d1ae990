"""llm-analysis 0.2.2 (https://github.com/cli99/llm-analysis, PyPI ``llm-analysis==0.2.2``) as a yardstick
timed in the same run as our figures: absolute times on shared machines vary 2-4x, ratios much less.

Its one-call API is ``llm_analysis.analysis.infer(model_name, gpu_name, dtype_name, ...)`` (looks the
model, GPU and data type up by name, builds an ``LLMAnalysis`` and runs ``inference()``), the closest
counterpart of our ``predict()``.  The configuration: Llama-2-70B on an H100 SXM, W8A8, TP 4, batch 16
per GPU, 1024 input and 256 output tokens.  Install with ``pip install inferonomics[bench]``."""

from __future__ import annotations

import logging
import time

CONFIG = {
    "model_name": "upstage_Llama-2-70b-instruct-v2", "gpu_name": "h100-sxm-80gb", "dtype_name": "w8a8e16",
    "tp_size": 4, "batch_size_per_gpu": 16, "seq_len": 1024, "num_tokens_to_generate": 256, "log_level": "ERROR",
}


def _infer():
    try:
        from llm_analysis.analysis import infer
    except ImportError:
        print("llm-analysis is not installed (pip install 'inferonomics[bench]'): no yardstick in this run")
        return None
    logging.getLogger("llm_analysis").setLevel(logging.ERROR)
    return infer


def machine() -> str:
    """Cores and load: timings on a loaded shared machine are slower, the memory-bound kernel most."""
    import os

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"machine: {os.cpu_count()} CPUs, load average {load} (1, 5, 15 min)"


def best_time_s(fn, number: int, repeat: int = 5) -> float:
    """Best of ``repeat`` runs of ``number`` calls, per call."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def llm_analysis_predict_s(number: int = 200) -> float | None:
    """Seconds per single prediction of llm-analysis's ``infer()``."""
    infer = _infer()
    if infer is None:
        return None
    return best_time_s(lambda: infer(**CONFIG), number)


def llm_analysis_rate(number: int = 200) -> float | None:
    """Configurations per second of llm-analysis (one ``infer()`` call each: it has no batch API)."""
    t = llm_analysis_predict_s(number)
    return None if t is None else 1.0 / t
