"""Every built-in market file and provider scenario against the market's rules: the price equilibrium
converges, no price stays below the cash cost for more than one year and no gross margin falls below -100%
without an explicit subsidy input; and the scenario-market link carries the equilibrium into the scenario."""

from __future__ import annotations

import numpy as np
import pytest

from inferonomics.market import simulate
from inferonomics.market.competition import EQUILIBRIUM_TOL, builtin_markets, check_rules
from inferonomics.market.link import market_run
from inferonomics.market.scenario import ScenarioFileError, builtin_names, load_scenario

MARKET_PATHS = 100  # as the linked scenarios ship: their market runs are the same (cached) runs
SCENARIO_PATHS = 400


@pytest.mark.parametrize("name", builtin_markets())
def test_every_builtin_market_converges_and_obeys_the_rules(name):
    """At the stated tolerance (no provider could gain more than 0.1% of its profit by changing one of its
    prices alone), the equilibrium converges on at least 99% of paths in every year, and the market's
    price and margin rules hold."""
    res = market_run(name, MARKET_PATHS, 0)
    conv = res.convergence
    assert (conv["tol"] == EQUILIBRIUM_TOL).all()
    assert res.share_converged >= 0.99, conv.to_string()
    assert (conv["share_converged"] >= 0.99).all()
    # a converged path left every provider within the tolerance
    assert res.converged.shape == (MARKET_PATHS, res.spec.years)
    assert check_rules(res) == []


def _violations(res) -> list[str]:
    """The rules for a provider scenario (which has no subsidy input): per tier, the price below the tier's
    cash cost per Mtok (power, facility, operations; not depreciation) in more than one projected year of a
    path; a gross margin (company or token business) below -100% in any projected year."""
    m = res.metrics
    out = []
    keys = [k[len("cash_cost_"):-len("_usd_per_mtok")] for k in m if k.startswith("cash_cost_")]
    assert keys, "every scenario with token tiers reports their cash cost per Mtok"
    for key in keys:
        price = m[f"price_{key}_usd_per_mtok"][:, 1:]
        cash = m[f"cash_cost_{key}_usd_per_mtok"][:, 1:]
        sold = m[f"tokens_{key}_mtok"][:, 1:] > 0
        years_below = ((price < cash * (1 - 1e-9)) & sold).sum(axis=1)
        if (years_below > 1).any():
            out.append(f"{key}: {(years_below > 1).mean():.1%} of paths price below cash cost for more than a year")
    for g in ("gross_margin", "gross_margin_tokens"):
        v = m[g][:, 1:]
        bad = np.isfinite(v) & (v < -1.0)
        if bad.any():
            out.append(f"{g}: {bad.any(axis=1).mean():.1%} of paths below -100% (worst {np.nanmin(v):.0%})")
    return out


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_provider_scenario_obeys_the_price_and_margin_rules(name):
    res = simulate(name, paths=SCENARIO_PATHS, seed=0)
    assert _violations(res) == []


class _Fake:
    def __init__(self, metrics):
        self.metrics = metrics


def test_the_rule_check_is_not_vacuous():
    """A path priced at half its cash cost for two years with a token gross margin of -200% breaks both
    rules; the check says so."""
    years, rows = 4, 3
    price = np.full((rows, years), 1.0)
    price[1, 1:3] = 0.5
    gm = np.zeros((rows, years))
    gm[2, 2] = -2.0
    m = {"cash_cost_flagship_usd_per_mtok": np.full((rows, years), 1.0), "price_flagship_usd_per_mtok": price,
         "tokens_flagship_mtok": np.ones((rows, years)), "gross_margin": np.zeros((rows, years)),
         "gross_margin_tokens": gm}
    v = _violations(_Fake(m))
    assert any("below cash cost" in x for x in v) and any("gross_margin_tokens" in x for x in v)


def test_the_old_price_war_premise_is_floored_and_exits():
    """The unlinked price war of the old token-war variant (-90% a year on every tier, five years): the exit
    rule (serving.exit_gross_margin) withdraws the token tiers on most paths, prices stay at or above the
    cash cost while tokens are sold, and neither rule is broken."""
    sc = load_scenario({
        "base": "alibaba-100b", "name": "old-war",
        "token_tiers": {t: {"price_steps": [], "price_change_per_year": [
            {"value": -0.9, "assumption": "test: the old premise"}]} for t in ("flagship", "plus", "turbo")},
    })
    res = simulate(sc, paths=50, seed=0)
    m = res.metrics
    assert m["token_sales_exited"][:, -1].mean() > 0.5
    for tier in ("flagship", "plus", "turbo"):
        sold = m[f"tokens_{tier}_mtok"][:, 1:] > 0
        assert (m[f"price_{tier}_usd_per_mtok"][:, 1:][sold]
                >= m[f"cash_cost_{tier}_usd_per_mtok"][:, 1:][sold] * (1 - 1e-12)).all()
    assert _violations(res) == []


