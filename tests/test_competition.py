"""The competition engine: nested-logit demand, rationing, the price equilibrium (textbook cases solved by
hand), and the market files run end to end."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from inferonomics.market.competition import (
    MarketFileError,
    builtin_markets,
    check_rules,
    load_market,
    run_market,
)
from inferonomics.market.equilibrium import NestedLogitDemand, logit_sales, ration, solve


def _homogeneous_sales(a: float, k: float):
    """Linear demand D(p) = a - p for a homogeneous good, two firms with capacity k each, efficient
    rationing (the cheaper firm serves first, the dearer one gets the residual demand D(p) - q_cheap; at
    a tie each gets half, and what one cannot serve goes to the other)."""

    def sales(p):
        p1, p2 = p[..., 0], p[..., 1]
        d1, d2 = np.maximum(a - p1, 0), np.maximum(a - p2, 0)
        q1_low = np.minimum(k, d1)
        q2_low = np.minimum(k, d2)
        q1 = np.where(p1 < p2, q1_low, np.where(p1 > p2, np.minimum(k, np.maximum(d1 - q2_low, 0)),
                                                 np.minimum(k, np.maximum(d1 / 2, d1 - k))))
        q2 = np.where(p2 < p1, q2_low, np.where(p2 > p1, np.minimum(k, np.maximum(d2 - q1_low, 0)),
                                                 np.minimum(k, np.maximum(d2 / 2, d2 - k))))
        return np.stack([q1, q2], axis=-1)

    return sales


@pytest.mark.parametrize("a,c,k", [(10.0, 1.0, 2.0), (10.0, 1.0, 3.0), (20.0, 2.0, 1.5)])
def test_bertrand_edgeworth_small_capacities_clear_the_market(a, c, k):
    """Kreps-Scheinkman: with capacities k <= (a - c)/3 each, the unique pure-strategy equilibrium of the
    price game is the market-clearing price a - 2k (the Cournot outcome at the capacities).  By hand for
    a=10, c=1, k=2: p* = 6; a firm raising its price faces residual demand 8 - p, profit (p-1)(8-p) is
    10 at p=6 and falls above it (its peak is at 4.5 < 6); a firm cutting its price sells no more (capped)."""
    assert k <= (a - c) / 3
    n = 3
    cost = np.full((n, 2), c)
    eq = solve(_homogeneous_sales(a, k), cost, cost, np.full((n, 2), a), np.array([True, True]), cost.copy(),
               tol=1e-9)
    assert eq.converged.all()
    np.testing.assert_allclose(eq.price, a - 2 * k, rtol=1e-6)
    np.testing.assert_allclose(eq.sales, k, rtol=1e-6)


def test_undercutting_race_is_reported_not_hidden():
    """Each firm can serve the whole market (k >= a - c): Bertrand's paradox, price = cost in the limit, but
    best responses reach it only by ever smaller undercuts.  The solver must say that it has not converged
    in the rounds allowed (and the prices must be falling towards cost), not claim an equilibrium."""
    a, c, k = 10.0, 1.0, 20.0
    cost = np.full((1, 2), c)
    eq = solve(_homogeneous_sales(a, k), cost, cost, np.full((1, 2), a), np.array([True, True]),
               np.full((1, 2), 5.0), tol=1e-9, max_iter=20)
    assert not eq.converged.any()
    assert eq.iterations == 20
    assert np.all(eq.price < 5.0) and np.all(eq.price > c)


def _duopoly(alpha, eps, cap=np.inf, n=2):
    d = NestedLogitDemand(
        alpha=np.full(1, alpha), eps=np.full(1, eps), quality_utility=np.zeros((1, n)), nest=np.zeros(n, int),
        lam=np.ones(1), q_ref_mtok=np.full(1, 100.0), p_ref_usd_per_mtok=np.full(1, 1.0),
        active=np.ones((1, n), bool),
    )
    return d, logit_sales(d, np.full((1, n), cap))


def test_logit_bertrand_markup_by_hand():
    """Two symmetric logit firms, no capacity limit, shares u = -alpha ln p, volume Q_ref P^-eps.  The
    first-order condition d ln(profit)/d ln p = 0 reads p/(p-c) - alpha (1-s) - eps s = 0 with s = 1/2,
    so p = c (alpha + eps) / (alpha + eps - 2).  alpha=4, eps=1.2, c=1: p = 5.2/3.2 = 1.625."""
    _, sales = _duopoly(4.0, 1.2)
    c = np.ones((1, 2))
    eq = solve(sales, c, c, np.full((1, 2), 100.0), np.array([True, True]), c.copy(), tol=1e-8)
    assert eq.converged.all()
    np.testing.assert_allclose(eq.price, 1.625, rtol=1e-4)
    np.testing.assert_allclose(eq.sales.sum(), 100.0 * 1.625 ** -1.2, rtol=1e-4)


def test_logit_duopoly_with_binding_capacities_clears_the_market():
    """Same duopoly, capacity k each below the unconstrained sales: the equilibrium is the market-clearing
    price Q_ref p^-eps = 2k, p* = (2k/Q_ref)^(-1/eps), provided its Lerner index (p*-c)/p* is at least
    1/eps (raising the price then loses more volume than it gains in margin; cutting it sells no more).
    k=20, eps=1.5, Q_ref=100: p* = 0.4^(-2/3) = 1.842; Lerner (1.842-0.5)/1.842 = 0.73 >= 0.67."""
    eps, k, c = 1.5, 20.0, 0.5
    _, sales = _duopoly(4.0, eps, cap=k)
    cost = np.full((1, 2), c)
    eq = solve(sales, cost, cost, np.full((1, 2), 100.0), np.array([True, True]), cost.copy(), tol=1e-8)
    p_star = (2 * k / 100.0) ** (-1 / eps)
    assert (p_star - c) / p_star >= 1 / eps
    np.testing.assert_allclose(eq.price, p_star, rtol=1e-4)
    np.testing.assert_allclose(eq.sales, k, rtol=1e-4)


def test_volume_elasticity_may_exceed_one():
    """A uniform 10x price cut with eps = 1.5 multiplies volume by 10^1.5, so revenue rises (Jevons)."""
    d, _sales = _duopoly(4.0, 1.5)
    p = np.ones((1, 2))
    q1 = d.volume_mtok(p, d.shares(p))
    q2 = d.volume_mtok(p / 10, d.shares(p / 10))
    np.testing.assert_allclose(q2 / q1, 10 ** 1.5)


def test_nested_logit_shares_sum_to_one_and_nest_correlation():
    """Shares add to 1; a cheaper option takes more from its own nest than from the other nest when the
    nest parameter is below 1."""
    d = NestedLogitDemand(
        alpha=np.full(1, 3.0), eps=np.ones(1), quality_utility=np.zeros((1, 3)), nest=np.array([0, 0, 1]),
        lam=np.array([0.3, 1.0]), q_ref_mtok=np.ones(1), p_ref_usd_per_mtok=np.ones(1), active=np.ones((1, 3), bool),
    )
    base = d.shares(np.ones((1, 3)))
    np.testing.assert_allclose(base.sum(), 1.0)
    cut = d.shares(np.array([[0.8, 1.0, 1.0]]))
    lost_own_nest = base[0, 1] - cut[0, 1]
    lost_other = base[0, 2] - cut[0, 2]
    assert lost_own_nest / base[0, 1] > lost_other / base[0, 2] > 0
    inactive = NestedLogitDemand(**{**d.__dict__, "active": np.array([[True, False, True]])})
    s = inactive.shares(np.ones((1, 3)))
    assert s[0, 1] == 0 and np.isclose(s.sum(), 1.0)


def test_ration_moves_excess_to_options_with_room():
    demand = np.array([[60.0, 30.0, 10.0]])
    sold = ration(demand, np.array([[40.0, np.inf, 20.0]]), demand)
    np.testing.assert_allclose(sold.sum(), 100.0)
    assert sold[0, 0] == 40.0 and sold[0, 2] <= 20.0
    # nobody has room: what is left is not served
    sold = ration(demand, np.array([[10.0, 10.0, 10.0]]), demand)
    np.testing.assert_allclose(sold, [[10.0, 10.0, 10.0]])


# ------------------------------------------------------------------------------------------ market files


@pytest.fixture(scope="module")
def china_raw():
    import yaml

    from inferonomics.market.competition import MARKETS_DIR

    return yaml.safe_load((MARKETS_DIR / "china-2026.yaml").read_text())


def _short(raw, years=2):
    d = copy.deepcopy(raw)
    d["years"] = years
    return d


def test_builtin_markets_load_and_name_every_provider():
    assert {"china-2026", "international-2026"} <= set(builtin_markets())
    china = load_market("china-2026")
    assert {"alibaba", "bytedance", "baidu", "tencent", "deepseek", "moonshot"} <= set(china.providers)
    intl = load_market("international-2026")
    assert {"openai", "google", "anthropic"} <= set(intl.providers)


@pytest.mark.parametrize("name", builtin_markets())
def test_builtin_markets_obey_the_price_and_margin_rules(name):
    """No built-in market prices below the lowest cash cost for more than one year, or shows a gross margin
    below -100%, without an explicit subsidy input; prices never fall below each provider's own floor."""
    res = run_market(name, paths=4, seed=1)
    assert check_rules(res) == []
    prov = res.providers[res.providers["kind"] == "provider"]
    sold = prov[prov["volume_mtok"] > 0]
    assert (sold["price_usd_per_mtok"] >= sold["cash_cost_usd_per_mtok"] * (1 - 1e-6)).all()
    assert set(res.convergence.columns) >= {"iterations", "share_converged", "rounds_median", "max_profit_gain", "tol"}


