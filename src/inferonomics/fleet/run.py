"""Run a fleet scenario with either engine, price it, and trace the scale curve ($/Mtok against volume).

The scale curve runs the scenario at each daily token volume and splits the delivered $/Mtok above its
floor (every replica at its SLO operating point with the best cache hit rate of the sweep) into:

* **caching**: a prefix cache that is colder at this volume (fewer repeats of each prefix within the
  cache lifetime) leaves more prompt tokens to prefill;
* **batching**: capacity the fleet cannot fill even with perfectly flat demand (a run on constant
  expected arrival rates: no diurnal or weekly shape, no Poisson noise, no bursts): whole replicas and
  the minimum fleet weigh more on a small fleet, and the autoscaler's target headroom stays at any size;
* **multiplexing**: what the variability of demand costs on top (the actual run against the flat one):
  peaks of the day and week, bursts and Poisson noise that the mix of tenants and time zones does not
  cancel.  Poisson noise shrinks relative to volume; peaks shared by all tenants do not.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from inferonomics.errors import InputError
from inferonomics.fleet import demand as D
from inferonomics.fleet.policy import Autoscaler, FleetResult
from inferonomics.fleet.scenario import FleetScenario, PoolSpec

ENGINES = ("auto", "des", "fluid")
DES_MAX_REQUESTS = 2_000_000


def usd_per_gpu_hour(scn: FleetScenario | None, gpu: str, utilization: float) -> float:
    """The one call into the cost layer: $ per GPU-hour rented or owned at this utilization (the
    scenario's region and terms; without a scenario, rented at the catalog price in us-average)."""
    from inferonomics.cost import gpu_hour

    u = float(min(max(utilization, 1e-6), 1.0))
    if scn is None:
        return float(gpu_hour(gpu, utilization=u)["usd_per_gpu_hour"])
    r = gpu_hour(gpu, region=scn.region, utilization=u, rent_usd_per_gpu_hour=scn.rent_usd_per_gpu_hour, own=scn.own)
    return float(r["usd_per_gpu_hour"])


def _tenants(pool: PoolSpec, no_prefix: bool = False) -> list[D.Tenant]:
    out = []
    for t in pool.tenants:
        x = t.tenant()
        if no_prefix:
            x = replace(x, prefixes=0, prefix_tokens=0.0)
        out.append(x)
    return out


def tenant_rates(tenants: list[D.Tenant], daily_tokens: float) -> np.ndarray:
    """Mean requests per second of each tenant from its share of the daily tokens."""
    mean_tok = np.array([x.mean_input_tokens() + x.mean_output_tokens() for x in tenants])
    shares = np.array([x.share for x in tenants])
    return daily_tokens * shares / D.DAY_S / mean_tok


def _moments(tenants, rates, interactive=True):
    sel = [k for k, x in enumerate(tenants) if (x.cls != "batch") == interactive]
    if not sel:
        return 1.0, 1.0, 2.0
    lam = rates[sel]
    mi = np.array([tenants[k].mean_input_tokens() for k in sel])
    mo = np.array([tenants[k].mean_output_tokens() for k in sel])
    so = np.array([tenants[k].output_sigma for k in sel])
    w = lam / lam.sum()
    mean_in, mean_out = float(w @ mi), float(w @ mo)
    # KV held per request in flight: weighted by decode time, E[(in+out) out] / E[out] (lognormal output)
    kv = float((w @ (mi * mo + mo * mo * np.exp(so**2))) / (w @ mo))
    return mean_in, mean_out, kv


def prefix_hit_share(tenants, rates, router: str, ttl_s: float, replicas: float) -> float:
    """Share of interactive input tokens served from the prefix cache: a request hits when its prefix was
    seen by the same replica within ``ttl_s`` (Poisson arrivals per prefix, popularity 1/rank); with
    prefix-affinity routing a prefix's requests go to one replica, with least-loaded routing they spread
    over all ``replicas``."""
    hit_tok = in_tok = 0.0
    for x, lam in zip(tenants, rates, strict=True):
        if x.cls == "batch":
            continue
        in_tok += lam * x.mean_input_tokens()
        if x.prefixes <= 0 or x.prefix_tokens <= 0:
            continue
        w = 1.0 / np.arange(1, x.prefixes + 1)
        w /= w.sum()
        per_rep = lam * w / (1.0 if router == "prefix-affinity" else max(replicas, 1.0))
        hit = float(w @ (1.0 - np.exp(-per_rep * ttl_s)))
        hit_tok += lam * hit * _mean_prefix_tokens(x)
    return hit_tok / in_tok if in_tok else 0.0


def _mean_prefix_tokens(x: D.Tenant) -> float:
    """E[min(prefix_tokens, input - 1)] over the tenant's lognormal prompt lengths (as the generator cuts)."""
    z = np.linspace(-8, 8, 4001)
    w = np.exp(-0.5 * z * z)
    w /= w.sum()
    i = np.clip(np.round(x.input_median_tokens * np.exp(x.input_sigma * z)), 1, x.max_input_tokens)
    return float(w @ np.minimum(x.prefix_tokens, i - 1.0))


def _deployment(pool: PoolSpec, mean_in: float, mean_out: float, no_prefix: bool) -> dict:
    dep = dict(pool.deployment)
    dep["isl"], dep["osl"] = max(round(mean_in), 1), max(round(mean_out), 1)
    if no_prefix:
        dep.pop("prefix_hit_rate", None)
    return dep


def run_pool(scn: FleetScenario, pool: PoolSpec, *, daily_tokens: float | None = None, engine: str = "auto",
             smooth: bool = False, no_prefix: bool = False, seed: int | None = None,
             duration_s: float | None = None, replicas_schedule: np.ndarray | None = None) -> FleetResult:
    """One pool through the chosen engine (owned fleets: sized by an autoscaled pass, then run fixed).
    ``replicas_schedule``: instead, the same demand on the time-stepped engine with the replicas serving in
    each second (as a shared fleet hands them out, :func:`contend`)."""
    from inferonomics.fleet import des, fluid
    from inferonomics.fleet.replica import step_model

    if engine not in ENGINES:
        raise InputError("engine", engine, f"allowed engines are {', '.join(ENGINES)}")
    if replicas_schedule is not None:
        engine = "fluid"
    volume = (scn.daily_tokens if daily_tokens is None else daily_tokens) * pool.token_share
    seed = scn.seed if seed is None else seed
    dur = scn.duration_s if duration_s is None else duration_s
    tenants = _tenants(pool, no_prefix)
    rates = tenant_rates(tenants, volume)
    mean_in, mean_out, kv_seq = _moments(tenants, rates)
    dep = _deployment(pool, mean_in, mean_out, no_prefix)
    disagg = dep.get("prefill_gpus") is not None or dep.get("decode_gpus") is not None
    n_req = float(rates.sum() * dur)
    if engine == "auto":  # request-level (a disaggregated pool: its tandem) when small enough
        engine = "des" if (n_req <= DES_MAX_REQUESTS and not smooth) else "fluid"
    if engine == "des" and smooth:
        raise InputError("engine", "des", "smooth (expected-rate) demand is a time-stepped-engine input")
    auto = pool.autoscaler.policy()
    fixed_hit = dep.get("prefix_hit_rate")
    if disagg:
        curve = fluid.curve_from_perf(dep)
        hit = float(dep.get("prefix_hit_rate", 0.0))
        model = None
    else:
        model = step_model(dep)
        cap0 = float(model.service(model.max_batch, mean_in, mean_out)[2])
        reps0 = max(float(rates[[x.cls != "batch" for x in tenants]].sum()) / max(cap0 * auto.target_utilization, 1e-12), 1.0)
        # a deployment that states its prefix-cache hit rate keeps it (the scenario's assumption); otherwise
        # the hit rate follows from the tenants' shared prefixes, the router and the cache lifetime
        fixed_hit = dep.get("prefix_hit_rate")
        hit = (float(fixed_hit) if fixed_hit is not None else
               prefix_hit_share(tenants, rates, pool.router, pool.cache_ttl_s, reps0))
        curve = fluid.curve_from_step_model(model, mean_in, mean_out, hit, kv_seq)
    cap = curve.capacity_requests_per_s()
    unit = curve.input_tokens * curve.work_per_input_token_s + curve.output_tokens * curve.work_per_output_token_s
    work = (curve.work_per_input_token_s, curve.work_per_output_token_s, unit) if unit > 0 else None
    share = rates / rates.sum()
    if engine == "des":
        if n_req > DES_MAX_REQUESTS:
            raise InputError(
                "engine", "des", f"pool {pool.name!r} would put {n_req:,.0f} requests through the request-level "
                f"engine (at most {DES_MAX_REQUESTS:,}); use --engine fluid or a shorter duration_s",
            )
        tr = D.generate([replace(x, share=float(s)) for x, s in zip(tenants, share, strict=True)],
                        float(rates.sum()), dur, seed=seed)

        if disagg:  # prefill ranks, the KV transfer and decode instances in tandem, units of P+D GPUs
            from inferonomics.fleet import disagg as pd

            dm = pd.disagg_model(dep)

            def go(replicas, autoscaler):
                return pd.simulate(tr, dm, units=replicas, slo=pool.slo(), autoscaler=autoscaler, router=pool.router,
                                   cache_ttl_s=pool.cache_ttl_s, duration_s=dur, capacity_requests_per_s=cap,
                                   prefix_hit_rate=hit)
        else:
            def go(replicas, autoscaler):
                return des.simulate(tr, model, replicas=replicas, slo=pool.slo(), autoscaler=autoscaler,
                                    router=pool.router, cache_ttl_s=pool.cache_ttl_s, duration_s=dur,
                                    capacity_requests_per_s=cap, work=work,
                                    prefix_hit_rate=float(fixed_hit) if fixed_hit is not None else 0.0)
    else:
        flat = [replace(x, share=float(s), diurnal_amplitude=0.0, weekend_factor=1.0) if smooth else
                replace(x, share=float(s)) for x, s in zip(tenants, share, strict=True)]
        exp = D.expected_rates(flat, float(rates.sum()), dur, seed=seed, bursts=not smooth)
        counts = exp if smooth else np.random.default_rng(seed + 7).poisson(exp).astype(float)
        is_b = np.array([x.cls == "batch" for x in tenants])
        mi = np.array([x.mean_input_tokens() for x in tenants])[:, None]
        mo = np.array([x.mean_output_tokens() for x in tenants])[:, None]
        dem = {
            "requests": counts[~is_b].sum(0), "input_tokens": (counts * mi)[~is_b].sum(0),
            "output_tokens": (counts * mo)[~is_b].sum(0), "batch_requests": counts[is_b].sum(0),
            "batch_input_tokens": (counts * mi)[is_b].sum(0), "batch_output_tokens": (counts * mo)[is_b].sum(0),
        }

        def go(replicas, autoscaler):
            r = fluid.simulate(dem, curve, replicas=replicas, slo=pool.slo(), autoscaler=autoscaler)
            r.prefix_hit_rate = hit
            return r

        if replicas_schedule is not None:
            n_s = len(dem["requests"])
            sched = np.asarray(replicas_schedule, float)[:n_s]
            if len(sched) < n_s:  # a request-level sizing run may end a little early: it holds its last count
                sched = np.concatenate([sched, np.full(n_s - len(sched), sched[-1] if len(sched) else 1.0)])
            r = fluid.simulate(dem, curve, slo=pool.slo(), replicas_schedule=sched)
            r.prefix_hit_rate = hit
            return r
    start = max(auto.desired(float(rates[[x.cls != "batch" for x in tenants]].sum()), cap), auto.min_replicas)
    training_gpu_hours = 0.0
    if scn.fleet == "owned":
        sizing = go(start, replace(auto, provisioning_delay_s=0.0))
        peak = max(sizing.peak_replicas, auto.min_replicas)
        if scn.idle_to_training:
            # serving holds what the autoscaler asks for (handing replicas back from training takes the
            # provisioning delay); the rest of the owned peak fleet trains
            res = go(start, auto)
            owned_s = max(peak, res.peak_replicas) * res.duration_s
            lent_s = max(owned_s - res.replica_seconds, 0.0)  # replica-seconds serving did not hold: training
            training_gpu_hours = lent_s * res.gpus_per_replica / 3600.0
            res.peak_replicas = max(peak, res.peak_replicas)
            # delivered work over the whole owned fleet's capacity (serving's own utilization is over what
            # it held), and the share of the owned GPU-hours that trained
            res.extra["owned_utilization"] = res.utilization * res.replica_seconds / owned_s if owned_s > 0 else 0.0
            res.extra["training_share"] = lent_s / owned_s if owned_s > 0 else 0.0
        else:
            res = go(peak, Autoscaler(enabled=False))
        res.extra["serving_average_over_peak"] = sizing.replica_seconds / (peak * sizing.duration_s)
        res.extra["replicas_needed_per_s"] = sizing.extra.get("replicas_per_s")
    else:
        res = go(start, auto)
        res.extra["serving_average_over_peak"] = res.replica_seconds / (res.peak_replicas * res.duration_s)
    res.extra["training_gpu_hours"] = training_gpu_hours
    res.extra.setdefault("owned_utilization", res.utilization)  # the fleet paid for is the fleet that serves
    res.extra.setdefault("training_share", 0.0)
    gpu = dep["gpu"]
    res.usd_per_gpu_hour = usd_per_gpu_hour(scn, gpu, res.utilization)
    res.extra.update(pool=pool.name, gpu=gpu, model=dep["model"], daily_tokens=volume,
                     tokens_per_gpu_s_at_capacity=cap * (mean_in + mean_out) / curve.gpus,
                     max_batch=curve.max_batch, mean_input_tokens=mean_in, mean_output_tokens=mean_out)
    return res


def totals(results: list[FleetResult]) -> dict:
    """Fleet totals over pools (GPU-hours, money and tokens add; shares are GPU-hour weighted)."""
    gh = sum(r.gpu_hours for r in results)
    cost = sum(r.cost_usd for r in results)
    tok = sum(r.served_tokens for r in results)
    req = sum(r.requests for r in results)

    def wavg(attr):
        return sum(getattr(r, attr) * r.gpu_hours for r in results) / gh if gh else float("nan")

    return {
        "gpus": sum(r.peak_replicas * r.gpus_per_replica for r in results),
        "gpu_hours": gh,
        "utilization": wavg("utilization"),
        "interactive_utilization": wavg("interactive_utilization"),
        "slo_attainment": sum(r.slo_attainment * r.requests for r in results) / req if req else float("nan"),
        "idle_gpu_hours": sum(r.idle_gpu_hours for r in results),
        "training_gpu_hours": sum(r.extra.get("training_gpu_hours", 0.0) for r in results),
        "serving_average_over_peak": (sum(r.extra.get("serving_average_over_peak", 1.0) * r.peak_replicas
                                          * r.gpus_per_replica for r in results)
                                      / max(sum(r.peak_replicas * r.gpus_per_replica for r in results), 1)),
        "backfilled_gpu_hours": sum(r.backfilled_gpu_hours for r in results),
        "served_tokens": tok,
        "cost_usd": cost,
        "usd_per_mtok": cost / (tok / 1e6) if tok else float("nan"),
    }


def share_fleet(pools: list[FleetResult]) -> dict[str, int]:
    """Owned pools on one accelerator share a fleet sized for the peak of their summed needs (GPUs per
    second from each pool's sizing run): each pool's GPU-hours shrink by shared peak / sum of the peaks.
    Returns the shared fleet's GPUs per accelerator."""
    out = {}
    for gpu in sorted({r.extra["gpu"] for r in pools}):
        grp = [r for r in pools if r.extra["gpu"] == gpu and r.extra.get("replicas_needed_per_s") is not None]
        if len(grp) < 2:
            continue
        n = min(len(r.extra["replicas_needed_per_s"]) for r in grp)
        need = sum(r.extra["replicas_needed_per_s"][:n] * r.gpus_per_replica for r in grp)
        own = sum(r.peak_replicas * r.gpus_per_replica for r in grp)
        shared = int(max(need.max(), max(r.gpus_per_replica for r in grp)))
        f = min(shared / own, 1.0)
        for r in grp:
            r.gpu_seconds *= f
            r.replica_seconds *= f
            r.extra["shared_fleet_gpus"] = shared
        out[gpu] = shared
    return out


def hand_out(need: list[np.ndarray], gpus_per_replica: list[int], delay_s: list[float], fleet_gpus: int
             ) -> list[np.ndarray]:
    """The replicas serving each pool in each second when pools share ``fleet_gpus`` GPUs: pool ``i``
    wants ``ceil(need[i][t])`` replicas; a replica it gains (free GPUs first, then the GPUs of replicas
    other pools hold beyond their own need, from the pool with the most to spare) serves ``delay_s[i]``
    later (the new model's weights load); a replica a pool no longer needs stays loaded with its model
    until another pool takes its GPUs, so a pool whose need comes back finds it ready.  Pools start with
    what they need (the fleet holds their summed need at the start); earlier pools are served first."""
    n_p = len(need)
    n = min(len(x) for x in need)
    want = [np.ceil(np.asarray(x[:n], float) - 1e-9).astype(int) for x in need]
    g = [int(x) for x in gpus_per_replica]
    d = [max(round(float(x)), 0) for x in delay_s]
    held, free = [], int(fleet_gpus)
    for w, gi in zip(want, g, strict=True):  # what each pool needs at the start, as far as the fleet holds it
        held.append(min(int(w[0]), free // gi))
        free -= held[-1] * gi
    loading: list[list[list[int]]] = [[] for _ in range(n_p)]  # per pool: [ready second, replicas]
    out = [np.empty(n, np.int64) for _ in range(n_p)]
    # the seconds where something can change: a pool's need moves, or loaded replicas start serving
    changes = sorted({0, *(int(k) + 1 for w in want for k in np.flatnonzero(np.diff(w)))})
    ci, t = 0, 0
    def arrive(t):
        for i in range(n_p):
            while loading[i] and loading[i][0][0] <= t:
                held[i] += loading[i].pop(0)[1]

    while t < n:
        arrive(t)
        for i in range(n_p):
            short = int(want[i][t]) - held[i] - sum(k for _, k in loading[i])
            while short > 0:
                if free >= g[i]:
                    k = min(short, free // g[i])
                    free -= k * g[i]
                else:  # reclaim a spare replica from the pool with the most to spare, if that can make room
                    spare = [(held[j] - int(want[j][t])) * g[j] if j != i else 0 for j in range(n_p)]
                    j = max(range(n_p), key=lambda x: spare[x])
                    if spare[j] <= 0 or free + sum(x for x in spare if x > 0) < g[i]:
                        break
                    held[j] -= 1
                    free += g[j]
                    continue
                loading[i].append([t + d[i], k])
                short -= k
        arrive(t)  # with no delay, at once
        while ci < len(changes) and changes[ci] <= t:
            ci += 1
        nxt = min([changes[ci] if ci < len(changes) else n, *(x[0][0] for x in loading if x), n])
        nxt = max(nxt, t + 1)
        for i in range(n_p):
            out[i][t:nxt] = held[i]
        t = nxt
    return out


def contend(scn: FleetScenario, pools: list[FleetResult], fleet_gpus: dict[str, int], **kw) -> None:
    """Re-run the pools of each shared fleet on the time-stepped engine with the replicas the fleet hands
    out (:func:`hand_out`, each pool's provisioning delay as the time to load its model): their SLO
    attainment and latency under the fleet's contention go into ``extra`` (``slo_attainment_shared``,
    ``ttft_p99_s_shared``, ``tpot_p99_s_shared``); cost and utilization stay the shared fleet's."""
    specs = {p.name: p for p in scn.pools}
    for gpu, total in fleet_gpus.items():
        grp = [r for r in pools if r.extra["gpu"] == gpu and r.extra.get("replicas_needed_per_s") is not None]
        sched = hand_out([np.asarray(r.extra["replicas_needed_per_s"], float) for r in grp],
                         [r.gpus_per_replica for r in grp],
                         [specs[r.extra["pool"]].autoscaler.policy().provisioning_delay_s for r in grp], total)
        for r, sc in zip(grp, sched, strict=True):
            again = run_pool(scn, specs[r.extra["pool"]], replicas_schedule=sc, **kw)
            r.extra.update(slo_attainment_shared=again.slo_attainment, ttft_p99_s_shared=again.ttft_p99_s,
                           tpot_p99_s_shared=again.tpot_p99_s)


def run(scn: FleetScenario, *, engine: str = "auto", daily_tokens: float | None = None, **kw) -> dict:
    pools = [run_pool(scn, p, daily_tokens=daily_tokens, engine=engine, **kw) for p in scn.pools]
    days = (pools[0].duration_s / 86400.0) if pools else 1.0
    shared = {}
    if scn.shared_fleet and scn.fleet == "owned" and not scn.idle_to_training:
        shared = share_fleet(pools)
        for r in pools:  # $/GPU-hour of an owned fleet depends on its utilization
            r.usd_per_gpu_hour = usd_per_gpu_hour(scn, r.extra["gpu"], r.utilization)
        contend(scn, pools, shared, daily_tokens=daily_tokens, **kw)
    tot = totals(pools)
    if shared:
        tot["gpus"] = sum(shared.values()) + sum(r.peak_replicas * r.gpus_per_replica for r in pools
                                                  if r.extra["gpu"] not in shared)
        tot["shared_fleet_gpus"] = shared
        grp = [r for r in pools if "slo_attainment_shared" in r.extra]
        req = sum(r.requests for r in grp)
        tot["slo_attainment_shared"] = (sum(r.extra["slo_attainment_shared"] * r.requests for r in grp) / req
                                        if req else float("nan"))
    tot["daily_tokens"] = scn.daily_tokens if daily_tokens is None else daily_tokens
    tot["days"] = days
    return {"scenario": scn.name, "totals": tot, "pools": pools}


def parse_volumes(text: str) -> list[float]:
    out = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            v = float(part)
        except ValueError:
            raise InputError("volumes", part, "must be daily token volumes separated by commas, like 1e9,1e10") from None
        if not math.isfinite(v) or v < 1e6 or v > 1e16:
            raise InputError("volumes", part, "must be between 1e6 and 1e16 tokens a day")
        out.append(v)
    if not out:
        raise InputError("volumes", text, "give at least one daily token volume")
    return sorted(set(out))


def scale_curve(scn: FleetScenario, volumes: list[float], *, engine: str = "fluid") -> list[dict]:
    """The scale curve: per daily volume, the fleet totals and the decomposition of $/Mtok (see module)."""
    rows = []
    for v in volumes:
        actual = run(scn, daily_tokens=v, engine=engine)
        # constant demand: one day of it says what any longer horizon does
        smooth = run(scn, daily_tokens=v, engine="fluid", smooth=True, duration_s=min(scn.duration_s, D.DAY_S))
        rows.append({"daily_tokens": v, "actual": actual, "smooth": smooth})
    # per pool: $/GPU-h and capacity tokens per GPU-second at each volume (cache hit differs)
    best_cap = {}
    for row in rows:
        for r in row["actual"]["pools"]:
            k = r.extra["pool"]
            best_cap[k] = max(best_cap.get(k, 0.0), r.extra["tokens_per_gpu_s_at_capacity"])
    out = []
    for row in rows:
        a, s = row["actual"], row["smooth"]
        tok = a["totals"]["served_tokens"]
        # full-batch cost at this volume's cache hit, and the floor at the best hit of the sweep
        full = sum(r.usd_per_gpu_hour / 3600.0 / r.extra["tokens_per_gpu_s_at_capacity"] * r.served_tokens
                   for r in a["pools"]) / tok * 1e6
        floor = sum(r.usd_per_gpu_hour / 3600.0 / best_cap[r.extra["pool"]] * r.served_tokens
                    for r in a["pools"]) / tok * 1e6
        c, cs = a["totals"]["usd_per_mtok"], s["totals"]["usd_per_mtok"]
        out.append({
            "daily_tokens": row["daily_tokens"],
            **{k: a["totals"][k] for k in ("gpus", "gpu_hours", "utilization", "slo_attainment", "idle_gpu_hours",
                                            "training_gpu_hours", "serving_average_over_peak",
                                            "backfilled_gpu_hours", "served_tokens", "cost_usd", "usd_per_mtok")},
            "prefix_hit_rate": float(np.average([r.prefix_hit_rate for r in a["pools"]],
                                                weights=[r.served_tokens for r in a["pools"]])),
            "floor_usd_per_mtok": floor,
            "caching_usd_per_mtok": full - floor,
            "batching_usd_per_mtok": cs - full,
            "multiplexing_usd_per_mtok": c - cs,
            "engine": ",".join(sorted({r.engine for r in a["pools"]})),
        })
    return out


def flattening_volume(curve: list[dict], tolerance: float = 0.05) -> float | None:
    """The smallest volume beyond which delivered $/Mtok falls by less than ``tolerance`` (relative) to
    the largest volume of the sweep; None when it still falls at the end."""
    if len(curve) < 2:
        return None
    last = curve[-1]["usd_per_mtok"]
    for row in curve[:-1]:
        if all(r["usd_per_mtok"] <= last * (1.0 + tolerance) for r in curve[curve.index(row):]):
            return row["daily_tokens"]
    return None  # still falling at the end of the sweep (or only the last volume is near its own cost)
