"""Cost: $ per GPU-hour (rented or owned, every line item) and $ per million tokens."""

from inferonomics.cost.api import OwnershipAssumptions, cost, gpu_hour
from inferonomics.cost.tco import capital_recovery_factor, owned_usd_per_gpu_hour, usd_per_mtok

__all__ = [
    "OwnershipAssumptions",
    "cost",
    "gpu_hour",
    "capital_recovery_factor",
    "owned_usd_per_gpu_hour",
    "usd_per_mtok",
]