def test_check_rules_flags_margins_below_minus_100_percent(china_raw):
    """The rule check is not vacuous: a result with a provider's gross margin at -150% is flagged."""
    res = run_market(_short(china_raw, 1), paths=2, seed=0)
    res.providers.loc[res.providers["provider"] == "alibaba", "gross_margin"] = -1.5
    assert any("below -100%" in v for v in check_rules(res))


def test_serving_cost_comes_from_the_perf_and_cost_engines(china_raw):
    """A provider's cost per Mtok is its fleet's GPU-hour cost over the tokens the perf engine says the fleet
    serves: in the first year (before any software gain applies) it does not depend on the gain, and the
    deployment it uses prices to a positive cost in the cost engine."""
    fast = _short(china_raw, 2)
    fast["throughput_gain_per_year"] = {"value": 1.0, "assumption": "test"}
    slow = _short(china_raw, 2)
    slow["throughput_gain_per_year"] = {"value": 0.0, "assumption": "test"}
    r_fast = run_market(fast, paths=2, seed=3).providers
    r_slow = run_market(slow, paths=2, seed=3).providers
    # year 1 (the second year): tokens per GPU doubled, fleet identical only if nothing was bought; compare the
    # first year instead, where the gain has not applied yet: identical cost
    y0 = china_raw["first_year"]
    a = r_fast[(r_fast.year == y0) & (r_fast.kind == "provider")]["full_cost_usd_per_mtok"].to_numpy()
    b = r_slow[(r_slow.year == y0) & (r_slow.kind == "provider")]["full_cost_usd_per_mtok"].to_numpy()
    np.testing.assert_allclose(a, b)
    from inferonomics.cost import cost

    dep = china_raw["deployments"]["standard-prod"]
    kw = {k: v for k, v in dep.items() if k not in ("model", "assumption")}
    r = cost(dep["model"], "h20", own=True, region="cn-east", utilization=0.6, **kw)
    assert r["usd_per_mtok_blended"] > 0


