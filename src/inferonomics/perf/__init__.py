"""Analytic, vectorized performance model: FLOPs and bytes per layer on a calibrated roofline."""

from inferonomics.perf.api import Deployment, frontier, predict, sweep
from inferonomics.perf.arch import (
    active_params,
    arch_columns,
    kv_bytes_per_sequence,
    kv_bytes_per_token,
    total_params,
)
from inferonomics.perf.kernel import DEPRECATED_OUTPUTS, OUTPUTS, evaluate

__all__ = [
    "Deployment",
    "predict",
    "sweep",
    "frontier",
    "evaluate",
    "OUTPUTS",
    "DEPRECATED_OUTPUTS",
    "arch_columns",
    "total_params",
    "active_params",
    "kv_bytes_per_token",
    "kv_bytes_per_sequence",
]
