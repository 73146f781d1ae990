"""Fleet simulation: demand traces and generators, replicas driven by the performance model, routing,
SLOs, autoscaling and backfill; an exact request-level engine and a time-stepped engine; the scale curve."""

from inferonomics.fleet.demand import Tenant, Trace, binned, generate, make_trace, read_trace
from inferonomics.fleet.policy import Autoscaler, FleetResult, Slo

__all__ = ["Autoscaler", "FleetResult", "Slo", "Tenant", "Trace", "binned", "generate", "make_trace", "read_trace"]
