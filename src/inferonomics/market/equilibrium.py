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
that may take it (``spill_to``; by default every option with room) in proportion to their primary
shares, and those buyers re-buy on their own demand curve at the new price (volume x (p_new /
p_old)^-eps); repeated until no option is over capacity or none has room; what is left is not served.
Options without a capacity (self-hosting, edge) take any volume.  In the market
(:mod:`inferonomics.market.competition`) buyers a provider turns away go to the alternatives, not to rival
providers: a provider that could count on its rivals' rationed buyers would raise its price to sell to
them, its rivals would follow, and prices would cycle (Edgeworth cycles: no pure-strategy equilibrium,
which a model of yearly average prices cannot represent).  In an equilibrium no provider turns buyers away
anyway (below its ceiling it would raise its price and sell as much), so the rule only shapes what a
provider expects from raising its price above a sold-out rival's.

Equilibrium
-----------
Strategic options (providers) set prices; the others are price takers at their cost.  Each provider's
best response maximises its owner's profit ``sum over the owner's options (p - marginal_cost) x sales``
over the option's price between its floor (cash cost, less any explicit subsidy) and a ceiling: on a
log-spaced grid, then on finer grids around the best point (kinks at the capacity included).  Options
take turns (Gauss-Seidel) and move only where the best response raises the owner's profit by more than
``tol``; a path is done after a round in which nothing moved, which certifies an epsilon-equilibrium at the
final prices (epsilon = ``tol`` of the profit).  Paths that are done leave the iteration.  The result
reports, per path, the rounds used, the gain still available and whether it converged; a path that does
not converge in the rounds allowed is reported as such, never hidden.
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

    def take(self, rows: np.ndarray) -> NestedLogitDemand:
        """The same demand on paths ``rows`` only."""
        return NestedLogitDemand(self.alpha[rows], self.eps[rows], self.quality_utility[rows], self.nest, self.lam,
                                 self.q_ref_mtok[rows], self.p_ref_usd_per_mtok[rows], self.active[rows])

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

    def demand_varying(self, price: np.ndarray, i: int, cols: list[int]) -> Callable[[np.ndarray], np.ndarray]:
        """Primary demand ``s_j Q`` of options ``cols`` as option ``i``'s price varies and the others stay at
        ``price`` (P, J): a function of the candidate prices ``cand`` (P, G) -> (P, G, len(cols)), the same
        numbers as :meth:`shares` and :meth:`volume_mtok` on the G price vectors.  What does not depend on
        option ``i``'s price (the other nests' inclusive values, the rest of its own nest) is computed once."""
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            n_i = self.nest[i]
            lam_n = self.lam[n_i]
            x = np.where(self.active, (self.quality_utility - self.alpha[:, None] * np.log(np.maximum(price, 1e-300)))
                         / self.lam[self.nest], -np.inf)  # (P, J)
            rest = np.flatnonzero((self.nest == n_i) & (np.arange(x.shape[1]) != i))
            log_rest = _logsumexp(x[:, rest]) if rest.size else np.full(x.shape[0], -np.inf)  # (P,)
            out_iv = []  # inclusive values of the other nests (P,)
            a_out = np.full(x.shape, -np.inf)  # log share of j outside nest n_i, before the common denominator
            for m in range(len(self.lam)):
                cm = np.flatnonzero(self.nest == m)
                if m == n_i or cm.size == 0:
                    continue
                log_dm = _logsumexp(x[:, cm])
                out_iv.append(self.lam[m] * log_dm)
                a_out[:, cm] = np.where(np.isfinite(x[:, cm]), x[:, cm] + (self.lam[m] - 1) * log_dm[:, None], -np.inf)
            log_out = (_logsumexp(np.stack(out_iv, axis=1)) if out_iv else np.full(x.shape[0], -np.inf))[:, None]
            in_rest = np.where(np.isfinite(x[:, rest]), np.exp(x[:, rest] - log_rest[:, None]), 0.0)
            sum_in = (in_rest * price[:, rest]).sum(axis=1)[:, None]  # times exp(log_rest) x f_in: their p-weighted
            e_out = np.exp(a_out)
            sum_out = (e_out * price).sum(axis=1)[:, None]
            rest_ok = np.isfinite(log_rest)[:, None]
            log_rest = log_rest[:, None]
            u_i = self.quality_utility[:, i:i + 1]
            on_i = self.active[:, i:i + 1]
            alpha = self.alpha[:, None]
            q_ref, p_ref, eps = self.q_ref_mtok[:, None], self.p_ref_usd_per_mtok[:, None], self.eps[:, None]
            share_in_rest = {j: np.where(np.isfinite(x[:, j]), np.exp(x[:, j] - log_rest[:, 0]), 0.0)[:, None]
                             for j in cols if j != i and self.nest[j] == n_i}

        def at(cand: np.ndarray) -> np.ndarray:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                x_i = np.where(on_i, (u_i - alpha * np.log(np.maximum(cand, 1e-300))) / lam_n, -np.inf)  # (P, G)
                log_dn = np.logaddexp(log_rest, x_i)
                iv_n = lam_n * log_dn
                log_den = np.logaddexp(log_out, iv_n)
                live_n = np.isfinite(log_dn)  # the nest has an option on offer
                f_out = np.where(np.isfinite(log_den), np.exp(-log_den), 0.0)  # share outside n_i: e_out x f_out
                f_in = np.where(live_n, np.exp(iv_n - log_dn - log_den), 0.0)  # share in n_i: exp(x_j) x f_in
                s_i = np.where(np.isfinite(x_i), np.exp(x_i) * f_in, 0.0)
                g_in = np.where(live_n & rest_ok, np.exp(log_rest + iv_n - log_dn - log_den), 0.0)
                p_avg = sum_out * f_out + sum_in * g_in + s_i * cand
                q = q_ref * (np.maximum(p_avg, 1e-300) / p_ref) ** (-eps)
                out = np.empty((*cand.shape, len(cols)))
                for k, j in enumerate(cols):
                    sj = s_i if j == i else (share_in_rest[j] * g_in if j in share_in_rest else e_out[:, j:j + 1] * f_out)
                    out[:, :, k] = np.where(sj > 0, sj * q, 0.0)
            return out

        return at

    def volume_mtok(self, price: np.ndarray, shares: np.ndarray) -> np.ndarray:
        """Total tokens bought: Q_ref (P / P_ref)^-eps with P the share-weighted price; (P, ...)."""
        extra = price.ndim - 2
        exp = (slice(None),) + (None,) * extra
        p_avg = np.sum(shares * price, axis=-1)
        ratio = np.maximum(p_avg, 1e-300) / self.p_ref_usd_per_mtok[exp]
        return self.q_ref_mtok[exp] * ratio ** (-self.eps[exp])