def _alibaba(res, tier: str):
    o = res.options
    g = o[(o["option"] == f"alibaba/{tier}")].sort_values(["path", "year"])
    shape = (res.paths, res.spec.years)
    return (g["price_usd_per_mtok"].to_numpy().reshape(shape), g["volume_mtok"].to_numpy().reshape(shape),
            g["active"].to_numpy().reshape(shape))


def test_linked_tier_takes_the_market_price_index_and_volume_beyond_demand_growth():
    """token-war: scenario path k takes market path k mod 100.  Where the cash-cost floor does not bind, the
    flagship price over its base-year price is Alibaba's frontier price over its 2026 price in the market;
    with the scenario's own demand growth set to zero, the flagship volume over its base-year volume is
    Alibaba's volume ratio (frontier and standard tiers together) over the market's constant-price demand
    growth, until the token business exits (the market's exit rule), after which it sells nothing."""
    sc = load_scenario({"base": "token-war", "token_tiers": {"flagship": {"growth_per_year": [
        {"value": 0.0, "assumption": "test: no growth of the scenario's own"}]}}})
    n = 2 * MARKET_PATHS + 7
    res = simulate(sc, paths=n, seed=0)
    mk = market_run("china-2026-token-war", MARKET_PATHS, 0)
    price_f, vol_f, on_f = _alibaba(mk, "frontier")
    _, vol_s, on_s = _alibaba(mk, "standard")
    rows = np.arange(n) % MARKET_PATHS
    m = res.metrics
    free = (m["price_flagship_at_cash_cost_floor"][:, 1:6] == 0) & on_f[rows, 1:6] & (vol_f[rows, 1:6] > 0)
    assert free.mean() > 0.5
    got = m["price_flagship_usd_per_mtok"][:, 1:6] / m["price_flagship_usd_per_mtok"][:, :1]
    want = price_f[rows, 1:6] / price_f[rows, :1]
    np.testing.assert_allclose(got[free], want[free], rtol=1e-9)
    vol = (np.where(on_f, vol_f, 0.0) + np.where(on_s, vol_s, 0.0))[rows]
    g = mk.draws["demand_growth_per_year"][rows]
    with np.errstate(divide="ignore", invalid="ignore"):  # a provider out from the first year sells nothing after
        want_v = np.where(vol[:, :1] > 0, vol[:, 1:6] / vol[:, :1] / (1 + g[:, None]) ** np.arange(1, 6)[None, :], 0.0)
    stay = m["token_sales_exited"][:, 1:6] == 0  # the market's exit rule, applied in the scenario's terms
    got_v = m["tokens_flagship_mtok"][:, 1:6] / m["tokens_flagship_mtok"][:, :1]
    np.testing.assert_allclose(got_v[stay], want_v[stay], rtol=1e-9)
    assert (got_v[~stay] == 0).all()
    # the floor: where it binds, the price is the tier's cash cost
    at = m["price_flagship_at_cash_cost_floor"][:, 1:] == 1
    np.testing.assert_allclose(m["price_flagship_usd_per_mtok"][:, 1:][at], m["cash_cost_flagship_usd_per_mtok"][:, 1:][at])


def test_unlinked_scenario_keeps_its_own_price_path_above_its_cash_cost():
    """alibaba-100b is not linked: its tier prices follow its own inputs, floored at each tier's cash cost
    from the first projected year on (the base year keeps its reported price)."""
    sc = load_scenario("alibaba-100b")
    assert sc.spec.market is None
    res = simulate(sc, paths=20, seed=0)
    m = res.metrics
    for tier in ("flagship", "plus", "turbo"):
        price, cash = m[f"price_{tier}_usd_per_mtok"], m[f"cash_cost_{tier}_usd_per_mtok"]
        # a path that exited sells nothing: no cash cost per Mtok (NaN) to floor its price at
        sold = m[f"tokens_{tier}_mtok"][:, 1:] > 0
        assert np.isfinite(cash[:, 1:][sold]).all() and np.isnan(cash[:, 1:][~sold]).all()
        assert (price[:, 1:][sold] >= cash[:, 1:][sold] * (1 - 1e-12)).all()
        at = m[f"price_{tier}_at_cash_cost_floor"][:, 1:] == 1
        np.testing.assert_allclose(price[:, 1:][at], cash[:, 1:][at])
        assert (m[f"price_{tier}_at_cash_cost_floor"][:, 0] == 0).all()


@pytest.mark.parametrize("patch,needle", [
    ({"provider": "openai"}, "market.provider"),
    ({"file": "mars-2030"}, "market"),
    ({"tiers": {"flagship": "premium"}}, "market.tiers.flagship"),
    ({"tiers": {"nano": "standard"}}, "'nano' is not a token tier"),
])
def test_bad_market_link_names_the_field(patch, needle):
    with pytest.raises(ScenarioFileError) as e:
        load_scenario({"base": "token-war", "market": patch})
    assert needle in str(e.value)
