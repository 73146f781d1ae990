"""Fleet policies shared by both engines: SLOs, router, autoscaler, backfill, and the run's results."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from inferonomics.errors import InputError

ROUTERS = ("least-loaded", "prefix-affinity")


@dataclass(frozen=True)
class Slo:
    max_ttft_s: float | None = 2.0
    max_tpot_s: float | None = 0.05


@dataclass(frozen=True)
class Autoscaler:
    """Target-utilization autoscaler: every ``interval_s`` it sets the replica count to the work that
    arrived in the last interval (interactive requests in mean-request equivalents) over
    ``target_utilization`` of one replica's capacity at its SLO operating point,
    within ``[min_replicas, max_replicas]``.  New replicas serve after ``provisioning_delay_s``; removed
    replicas finish what they hold (the request-level engine) and stop being paid for then."""

    enabled: bool = True
    interval_s: float = 60.0
    target_utilization: float = 0.8
    provisioning_delay_s: float = 300.0
    min_replicas: int = 1
    max_replicas: int = 1_000_000
    scale_down_delay_s: float = 600.0

    def desired(self, arrivals_per_s: float, capacity_requests_per_s: float) -> int:
        need = math.ceil(arrivals_per_s / max(capacity_requests_per_s * self.target_utilization, 1e-12) - 1e-9)
        return int(min(max(need, self.min_replicas), self.max_replicas))


def check_autoscaler(a: Autoscaler) -> None:
    if not (0 < a.target_utilization <= 1):
        raise InputError("autoscaler.target_utilization", a.target_utilization, "must be above 0 and at most 1")
    if a.interval_s <= 0:
        raise InputError("autoscaler.interval_s", a.interval_s, "must be above 0 seconds")
    if a.provisioning_delay_s < 0:
        raise InputError("autoscaler.provisioning_delay_s", a.provisioning_delay_s, "must be 0 or more seconds")
    if a.min_replicas < 1 or a.max_replicas < a.min_replicas:
        raise InputError("autoscaler.min_replicas", a.min_replicas, "must be at least 1 and at most max_replicas")


@dataclass
class FleetResult:
    """What one run of either engine measured.  Times in seconds, money in USD."""

    engine: str
    duration_s: float
    requests: int
    batch_requests: int
    served_tokens: float
    served_output_tokens: float
    batch_tokens: float
    gpu_seconds: float
    served_requests: float  # interactive requests completed
    served_batch_requests: float
    served_work: float  # interactive work done, in mean-request equivalents (see fluid.ServiceCurve)
    served_batch_work: float
    capacity_requests_per_s: float  # one replica at its operating point, at the run's mean lengths
    slot_occupancy: float  # mean share of the replicas' sequence slots in use
    replica_seconds: float
    peak_replicas: int
    gpus_per_replica: int
    slo_attainment: float
    ttft_p50_s: float
    ttft_p99_s: float
    tpot_p50_s: float
    tpot_p99_s: float
    mean_wait_s: float
    prefix_hit_rate: float
    usd_per_gpu_hour: float = float("nan")
    extra: dict = field(default_factory=dict)

    @property
    def utilization(self) -> float:
        """Delivered work over the provisioned replicas' capacity at their SLO operating point,
        interactive and backfilled batch together (the utilization a $/GPU-hour is spread over)."""
        cap = self.replica_seconds * self.capacity_requests_per_s
        return (self.served_work + self.served_batch_work) / cap if cap else 0.0

    @property
    def interactive_utilization(self) -> float:
        cap = self.replica_seconds * self.capacity_requests_per_s
        return self.served_work / cap if cap else 0.0

    @property
    def gpu_hours(self) -> float:
        return self.gpu_seconds / 3600.0

    @property
    def idle_gpu_hours(self) -> float:
        """GPU-hours left idle by interactive traffic (before backfill)."""
        return self.gpu_hours * (1.0 - self.interactive_utilization)

    @property
    def backfilled_gpu_hours(self) -> float:
        return self.gpu_hours * max(self.utilization - self.interactive_utilization, 0.0)

    @property
    def cost_usd(self) -> float:
        return self.gpu_hours * self.usd_per_gpu_hour

    @property
    def usd_per_mtok(self) -> float:
        """Delivered $ per million tokens (input + output, interactive + backfilled batch)."""
        return self.cost_usd / (self.served_tokens / 1e6) if self.served_tokens else float("nan")

    def summary(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "extra"}
        d.update(
            utilization=self.utilization, interactive_utilization=self.interactive_utilization,
            gpu_hours=self.gpu_hours, idle_gpu_hours=self.idle_gpu_hours,
            backfilled_gpu_hours=self.backfilled_gpu_hours, cost_usd=self.cost_usd,
            usd_per_mtok=self.usd_per_mtok, **self.extra,
        )
        return d