def _logsumexp(a: np.ndarray) -> np.ndarray:
    """log(sum(exp(a))) over the last axis, -inf where every term is -inf."""
    m = np.max(a, axis=-1)
    m_safe = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(a - m_safe[..., None]).sum(axis=-1)) + m_safe


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


def logit_sales(demand: NestedLogitDemand | list[NestedLogitDemand], capacity_mtok: np.ndarray,
                spill_to: np.ndarray | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """The sales function of the market: prices (P, ..., J) -> tokens sold (P, ..., J).

    ``demand`` may be a list of buyer segments (each with its own volume, options on offer and price
    sensitivity); their primary demands add up before the capacity limits apply.  ``spill_to`` (J,) bool:
    the options that buyers turned away at capacity may go to (default: every option with room).  The
    function's ``take(rows)`` is the same market on paths ``rows`` only."""
    mask = None if spill_to is None else np.asarray(spill_to, bool)
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
        return ration(total, cap, total if mask is None else np.where(mask, total, 0.0), price, e)

    def varying(price: np.ndarray, i: int, cols: list[int]) -> Callable[[np.ndarray], np.ndarray]:
        """Sales of options ``cols`` as option ``i``'s price varies: a function of the candidate prices (P, G)
        -> (P, G, len(cols)).  Options that take no turned-away buyers sell min(primary demand, capacity)
        exactly (the excess of the others goes elsewhere), so only their own demand is needed; otherwise
        the whole market is evaluated."""
        if mask is not None and not mask[cols].any():
            parts = [seg.demand_varying(price, i, cols) for seg in segments]
            cap = capacity_mtok[:, None, cols]
            return lambda cand: np.minimum(sum(f(cand) for f in parts), cap)

        def full(cand):
            trial = np.repeat(price[:, None, :], cand.shape[1], axis=1)
            trial[:, :, i] = cand
            return sales(trial)[:, :, cols]

        return full

    sales.varying = varying
    sales.take = lambda rows: logit_sales([seg.take(rows) for seg in segments], capacity_mtok[rows], mask)
    return sales


@dataclass(frozen=True)
class Equilibrium:
    """Prices (P, J) and sales (P, J); convergence per path: ``profit_gain``, the largest relative profit gain
    any owner could get in the last round by changing one of its prices alone (its best response); ``converged``
    where a whole round left every gain at most ``tol`` (an epsilon-equilibrium with epsilon = ``tol``, checked
    at the final prices); ``residual``, the last round's largest relative price move; ``rounds`` per path;
    ``averaged``, paths that needed the averaging phase (best responses cycled)."""

    price: np.ndarray
    sales: np.ndarray
    iterations: int
    residual: np.ndarray
    profit_gain: np.ndarray
    converged: np.ndarray
    averaged: np.ndarray
    tol: float
    rounds: np.ndarray | None = None


def _best_response(sales_fn, price, i, cost, lo, hi, grid, refine, mates):
    """Best price of option ``i`` (P,) given the others' prices, by grid search with refinement; the profit
    is that of all options of the same owner (``mates``, which include ``i``).  Returns the best price and
    the owner's profit there, and the owner's profit and revenue at the current prices (P,) each."""
    n_paths = price.shape[0]
    llo, lhi = np.log(lo), np.log(np.maximum(hi, lo))
    if hasattr(sales_fn, "varying"):
        sold_at = sales_fn.varying(price, i, mates)
    else:
        def sold_at(cand):
            trial = np.repeat(price[:, None, :], cand.shape[1], axis=1)
            trial[:, :, i] = cand
            return sales_fn(trial)[:, :, mates]
    best = lo.copy()
    best_profit = np.zeros(n_paths)
    rows = np.arange(n_paths)
    t = np.linspace(0.0, 1.0, grid)
    for level in range(refine + 1):
        x = llo[:, None] + (lhi - llo)[:, None] * t[None, :]
        if level == 0:
            # the current price is a candidate too, so a response never does worse than staying put
            x = np.concatenate([x, np.log(np.clip(price[:, i], lo, np.maximum(hi, lo)))[:, None]], axis=1)
        cand = np.exp(x)
        if level == 0:
            cand[:, -1] = np.clip(price[:, i], lo, np.maximum(hi, lo))  # exactly, not through exp(log(p))
        p_mates = np.repeat(price[:, None, mates], cand.shape[1], axis=1)
        p_mates[:, :, mates.index(i)] = cand
        sold = sold_at(cand)
        with np.errstate(invalid="ignore"):
            profit = np.where(sold > 0, (p_mates - cost[:, None, mates]) * sold, 0.0).sum(axis=-1)
        if level == 0:
            now_profit = profit[:, -1]
            now_revenue = np.where(sold[:, -1] > 0, p_mates[:, -1] * sold[:, -1], 0.0).sum(axis=-1)
        k = np.argmax(profit, axis=1)
        best = cand[rows, k]
        best_profit = profit[rows, k]
        step = (lhi - llo) / (grid - 1)
        xb = np.log(best)
        llo, lhi = np.maximum(xb - step, np.log(lo)), np.minimum(xb + step, np.log(np.maximum(hi, lo)))
    return best, best_profit, now_profit, now_revenue


def _on_rows(sales_fn, rows, price_all):
    """The sales function restricted to paths ``rows``: the function's own ``take`` when it has one (the
    market's, which slices its demand), else evaluated on every path with the other paths at ``price_all``."""
    if hasattr(sales_fn, "take"):
        return sales_fn.take(rows)

    def sub(price):
        full = np.broadcast_to(price_all[(slice(None),) + (None,) * (price.ndim - 2) + (slice(None),)],
                               (price_all.shape[0], *price.shape[1:])).copy()
        full[rows] = price
        return sales_fn(full)[rows]

    return sub


def solve(
    sales_fn: Callable[[np.ndarray], np.ndarray],
    marginal_cost: np.ndarray,
    floor: np.ndarray,
    ceiling: np.ndarray,
    strategic: np.ndarray,
    start: np.ndarray,
    *,
    tol: float = 1e-3,
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

    Each round, options take their turn (Gauss-Seidel); an option moves to its best response only where
    that raises its owner's profit by more than ``tol`` (relative to the profit, or to a tenth of the
    owner's revenue where that is larger: thin margins do not make the test ever stricter): near-flat profit curves (a small product of a firm whose other
    products sell at capacity) then stop prices from wandering between near-equal optima.  A path is done
    after a round in which no option moved: every owner is then within ``tol`` of its best unilateral
    price change, at the final prices (an epsilon-equilibrium, epsilon = ``tol``).  Only paths not done
    are iterated.  After ``pure_iter`` rounds (default: all), paths still moving (best responses cycle, as
    they do in Bertrand-Edgeworth markets without a pure equilibrium) move a step 1/(n+1) towards their
    improving best responses (the running average of the cycle, as in fictitious play); a path still not
    done after ``max_iter`` rounds is reported as not converged, never hidden."""
    price = np.array(start, dtype=float, copy=True)
    strat = np.broadcast_to(np.asarray(strategic, dtype=bool), price.shape)
    lo = np.maximum(floor, 1e-12)
    hi = np.maximum(ceiling, lo)
    price = np.where(strat, np.clip(price, lo, hi), price)
    n_paths, n_opt = price.shape
    pure_iter = max_iter if pure_iter is None else min(pure_iter, max_iter)
    residual = np.zeros(n_paths)
    gain = np.full(n_paths, np.inf)
    rounds = np.zeros(n_paths, int)
    averaged = np.zeros(n_paths, bool)
    todo = strat.any(axis=1)
    gain[~todo] = 0.0
    mates_of = [[i] if owner is None else [k for k in range(n_opt) if owner[k] == owner[i]] for i in range(n_opt)]
    it = 0
    for it in range(1, max_iter + 1):
        rows = np.flatnonzero(todo)
        if rows.size == 0:
            it -= 1
            break
        f = sales_fn if rows.size == n_paths else _on_rows(sales_fn, rows, price)
        pr = price[rows]
        before = pr.copy()
        st, mc, lo_r, hi_r = strat[rows], marginal_cost[rows], lo[rows], hi[rows]
        step = 1.0 if it <= pure_iter else 1.0 / (it - pure_iter + 1)
        g_round = np.zeros(rows.size)
        for i in range(n_opt):
            if not st[:, i].any():
                continue
            br, br_profit, now, rev = _best_response(f, pr, i, mc, lo_r[:, i], hi_r[:, i], grid, refine,
                                                     mates_of[i])
            scale = np.maximum(np.maximum(np.abs(now), 0.1 * np.abs(rev)), 1e-300)
            g = np.where(st[:, i], np.maximum(br_profit - now, 0.0) / scale, 0.0)
            move = g > tol
            pr[:, i] = np.where(move, pr[:, i] + step * (br - pr[:, i]), pr[:, i])
            g_round = np.maximum(g_round, g)
        price[rows] = pr
        residual[rows] = np.max(np.abs(pr - before) / np.maximum(before, 1e-12), axis=1)
        gain[rows] = g_round
        rounds[rows] = it
        averaged[rows] |= it > pure_iter
        todo[rows] = g_round > tol
    converged = gain <= tol
    return Equilibrium(price, sales_fn(price), it, residual, gain, converged, averaged, tol, rounds)


__all__ = ["Equilibrium", "NestedLogitDemand", "logit_sales", "ration", "solve"]
