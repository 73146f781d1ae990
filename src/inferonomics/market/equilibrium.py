"""Prices as the outcome of competition: nested-logit demand, capacity rationing and a Bertrand-Nash
price equilibrium with capacities, vectorized over Monte Carlo paths.

Demand (two levels)
-------------------
*Which option a buyer picks* is a nested logit over the options ``j`` (providers' APIs, self-hosting,
edge devices), grouped in nests ``n`` (quality tiers of the providers, ``self-host``, ``edge``) with nest
parameters ``0 < lambda_n <= 1`` (1: no extra correlation inside the nest; towards 0: options of a nest
are near-perfect substitutes)::

    v_j = quality_utility_j - alpha * ln(p_j)
    s_j = s_(j|n) * s_n,   s_(j|n) = exp(v_j / lambda_n) / D_n,   s_n = D_n^lambda_n / sum_m D_m^lambda_m,
    D_n = sum_(j in n) exp(v_j / lambda_n)

*How many tokens are bought* follows the share-weighted price ``P = sum_j s_j p_j`` with a constant
elasticity ``eps`` (it may exceed 1: Jevons-type demand)::

    Q = Q_ref * (P / P_ref) ** (-eps)

so a uniform price cut of x% raises volume by the elasticity, whatever the shares.

Capacity
--------
Primary demand ``s_j Q`` above an option's capacity is not served there: the excess goes to the options
that still have room, in proportion to their primary shares, and those buyers re-buy on their own
demand curve at the new price (volume x (p_new / p_old)^-eps); repeated until no option is over capacity
or none has room; what is left is not served.  Options without a capacity
(self-hosting, edge) take any volume.

Equilibrium
-----------
Strategic options (providers) set prices; the others are price takers at their cost.  Each provider's
best response maximises ``(p - marginal_cost) * sales(p, p_-i)`` over prices between its floor (cash
cost, less any explicit subsidy) and a ceiling: on a log-spaced grid, then on finer grids around the
best point (so the optimum is found to a relative precision far below the tolerance, kinks at the
capacity included).  Providers respond in turn (Gauss-Seidel) from the given start until no price moves
by more than ``tol`` (relative) on any path, or ``max_iter`` rounds.  The result reports, per path, the
rounds used, the last relative move and whether it converged: a pure-strategy equilibrium need not
exist (Edgeworth cycles), and a path that does not converge is reported as such, never hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class NestedLogitDemand:
    """Demand parameters of one market-year, on ``P`` paths and ``J`` options.

    alpha: (P,) price coefficient on ln(price) (within-market substitution);
    eps: (P,) elasticity of total volume to the share-weighted price;
    quality_utility: (P, J) utility of each option at price 1;
    nest: (J,) nest index of each option; lam: (N,) nest parameters in (0, 1];
    q_ref_mtok, p_ref_usd_per_mtok: (P,) reference volume and price of the volume curve;
    active: (P, J) options on offer (exited providers are not)."""

    alpha: np.ndarray
    eps: np.ndarray
    quality_utility: np.ndarray
    nest: np.ndarray
    lam: np.ndarray
    q_ref_mtok: np.ndarray
    p_ref_usd_per_mtok: np.ndarray
    active: np.ndarray

    def shares(self, price: np.ndarray) -> np.ndarray:
        """Choice shares, price (P, ..., J) -> (P, ..., J); inactive options get 0."""
        extra = price.ndim - 2
        exp = (slice(None),) + (None,) * extra
        alpha = self.alpha[exp + (None,)]
        util = self.quality_utility[(slice(None),) + (None,) * extra + (slice(None),)]
        active = self.active[(slice(None),) + (None,) * extra + (slice(None),)]
        v = np.where(active, util - alpha * np.log(np.maximum(price, 1e-300)), -np.inf)
        out = np.zeros(np.broadcast_shapes(v.shape, price.shape))
        log_d = []
        for n in range(len(self.lam)):
            cols = np.flatnonzero(self.nest == n)
            if cols.size == 0:
                continue
            x = v[..., cols] / self.lam[n]
            m = np.max(x, axis=-1, keepdims=True)
            m_safe = np.where(np.isfinite(m), m, 0.0)
            e = np.exp(x - m_safe)
            tot = e.sum(axis=-1, keepdims=True)
            with np.errstate(divide="ignore", invalid="ignore"):
                out[..., cols] = np.where(tot > 0, e / tot, 0.0)
                log_d.append((n, cols, self.lam[n] * (np.log(tot[..., 0]) + m_safe[..., 0])))
        if not log_d:
            return out
        stack = np.stack([ld for _, _, ld in log_d], axis=-1)
        top = np.max(stack, axis=-1, keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0)
        w = np.exp(stack - top)
        w = w / np.maximum(w.sum(axis=-1, keepdims=True), 1e-300)
        for k, (_, cols, _) in enumerate(log_d):
            out[..., cols] *= w[..., k : k + 1]
        return out

    def volume_mtok(self, price: np.ndarray, shares: np.ndarray) -> np.ndarray:
        """Total tokens bought: Q_ref (P / P_ref)^-eps with P the share-weighted price; (P, ...)."""
        extra = price.ndim - 2
        exp = (slice(None),) + (None,) * extra
        p_avg = np.sum(shares * price, axis=-1)
        ratio = np.maximum(p_avg, 1e-300) / self.p_ref_usd_per_mtok[exp]
        return self.q_ref_mtok[exp] * ratio ** (-self.eps[exp])


def ration(demand: np.ndarray, capacity: np.ndarray, weights: np.ndarray, price: np.ndarray | None = None,
           eps: np.ndarray | None = None, rounds: int | None = None) -> np.ndarray:
    """Sales after capacity limits: excess demand moves to options with room, pro rata to ``weights``.

    demand, weights: (..., J); capacity broadcastable to them (``inf`` = no limit).  With ``price`` (same
    shape as demand) and ``eps`` (broadcastable to (..., 1)), the buyers turned away re-buy on their own
    demand curve: the volume moved is scaled by (price where it lands / price it left)^-eps, so an option
    with room cannot charge the rationed buyers any price it likes."""
    cap = np.broadcast_to(capacity, demand.shape)
    d = demand.astype(float).copy()
    rounds = demand.shape[-1] + 1 if rounds is None else rounds
    for _ in range(rounds):
        excess = np.maximum(d - cap, 0.0)
        spill = excess.sum(axis=-1, keepdims=True)
        if not np.any(spill > 1e-12 * np.maximum(d.sum(axis=-1, keepdims=True), 1e-300)):
            break
        d = d - excess
        room = d < cap * (1 - 1e-12)
        w = np.where(room, weights, 0.0)
        wsum = w.sum(axis=-1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(wsum > 0, w / wsum, 0.0)
            moved = spill * share
            if price is not None and eps is not None:
                p_from = np.where(spill > 0, (excess * price).sum(axis=-1, keepdims=True) / spill, 1.0)
                moved = moved * (np.maximum(price, 1e-300) / np.maximum(p_from, 1e-300)) ** (-eps)
        d = d + moved
    return np.minimum(d, cap)


def logit_sales(demand: NestedLogitDemand | list[NestedLogitDemand], capacity_mtok: np.ndarray
                ) -> Callable[[np.ndarray], np.ndarray]:
    """The sales function of the market: prices (P, ..., J) -> tokens sold (P, ..., J).

    ``demand`` may be a list of buyer segments (each with its own volume, options on offer and price
    sensitivity); their primary demands add up before the capacity limits apply."""
    segments = demand if isinstance(demand, list) else [demand]

    def sales(price: np.ndarray) -> np.ndarray:
        extra = price.ndim - 2
        total = np.zeros(price.shape)
        eps_w = np.zeros(price.shape[:-1] + (1,))
        for seg in segments:
            s = seg.shares(price)
            q = seg.volume_mtok(price, s)
            total = total + s * q[..., None]
            eps_w = eps_w + seg.eps[(slice(None),) + (None,) * (extra + 1)] * q[..., None]
        q_all = total.sum(axis=-1, keepdims=True)
        e = np.where(q_all > 0, eps_w / np.maximum(q_all, 1e-300), segments[0].eps[(slice(None),) + (None,) * (extra + 1)])
        cap = capacity_mtok[(slice(None),) + (None,) * extra + (slice(None),)]
        return ration(total, cap, total, price, e)

    return sales


@dataclass(frozen=True)
class Equilibrium:
    """Prices (P, J) and sales (P, J); convergence per path: the last relative price move (``residual``),
    the largest relative profit gain any provider could still get by deviating alone (``profit_gain``,
    0 at an exact equilibrium), ``converged`` (residual <= tol, or profit_gain <= gain_tol after averaging),
    ``averaged`` (paths that needed the averaging phase: best responses cycled)."""

    price: np.ndarray
    sales: np.ndarray
    iterations: int
    residual: np.ndarray
    profit_gain: np.ndarray
    converged: np.ndarray
    averaged: np.ndarray
    tol: float


def _best_response(sales_fn, price, i, cost, lo, hi, grid, refine, mates):
    """Best price of option ``i`` (P,) given the others' prices, by grid search with refinement; the profit
    is that of all options of the same owner (``mates``, which include ``i``).  Returns (price, profit)."""
    n_paths = price.shape[0]
    llo, lhi = np.log(lo), np.log(np.maximum(hi, lo))
    best = lo.copy()
    best_profit = np.zeros(n_paths)
    for level in range(refine + 1):
        t = np.linspace(0.0, 1.0, grid)
        x = llo[:, None] + (lhi - llo)[:, None] * t[None, :]
        if level == 0:
            # the current price is a candidate too, so a response never does worse than staying put
            x = np.concatenate([x, np.log(np.clip(price[:, i], lo, np.maximum(hi, lo)))[:, None]], axis=1)
        cand = np.exp(x)
        trial = np.repeat(price[:, None, :], cand.shape[1], axis=1)
        trial[:, :, i] = cand
        sold = sales_fn(trial)[:, :, mates]
        with np.errstate(invalid="ignore"):
            profit = np.where(sold > 0, (trial[:, :, mates] - cost[:, None, mates]) * sold, 0.0).sum(axis=-1)
        k = np.argmax(profit, axis=1)
        rows = np.arange(n_paths)
        best = cand[rows, k]
        best_profit = profit[rows, k]
        step = (lhi - llo) / (grid - 1)
        xb = np.log(best)
        llo, lhi = np.maximum(xb - step, np.log(lo)), np.minimum(xb + step, np.log(np.maximum(hi, lo)))
    return best, best_profit


def _owner_profit(sales, price, cost, mates):
    with np.errstate(invalid="ignore"):
        return np.where(sales[:, mates] > 0, (price[:, mates] - cost[:, mates]) * sales[:, mates], 0.0).sum(axis=-1)


def solve(
    sales_fn: Callable[[np.ndarray], np.ndarray],
    marginal_cost: np.ndarray,
    floor: np.ndarray,
    ceiling: np.ndarray,
    strategic: np.ndarray,
    start: np.ndarray,
    *,
    tol: float = 1e-5,
    gain_tol: float = 1e-3,
    max_iter: int = 200,
    pure_iter: int | None = None,
    grid: int = 33,
    refine: int = 4,
    owner: np.ndarray | None = None,
) -> Equilibrium:
    """Bertrand-Nash prices with capacities by iterated best responses; see the module text.

    marginal_cost, floor, ceiling, start: (P, J); strategic: (J,) or (P, J) bool (non-strategic options
    keep their start price; so do strategic ones on paths where strategic is False).  ``owner``: (J,) ids; a
    firm with several options sets each to maximise the profit of all of them (multi-product Bertrand).

    Phase 1 (``pure_iter`` rounds, default all): plain best responses (Gauss-Seidel); a path whose prices
    move by at most ``tol`` has an exact equilibrium.  Phase 2, for paths still moving (best responses
    cycle, as they do in Bertrand-Edgeworth markets without a pure equilibrium): each round moves prices a
    step 1/(n+1) towards the best responses (the running average of the cycle, as in fictitious play); the
    result is accepted as an approximate equilibrium where no provider could gain more than ``gain_tol``
    (relative) by deviating alone, and reported as not converged otherwise."""
    price = np.array(start, dtype=float, copy=True)
    strat = np.broadcast_to(np.asarray(strategic, dtype=bool), price.shape)
    lo = np.maximum(floor, 1e-12)
    hi = np.maximum(ceiling, lo)
    price = np.where(strat, np.clip(price, lo, hi), price)
    n_paths, n_opt = price.shape
    pure_iter = max_iter if pure_iter is None else min(pure_iter, max_iter)
    residual = np.full(n_paths, np.inf)
    exact = np.zeros(n_paths, bool)
    gain = np.zeros(n_paths)
    mates_of = [[i] if owner is None else [k for k in range(n_opt) if owner[k] == owner[i]] for i in range(n_opt)]
    it = 0
    for it in range(1, max_iter + 1):
        before = price.copy()
        step = 1.0 if it <= pure_iter else 1.0 / (it - pure_iter + 1)
        gain = np.zeros(n_paths)
        for i in range(n_opt):
            if not strat[:, i].any():
                continue
            br, br_profit = _best_response(sales_fn, price, i, marginal_cost, lo[:, i], hi[:, i], grid, refine,
                                           mates_of[i])
            now = _owner_profit(sales_fn(price), price, marginal_cost, mates_of[i])
            g = np.where(strat[:, i], (br_profit - now) / np.maximum(np.abs(now), 1e-300), 0.0)
            gain = np.maximum(gain, np.where(br_profit > now, g, 0.0))
            moving = strat[:, i] & ~exact
            price[:, i] = np.where(moving, price[:, i] + step * (br - price[:, i]), price[:, i])
        residual = np.max(np.abs(price - before) / np.maximum(before, 1e-12), axis=1)
        if it <= pure_iter:
            exact |= residual <= tol
        if np.all(exact | ((it > pure_iter) & (gain <= gain_tol))):
            break
    sales = sales_fn(price)
    # the deviation gain at the final prices
    final_gain = np.zeros(n_paths)
    for i in range(n_opt):
        if not strat[:, i].any():
            continue
        _, br_profit = _best_response(sales_fn, price, i, marginal_cost, lo[:, i], hi[:, i], grid, refine,
                                      mates_of[i])
        now = _owner_profit(sales, price, marginal_cost, mates_of[i])
        g = np.where(strat[:, i] & (br_profit > now), (br_profit - now) / np.maximum(np.abs(now), 1e-300), 0.0)
        final_gain = np.maximum(final_gain, g)
    converged = exact | (final_gain <= gain_tol)
    return Equilibrium(price, sales, it, residual, final_gain, converged, ~exact, tol)


__all__ = ["Equilibrium", "NestedLogitDemand", "logit_sales", "ration", "solve"]
