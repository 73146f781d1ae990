"""Provider scenarios on the market's equilibrium: a scenario's ``market:`` section takes, per Monte Carlo
path, the prices and volumes of some token tiers from a run of a market file.

For each linked tier (scenario tier -> market tier, i.e. demand nest), on market path ``m`` and market
year ``t`` (the market's first year is the scenario's base year):

* ``price_index[m, t] = p[m, t] / p[m, 0]``, with ``p`` the provider's volume-weighted price of its
  products in that market tier (held at its last value once the provider sells none: it has exited);
* ``volume_factor[m, t] = (q[m, t] / q[m, 0]) / (1 + g[m]) ** t``, with ``q`` the provider's tokens sold in
  all the mapped market tiers together and ``g`` the market's demand growth at constant price on that
  path: what the equilibrium does to the provider's volume beyond demand growth (the price response of
  volume, share won or lost to rivals, attrition to self-hosting, private clouds and edge devices, chip
  limits on capacity, exit).  It is the provider's total, not each tier's: a provider's split between
  its own tiers can flip from year to year between near-equal equilibria (selling its frontier capacity,
  or pricing it up and moving buyers to its standard tier), which a scenario's fleet, bought a year
  ahead, could not follow.

The scenario keeps its own base-year prices and volumes and its own demand growth; its price path
becomes ``base price x price_index`` (its ``price_change_per_year``, ``price_steps``, ``attrition_per_year``
and ``price_elasticity`` no longer apply to the tier) and its volume ``base volume x growth x
volume_factor``.  Scenario path ``k`` takes market path ``k mod paths`` of a market run with the
scenario's seed: the two Monte Carlos are paired by seed, the market run (the costly one) at fewer paths
and its paths reused in turn.  Past the market's last year the indices hold their last values.

The market's rules hold in the scenario's own terms too (:func:`inferonomics.market.model.project`): a
linked tier is never priced below its cash cost per Mtok (power, facility, operations), and where the
token business's gross margin falls below the market file's ``exit_gross_margin`` (the path's draw), the
provider withdraws from public token sales that year, as the market's providers do: the linked tiers
sell nothing from then on (their fleets stay and depreciate).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from inferonomics.errors import InputError


def check_link(link) -> None:
    """The market file loads, the provider is in it and sells in each mapped tier; else an error naming
    the field."""
    from inferonomics.market.competition import load_market

    spec = load_market(link.file)
    if link.provider not in spec.providers:
        raise InputError("market.provider", link.provider, f"a provider of market {spec.name}: "
                         f"{', '.join(spec.providers)}")
    sold = [pr.tier for pr in spec.providers[link.provider].products]
    for st, mt in link.tiers.items():
        if mt not in sold:
            raise InputError(f"market.tiers.{st}", mt, f"a market tier {link.provider} sells in: {', '.join(sold)}")


@lru_cache(maxsize=16)
def market_run(file: str, paths: int, seed: int):
    """The market's equilibrium run that linked scenarios read (cached: one run per file, paths and seed)."""
    from inferonomics.market.competition import run_market

    return run_market(file, paths=paths, seed=seed)


@lru_cache(maxsize=16)
def _tier_paths(file: str, provider: str, tiers: tuple[tuple[str, str], ...], paths: int, seed: int
                ) -> dict[str, np.ndarray]:
    res = market_run(file, paths, seed)
    o = res.options
    o = o[(o["owner"] == provider) & (o["kind"] == "provider")]
    market_tier = o["option"].str.split("/", n=1).str[1]
    years = sorted(o["year"].unique())
    M, T = res.paths, len(years)
    growth = np.asarray(res.draws["demand_growth_per_year"], float)

    def paths_of(mask):
        vol = np.zeros((M, T))
        rev = np.zeros((M, T))
        g = o[mask]
        yi = np.searchsorted(years, g["year"].to_numpy())
        pi = g["path"].to_numpy()
        v = np.where(g["active"].to_numpy(), g["volume_mtok"].to_numpy(), 0.0)
        np.add.at(vol, (pi, yi), v)
        np.add.at(rev, (pi, yi), v * g["price_usd_per_mtok"].to_numpy())
        return vol, rev

    # volume: the provider's tokens in all the mapped market tiers together
    vol, _ = paths_of(market_tier.isin([mt for _, mt in tiers]).to_numpy())
    ok = vol[:, 0] > 0  # else the provider sold nothing from the first year on (it left at once): nothing after
    with np.errstate(divide="ignore", invalid="ignore"):
        vfac = np.where(ok[:, None], vol / vol[:, :1] / (1.0 + growth[:, None]) ** np.arange(T)[None, :],
                        (np.arange(T) == 0)[None, :].astype(float))
    out = {}
    for st, mt in tiers:
        v_t, rev = paths_of((market_tier == mt).to_numpy())
        with np.errstate(divide="ignore", invalid="ignore"):
            price = np.where(v_t > 0, rev / v_t, np.nan)
        for t in range(1, T):  # a tier the provider sells none of keeps its last price
            price[:, t] = np.where(np.isnan(price[:, t]), price[:, t - 1], price[:, t])
        with np.errstate(divide="ignore", invalid="ignore"):
            pidx = np.where((v_t[:, 0] > 0)[:, None], price / price[:, :1], 1.0)
        out[f"market.{st}.price_index"] = np.nan_to_num(pidx, nan=1.0)
        out[f"market.{st}.volume_factor"] = vfac
    out["market.exit_gross_margin"] = np.asarray(res.draws["exit_gross_margin"], float)
    return out


def market_inputs(link, seed: int, lo: int = 0, hi: int | None = None) -> dict[str, np.ndarray]:
    """The linked tiers' ``market.<tier>.price_index`` and ``market.<tier>.volume_factor``, (rows, market
    years), for scenario paths ``lo..hi-1`` (path k takes market path k mod ``link.paths``); with ``hi`` None,
    one row: the per-year median over the market's paths (for the tornado, where every other input sits
    at its median)."""
    arrays = _tier_paths(link.file, link.provider, tuple(link.tiers.items()), link.paths, seed)
    if hi is None:
        return {k: np.median(v, axis=0, keepdims=True) for k, v in arrays.items()}
    rows = np.arange(lo, hi) % link.paths
    return {k: v[rows] for k, v in arrays.items()}


def market_years(values: np.ndarray, years: int) -> np.ndarray:
    """(rows, market years) -> (years, rows): column t is year t of the scenario (0 = base year); past the
    market's last year the last value holds."""
    v = np.asarray(values, float)
    cols = np.minimum(np.arange(years), v.shape[1] - 1)
    return np.ascontiguousarray(v[:, cols].T)


__all__ = ["check_link", "market_inputs", "market_run", "market_years"]
