"""Scale tables: each pool of a fleet scenario on its own fleet at a grid of daily volumes, computed once
by the time-stepped engine and cached on disk.

What reads it:

* the provider model (:mod:`inferonomics.market`, ``serving: {utilization_from: fleet}``) looks up a token
  tier's serving utilization at the tier's daily volume, per path and year (:meth:`ScaleTable.lookup`,
  linear in log volume, held at the end values beyond the grid);
* the report draws each pool's delivered $/Mtok against its daily volume, split as in
  :func:`inferonomics.fleet.run.scale_curve` into floor, caching, batching and multiplexing, and says where
  it stops falling (:func:`flattening`).

Volumes are the POOL's own daily tokens (input + output, interactive + batch): the scenario's
``token_share`` of each pool is undone, so a pool at 1e12 serves 1e12 tokens a day whatever its share.

One difference from ``scale_curve``: the flat (expected-rate) run carries the tokens the actual run
delivered, not the nominal volume.  A simulated week is one seeded sample of the burst process, which
moves demand in time without adding to it only on average: the week may bring a few per cent more or fewer
tokens than the nominal volume.  A flat day of the same tokens a day keeps that sample out of the
multiplexing part (with one replica at a small volume, more tokens on the same replica would read as a
negative multiplexing cost).

The actual run covers at least a week (the scenario's ``duration_s`` when longer): an owned fleet is sized
for the highest peak of the horizon and paid for through all of it, weekend included, and a year's
utilization is a week's, not a weekday's.

The cache key is the scenario's validated content, the volume grid and a digest of everything the result
depends on: the source of the fleet, perf, cost and ledger packages, the fleet's trace profiles and the
catalog files :func:`inferonomics.catalog.get_catalog` reads (built-in and ``$INFERONOMICS_CATALOG_DIR``).
An edit to any of them is a new key; a stale table is never read.  The engine always uses that default
catalog.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass

import numpy as np

from inferonomics import _cache
from inferonomics.errors import InputError

# pool daily volumes: 1e9 to 3.2e14 tokens a day, half a decade apart (a one-GPU replica of the fleet
# scenario's turbo tier would need more than the autoscaler's million replicas at the peak of 1e15 a day)
GRID_DAILY_TOKENS: tuple[float, ...] = tuple(float(10.0 ** (k / 2)) for k in range(18, 30))
CACHE_KIND = "fleet-scale-table"
TABLE_VERSION = 3
# ``utilization`` is over the GPUs serving held; ``owned_utilization`` over the whole owned fleet (the same
# unless the scenario lends idle replicas to training, when ``training_share`` of the owned GPU-hours train)
COLUMNS = (
    "usd_per_mtok", "floor_usd_per_mtok", "caching_usd_per_mtok", "batching_usd_per_mtok",
    "multiplexing_usd_per_mtok", "utilization", "interactive_utilization", "gpus", "slo_attainment",
    "prefix_hit_rate", "tokens_per_gpu_s_at_capacity", "usd_per_gpu_hour", "served_tokens",
    "flat_utilization", "owned_utilization", "training_share",
)
_MEMO: dict[str, ScaleTable] = {}


@dataclass(frozen=True)
class ScaleTable:
    """Per pool of a fleet scenario, one value per grid volume of each of :data:`COLUMNS`."""

    scenario: str
    daily_tokens: tuple[float, ...]
    pools: dict  # pool name -> {"model": str, "gpu": str, column: [value per volume]}

    @property
    def pool_names(self) -> list[str]:
        return list(self.pools)

    def _pool(self, pool: str) -> dict:
        if pool not in self.pools:
            raise InputError("pool", pool, f"fleet scenario {self.scenario!r} has pools {', '.join(self.pools)}")
        return self.pools[pool]

    def column(self, pool: str, key: str) -> np.ndarray:
        if key not in COLUMNS:
            raise InputError("column", key, f"allowed columns are {', '.join(COLUMNS)}")
        return np.asarray(self._pool(pool)[key], dtype=float)

    def lookup(self, pool: str, key: str, daily_tokens) -> np.ndarray:
        """``key`` of ``pool`` at any array of daily volumes: linear in log10(volume) between grid points,
        the end values beyond the grid (the curve is flat at the top; below the grid the smallest volume's
        value stands, which overstates utilization there)."""
        v = np.log10(np.maximum(np.asarray(daily_tokens, dtype=float), 1.0))
        return np.interp(v, np.log10(self.daily_tokens), self.column(pool, key))

    def rows(self, pool: str) -> list[dict]:
        """One dict per grid volume (``daily_tokens`` and the columns), as :func:`~inferonomics.fleet.run.
        scale_curve` returns them for a whole scenario."""
        p = self._pool(pool)
        return [{"daily_tokens": v, **{k: p[k][i] for k in COLUMNS}} for i, v in enumerate(self.daily_tokens)]


def daily_tokens(mtok_per_year, hours_per_year: float = 8760.0):
    """Tokens a day from millions of tokens a year (the provider model's volumes), elementwise."""
    return np.asarray(mtok_per_year, dtype=float) * (1e6 * 24.0 / hours_per_year)


def flattening(daily_tokens, usd_per_mtok, tolerance: float = 0.05) -> dict:
    """Where delivered $/Mtok stops falling, and by how much scale lowers it.

    ``level``: the lowest $/Mtok of the sweep.  ``flattens_at_daily_tokens``: the smallest volume from which
    on $/Mtok stays within ``tolerance`` (relative) of that level, linear in log volume between the points
    (None when the curve rises again above it at the largest volume).  ``reduction``: 1 - $/Mtok at the
    largest volume / $/Mtok at the smallest."""
    v = np.asarray(daily_tokens, dtype=float)
    c = np.asarray(usd_per_mtok, dtype=float)
    if v.ndim != 1 or len(v) < 2 or len(c) != len(v):
        raise InputError("daily_tokens", len(v), "give at least two volumes, each with its $/Mtok")
    if not (np.all(np.diff(v) > 0) and np.all(v > 0)):
        raise InputError("daily_tokens", v.tolist(), "volumes must be positive and increasing")
    if not (np.all(np.isfinite(c)) and np.all(c > 0)):
        raise InputError("usd_per_mtok", c.tolist(), "costs must be positive numbers")
    if not (0 <= tolerance < 1):
        raise InputError("tolerance", tolerance, "must be at least 0 and below 1")
    level = float(c.min())
    thr = level * (1.0 + tolerance)
    above = np.nonzero(c > thr)[0]
    if len(above) == 0:
        at = float(v[0])
    elif above[-1] == len(v) - 1:
        at = None
    else:
        i = int(above[-1])
        t = (c[i] - thr) / (c[i] - c[i + 1])
        lv = np.log10(v)
        at = float(10.0 ** (lv[i] + t * (lv[i + 1] - lv[i])))
    return {
        "flattens_at_daily_tokens": at,
        "level_usd_per_mtok": level,
        "tolerance": float(tolerance),
        "smallest_daily_tokens": float(v[0]),
        "largest_daily_tokens": float(v[-1]),
        "smallest_usd_per_mtok": float(c[0]),
        "largest_usd_per_mtok": float(c[-1]),
        "reduction": float(1.0 - c[-1] / c[0]),
    }


# --- computing the table ------------------------------------------------------------------------------------
def compute(scn, volumes=None) -> dict:
    """Run every pool of ``scn`` (a :class:`~inferonomics.fleet.scenario.FleetScenario`) alone at each daily
    volume: the actual day and a flat day of the same tokens.  Returns the table as plain lists (JSON)."""
    from inferonomics.fleet.demand import DAY_S, WEEK_S
    from inferonomics.fleet.run import run_pool

    vols = _check_volumes(GRID_DAILY_TOKENS if volumes is None else volumes)
    # a year's utilization needs at least a week: an owned fleet is sized for the week's highest peak and
    # paid for through the weekend's lower demand (one weekday overstates it)
    dur = max(float(scn.duration_s), WEEK_S)
    pools = {}
    for pool in scn.pools:
        acts, flats = [], []
        for v in vols:
            a = run_pool(scn, pool, daily_tokens=v / pool.token_share, engine="fluid", duration_s=dur)
            # the flat run's demand is constant: the same tokens in the same time is this daily volume (and
            # one day of it says what a week does)
            delivered = a.served_tokens * DAY_S / a.duration_s if a.served_tokens > 0 else v
            f = run_pool(scn, pool, daily_tokens=delivered / pool.token_share, engine="fluid", smooth=True,
                         duration_s=DAY_S)
            cap = pool.autoscaler.max_replicas
            if max(a.peak_replicas, f.peak_replicas) >= cap:
                raise InputError(f"pools[{pool.name}].autoscaler.max_replicas", cap,
                                 f"the pool needs more replicas at {v:.3g} tokens a day (its fleet would be "
                                 "capped, its SLOs missed); raise max_replicas or use smaller volumes")
            acts.append(a)
            flats.append(f)
        best_cap = max(a.extra["tokens_per_gpu_s_at_capacity"] for a in acts)
        cols: dict[str, list] = {k: [] for k in COLUMNS}
        for a, f in zip(acts, flats, strict=True):
            c, cs = a.usd_per_mtok, f.usd_per_mtok
            full = a.usd_per_gpu_hour / 3600.0 / a.extra["tokens_per_gpu_s_at_capacity"] * 1e6
            floor = a.usd_per_gpu_hour / 3600.0 / best_cap * 1e6
            row = {
                "usd_per_mtok": c, "floor_usd_per_mtok": floor, "caching_usd_per_mtok": full - floor,
                "batching_usd_per_mtok": cs - full, "multiplexing_usd_per_mtok": c - cs,
                "utilization": a.utilization, "interactive_utilization": a.interactive_utilization,
                "gpus": float(a.peak_replicas * a.gpus_per_replica), "slo_attainment": a.slo_attainment,
                "prefix_hit_rate": a.prefix_hit_rate,
                "tokens_per_gpu_s_at_capacity": a.extra["tokens_per_gpu_s_at_capacity"],
                "usd_per_gpu_hour": a.usd_per_gpu_hour, "served_tokens": a.served_tokens,
                "flat_utilization": f.utilization, "owned_utilization": a.extra["owned_utilization"],
                "training_share": a.extra["training_share"],
            }
            for k in COLUMNS:
                cols[k].append(float(row[k]))
        pools[pool.name] = {"model": pool.deployment["model"], "gpu": pool.deployment["gpu"], **cols}
    return {"scenario": scn.name, "daily_tokens": [float(v) for v in vols], "pools": pools}


def _check_volumes(volumes) -> list[float]:
    vols = [float(v) for v in volumes]
    if len(vols) < 2 or any(not math.isfinite(v) or not 1e6 <= v <= 1e16 for v in vols) or vols != sorted(set(vols)):
        raise InputError("volumes", volumes, "give at least two increasing daily token volumes from 1e6 to 1e16")
    return vols


_CODE = ("fleet", "perf", "cost", "ledger")  # the packages a scale table is computed by (its cache key)


def _key_text(scn, vols: list[float]) -> str:
    return json.dumps({"kind": CACHE_KIND, "version": TABLE_VERSION, "scenario": scn.model_dump(mode="json"),
                       "volumes": vols, "inputs": _cache.code_digest(_CODE)}, sort_keys=True)


def scale_table(scenario, volumes=None) -> ScaleTable:
    """The scale table of a fleet scenario (built-in name, YAML path or a loaded ``FleetScenario``): from this
    process's memory, else the on-disk cache (:mod:`inferonomics._cache`), else computed (about half a
    second per pool and volume, twice) and stored."""
    from inferonomics.fleet.scenario import load_scenario

    scn = load_scenario(str(scenario)) if isinstance(scenario, (str, os.PathLike)) else scenario
    vols = _check_volumes(GRID_DAILY_TOKENS if volumes is None else volumes)
    key = _key_text(scn, vols)
    memo = hashlib.sha256(key.encode()).hexdigest()
    if memo in _MEMO:
        return _MEMO[memo]
    doc = _cache.get(CACHE_KIND, key)
    if not _valid(doc, vols):
        doc = compute(scn, vols)
        _cache.put(CACHE_KIND, key, doc)
    table = ScaleTable(doc["scenario"], tuple(doc["daily_tokens"]), doc["pools"])
    _MEMO[memo] = table
    return table


def _valid(doc, vols) -> bool:
    """A cached document of the expected shape (anything else is recomputed)."""
    try:
        return (doc["daily_tokens"] == vols and all(len(p[k]) == len(vols) for p in doc["pools"].values()
                                                     for k in COLUMNS))
    except (KeyError, TypeError, IndexError):
        return False


def for_tiers(fleet_scenario: str, tiers: dict[str, tuple[str, str]], field: str = "serving.fleet_scenario",
              idle_to_training: bool = False) -> ScaleTable:
    """The scale table the provider model reads, checked against its token tiers: a pool named after each
    tier (``tiers``: name -> (model, accelerator)) serving the same model on the same accelerator.  With
    ``idle_to_training`` the fleet scenario lends the replicas serving does not hold to training (it must
    be an owned fleet)."""
    from inferonomics.errors import UnknownNameError
    from inferonomics.fleet.scenario import FleetScenarioError, builtin_names, load_scenario

    try:
        scn = load_scenario(fleet_scenario)
    except UnknownNameError:
        raise UnknownNameError(field, fleet_scenario, builtin_names()) from None
    except InputError as exc:
        raise InputError(field, fleet_scenario, f"must be a fleet scenario (built-in name or YAML path): {exc}"
                         ) from None
    except FleetScenarioError as exc:
        raise InputError(field, fleet_scenario, f"must be a valid fleet scenario: {exc}") from None
    pools = {p.name: p for p in scn.pools}
    for name, (model, gpu) in tiers.items():
        p = pools.get(name)
        if p is None:
            raise InputError(field, fleet_scenario, f"needs a pool named after each token tier "
                             f"({', '.join(tiers)}); its pools are {', '.join(pools)}")
        got = (p.deployment.get("model"), p.deployment.get("gpu"))
        if got != (model, gpu):
            raise InputError(field, fleet_scenario, f"pool {name!r} serves {got[0]} on {got[1]}, but token tier "
                             f"{name!r} serves {model} on {gpu}; the pool must model the tier's deployment")
    if idle_to_training and not scn.idle_to_training:
        if scn.fleet != "owned":
            raise InputError("serving.idle_to_training", True, f"fleet scenario {fleet_scenario!r} rents an "
                             "autoscaled fleet: only an owned fleet has idle replicas to lend to training")
        scn = scn.model_copy(update={"idle_to_training": True})
    return scale_table(scn)


__all__ = ["COLUMNS", "GRID_DAILY_TOKENS", "ScaleTable", "compute", "daily_tokens", "flattening", "for_tiers",
           "scale_table"]
