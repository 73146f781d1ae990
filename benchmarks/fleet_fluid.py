"""Speed of the time-stepped engine: one week of a 10,000-GPU fleet at one-second resolution (target
< 30 s on one core).

Demand: per-second Poisson arrivals of a diurnal, weekly, bursty chat + API mix sized so that the fleet
peaks at about 10,000 GPUs (Llama-3.3-70B fp8 on 2xH100 replicas); an autoscaler with a 5-minute
provisioning delay.  Prints the time to draw the demand and to run the 604,800 steps.

    .venv/bin/python benchmarks/fleet_fluid.py [--days 7] [--gpus 10000]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--gpus", type=int, default=10_000)
    args = ap.parse_args()
    import numpy as np

    from inferonomics.fleet import fluid
    from inferonomics.fleet.demand import Tenant, expected_rates
    from inferonomics.fleet.policy import Autoscaler
    from inferonomics.fleet.replica import step_model

    m = step_model({"model": "llama-3.3-70b", "gpu": "h100-sxm", "gpus": 2, "weights": "fp8", "isl": 1500,
                    "osl": 200, "max_tpot_s": 0.05, "max_ttft_s": 2.0})
    curve = fluid.curve_from_step_model(m, 1500, 200)
    cap = curve.capacity_requests_per_s()
    # mean demand so that the peak (diurnal, bursts, longer API requests) needs about --gpus GPUs at 80% target
    replicas_peak = args.gpus / curve.gpus
    rate = replicas_peak * cap * 0.8 / 3.0
    ten = [Tenant("chat", "chat", 0.6, 1020, 0.9, 129, 0.9, diurnal_amplitude=0.6, utc_offset_h=-5),
           Tenant("api", "api", 0.4, 2000, 1.0, 250, 0.9, diurnal_amplitude=0.3, utc_offset_h=1, burst_factor=2.0,
                  mean_burst_s=120, mean_between_bursts_s=1800)]
    dur = args.days * 86400
    t0 = time.perf_counter()
    exp = expected_rates(ten, rate, dur, seed=1)
    counts = np.random.default_rng(2).poisson(exp).astype(float)
    mi = np.array([x.mean_input_tokens() for x in ten])[:, None]
    mo = np.array([x.mean_output_tokens() for x in ten])[:, None]
    dem = {"requests": counts.sum(0), "input_tokens": (counts * mi).sum(0), "output_tokens": (counts * mo).sum(0)}
    t1 = time.perf_counter()
    r = fluid.simulate(dem, curve, replicas=int(replicas_peak / 2),
                       autoscaler=Autoscaler(interval_s=60, provisioning_delay_s=300, min_replicas=100))
    t2 = time.perf_counter()
    print(f"demand: {len(counts[0]):,} seconds, {counts.sum():,.0f} requests, drawn in {t1 - t0:.2f} s")
    print(f"simulate: {t2 - t1:.2f} s for {len(counts[0]):,} one-second steps; target < 30 s")
    print(f"fleet: peak {r.peak_replicas * r.gpus_per_replica:,} GPUs, utilization {r.utilization:.1%}, "
          f"SLO met {r.slo_attainment:.1%}, {r.gpu_hours:,.0f} GPU-hours")


if __name__ == "__main__":
    main()
