"""The competition engine: nested-logit demand, rationing, the price equilibrium (textbook cases solved by
hand), and the market files run end to end."""

from __future__ import annotations

import numpy as np
import pytest

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
    d, sales = _duopoly(4.0, 1.2)
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
    d, _ = _duopoly(4.0, 1.5)
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
