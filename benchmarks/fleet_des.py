"""Speed of the exact request-level simulator: 1,000,000 requests (target < 60 s on one core).

A diurnal chat + API mix with shared prefixes, Llama-3.1-8B replicas on H100 (step times from the perf
engine), an autoscaler with a provisioning delay.  Prints the trace generation time, the simulation time,
requests per second of wall time, and what the fleet did; then the same trace through prefill/decode-
disaggregated units (one prefill and one decode H100 each: the tandem of ``fleet.disagg``).

    .venv/bin/python benchmarks/fleet_des.py [--requests 1000000] [--seed 0]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import numpy as np

    from inferonomics.fleet import des
    from inferonomics.fleet.demand import Tenant, generate
    from inferonomics.fleet.policy import Autoscaler
    from inferonomics.fleet.replica import step_model

    ten = [Tenant("chat", "chat", 0.7, 1000, 0.7, 200, 0.7, diurnal_amplitude=0.6, utc_offset_h=-5, prefixes=20,
                  prefix_tokens=500),
           Tenant("api", "api", 0.3, 2000, 0.7, 100, 0.7, diurnal_amplitude=0.3, utc_offset_h=1, prefixes=500,
                  prefix_tokens=800)]
    rate = 50.0
    t0 = time.perf_counter()
    tr = generate(ten, rate, 1.3 * args.requests / rate, start_s=8 * 3600, seed=args.seed)
    tr = tr.select(np.arange(len(tr)) < args.requests)  # exactly --requests (the diurnal shape varies the count)
    t1 = time.perf_counter()
    m = step_model({"model": "llama-3.1-8b", "gpu": "h100-sxm", "isl": int(tr.input_tokens.mean()),
                    "osl": int(tr.output_tokens.mean()), "max_tpot_s": 0.05, "max_ttft_s": 2.0})
    t2 = time.perf_counter()
    r = des.simulate(tr, m, replicas=4, autoscaler=Autoscaler(interval_s=60, provisioning_delay_s=120, min_replicas=2),
                     router="prefix-affinity")
    t3 = time.perf_counter()
    print(f"trace: {len(tr):,} requests over {tr.duration_s / 3600:.1f} h generated in {t1 - t0:.2f} s; "
          f"step model in {t2 - t1:.2f} s")
    print(f"simulate: {t3 - t2:.2f} s ({len(tr) / (t3 - t2):,.0f} requests/s); target < 60 s for 1,000,000")
    print(f"fleet: peak {r.peak_replicas} replicas, utilization {r.utilization:.1%}, SLO met {r.slo_attainment:.1%}, "
          f"prefix hits {r.prefix_hit_rate:.1%}, TTFT p99 {r.ttft_p99_s:.3f} s, TPOT p99 {r.tpot_p99_s:.4f} s")

    from inferonomics.fleet import disagg

    # the same trace through prefill/decode units of one prefill and one decode H100
    dep = {"model": "llama-3.1-8b", "gpu": "h100-sxm", "gpus": 2, "prefill_gpus": 1, "decode_gpus": 1,
           "isl": int(tr.input_tokens.mean()), "osl": int(tr.output_tokens.mean()), "max_tpot_s": 0.05,
           "max_ttft_s": 2.0}
    t4 = time.perf_counter()
    d = disagg.simulate(tr, disagg.disagg_model(dep), units=2, router="prefix-affinity",
                        autoscaler=Autoscaler(interval_s=60, provisioning_delay_s=120, min_replicas=1))
    t5 = time.perf_counter()
    print(f"disaggregated: {t5 - t4:.2f} s with the unit's models ({len(tr) / (t5 - t4):,.0f} requests/s, both "
          f"stages); peak {d.peak_replicas} P+D units, utilization {d.utilization:.1%}, SLO met {d.slo_attainment:.1%}, "
          f"TTFT p99 {d.ttft_p99_s:.3f} s, TPOT p99 {d.tpot_p99_s:.4f} s")

if __name__ == "__main__":
    main()
