"""Moved to :mod:`inferonomics.ledger.dists` (the buyer's decision samples the same distributions, and
``decide`` sits below ``market``); re-exported here for existing imports."""

from inferonomics.ledger.dists import ALL_PARAMS, DISTS, PARAM_SETS, Dist, make_dist

__all__ = ["ALL_PARAMS", "DISTS", "PARAM_SETS", "Dist", "make_dist"]