def test_no_chips_no_growth(china_raw):
    """A provider that cannot get chips cannot serve the demand it wins: with no supply in its regime and no
    own silicon, its fleet only shrinks (retirements), whatever its margin."""
    d = _short(china_raw, 3)
    for g in d["regimes"]["china"]["accelerators"].values():
        g["units_per_year"] = {2026: {"value": 0, "assumption": "test: embargo"}}
    d["providers"]["alibaba"].pop("own_silicon")
    res = run_market(d, paths=2, seed=0).providers
    ali = res[res.provider == "alibaba"].groupby("year")["gpus"].median().to_numpy()
    assert np.all(np.diff(ali) < 0)
    supplied = run_market(_short(china_raw, 3), paths=2, seed=0).providers
    ali2 = supplied[supplied.provider == "alibaba"].groupby("year")["gpus"].median().to_numpy()
    assert ali2[-1] > ali[-1]


def test_subsidy_lowers_the_floor_and_exempts_from_exit(china_raw):
    d = _short(china_raw, 1)
    d["providers"]["moonshot"]["subsidy_usd_per_mtok"] = {"value": 1.0, "assumption": "test: state subsidy"}
    res = run_market(d, paths=2, seed=0).providers
    m = res[res.provider == "moonshot"]
    assert not m["exited"].any()
    assert (m["subsidy_usd_per_mtok"] == 1.0).all()


