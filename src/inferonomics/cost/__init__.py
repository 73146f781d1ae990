"""Cost: $ per GPU-hour (rented or owned, every line item) and $ per million tokens."""

from inferonomics.cost.api import OwnershipAssumptions, cost, gpu_hour
from inferonomics.cost.tco import capital_recovery_factor, owned_usd_per_gpu_hour, usd_per_mtok

__all__ = [
    "OwnershipAssumptions",
    "capital_recovery_factor",
    "cost",
    "gpu_hour",
    "owned_usd_per_gpu_hour",
    "usd_per_mtok",
]
