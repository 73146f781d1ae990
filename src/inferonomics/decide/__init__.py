"""The buyer's decision: self-host on owned hardware, rent dedicated GPUs, or pay an API per token.

``breakeven(workload)`` sizes self-hosted deployments for the workload's peak within its latency target
(with the performance engine), prices every option month by month over a horizon, and returns the
monthly and cumulative costs, cost per million tokens, NPV, break-even month and volume, and a
recommendation with the inputs that would flip it.  ``uncertainty(workload)`` samples the workload's
distributions: P(owning beats the best acceptable API), the NPV fan and a tornado.  ``prices`` holds the
API price catalog queries.
"""

from inferonomics.decide.api import Decision, breakeven
from inferonomics.decide.engine import Levers, evaluate, prepare
from inferonomics.decide.prices import latest_prices, price_history, price_records
from inferonomics.decide.uncertainty import Uncertainty, uncertainty
from inferonomics.decide.workload import Workload, WorkloadError, builtin_names, load_workload, with_overrides

__all__ = [
    "Decision",
    "Levers",
    "Uncertainty",
    "Workload",
    "WorkloadError",
    "breakeven",
    "builtin_names",
    "evaluate",
    "latest_prices",
    "load_workload",
    "prepare",
    "price_history",
    "price_records",
    "uncertainty",
    "with_overrides",
]