@pytest.mark.parametrize("patch,needle", [
    (lambda d: d["providers"]["alibaba"].update(regime="mars"), "providers.alibaba.regime"),
    (lambda d: d["providers"]["alibaba"]["buy"].append("h100-sxm"), "is not sold to regime"),
    (lambda d: d["demand"].update(elasticity=1.2), "needs its provenance"),
    (lambda d: d["demand"]["elasticity"].pop("assumption"), "'assumption'"),
    (lambda d: d["providers"]["alibaba"]["products"][0].update(tier="premium"), "is not a nest"),
    (lambda d: d["deployments"]["standard-prod"].update(model="gpt-9"), "gpt-9"),
])
def test_bad_market_files_name_the_field(china_raw, patch, needle):
    d = copy.deepcopy(china_raw)
    patch(d)
    with pytest.raises(MarketFileError) as e:
        load_market(d)
    assert needle in str(e.value)


def test_cli_market_run_json_and_errors(tmp_path, china_raw, capsys):
    import yaml

    from inferonomics.cli import main

    f = tmp_path / "m.yaml"
    f.write_text(yaml.safe_dump(_short(china_raw, 1)))
    assert main(["market", "run", str(f), "--paths", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["providers"]
    assert {r["provider"] for r in rows} >= {"alibaba", "self-host/sovereign", "edge"}
    for key in ("price_usd_per_mtok_p50", "share_p10", "volume_mtok_p90", "capacity_mtok_p50", "gross_margin_p50",
                "p_exited"):
        assert key in rows[0]
    assert out["convergence"][0]["tol"] > 0
    assert out["tolerance"] == out["convergence"][0]["tol"] and out["share_converged"] == 1.0
    assert main(["market", "run", str(f), "--paths", "2"]) == 0
    text = capsys.readouterr().out
    assert "converged on 100% of paths in every year at tolerance 0.001" in " ".join(text.split())
    bad = tmp_path / "bad.yaml"
    d = _short(china_raw, 1)
    d["providers"]["alibaba"]["regime"] = "mars"
    bad.write_text(yaml.safe_dump(d))
    assert main(["market", "run", str(bad)]) == 2
    assert "providers.alibaba.regime" in capsys.readouterr().err
    assert main(["market", "run", "no-such-market"]) == 2


def test_private_cloud_is_a_revenue_line_of_its_provider(china_raw):
    """A buyer who leaves the public cloud for an on-premise stack may still pay the provider that installs
    it: Alibaba's private-cloud revenue is part of its revenue, priced at or above its hardware-plus-services
    cost, and the option disappears when the file drops it."""
    res = run_market(_short(china_raw, 2), paths=3, seed=2)
    ali = res.providers[res.providers.provider == "alibaba"]
    assert (ali["private_cloud_revenue_usd"] > 0).all()
    assert (ali["revenue_usd"] >= ali["private_cloud_revenue_usd"]).all()
    pc = res.options[res.options.kind == "private-cloud"]
    assert set(pc["owner"]) == {"alibaba"}
    assert (pc["price_usd_per_mtok"] >= pc["cost_usd_per_mtok"] * (1 - 1e-9)).all()
    assert (pc["price_usd_per_server_year"] > 0).all()
    d = _short(china_raw, 2)
    d["providers"]["alibaba"].pop("private_cloud")
    res2 = run_market(d, paths=3, seed=2)
    assert (res2.providers[res2.providers.provider == "alibaba"]["private_cloud_revenue_usd"] == 0).all()


def test_ghost_cloud_share_follows_edge_hardware_cost(china_raw):
    """Attrition to the edge is derived, not typed in: when local hardware gets cheaper faster, more volume
    leaves the providers for the edge option (same draws otherwise)."""
    def edge_share(change):
        d = _short(china_raw, 3)
        d["alternatives"]["edge"]["cost_change_per_year"] = {"value": change, "assumption": "test"}
        r = run_market(d, paths=3, seed=4).providers
        last = r[(r.year == r.year.max()) & (r.provider == "edge")]
        return float(last["share"].mean())

    assert edge_share(-0.6) > 2 * edge_share(0.0)


def test_variants_inherit_their_base_and_change_what_they_say():
    base = load_market("china-2026")
    war = load_market("china-2026-token-war")
    assert war.providers.keys() == base.providers.keys()
    assert war.demand.substitution.mode > base.demand.substitution.mode
    assert war.demand.volume_mtok == base.demand.volume_mtok
    own = load_market("china-2026-own-silicon")
    assert own.regimes["china"].accelerators["h20"].units_per_year[2026].value == 0
    assert own.regimes["china"].accelerators["ascend-910c"] == base.regimes["china"].accelerators["ascend-910c"]


def test_own_silicon_changes_supply_not_only_cost():
    """Under an H20 embargo Alibaba, with its own accelerator, grows its fleet faster than ByteDance, which has
    none and must share Ascend supply."""
    from inferonomics.market.competition import load_market as lm

    d = lm("china-2026-own-silicon").model_dump(exclude_none=True)
    d["years"] = 3
    res = run_market(d, paths=3, seed=0).providers
    g = res.groupby(["provider", "year"])["gpus"].median()
    growth = {p: g[p].iloc[-1] / g[p].iloc[0] for p in ("alibaba", "bytedance")}
    assert growth["alibaba"] > growth["bytedance"]


def test_token_war_consolidates_and_target_is_answerable():
    """The price war is an outcome: someone exits, the rules hold, and the alibaba-100b question (revenue and
    gross margin in FY2031) has an answer with competitors responding."""
    from inferonomics.market.competition import target_probability

    res = run_market("china-2026-token-war", paths=4, seed=0)
    assert check_rules(res) == []
    exited = res.providers.groupby("provider")["exited"].any()
    assert exited.any()
    t = target_probability(res, "alibaba", 2031, 100e9)
    assert 0.0 <= t["p_target_and_gross_margin_positive"] <= t["p_revenue_at_least_target"] <= 1.0
    with pytest.raises(Exception, match="target year"):
        target_probability(res, "alibaba", 2040, 100e9)


def test_sovereign_buyers_leave_the_public_cloud_but_may_pay_for_private_cloud(china_raw):
    """With only sovereign buyers (the bank-sovereign workload of the buyer engine), no public API sells a
    token; the volume goes on premise or to the edge, and Alibaba, which installs private clouds, still earns
    revenue from it.  The self-hosting price is the buyer engine's levelized cost of the best owned option."""
    from inferonomics.decide import breakeven

    d = _short(china_raw, 1)
    d["demand"]["segments"] = {"sovereign": d["demand"]["segments"]["sovereign"]}
    d["exit_gross_margin"] = {"value": -1e9, "assumption": "test: the idle public fleets do not make Alibaba leave"}
    res = run_market(d, paths=2, seed=0)
    opts = res.options
    assert opts[opts.kind == "provider"]["volume_mtok"].sum() == 0
    ali = res.providers[res.providers.provider == "alibaba"]
    assert (ali["private_cloud_revenue_usd"] > 0).all()
    assert (ali["revenue_usd"] == ali["private_cloud_revenue_usd"]).all()
    own = breakeven("bank-sovereign").options
    best_own = own[(own.kind == "own") & own.eligible.astype(bool)]["usd_per_mtok"].min()
    sh = opts[opts.option == "self-host/sovereign"]["price_usd_per_mtok"]
    np.testing.assert_allclose(sh, best_own)


def _small_market(n_paths=6, seed=0):
    """Four providers in two nests (two firms own two options each), self-hosting in a third nest, two buyer
    segments (one without access to provider 3), capacities that bind for some."""
    rng = np.random.default_rng(seed)
    j = 5
    nest = np.array([0, 0, 1, 1, 2])
    segs = []
    for k in range(2):
        active = np.ones((n_paths, j), bool)
        if k == 1:
            active[:, 3] = False
        segs.append(NestedLogitDemand(
            alpha=rng.uniform(2, 6, n_paths), eps=rng.uniform(0.5, 1.5, n_paths),
            quality_utility=rng.uniform(0, 2, (n_paths, j)), nest=nest, lam=np.array([0.5, 0.4, 1.0]),
            q_ref_mtok=np.full(n_paths, 100.0), p_ref_usd_per_mtok=np.full(n_paths, 1.0), active=active))
    cap = np.concatenate([rng.uniform(10, 40, (n_paths, 4)), np.full((n_paths, 1), np.inf)], axis=1)
    strategic = np.array([True, True, True, True, False])
    return segs, cap, strategic


def test_best_response_evaluation_matches_the_whole_market():
    """The best response evaluates only its owner's options (nest sums of the others computed once): the same
    sales as evaluating the whole market with rationing, for every option, candidate and path."""
    segs, cap, strategic = _small_market()
    f = logit_sales(segs, cap, spill_to=~strategic)
    rng = np.random.default_rng(1)
    price = rng.uniform(0.3, 3.0, cap.shape)
    for i, mates in [(0, [0, 2]), (2, [0, 2]), (1, [1]), (3, [3])]:
        cand = np.exp(rng.normal(0, 1, (cap.shape[0], 9)))
        trial = np.repeat(price[:, None, :], 9, axis=1)
        trial[:, :, i] = cand
        np.testing.assert_allclose(f.varying(price, i, mates)(cand), f(trial)[:, :, mates], rtol=1e-10)


def test_converged_paths_are_epsilon_equilibria():
    """Where the solver says converged, no owner can raise its profit by more than the tolerance by changing
    one of its prices alone: checked by a brute-force search on the whole market's sales function (without
    the solver's shortcuts)."""
    segs, cap, strategic = _small_market(n_paths=8, seed=3)
    f = logit_sales(segs, cap, spill_to=~strategic)
    owner = np.array([0, 1, 0, 2, -1])
    cost = np.tile([0.4, 0.3, 0.5, 0.2, 1.5], (8, 1))
    ceiling = np.full((8, 5), 50.0)
    start = cost * 2
    eq = solve(f, cost, cost, ceiling, strategic, start, tol=1e-3, owner=owner)
    assert eq.converged.all()

    def plain(p):  # no `varying`, no `take`: the whole market each time
        return f(p)

    grid = np.exp(np.linspace(np.log(0.2), np.log(50.0), 4001))
    for i in range(4):
        mates = [k for k in range(5) if owner[k] == owner[i]]
        trial = np.repeat(eq.price[:, None, :], grid.size, axis=1)
        trial[:, :, i] = np.maximum(grid[None, :], cost[:, i:i + 1])
        profit = ((trial[:, :, mates] - cost[:, None, mates]) * plain(trial)[:, :, mates]).sum(-1)
        now = ((eq.price[:, mates] - cost[:, mates]) * eq.sales[:, mates]).sum(-1)
        rev = (eq.price[:, mates] * eq.sales[:, mates]).sum(-1)
        assert np.all(profit.max(axis=1) - now <= 1e-3 * np.maximum(np.abs(now), 0.1 * rev) * 1.01)


def test_turned_away_buyers_go_to_the_alternatives_not_to_rivals():
    """With spill_to the alternatives, a provider over capacity sells its capacity, its rivals sell exactly
    their own primary demand (capped), and the excess lands on the alternative, scaled by its price
    (buyers re-buy on their demand curve: (p_alt / p_from)^-eps)."""
    d, _ = _duopoly(4.0, 1.0, n=3)
    cap = np.array([[5.0, 1000.0, np.inf]])
    price = np.array([[0.5, 1.0, 2.0]])
    primary = d.shares(price) * d.volume_mtok(price, d.shares(price))[..., None]
    out = logit_sales(d, cap, spill_to=np.array([False, False, True]))(price)
    excess = primary[0, 0] - 5.0
    assert excess > 0
    np.testing.assert_allclose(out[0, :2], [5.0, primary[0, 1]])
    np.testing.assert_allclose(out[0, 2], primary[0, 2] + excess * (2.0 / 0.5) ** -1.0)
